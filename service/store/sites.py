"""Sites and their policies: create, update, read, and the audit of policy versions (one
transaction each)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.policy import Policy
from service.errors import NotFound
from service.store import queries as q
from service.store.rows import dumps, site_from_row
from service.store.values import Site


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """One version of a site's policy, as its audit row records it."""

    version: int
    reason: str | None
    actor: str
    at: datetime


class SiteStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, site_id: str) -> Site:
        """The site, or NotFound."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(q.GET_SITE, {"site_id": site_id})).first()
        if row is None:
            raise NotFound(f"No site {site_id!r}.")
        return site_from_row(row)

    async def put(
        self,
        site_id: str,
        *,
        name: str,
        allowed_origins: Sequence[str],
        policy: Policy,
        actor: str,
        reason: str | None = None,
    ) -> tuple[Site, bool]:
        """Create or replace a site; True when it was created. The policy version grows when
        the policy changes, and each new version is audited as ``actor``'s, with ``reason``."""
        async with self._engine.begin() as conn:
            await conn.execute(q.LOCK_SITE, {"site_id": site_id})
            row = (
                await conn.execute(
                    q.UPSERT_SITE,
                    {
                        "site_id": site_id,
                        "name": name,
                        "origins": list(allowed_origins),
                        "policy": dumps(policy.to_json()),
                        "actor": actor,
                        "reason": reason,
                    },
                )
            ).one()
        return site_from_row(row), bool(row._mapping["created"])

    async def policy_history(self, site_id: str, limit: int) -> list[PolicyChange]:
        """The site's last ``limit`` policy versions: who made each, when and why."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(q.POLICY_HISTORY, {"site_id": site_id, "limit": limit})
            ).all()
        return [PolicyChange(r.policy_version, r.reason, r.actor, r.created_at) for r in rows]

    async def set_article_override(
        self,
        site_id: str,
        article_id: str,
        override: Mapping[str, Any] | None,
        until: datetime | None,
    ) -> int:
        """Replace an article's policy override (None removes it); returns its version."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    q.UPSERT_ARTICLE_OVERRIDE,
                    {
                        "site_id": site_id,
                        "article_id": article_id,
                        "override": None if override is None else dumps(override),
                        "until": until,
                    },
                )
            ).one()
        return int(row._mapping["override_version"])

    async def rotate_sso_secret(self, site_id: str, secret: str) -> datetime:
        """Make ``secret`` the site's SSO secret, replacing any before; when it was set.
        NotFound for an unknown site."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(q.SET_SSO_SECRET, {"site_id": site_id, "secret": secret})
            ).first()
        if row is None:
            raise NotFound(f"No site {site_id!r}.")
        rotated_at: datetime = row.sso_rotated_at
        return rotated_at
