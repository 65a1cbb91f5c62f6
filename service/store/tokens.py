"""API tokens: create, and resolve a bearer token to who it is (never cached, so a revoked
token is refused at once)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import cast

from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.errors import FieldError
from service.errors import InvalidInput
from service.store import queries as q
from service.store import staff_queries as sq
from service.store.rows import hash_token
from service.store.values import Principal, Role


class TokenStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self, role: Role, sites: Sequence[str] | None, label: str = "", *, actor: str = "cli"
    ) -> str:
        """Make a token and return it: the only time it is ever seen. Only its hash is kept;
        the staff audit records ``actor`` made it."""
        if role == "moderator" and not sites:
            raise InvalidInput([FieldError("sites", "a moderator token needs at least one site")])
        token = "rg_" + secrets.token_urlsafe(32)
        stored_sites = None if role == "admin" and not sites else list(sites or [])
        async with self._engine.begin() as conn:
            token_id = (
                await conn.execute(
                    q.INSERT_TOKEN,
                    {
                        "token_hash": hash_token(token),
                        "role": role,
                        "sites": stored_sites,
                        "label": label,
                    },
                )
            ).scalar_one()
            await conn.execute(
                sq.INSERT_STAFF_AUDIT,
                {
                    "action": "token.created",
                    "target": f"token:{token_id}",
                    "sites": stored_sites,
                    "actor": actor,
                },
            )
        return token

    async def principal(self, token: str) -> Principal | None:
        """The token's standing, or None when it is unknown or revoked (checked each time)."""
        async with self._engine.begin() as conn:
            row = (await conn.execute(q.FIND_TOKEN, {"token_hash": hash_token(token)})).first()
        if row is None:
            return None
        sites = None if row.sites is None else frozenset(row.sites)
        return Principal(token_id=row.id, role=cast(Role, row.role), sites=sites, label=row.label)

    async def admin_count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(q.COUNT_ADMIN_TOKENS)).scalar_one())
