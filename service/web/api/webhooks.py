"""The webhook endpoints' HTTP handlers (admins only): register, list, change, remove,
inspect deliveries, redeliver, and send a test event. No SQL here.

A URL is checked by the SSRF guard at registration and on every change, and refused with
the reason in the ``url`` field's problem; the deliverer checks it again at each attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from aiohttp import web

from moderation.errors import FieldError
from service.errors import Forbidden, InvalidInput, NotFound
from service.store.values import Principal
from service.store.webhooks import (
    DELIVERY_STATES,
    SUBSCRIBABLE_EVENTS,
    Delivery,
    DeliveryState,
    Endpoint,
    covers,
)
from service.times import iso
from service.web import keys
from service.web.api.common import authenticate, private
from service.web.validation import (
    DELIVERIES_PAGE,
    MAX_DESCRIPTION_CHARS,
    MAX_URL_CHARS,
    ROW_ID,
    SLUG,
    Fields,
    parse_uuid,
    query_choice,
    query_limit,
    read_json_object,
)
from service.webhooks.deliverer import MAX_ATTEMPTS
from service.webhooks.ssrf import UrlRefused

routes = web.RouteTableDef()


# --- helpers ----------------------------------------------------------------------------


async def _admin(request: web.Request) -> Principal:
    principal = await authenticate(request)
    if principal.role != "admin":
        raise Forbidden("Webhooks are managed with an admin token.")
    return principal


def _path_webhook(request: web.Request) -> UUID:
    endpoint_id = parse_uuid(request.match_info["webhook"])
    if endpoint_id is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint_id


def _path_delivery(request: web.Request) -> int:
    raw = request.match_info["delivery"]
    if not ROW_ID.match(raw):
        raise NotFound("No such delivery.")
    return int(raw)


def endpoint_json(endpoint: Endpoint, secret: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(endpoint.id),
        "url": endpoint.url,
        "site_id": endpoint.site_id,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled": None
        if endpoint.enabled
        else {
            "reason": endpoint.disabled_reason,
            "at": iso(endpoint.disabled_at),
            "by": endpoint.disabled_by,
        },
        "failing_since": iso(endpoint.failing_since),
        "previous_secret_valid_until": iso(endpoint.previous_secret_until),
        "created_by": endpoint.created_by,
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
        "links": {"deliveries": f"/v1/webhooks/{endpoint.id}/deliveries"},
    }
    if secret is not None:
        data["secret"] = secret
    return data


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": str(delivery.message_id),
        "event_type": delivery.event_type,
        "status": delivery.state,
        "attempts": delivery.attempts,
        "max_attempts": MAX_ATTEMPTS,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "response_excerpt": delivery.last_response,
        "timings": {
            "created_at": iso(delivery.created_at),
            "first_attempt_at": iso(delivery.first_attempt_at),
            "last_attempt_at": iso(delivery.last_attempt_at),
            "last_duration_ms": delivery.last_duration_ms,
            "delivered_at": iso(delivery.delivered_at),
        },
    }


def _events(f: Fields, *, required: bool) -> list[str] | None:
    raw = f.raw("events")
    if raw is None:
        if required:
            f.problem("events", f"is required: a list of {', '.join(SUBSCRIBABLE_EVENTS)}")
        return None
    if not isinstance(raw, list) or not raw:
        f.problem("events", f"must be a non-empty list of {', '.join(SUBSCRIBABLE_EVENTS)}")
        return None
    events: list[str] = []
    for i, event in enumerate(raw):
        if event not in SUBSCRIBABLE_EVENTS:
            f.problem(f"events[{i}]", f"must be one of {', '.join(SUBSCRIBABLE_EVENTS)}")
        elif event not in events:
            events.append(event)
    return events


def _bool(f: Fields, key: str) -> bool | None:
    value = f.raw(key)
    if value is None or isinstance(value, bool):
        return value
    f.problem(key, "must be true or false")
    return None


async def _checked_url(request: web.Request, f: Fields, *, required: bool) -> str | None:
    url = f.text("url", required=required, max_chars=MAX_URL_CHARS)
    if url is None:
        return None
    try:
        await request.app[keys.WEBHOOK_GUARD].check(url)
    except UrlRefused as error:
        f.problem("url", str(error))
        return None
    return url


# --- endpoints ------------------------------------------------------------------------------


@routes.post("/v1/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    """Register an endpoint; the answer holds its signing secret, shown this once."""
    principal = await _admin(request)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f = Fields(data)
    f.only(("url", "events", "site", "description"))
    events = _events(f, required=True)
    site_id = f.text("site", max_chars=63)
    if site_id is not None and not SLUG.match(site_id):
        f.problem("site", "must be a site id")
        site_id = None
    description = f.text("description", max_chars=MAX_DESCRIPTION_CHARS) or ""
    url = await _checked_url(request, f, required=True)
    f.done()
    if not covers(principal, site_id):
        raise Forbidden(
            "This admin token covers only some sites: name one of them in 'site'."
            if site_id is None
            else f"This admin token does not cover site {site_id!r}."
        )
    if site_id is not None:
        try:
            await request.app[keys.SITES].get(site_id)
        except NotFound:
            raise InvalidInput([FieldError("site", f"no site {site_id!r}")]) from None
    assert url is not None and events is not None
    endpoint, secret = await request.app[keys.WEBHOOKS].create(
        url=url,
        events=events,
        site_id=site_id,
        description=description,
        created_by=principal.actor,
    )
    response = private(endpoint_json(endpoint, secret), status=201)
    response.headers["Location"] = f"/v1/webhooks/{endpoint.id}"
    return response


@routes.get("/v1/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    principal = await _admin(request)
    site_id = request.query.get("site") or None
    if site_id is not None and not SLUG.match(site_id):
        raise InvalidInput([FieldError("site", "must be a site id")])
    endpoints = await request.app[keys.WEBHOOKS].visible_to(principal, site_id)
    return private({"items": [endpoint_json(e) for e in endpoints], "next_cursor": None})


@routes.get("/v1/webhooks/{webhook}")
async def get_webhook(request: web.Request) -> web.Response:
    principal = await _admin(request)
    endpoint = await request.app[keys.WEBHOOKS].get(_path_webhook(request), principal)
    return private(endpoint_json(endpoint))


@routes.patch("/v1/webhooks/{webhook}")
async def patch_webhook(request: web.Request) -> web.Response:
    """Change the URL, events or description; enable or disable; rotate the secret."""
    principal = await _admin(request)
    endpoint_id = _path_webhook(request)
    settings = request.app[keys.SETTINGS]
    data = await read_json_object(request, settings.max_request_bytes)
    f = Fields(data)
    allowed: Sequence[str] = ("url", "events", "description", "enabled", "rotate_secret")
    f.only(allowed)
    if not data:
        f.problem("body", f"give at least one of {', '.join(allowed)}")
    events = _events(f, required=False)
    description = f.text("description", max_chars=MAX_DESCRIPTION_CHARS)
    enabled = _bool(f, "enabled")
    rotate = _bool(f, "rotate_secret")
    url = await _checked_url(request, f, required=False)
    f.done()
    endpoint, secret = await request.app[keys.WEBHOOKS].update(
        endpoint_id,
        principal,
        url=url,
        events=events,
        description=description,
        enabled=enabled,
        rotate_secret=bool(rotate),
        secret_overlap=settings.webhook_secret_overlap,
    )
    return private(endpoint_json(endpoint, secret))


@routes.delete("/v1/webhooks/{webhook}")
async def delete_webhook(request: web.Request) -> web.Response:
    principal = await _admin(request)
    await request.app[keys.WEBHOOKS].delete(_path_webhook(request), principal)
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


# --- deliveries ---------------------------------------------------------------------------


@routes.get("/v1/webhooks/{webhook}/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    principal = await _admin(request)
    endpoint_id = _path_webhook(request)
    state = cast(DeliveryState | None, query_choice(request, "status", DELIVERY_STATES, None))
    limit = query_limit(request, DELIVERIES_PAGE)
    cursor = request.query.get("cursor") or None
    if cursor is not None and not ROW_ID.match(cursor):
        raise InvalidInput([FieldError("cursor", "is not a cursor this API issued")])
    page = await request.app[keys.WEBHOOKS].deliveries(
        endpoint_id,
        principal,
        state=state,
        before_id=int(cursor) if cursor else None,
        limit=limit,
    )
    return private(
        {"items": [delivery_json(d) for d in page.items], "next_cursor": page.next_cursor}
    )


@routes.get("/v1/webhooks/{webhook}/deliveries/{delivery}")
async def get_delivery(request: web.Request) -> web.Response:
    principal = await _admin(request)
    delivery = await request.app[keys.WEBHOOKS].get_delivery(
        _path_webhook(request), _path_delivery(request), principal
    )
    return private(delivery_json(delivery))


@routes.post("/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    """Send one delivery again with the same webhook-id; 409 while it is still queued."""
    principal = await _admin(request)
    delivery = await request.app[keys.WEBHOOKS].redeliver(
        _path_webhook(request), _path_delivery(request), principal
    )
    return private(delivery_json(delivery), status=202)


@routes.post("/v1/webhooks/{webhook}/redeliver")
async def redeliver_failed(request: web.Request) -> web.Response:
    """Queue again every failed or dead delivery created since ``since``."""
    principal = await _admin(request)
    endpoint_id = _path_webhook(request)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f = Fields(data)
    f.only(("since",))
    since = f.time("since", required=True)
    f.done()
    assert since is not None
    count = await request.app[keys.WEBHOOKS].redeliver_failed(endpoint_id, principal, since)
    return private({"queued": count, "since": iso(since)}, status=202)


@routes.post("/v1/webhooks/{webhook}/test")
async def send_test(request: web.Request) -> web.Response:
    """Queue a ``webhook.test`` event; poll the delivery it answers with for the result."""
    principal = await _admin(request)
    endpoint_id = _path_webhook(request)
    delivery = await request.app[keys.WEBHOOKS].send_test(endpoint_id, principal)
    response = private(delivery_json(delivery), status=202)
    response.headers["Location"] = f"/v1/webhooks/{endpoint_id}/deliveries/{delivery.id}"
    return response
