"""The staff access handlers (admins only): list and revoke API tokens, list, disable and
enable users, and read the staff audit trail. No SQL here.

An admin of some sites sees and changes only the tokens and users whose every site is one
of theirs; anything else answers 404, as if it did not exist. The actor recorded is the
admin's token label or user name.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.accounts.auth import USER_NAME, normalise_name
from service.errors import Forbidden, NotFound
from service.store.staff import StaffChange, StaffUser, TokenInfo
from service.store.values import Principal
from service.times import iso
from service.web import keys
from service.web.api.common import authenticate, private
from service.web.validation import ROW_ID, STAFF_AUDIT_PAGE, query_limit

routes = web.RouteTableDef()


# --- helpers ----------------------------------------------------------------------------


def _sites(sites: frozenset[str] | None) -> list[str] | None:
    return None if sites is None else sorted(sites)


async def _admin(request: web.Request) -> Principal:
    principal = await authenticate(request)
    if principal.role != "admin":
        raise Forbidden("Tokens and users are managed with an admin token or an admin's session.")
    return principal


def _path_token(request: web.Request) -> int:
    raw = request.match_info["token"]
    if not ROW_ID.match(raw):
        raise NotFound("No such token; GET /v1/tokens lists them.")
    return int(raw)


def _path_user(request: web.Request) -> str:
    name = normalise_name(request.match_info["user"])
    if not USER_NAME.match(name):
        raise NotFound("No such user; GET /v1/users lists them.")
    return name


def token_json(token: TokenInfo) -> dict[str, Any]:
    return {
        "id": token.id,
        "role": token.role,
        "sites": _sites(token.sites),
        "label": token.label,
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }


def user_json(user: StaffUser) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "sites": _sites(user.sites),
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
        "last_seen_at": iso(user.last_seen_at),
        "disabled_at": iso(user.disabled_at),
    }


def change_json(change: StaffChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "action": change.action,
        "target": change.target,
        "sites": _sites(change.sites),
        "actor": change.actor,
        "at": iso(change.at),
    }


# --- tokens -------------------------------------------------------------------------------


@routes.get("/v1/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    principal = await _admin(request)
    tokens = await request.app[keys.STAFF].tokens(principal.sites)
    return private({"items": [token_json(t) for t in tokens], "next_cursor": None})


@routes.post("/v1/tokens/{token}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    principal = await _admin(request)
    token, changed = await request.app[keys.STAFF].revoke_token(
        _path_token(request), scope=principal.sites, actor=principal.actor
    )
    return private({**token_json(token), "changed": changed})


# --- users --------------------------------------------------------------------------------


@routes.get("/v1/users")
async def list_users(request: web.Request) -> web.Response:
    principal = await _admin(request)
    users = await request.app[keys.STAFF].users(principal.sites)
    return private({"items": [user_json(u) for u in users], "next_cursor": None})


async def _set_disabled(request: web.Request, disabled: bool) -> web.Response:
    principal = await _admin(request)
    user, changed = await request.app[keys.STAFF].set_user_disabled(
        _path_user(request), disabled, scope=principal.sites, actor=principal.actor
    )
    return private({**user_json(user), "changed": changed})


@routes.post("/v1/users/{user}/disable")
async def disable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, True)


@routes.post("/v1/users/{user}/enable")
async def enable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, False)


# --- audit --------------------------------------------------------------------------------


@routes.get("/v1/staff-audit")
async def staff_audit(request: web.Request) -> web.Response:
    principal = await _admin(request)
    limit = query_limit(request, STAFF_AUDIT_PAGE)
    changes = await request.app[keys.STAFF].audit(principal.sites, limit)
    return private({"items": [change_json(c) for c in changes], "next_cursor": None})
