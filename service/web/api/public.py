"""The public API, for article pages and their readers: post a comment, read the approved
thread, an author's view of their own comment, readers' reports. CORS from the site's
allowed origins; no SQL here (the stores hold it)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final, cast

from aiohttp import web

from moderation.errors import FieldError
from service.accounts import sso
from service.errors import (
    NotFound,
    RateLimited,
    ReplyguardError,
    Unauthenticated,
)
from service.settings import Settings
from service.store.limits import Check, Limits
from service.store.values import AuthorsComment, NewComment, Site, ThreadItem
from service.times import iso
from service.web import keys
from service.web.api.common import (
    authenticate,
    bearer,
    cached_site,
    comment_json,
    cors,
    path_article,
    path_comment,
    path_site,
    private,
)
from service.web.ratelimit import IPAddress, client_address, client_network
from service.web.validation import (
    IDEMPOTENCY_KEY,
    MAX_REASON_CHARS,
    MAX_TITLE_CHARS,
    THREAD_PAGE,
    Fields,
    query_limit,
    read_json_object,
    url_origin,
)

CORS_HEADERS: Final = "Content-Type, Authorization, Idempotency-Key, X-Author-Token"
#: Rows a site's comment count is spread over (service.web.ratelimit.Check): as many comments
#: to one site can be written at once.
SITE_LIMIT_SHARDS: Final = 16

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


# --- views of a comment ---------------------------------------------------------------


def _thread_json(item: ThreadItem) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "parent_id": str(item.parent_id) if item.parent_id else None,
        "removed": item.removed,
        "author_name": None if item.removed else item.author_name,
        "body": None if item.removed else item.body,
        "created_at": iso(item.created_at),
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
        "created_at": iso(comment.created_at),
        "status_changed_at": iso(comment.status_changed_at),
    }


# --- public: article pages and readers ---------------------------------------------------


@routes.post("/v1/sites/{site}/articles/{article}/comments")
async def post_comment(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    site_id = path_site(request)
    article_id = path_article(request)
    data = await read_json_object(request, settings.max_request_bytes)
    site = await cached_site(request, site_id)
    f = Fields(data)
    f.only(("body", "author_name", "author_email", "parent_id", "article_url", "article_title"))
    body = f.text(
        "body",
        required=True,
        max_chars=settings.max_body_chars,
        max_bytes=settings.max_body_bytes,
        multiline=True,
    )
    claims = _author_claims(request, site)
    author_name = f.text(
        "author_name",
        required=claims is None or claims.name is None,
        max_chars=settings.max_name_chars,
    )
    author_email = f.email("author_email")
    if claims is not None:
        # The site's display name, cut to the length every stored name keeps to.
        author_name = (claims.name or author_name or "")[: settings.max_name_chars]
        author_email = claims.email or author_email
    new = NewComment(
        site_id=site.id,
        article_id=article_id,
        body=body or "",
        author_name=author_name or "",
        author_email=author_email,
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
        author_key=_author_key(new, network)
        if claims is None
        else sso.author_key(site.id, claims.sub),
        author_verified=claims is not None,
        body_hash=hashlib.sha256(" ".join(new.body.casefold().split()).encode()).digest(),
    )
    # Only a key's retries are compared with the request that took it; a verified author's
    # request is theirs alone: the same key under another sign-in differs.
    signed = [] if claims is None else [claims.sub]
    request_hash = b"" if idempotency_key is None else _request_hash([article_id, data, *signed])
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
    except RateLimited as refused:
        request.app[keys.METRICS].comments_rate_limited.labels(site.id).inc()
        # DEBUG: a flood of these is what the limits are for; the counter shows the rate.
        log.debug(
            "comment to site %s refused: rate limited for %.0f s",
            site.id,
            refused.retry_after,
            extra={"site": site.id, "retry_after": refused.retry_after},
        )
        raise
    except ReplyguardError:  # refused for what it is (a repost, no parent): not counted
        request.app[keys.LOCAL_LIMITS].give_back(limits)
        raise
    if not submitted.replayed:
        request.app[keys.METRICS].comments_accepted.labels(site.id).inc()
    response = private(
        {
            "id": str(submitted.id),
            "status": "pending",
            "author_token": submitted.author_token,
            "created_at": iso(submitted.created_at),
            "links": {"status": f"/v1/comments/{submitted.id}"},
        },
        status=202,
    )
    response.headers["Location"] = f"/v1/comments/{submitted.id}"
    cors(request, response, site)
    return response


def _request_hash(parts: Sequence[Any]) -> bytes:
    """The request as its Idempotency-Key's retries must repeat it (the article, the fields
    whatever their order or spacing, and who signed in)."""
    canonical = json.dumps(list(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def _on_site(url: str | None, site: Site) -> str | None:
    """The article's url, kept only on one of the site's own origins: moderators follow it,
    so a reader may not choose where it leads."""
    if url is None or url_origin(url) not in site.allowed_origins:
        return None
    return url


def _client(request: web.Request) -> IPAddress | None:
    trusted = request.app[keys.TRUSTED_PROXIES]
    return client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)


def _author_claims(request: web.Request, site: Site) -> sso.AuthorClaims | None:
    """The verified author of an ``X-Author-Token`` header, None without one; a token that
    is sent must be valid (401 otherwise: never a silent downgrade to unverified)."""
    token = request.headers.get("X-Author-Token")
    if token is None:
        return None
    return sso.verify_author_token(token.strip(), secret=site.sso_secret, site_id=site.id)


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
    site = await cached_site(request, path_site(request))
    article_id = path_article(request)
    limit = query_limit(request, THREAD_PAGE)
    page = await request.app[keys.COMMENTS].thread(
        site.id, article_id, cursor=request.query.get("cursor") or None, limit=limit
    )
    response = web.json_response(
        {"items": [_thread_json(i) for i in page.items], "next_cursor": page.next_cursor}
    )
    # Public and the same for everyone: a short shared cache absorbs a front-page spike.
    response.headers["Cache-Control"] = "public, max-age=5"
    cors(request, response, site)
    return response


@routes.route("OPTIONS", "/v1/sites/{site}/articles/{article}/comments")
async def preflight_thread(request: web.Request) -> web.Response:
    site = await cached_site(request, path_site(request))
    path_article(request)
    return _preflight(request, site, "GET, POST")


@routes.route("OPTIONS", "/v1/comments/{comment}")
async def preflight_comment(request: web.Request) -> web.Response:
    comment = await request.app[keys.COMMENTS].get(path_comment(request))
    site = await cached_site(request, comment.site_id)
    return _preflight(request, site, "GET")


def _preflight(request: web.Request, site: Site, methods: str) -> web.Response:
    response = web.Response(status=204)
    cors(request, response, site)
    if "Access-Control-Allow-Origin" in response.headers:
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@routes.get("/v1/comments/{comment}")
async def get_comment(request: web.Request) -> web.Response:
    """For its author (the token from submission) or a moderator of its site, who also
    sees the shadow models' scores."""
    comment_id = path_comment(request)
    token = bearer(request)
    if token is None:
        raise Unauthenticated(
            "Send the author_token from submission, or a moderator token, as a Bearer token."
        )
    store = request.app[keys.COMMENTS]
    if token.startswith("rga_"):
        mine = await store.get_for_author(comment_id, token)
        response = private(_authors_json(mine))
        cors(request, response, await cached_site(request, mine.comment.site_id))
        return response
    principal = await authenticate(request)
    comment = await store.get(comment_id)
    if not principal.may_see(comment.site_id):
        raise NotFound("No such comment.")
    parent = None
    if comment.parent_id is not None:
        parent = (await store.get_many([comment.parent_id])).get(comment.parent_id)
    author = None
    if comment.author_id is not None:
        pair = (comment.site_id, comment.author_id)
        author = (await request.app[keys.AUTHORS].summaries([pair])).get(pair)
    shadow_scores = await request.app[keys.SHADOWS].scores_of(comment.id)
    return private({**comment_json(comment, parent, author), "shadow_scores": shadow_scores})


@routes.post("/v1/comments/{comment}/reports")
async def post_report(request: web.Request) -> web.Response:
    """A reader flags a published comment; past the site's threshold it goes back to the queue."""
    settings = request.app[keys.SETTINGS]
    comment_id = path_comment(request)
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
    response = private({"comment_id": str(comment_id), "recorded": report.recorded}, status=202)
    cors(request, response, await cached_site(request, report.site_id))
    return response


@routes.route("OPTIONS", "/v1/comments/{comment}/reports")
async def preflight_report(request: web.Request) -> web.Response:
    comment = await request.app[keys.COMMENTS].get(path_comment(request))
    site = await cached_site(request, comment.site_id)
    return _preflight(request, site, "POST")
