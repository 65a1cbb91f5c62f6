"""The HTTP handlers: parse and validate, call a store, shape the answer. No SQL here.

Three audiences: article pages and readers (public, CORS from the site's origins),
moderators and admins (bearer tokens, per site), and operators (health, metrics: the
routes in ``operations``, served on the operations listener only, see service.web.serving).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, cast
from uuid import UUID

from aiohttp import web

from moderation.domain import DETOXIFY_LABELS, STATUSES, AuditEntry, Comment, Status, Verdict
from moderation.errors import FieldError
from service.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    ReplyguardError,
    Unauthenticated,
)
from service.settings import Settings
from service.store.comments import (
    AuthorsComment,
    NewComment,
    Principal,
    QueueOrder,
    Site,
    ThreadItem,
)
from service.store.limits import Check, Limits
from service.web import keys
from service.web.ratelimit import IPAddress, client_address, client_network
from service.web.validation import (
    ACTIONS,
    ARTICLE_ID,
    ARTICLE_ID_RULE,
    IDEMPOTENCY_KEY,
    MAX_BULK_IDS,
    MAX_ORIGINS,
    MAX_REASON_CHARS,
    MAX_SITE_NAME_CHARS,
    MAX_TITLE_CHARS,
    QUEUE_ORDERS,
    QUEUE_PAGE,
    SLUG,
    SLUG_RULE,
    THREAD_PAGE,
    Fields,
    is_origin,
    parse_uuid,
    query_choice,
    query_limit,
    read_json_object,
    url_origin,
)
from service.wording import plural

SITE_CACHE_SECONDS: Final = 2.0
CORS_HEADERS: Final = "Content-Type, Authorization, Idempotency-Key"
#: Rows a site's comment count is spread over (service.web.ratelimit.Check): as many comments
#: to one site can be written at once.
SITE_LIMIT_SHARDS: Final = 16

routes = web.RouteTableDef()
#: /readyz and /metrics name sites and queue internals: never on the public listener.
operations = web.RouteTableDef()


# --- helpers ----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _path_site(request: web.Request) -> str:
    site_id = request.match_info["site"]
    if not SLUG.match(site_id):
        raise NotFound(f"No site {site_id!r}.")
    return site_id


def _path_article(request: web.Request) -> str:
    article_id = request.match_info["article"]
    if not ARTICLE_ID.match(article_id):
        raise InvalidInput([FieldError("article", f"must be {ARTICLE_ID_RULE}")])
    return article_id


def _path_comment(request: web.Request) -> UUID:
    comment_id = parse_uuid(request.match_info["comment"])
    if comment_id is None:
        raise NotFound("No such comment.")
    return comment_id


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def _principal(request: web.Request) -> Principal:
    token = _bearer(request)
    if token is None:
        raise Unauthenticated("Send a moderator or admin token as 'Authorization: Bearer <token>'.")
    principal = await request.app[keys.TOKENS].principal(token)
    if principal is None:
        raise Unauthenticated("That token is unknown or revoked.")
    return principal


def _require_admin(principal: Principal, site_id: str | None = None) -> None:
    if principal.role != "admin":
        raise Forbidden("This needs an admin token.")
    if site_id is not None and not principal.may_see(site_id):
        raise Forbidden(f"This admin token does not cover site {site_id!r}.")


async def _site(request: web.Request, site_id: str) -> Site:
    """The site, from a cache of a couple of seconds: the hot comment path reads it often."""
    cache: dict[str, tuple[float, Site]] = request.app[keys.SITE_CACHE]
    now = time.monotonic()
    hit = cache.get(site_id)
    if hit is not None and now - hit[0] < SITE_CACHE_SECONDS:
        return hit[1]
    site = await request.app[keys.SITES].get(site_id)
    cache[site_id] = (now, site)
    return site


def _cors(request: web.Request, response: web.StreamResponse, site: Site) -> None:
    origin = request.headers.get("Origin")
    response.headers.add("Vary", "Origin")
    if origin and origin in site.allowed_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"


def _comment_json(comment: Comment, parent: Comment | None = None) -> dict[str, Any]:
    """A comment as moderators see it: everything, including why it is where it is."""
    return {
        "id": str(comment.id),
        "site_id": comment.site_id,
        "article": {
            "id": comment.article_id,
            "title": comment.article_title,
            "url": comment.article_url,
        },
        "parent_id": str(comment.parent_id) if comment.parent_id else None,
        "parent": None
        if parent is None
        else {
            "id": str(parent.id),
            "author_name": parent.author_name,
            "body": parent.body,
            "status": parent.status,
        },
        "body": comment.body,
        "author_name": comment.author_name,
        "author_email": comment.author_email,
        "status": comment.status,
        "status_reason": comment.status_reason,
        "created_at": _iso(comment.created_at),
        "status_changed_at": _iso(comment.status_changed_at),
        "scores": comment.scores,
        "explanation": comment.explanation,
    }


def _thread_json(item: ThreadItem) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "parent_id": str(item.parent_id) if item.parent_id else None,
        "removed": item.removed,
        "author_name": None if item.removed else item.author_name,
        "body": None if item.removed else item.body,
        "created_at": _iso(item.created_at),
        "replies": [_thread_json(r) for r in item.replies],
    }


def _authors_json(mine: AuthorsComment) -> dict[str, Any]:
    """The author's view: the status, and whether readers can see the comment yet."""
    comment = mine.comment
    waiting_for = None
    if comment.status in ("pending", "held"):
        waiting_for = "moderation"
    elif comment.status == "approved" and mine.parent_waiting:
        waiting_for = "parent"
    return {
        "id": str(comment.id),
        "status": comment.status,
        "visible": comment.status == "approved" and not mine.parent_waiting,
        "waiting_for": waiting_for,
        "body": comment.body,
        "author_name": comment.author_name,
        "parent_id": str(comment.parent_id) if comment.parent_id else None,
        "site_id": comment.site_id,
        "article_id": comment.article_id,
        "created_at": _iso(comment.created_at),
        "status_changed_at": _iso(comment.status_changed_at),
    }


