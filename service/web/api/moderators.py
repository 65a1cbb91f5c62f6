"""The moderators' and admins' API (bearer tokens, per site): the queue, decisions one at a
time or in bulk, a comment's audit trail, and admins' site and article policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast

from aiohttp import web

from moderation.domain import DETOXIFY_LABELS, STATUSES, Status, Verdict
from moderation.errors import FieldError
from service.errors import (
    InvalidInput,
    NotFound,
)
from service.store.values import QueueOrder, Site
from service.times import iso
from service.web import keys
from service.web.api.common import (
    audit_json,
    authenticate,
    bulk_ids,
    comment_json,
    path_article,
    path_comment,
    path_site,
    private,
    require_admin,
)
from service.web.validation import (
    ACTIONS,
    ARTICLE_ID,
    MAX_ORIGINS,
    MAX_REASON_CHARS,
    MAX_SITE_NAME_CHARS,
    QUEUE_ORDERS,
    QUEUE_PAGE,
    SLUG,
    SLUG_RULE,
    Fields,
    is_origin,
    query_choice,
    query_limit,
    read_json_object,
)

CORS_HEADERS: Final = "Content-Type, Authorization, Idempotency-Key"
#: Rows a site's comment count is spread over (service.web.ratelimit.Check): as many comments
#: to one site can be written at once.
SITE_LIMIT_SHARDS: Final = 16

routes = web.RouteTableDef()


# --- moderators ---------------------------------------------------------------------------


@routes.get("/v1/queue")
async def get_queue(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    site_id = request.query.get("site") or None
    if site_id is not None and not SLUG.match(site_id):
        raise NotFound(f"No site {site_id!r}.")
    status = cast(Status, query_choice(request, "status", STATUSES, "held"))
    order = cast(QueueOrder, query_choice(request, "order", QUEUE_ORDERS, "oldest"))
    label = query_choice(request, "label", DETOXIFY_LABELS, None)
    limit = query_limit(request, QUEUE_PAGE)
    article_id = request.query.get("article") or None
    if article_id is not None and not ARTICLE_ID.match(article_id):
        raise InvalidInput([FieldError("article", "is not an article id")])
    store = request.app[keys.COMMENTS]
    page = await store.queue(
        principal,
        status=status,
        site_id=site_id,
        article_id=article_id,
        label=label,
        order=order,
        cursor=request.query.get("cursor") or None,
        limit=limit,
    )
    parents = await store.get_many(c.parent_id for c in page.items if c.parent_id)
    summaries = await request.app[keys.AUTHORS].summaries(
        (c.site_id, c.author_id) for c in page.items if c.author_id
    )
    items = [
        comment_json(
            c,
            parents.get(c.parent_id) if c.parent_id else None,
            summaries.get((c.site_id, c.author_id)) if c.author_id else None,
        )
        for c in page.items
    ]
    return private({"items": items, "next_cursor": page.next_cursor})


def _decision_fields(
    data: Mapping[str, Any], extra: tuple[str, ...] = ()
) -> tuple[Fields, Verdict | None, str | None]:
    f = Fields(data)
    f.only(("action", "reason", *extra))
    action = f.choice("action", ACTIONS, required=True)
    reason = f.text("reason", max_chars=MAX_REASON_CHARS)
    verdict: Verdict | None = None
    if action is not None:
        verdict = "approved" if action == "approve" else "rejected"
    return f, verdict, reason


@routes.post("/v1/comments/{comment}/decision")
async def post_decision(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    comment_id = path_comment(request)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f, verdict, reason = _decision_fields(data)
    f.done()
    assert verdict is not None
    results, missing = await request.app[keys.COMMENTS].decide(
        principal, [comment_id], verdict, reason
    )
    if missing:
        raise NotFound("No such comment.")
    result = results[0]
    return private({"id": str(result.id), "status": result.status, "changed": result.changed})


@routes.post("/v1/decisions")
async def post_decisions(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f, verdict, reason = _decision_fields(data, ("ids",))
    ids = bulk_ids(f)
    f.done()
    assert verdict is not None
    results, missing = await request.app[keys.COMMENTS].decide(principal, ids, verdict, reason)
    return private(
        {
            "items": [{"id": str(r.id), "status": r.status, "changed": r.changed} for r in results],
            "not_found": [str(m) for m in missing],
        }
    )


@routes.get("/v1/comments/{comment}/audit")
async def get_audit(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    store = request.app[keys.COMMENTS]
    comment = await store.get(path_comment(request))
    if not principal.may_see(comment.site_id):
        raise NotFound("No such comment.")
    entries = await store.audit(comment.id)
    return private({"items": [audit_json(e) for e in entries], "next_cursor": None})


# --- admins -------------------------------------------------------------------------------


def _site_json(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "name": site.name,
        "allowed_origins": list(site.allowed_origins),
        "policy": site.policy.to_json(),
        "policy_version": site.policy.version,
        # Whether the site signs its authors in (the secret itself is shown once, at creation).
        "sso": {"enabled": site.sso_secret is not None, "rotated_at": iso(site.sso_rotated_at)},
        "created_at": iso(site.created_at),
        "updated_at": iso(site.updated_at),
    }


@routes.put("/v1/sites/{site}")
async def put_site(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    site_id = request.match_info["site"]
    require_admin(principal, site_id)
    if not SLUG.match(site_id):
        raise InvalidInput([FieldError("site", f"must be {SLUG_RULE}")])
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f = Fields(data)
    f.only(("name", "allowed_origins", "policy", "reason"))
    name = f.text("name", required=True, max_chars=MAX_SITE_NAME_CHARS)
    reason = f.text("reason", max_chars=MAX_REASON_CHARS)
    origins = f.raw("allowed_origins")
    if origins is None:
        origins = []
    if not isinstance(origins, list) or len(origins) > MAX_ORIGINS:
        f.problem("allowed_origins", f"must be a list of at most {MAX_ORIGINS} origins")
        origins = []
    for i, origin in enumerate(origins):
        if not isinstance(origin, str) or not is_origin(origin):
            f.problem(f"allowed_origins[{i}]", "must be an origin like https://news.example")
    policy = f.policy("policy")
    f.done()
    site, created = await request.app[keys.SITES].put(
        site_id,
        name=name or site_id,
        allowed_origins=[o.rstrip("/") for o in origins],
        policy=policy,
        actor=principal.actor,
        reason=reason,
    )
    request.app[keys.SITE_CACHE].pop(site_id, None)
    return private(_site_json(site), status=201 if created else 200)


@routes.get("/v1/sites/{site}")
async def get_site(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    site_id = path_site(request)
    if not principal.may_see(site_id):
        raise NotFound(f"No site {site_id!r}.")
    return private(_site_json(await request.app[keys.SITES].get(site_id)))


@routes.put("/v1/sites/{site}/articles/{article}/policy")
async def put_article_policy(request: web.Request) -> web.Response:
    """Override any of the site's policy fields for one article, optionally until a time."""
    principal = await authenticate(request)
    site_id = path_site(request)
    require_admin(principal, site_id)
    article_id = path_article(request)
    site = await request.app[keys.SITES].get(site_id)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f = Fields(data)
    f.only(("policy_override", "until"))
    override = f.raw("policy_override")
    if override is not None:
        try:
            site.policy.with_override(override)
        except InvalidInput as error:
            f.errors.extend(error.errors)
    until = f.time("until")
    f.done()
    version = await request.app[keys.SITES].set_article_override(
        site_id, article_id, override, until
    )
    return private(
        {
            "site_id": site_id,
            "article_id": article_id,
            "policy_override": override,
            "until": iso(until),
            "override_version": version,
        }
    )
