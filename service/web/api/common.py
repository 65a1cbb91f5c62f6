"""What every part of the API shares: reading path parameters, who is asking (bearer
tokens), the per-site cache and CORS, and the JSON shapes moderators see. Each API module
(public, moderators, review, webhooks, staff, operations) and the pages import these."""

from __future__ import annotations

import time
from typing import Any, Final
from uuid import UUID

from aiohttp import web

from moderation.domain import AuditEntry, Comment
from moderation.errors import FieldError
from service.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from service.store.authors import NO_SUMMARY, AuthorSummary
from service.store.values import Principal, Site
from service.times import iso
from service.web import keys
from service.web.validation import (
    ARTICLE_ID,
    ARTICLE_ID_RULE,
    MAX_BULK_IDS,
    SLUG,
    Fields,
    parse_uuid,
)

SITE_CACHE_SECONDS: Final = 2.0


def path_site(request: web.Request) -> str:
    site_id = request.match_info["site"]
    if not SLUG.match(site_id):
        raise NotFound(f"No site {site_id!r}.")
    return site_id


def path_article(request: web.Request) -> str:
    article_id = request.match_info["article"]
    if not ARTICLE_ID.match(article_id):
        raise InvalidInput([FieldError("article", f"must be {ARTICLE_ID_RULE}")])
    return article_id


def path_comment(request: web.Request) -> UUID:
    comment_id = parse_uuid(request.match_info["comment"])
    if comment_id is None:
        raise NotFound("No such comment.")
    return comment_id


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: web.Request) -> Principal:
    token = bearer(request)
    if token is None:
        raise Unauthenticated("Send a moderator or admin token as 'Authorization: Bearer <token>'.")
    principal = await request.app[keys.TOKENS].principal(token)
    if principal is None:
        raise Unauthenticated("That token is unknown or revoked.")
    return principal


def require_admin(principal: Principal, site_id: str | None = None) -> None:
    if principal.role != "admin":
        raise Forbidden("This needs an admin token.")
    if site_id is not None and not principal.may_see(site_id):
        raise Forbidden(f"This admin token does not cover site {site_id!r}.")


def require_site_staff(principal: Principal, site_id: str) -> None:
    """The site's moderators and admins, and nobody else. Asked before the site is looked
    up, so the 403 says nothing about whether the site exists."""
    if not principal.may_see(site_id):
        raise Forbidden(f"This token does not cover site {site_id!r}.")


async def query_sites(
    request: web.Request, principal: Principal
) -> tuple[str | None, list[str] | None]:
    """The ``?site=`` a listing asks for (checked: it exists and the caller covers it, else
    404, as if it did not exist) and the sites to list: that one, else the caller's (None:
    every site)."""
    site_id = request.query.get("site") or None
    if site_id is None:
        return None, None if principal.sites is None else sorted(principal.sites)
    if not SLUG.match(site_id) or not principal.may_see(site_id):
        raise NotFound(f"No site {site_id!r}.")
    await request.app[keys.SITES].get(site_id)
    return site_id, [site_id]


async def cached_site(request: web.Request, site_id: str) -> Site:
    """The site, from a cache of a couple of seconds: the hot comment path reads it often."""
    cache: dict[str, tuple[float, Site]] = request.app[keys.SITE_CACHE]
    now = time.monotonic()
    hit = cache.get(site_id)
    if hit is not None and now - hit[0] < SITE_CACHE_SECONDS:
        return hit[1]
    site = await request.app[keys.SITES].get(site_id)
    cache[site_id] = (now, site)
    return site


def cors(request: web.Request, response: web.StreamResponse, site: Site) -> None:
    origin = request.headers.get("Origin")
    response.headers.add("Vary", "Origin")
    if origin and origin in site.allowed_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"


def comment_json(
    comment: Comment,
    parent: Comment | None = None,
    author: AuthorSummary | None = None,
) -> dict[str, Any]:
    """A comment as moderators see it: everything, including why it is where it is, and
    who wrote it (``author``: their counts on the site and first comment, when looked up)."""
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
        "author": author_json(comment, author),
        "status": comment.status,
        "status_reason": comment.status_reason,
        "created_at": iso(comment.created_at),
        "status_changed_at": iso(comment.status_changed_at),
        "scores": comment.scores,
        "explanation": comment.explanation,
    }


def author_json(comment: Comment, author: AuthorSummary | None) -> dict[str, Any]:
    """The author of a comment: id (None once erased), name, verified, when first seen on
    the site, and counts of their approved, rejected and held comments there."""
    summary = author or NO_SUMMARY
    return {
        "id": comment.author_id,
        "name": comment.author_name,
        "verified": comment.author_verified,
        "first_seen": iso(summary.first_seen),
        "history": {k: int(summary.history.get(k, 0)) for k in ("approved", "rejected", "held")},
    }


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "from_status": entry.from_status,
        "to_status": entry.to_status,
        "actor": {"kind": entry.actor_kind, "name": entry.actor},
        "reason": entry.reason,
        "explanation": entry.explanation,
        "at": iso(entry.created_at),
    }


def private(data: Any, status: int = 200) -> web.Response:
    response = web.json_response(data, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def bulk_ids(f: Fields) -> list[UUID]:
    """The comment ids of a bulk request (``ids``), each problem recorded on ``f``."""
    raw_ids = f.raw("ids")
    ids: list[UUID] = []
    if not isinstance(raw_ids, list) or not 1 <= len(raw_ids) <= MAX_BULK_IDS:
        f.problem("ids", f"must be a list of 1-{MAX_BULK_IDS} comment ids")
        return ids
    for i, raw in enumerate(raw_ids):
        parsed = parse_uuid(raw)
        if parsed is None:
            f.problem(f"ids[{i}]", "must be a comment id (a UUID)")
        else:
            ids.append(parsed)
    return ids