def _audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "from_status": entry.from_status,
        "to_status": entry.to_status,
        "actor": {"kind": entry.actor_kind, "name": entry.actor},
        "reason": entry.reason,
        "explanation": entry.explanation,
        "at": _iso(entry.created_at),
    }


def _private(data: Any, status: int = 200) -> web.Response:
    response = web.json_response(data, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- public: article pages and readers ---------------------------------------------------


@routes.post("/v1/sites/{site}/articles/{article}/comments")
async def post_comment(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    site_id = _path_site(request)
    article_id = _path_article(request)
    data = await read_json_object(request, settings.max_request_bytes)
    site = await _site(request, site_id)
    f = Fields(data)
    f.only(("body", "author_name", "author_email", "parent_id", "article_url", "article_title"))
    body = f.text(
        "body",
        required=True,
        max_chars=settings.max_body_chars,
        max_bytes=settings.max_body_bytes,
        multiline=True,
    )
    author_name = f.text("author_name", required=True, max_chars=settings.max_name_chars)
    new = NewComment(
        site_id=site.id,
        article_id=article_id,
        body=body or "",
        author_name=author_name or "",
        author_email=f.email("author_email"),
        parent_id=cast(Any, f.uuid("parent_id")),
        article_url=_on_site(f.url("article_url"), site),
        article_title=f.text("article_title", max_chars=MAX_TITLE_CHARS),
    )
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        f.errors.append(FieldError("Idempotency-Key", "must be 1-255 visible ASCII characters"))
    f.done()
    network = client_network(_client(request))
    new = replace(
        new,
        author_key=_author_key(new, network),
        body_hash=hashlib.sha256(" ".join(new.body.casefold().split()).encode()).digest(),
    )
    request_hash = hashlib.sha256(
        json.dumps([article_id, data], sort_keys=True, separators=(",", ":")).encode()
    ).digest()
    limits = _submission_limits(settings, site.id, network, new.author_key)
    try:
        _local_limit(request, limits, "Too many comments from here; wait and try again.")
        submitted = await request.app[keys.COMMENTS].submit(
            new,
            duplicate_window=settings.duplicate_window,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            limits=limits,
        )
    except RateLimited:
        request.app[keys.METRICS].inc(
            "replyguard_comments_rate_limited_total", "Submissions refused (429).", site=site.id
        )
        raise
    except ReplyguardError:  # refused for what it is (a repost, no parent): not counted
        request.app[keys.LOCAL_LIMITS].give_back(limits)
        raise
    if not submitted.replayed:
        request.app[keys.METRICS].inc(
            "replyguard_comments_accepted_total", "Comments accepted (202).", site=site.id
        )
    response = _private(
        {
            "id": str(submitted.id),
            "status": "pending",
            "author_token": submitted.author_token,
            "created_at": _iso(submitted.created_at),
            "links": {"status": f"/v1/comments/{submitted.id}"},
        },
        status=202,
    )
    response.headers["Location"] = f"/v1/comments/{submitted.id}"
    _cors(request, response, site)
    return response


def _on_site(url: str | None, site: Site) -> str | None:
    """The article's url, kept only on one of the site's own origins: moderators follow it,
    so a reader may not choose where it leads."""
    if url is None or url_origin(url) not in site.allowed_origins:
        return None
    return url


def _client(request: web.Request) -> IPAddress | None:
    trusted = request.app[keys.TRUSTED_PROXIES]
    return client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)


def _author_key(new: NewComment, network: str) -> bytes:
    """An author is their email when given, else their name from their network."""
    who = (
        f"email:{new.author_email.casefold()}"
        if new.author_email
        else (f"name:{new.author_name.casefold()}|{network}")
    )
    return hashlib.sha256(f"{new.site_id}|{who}".encode()).digest()


def _local_limit(request: web.Request, limits: Limits, detail: str) -> None:
    """Refuse from memory what this process alone has already let through a cap's worth of."""
    wait = request.app[keys.LOCAL_LIMITS].hit(limits)
    if wait is not None:
        raise RateLimited(detail, wait)


def _submission_limits(settings: Settings, site_id: str, network: str, author_key: bytes) -> Limits:
    """Comments per minute from one network, one author and to one site, on every replica."""
    return Limits.per_minute(
        [
            Check(f"net:{site_id}:{network}", settings.rate_per_network),
            Check(f"author:{author_key.hex()}", settings.rate_per_author),
            # Every comment to the site counts here: spread, so they do not queue on one row.
            Check(f"site:{site_id}", settings.rate_per_site, shards=SITE_LIMIT_SHARDS),
        ]
    )


@routes.get("/v1/sites/{site}/articles/{article}/comments")
async def get_thread(request: web.Request) -> web.Response:
    site = await _site(request, _path_site(request))
    article_id = _path_article(request)
    limit = query_limit(request, THREAD_PAGE)
    page = await request.app[keys.COMMENTS].thread(
        site.id, article_id, cursor=request.query.get("cursor") or None, limit=limit
    )
    response = web.json_response(
        {"items": [_thread_json(i) for i in page.items], "next_cursor": page.next_cursor}
    )
    # Public and the same for everyone: a short shared cache absorbs a front-page spike.
    response.headers["Cache-Control"] = "public, max-age=5"
    _cors(request, response, site)
    return response


@routes.route("OPTIONS", "/v1/sites/{site}/articles/{article}/comments")
async def preflight_thread(request: web.Request) -> web.Response:
    site = await _site(request, _path_site(request))
    _path_article(request)
    return _preflight(request, site, "GET, POST")


@routes.route("OPTIONS", "/v1/comments/{comment}")
async def preflight_comment(request: web.Request) -> web.Response:
    comment = await request.app[keys.COMMENTS].get(_path_comment(request))
    site = await _site(request, comment.site_id)
    return _preflight(request, site, "GET")


def _preflight(request: web.Request, site: Site, methods: str) -> web.Response:
    response = web.Response(status=204)
    _cors(request, response, site)
    if "Access-Control-Allow-Origin" in response.headers:
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@routes.get("/v1/comments/{comment}")
async def get_comment(request: web.Request) -> web.Response:
    """For its author (the token from submission) or a moderator of its site."""
    comment_id = _path_comment(request)
    token = _bearer(request)
    if token is None:
        raise Unauthenticated(
            "Send the author_token from submission, or a moderator token, as a Bearer token."
        )
    store = request.app[keys.COMMENTS]
    if token.startswith("rga_"):
        mine = await store.get_for_author(comment_id, token)
        response = _private(_authors_json(mine))
        _cors(request, response, await _site(request, mine.comment.site_id))
        return response
    principal = await _principal(request)
    comment = await store.get(comment_id)
    if not principal.may_see(comment.site_id):
        raise NotFound("No such comment.")
    parent = None
    if comment.parent_id is not None:
        parent = (await store.get_many([comment.parent_id])).get(comment.parent_id)
    return _private(_comment_json(comment, parent))


@routes.post("/v1/comments/{comment}/reports")
async def post_report(request: web.Request) -> web.Response:
    """A reader flags a published comment; past the site's threshold it goes back to the queue."""
    settings = request.app[keys.SETTINGS]
    comment_id = _path_comment(request)
    data = await read_json_object(request, settings.max_request_bytes)
    f = Fields(data)
    f.only(("reason",))
    reason = f.text("reason", max_chars=MAX_REASON_CHARS)
    f.done()
    # One reporter per network, as the rate limits count: a household's or a phone's many
    # addresses (one IPv6 host owns a whole /64) report a comment once.
    network = client_network(_client(request))
    reader_key = hashlib.sha256(f"reader-network:{network}".encode()).digest()
    limits = Limits.per_hour([Check(f"report:{network}", settings.reports_per_network)])
    _local_limit(request, limits, "Too many reports from your network; wait and try again.")
    report = await request.app[keys.COMMENTS].report(comment_id, reader_key, reason, limits)
    if not report.recorded:
        request.app[keys.LOCAL_LIMITS].give_back(limits)
    response = _private({"comment_id": str(comment_id), "recorded": report.recorded}, status=202)
    _cors(request, response, await _site(request, report.site_id))
    return response


@routes.route("OPTIONS", "/v1/comments/{comment}/reports")
async def preflight_report(request: web.Request) -> web.Response:
    comment = await request.app[keys.COMMENTS].get(_path_comment(request))
    site = await _site(request, comment.site_id)
    return _preflight(request, site, "POST")


# --- moderators ---------------------------------------------------------------------------


@routes.get("/v1/queue")
async def get_queue(request: web.Request) -> web.Response:
    principal = await _principal(request)
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
    items = [
        _comment_json(c, parents.get(c.parent_id) if c.parent_id else None) for c in page.items
    ]
    return _private({"items": items, "next_cursor": page.next_cursor})


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
    principal = await _principal(request)
    comment_id = _path_comment(request)
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
    return _private({"id": str(result.id), "status": result.status, "changed": result.changed})


@routes.post("/v1/decisions")
async def post_decisions(request: web.Request) -> web.Response:
    principal = await _principal(request)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f, verdict, reason = _decision_fields(data, ("ids",))
    raw_ids = f.raw("ids")
    ids: list[UUID] = []
    if not isinstance(raw_ids, list) or not 1 <= len(raw_ids) <= MAX_BULK_IDS:
        f.problem("ids", f"must be a list of 1-{MAX_BULK_IDS} comment ids")
    else:
        for i, raw in enumerate(raw_ids):
            parsed = parse_uuid(raw)
            if parsed is None:
                f.problem(f"ids[{i}]", "must be a comment id (a UUID)")
            else:
                ids.append(parsed)
    f.done()
    assert verdict is not None
    results, missing = await request.app[keys.COMMENTS].decide(principal, ids, verdict, reason)
    return _private(
        {
            "items": [{"id": str(r.id), "status": r.status, "changed": r.changed} for r in results],
            "not_found": [str(m) for m in missing],
        }
    )


@routes.get("/v1/comments/{comment}/audit")
async def get_audit(request: web.Request) -> web.Response:
    principal = await _principal(request)
    store = request.app[keys.COMMENTS]
    comment = await store.get(_path_comment(request))
    if not principal.may_see(comment.site_id):
        raise NotFound("No such comment.")
    entries = await store.audit(comment.id)
    return _private({"items": [_audit_json(e) for e in entries], "next_cursor": None})


# --- admins -------------------------------------------------------------------------------


def _site_json(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "name": site.name,
        "allowed_origins": list(site.allowed_origins),
        "policy": site.policy.to_json(),
        "policy_version": site.policy.version,
        "created_at": _iso(site.created_at),
        "updated_at": _iso(site.updated_at),
    }


@routes.put("/v1/sites/{site}")
async def put_site(request: web.Request) -> web.Response:
    principal = await _principal(request)
    site_id = request.match_info["site"]
    _require_admin(principal, site_id)
    if not SLUG.match(site_id):
        raise InvalidInput([FieldError("site", f"must be {SLUG_RULE}")])
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f = Fields(data)
    f.only(("name", "allowed_origins", "policy"))
    name = f.text("name", required=True, max_chars=MAX_SITE_NAME_CHARS)
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
    )
    request.app[keys.SITE_CACHE].pop(site_id, None)
    return _private(_site_json(site), status=201 if created else 200)


