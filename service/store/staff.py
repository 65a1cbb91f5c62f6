"""Who has access, for when someone leaves: API tokens listed and revoked, users listed,
disabled and enabled, and the audit trail of those changes. SQL is in
``service.store.staff_queries``.

Every method takes a ``scope``: the sites the caller administers, None for every site (an
all-sites admin, or the CLI). A token or user outside the scope is "not found", so an admin
of one site learns nothing of the others. Each change and its audit row are one
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, cast

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.errors import NotFound
from service.store import review_queries as pq
from service.store import staff_queries as sq
from service.store.values import Role

StaffAction = Literal[
    "token.created",
    "token.revoked",
    "user.created",
    "user.updated",
    "user.disabled",
    "user.enabled",
    "model.promoted",
    "model.rolled_back",
]
Scope = frozenset[str] | None

MAX_AUDIT_ROWS: Final = 1000


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as an admin sees it: everything but the secret."""

    id: int
    role: Role
    #: None: every site (an admin).
    sites: frozenset[str] | None
    label: str
    created_at: datetime
    #: To within a minute; None when never used.
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class StaffUser:
    """Someone who signs in to the moderator's page, as an admin sees them."""

    id: int
    name: str
    role: Role
    sites: frozenset[str] | None
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    #: When any of their sessions was last used; None when they never signed in.
    last_seen_at: datetime | None


@dataclass(frozen=True, slots=True)
class StaffChange:
    """One row of the staff audit trail."""

    id: int
    action: StaffAction
    #: ``token:<id>`` or ``user:<name>``.
    target: str
    sites: frozenset[str] | None
    actor: str
    at: datetime


def _sites(value: Sequence[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


def _scope(scope: Scope) -> list[str] | None:
    return None if scope is None else sorted(scope)


def _token(row: Row[Any]) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        role=cast(Role, row.role),
        sites=_sites(row.sites),
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _user(row: Row[Any]) -> StaffUser:
    return StaffUser(
        id=row.id,
        name=row.name,
        role=cast(Role, row.role),
        sites=_sites(row.sites),
        created_at=row.created_at,
        updated_at=row.updated_at,
        disabled_at=row.disabled_at,
        last_seen_at=row.last_seen_at,
    )


async def record_staff_change(
    conn: AsyncConnection,
    action: StaffAction,
    target: str,
    sites: Sequence[str] | None,
    actor: str,
) -> None:
    """Write one staff audit row inside the caller's transaction."""
    await conn.execute(
        sq.INSERT_STAFF_AUDIT,
        {
            "action": action,
            "target": target,
            "sites": None if sites is None else sorted(sites),
            "actor": actor,
        },
    )


class StaffStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- tokens ---------------------------------------------------------------------------

    async def tokens(self, scope: Scope) -> list[TokenInfo]:
        """Every token in scope, revoked ones too, oldest first."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sq.LIST_TOKENS, {"scope": _scope(scope)})).all()
        return [_token(r) for r in rows]

    async def revoke_token(
        self, token_id: int, *, scope: Scope, actor: str
    ) -> tuple[TokenInfo, bool]:
        """Revoke a token: the next request with it is refused. Revoking a revoked token
        changes nothing and writes no audit row (False). NotFound when out of scope."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(sq.LOCK_TOKEN, {"token_id": token_id, "scope": _scope(scope)})
            ).first()
            if row is None:
                raise NotFound(f"No token {token_id}.")
            if row.revoked_at is not None:
                return _token(row), False
            revoked = (await conn.execute(sq.REVOKE_TOKEN, {"token_id": token_id})).one()
            await record_staff_change(conn, "token.revoked", f"token:{token_id}", row.sites, actor)
        return _token(revoked), True

    # --- users ----------------------------------------------------------------------------

    async def users(self, scope: Scope) -> list[StaffUser]:
        """Every user in scope, disabled ones too, by name."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sq.LIST_USERS, {"scope": _scope(scope)})).all()
        return [_user(r) for r in rows]

    async def set_user_disabled(
        self, name: str, disabled: bool, *, scope: Scope, actor: str
    ) -> tuple[StaffUser, bool]:
        """Disable a user (they cannot sign in, and every session of theirs ends now) or
        enable one again (they sign in afresh). A user already so changes nothing and
        writes no audit row (False). NotFound when out of scope."""
        async with self._engine.begin() as conn:
            params = {"name": name, "scope": _scope(scope)}
            row = (await conn.execute(sq.LOCK_USER, params)).first()
            if row is None:
                raise NotFound(f"No user {name!r}.")
            if (row.disabled_at is not None) == disabled:
                return _user(row), False
            await conn.execute(sq.SET_USER_DISABLED, {"user_id": row.id, "disabled": disabled})
            if disabled:
                await conn.execute(pq.DELETE_USER_SESSIONS, {"user_id": row.id})
            action: StaffAction = "user.disabled" if disabled else "user.enabled"
            await record_staff_change(conn, action, f"user:{name}", row.sites, actor)
            changed = (await conn.execute(sq.LOCK_USER, params)).one()
        return _user(changed), True

    # --- audit and sites --------------------------------------------------------------------

    async def audit(self, scope: Scope, limit: int = 100) -> list[StaffChange]:
        """The latest changes to tokens and users in scope, newest first."""
        limit = max(1, min(limit, MAX_AUDIT_ROWS))
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(sq.LIST_STAFF_AUDIT, {"scope": _scope(scope), "limit": limit})
            ).all()
        return [
            StaffChange(r.id, r.action, r.target, _sites(r.sites), r.actor, r.created_at)
            for r in rows
        ]

    async def missing_sites(self, sites: Sequence[str]) -> tuple[list[str], list[str]]:
        """The ids in ``sites`` that name no site, and (for the message) a few that do."""
        async with self._engine.connect() as conn:
            missing = (await conn.execute(sq.MISSING_SITES, {"sites": list(sites)})).scalars()
            missing_ids = list(missing)
            existing = list((await conn.execute(sq.SOME_SITE_IDS)).scalars()) if missing_ids else []
        return missing_ids, existing
