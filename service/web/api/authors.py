"""Know the commenters (issue 12): a site's authors for its moderators, their sanctions,
and the site's SSO secret for admins. No SQL here (service.store.authors holds it).

- ``GET    /v1/sites/{site}/authors/{author_id}``: who, history counts, sanction in force
- ``GET    /v1/sites/{site}/authors/{author_id}/comments``: their comments, newest first
- ``POST   /v1/sites/{site}/authors/{author_id}/sanctions``: ban or suspend (replaces)
- ``DELETE /v1/sites/{site}/authors/{author_id}/sanctions``: lift
- ``POST   /v1/sites/{site}/sso-secret``: a new SSO secret, shown once (admins)

A moderator of another site gets 404 for all of it, as for an author nobody knows.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from moderation.domain import SANCTION_KINDS
from service.errors import NotFound
from service.store.authors import AuthorProfile, Sanction
from service.times import iso
from service.web import keys
from service.web.api.common import (
    authenticate,
    comment_json,
    path_site,
    private,
    require_admin,
)
from service.web.validation import Fields, query_int, read_json_object

#: An author id is the hex of the author key (32 bytes today; older keys may differ).
AUTHOR_ID: Final = re.compile(r"^(?:[0-9a-f]{2}){1,64}$")

routes = web.RouteTableDef()


def sanction_json(sanction: Sanction | None) -> dict[str, Any] | None:
    if sanction is None:
        return None
    return {
        "kind": sanction.kind,
        "until": iso(sanction.until),
        "reason": sanction.reason,
        "by": sanction.by,
        "at": iso(sanction.at),
    }


def _profile_json(profile: AuthorProfile) -> dict[str, Any]:
    return {
        "id": profile.id,
        "name": profile.name,
        "verified": profile.verified,
        "first_seen": iso(profile.first_seen),
        "last_seen": iso(profile.last_seen),
        "history": dict(profile.history),
        "sanction": sanction_json(profile.sanction),
    }


async def _site_author(request: web.Request) -> tuple[str, bytes, str]:
    """(site, author key, actor) for a caller who may see the site; 404 otherwise."""
    principal = await authenticate(request)
    site_id = path_site(request)
    author_id = request.match_info["author"]
    if not principal.may_see(site_id) or not AUTHOR_ID.match(author_id):
        raise NotFound(f"No author {author_id!r} on site {site_id!r}.")
    return site_id, bytes.fromhex(author_id), principal.actor


async def _known(request: web.Request, site_id: str, key: bytes) -> AuthorProfile:
    profile = await request.app[keys.AUTHORS].profile(site_id, key)
    if profile is None:
        raise NotFound(f"No author {key.hex()!r} on site {site_id!r}.")
    return profile


@routes.get("/v1/sites/{site}/authors/{author}")
async def get_author(request: web.Request) -> web.Response:
    site_id, key, _ = await _site_author(request)
    return private(_profile_json(await _known(request, site_id, key)))


@routes.get("/v1/sites/{site}/authors/{author}/comments")
async def get_author_comments(request: web.Request) -> web.Response:
    site_id, key, _ = await _site_author(request)
    limit = query_int(request, "limit", default=20, low=1, high=100)
    records = request.app[keys.AUTHORS]
    page = await records.recent_comments(
        site_id, key, cursor=request.query.get("cursor") or None, limit=limit
    )
    if not page.items and request.query.get("cursor") is None:
        await _known(request, site_id, key)
    histories = await records.histories([(site_id, key.hex())])
    history = histories.get((site_id, key.hex()))
    return private(
        {
            "items": [comment_json(c, None, history) for c in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@routes.post("/v1/sites/{site}/authors/{author}/sanctions")
async def post_sanction(request: web.Request) -> web.Response:
    """Ban (until lifted) or suspend (until a future time) the author; replaces any before."""
    site_id, key, actor = await _site_author(request)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f = Fields(data)
    f.only(("kind", "until", "reason"))
    kind = f.choice("kind", SANCTION_KINDS, required=True)
    until = f.time("until")
    reason = f.text("reason", required=True, max_chars=500)
    if kind == "ban" and until is not None:
        f.problem("until", "a ban lasts until lifted: leave until out, or suspend instead")
    if kind == "suspend" and until is None:
        f.problem("until", "a suspension needs until, a time in the future")
    elif kind == "suspend" and until is not None and until <= datetime.now(UTC):
        f.problem("until", "must be in the future")
    f.done()
    assert kind is not None and reason is not None
    await _known(request, site_id, key)
    made = await request.app[keys.AUTHORS].sanction(
        site_id, key, kind=kind, until=until, reason=reason, actor=actor
    )
    return private(sanction_json(made), status=201)


@routes.delete("/v1/sites/{site}/authors/{author}/sanctions")
async def delete_sanction(request: web.Request) -> web.Response:
    site_id, key, actor = await _site_author(request)
    await _known(request, site_id, key)
    lifted = await request.app[keys.AUTHORS].lift(site_id, key, actor=actor)
    return private({"lifted": lifted})


@routes.post("/v1/sites/{site}/sso-secret")
async def post_sso_secret(request: web.Request) -> web.Response:
    """A new SSO secret for the site, shown this once; the one before stops working now."""
    principal = await authenticate(request)
    site_id = path_site(request)
    if not principal.may_see(site_id):
        raise NotFound(f"No site {site_id!r}.")
    require_admin(principal, site_id)
    secret = "rgsso_" + secrets.token_urlsafe(32)
    rotated_at = await request.app[keys.SITES].rotate_sso_secret(site_id, secret)
    request.app[keys.SITE_CACHE].pop(site_id, None)
    return private({"secret": secret, "rotated_at": iso(rotated_at)}, status=201)