@routes.get("/v1/sites/{site}")
async def get_site(request: web.Request) -> web.Response:
    principal = await _principal(request)
    site_id = _path_site(request)
    if not principal.may_see(site_id):
        raise NotFound(f"No site {site_id!r}.")
    return _private(_site_json(await request.app[keys.SITES].get(site_id)))


@routes.put("/v1/sites/{site}/articles/{article}/policy")
async def put_article_policy(request: web.Request) -> web.Response:
    """Override any of the site's policy fields for one article, optionally until a time."""
    principal = await _principal(request)
    site_id = _path_site(request)
    _require_admin(principal, site_id)
    article_id = _path_article(request)
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
    return _private(
        {
            "site_id": site_id,
            "article_id": article_id,
            "policy_override": override,
            "until": _iso(until),
            "override_version": version,
        }
    )


# --- operations ---------------------------------------------------------------------------


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is up. Says nothing of the database: that is /readyz."""
    return web.json_response({"status": "ok"})


@operations.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers, the schema is applied and a scorer is live; else
    503 naming each failing check and what it is waiting for (``failing``)."""
    settings = request.app[keys.SETTINGS]
    checks: dict[str, Any] = {}
    failing: dict[str, str] = {}
    try:
        health = await request.app[keys.HEALTH].check(settings.worker_stale_after)
        checks["database"] = "ok"
        schema_ok = health["schema_version"] is not None
        checks["schema"] = f"version {health['schema_version']}" if schema_ok else "missing"
        checks["scorers"] = health["live_scorers"]
        # A backlog is reported, not failed on: ingest keeps accepting, the queue buffers.
        checks["backlog"] = await request.app[keys.JOBS].open_backlogs()
        if not schema_ok:
            failing["schema"] = "schema.sql is not applied yet; `replyguard migrate` applies it"
        if health["live_scorers"] == 0:
            failing["scorers"] = (
                "no scoring worker has reported in the last "
                f"{plural(settings.worker_stale_after, 'second')}; one may still be loading "
                "its model (see the worker's log), or none is running (`replyguard worker`)"
            )
    except Exception as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
        failing["database"] = f"the database cannot be reached ({type(error).__name__})"
    body: dict[str, Any] = {"status": "not ready" if failing else "ready", "checks": checks}
    if failing:
        body["failing"] = failing
    response = web.json_response(body, status=503 if failing else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


@operations.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Counters from this process; queue gauges from PostgreSQL, the same on every replica."""
    gauges: dict[str, tuple[str, float]] = {}
    try:
        jobs = await request.app[keys.JOBS].stats()
        deliveries = await request.app[keys.WEBHOOKS].stats()
        backlogs = await request.app[keys.JOBS].open_backlogs()
    except Exception:
        gauges = {"replyguard_database_up": ("1 if the database answered.", 0.0)}
    else:
        gauges = {
            "replyguard_database_up": ("1 if the database answered.", 1.0),
            "replyguard_scoring_jobs_queued": ("Scoring jobs waiting.", jobs["queued"]),
            "replyguard_scoring_jobs_running": ("Scoring jobs leased.", jobs["running"]),
            "replyguard_scoring_jobs_failed": ("Jobs out of attempts.", jobs["failed"]),
            "replyguard_oldest_pending_seconds": (
                "Age of the oldest unscored comment.",
                jobs["oldest_age"],
            ),
            "replyguard_sites_in_backlog": (
                "Sites whose oldest unscored comment is past their limit.",
                float(len(backlogs)),
            ),
            "replyguard_webhook_events_unfanned": (
                "Outbox events not yet turned into deliveries.",
                deliveries["unfanned"],
            ),
        }
        for state in ("pending", "delivering", "failed", "dead"):
            gauges[f"replyguard_webhook_deliveries_{state}"] = (
                f"Webhook deliveries {state}.",
                deliveries[state],
            )
    text = request.app[keys.METRICS].render(gauges)
    return web.Response(text=text, content_type="text/plain", charset="utf-8")
