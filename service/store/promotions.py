"""Model promotions: which model scores each site's comments, every change audited.

An admin promotes a model (a spec the workers can load, as ``REPLYGUARD_MODEL`` takes it) for
one site or for every site; a site's own promotion wins over the every-site one, which wins
over the workers' configured model. A rollback restores the scope's model before its newest
change in one step (rolling back again restores it). Every change is a row of
``model_promotions`` (who, when, what, what it replaced), a staff audit row and a
``model.promoted`` event for each site whose model it changed, in the same transaction. The
workers read the models in force every few seconds (``service.queue.live_models``). SQL is in
``service.store.promotion_queries``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.errors import Conflict, NotFound
from service.store import promotion_queries as q
from service.store.rows import dumps
from service.store.staff import record_staff_change
from service.times import iso

PromotionAction = Literal["promote", "rollback"]


@dataclass(frozen=True, slots=True)
class Promotion:
    """One change of a scope's model: the scope (``site_id`` None: every site), the model it
    put in force (None: none promoted, the scope follows the next one out) and the one
    before."""

    id: int
    site_id: str | None
    model: str | None
    previous: str | None
    action: PromotionAction
    actor: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site_id,
            "model": self.model,
            "previous": self.previous,
            "action": self.action,
            "by": self.actor,
            "at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class PromotedModels:
    """The models in force: per site, and for every site (None where none is promoted)."""

    every_site: str | None
    sites: Mapping[str, str]

    def spec_for(self, site_id: str) -> str | None:
        """The promoted spec that scores ``site_id`` (None: the configured model)."""
        return self.sites.get(site_id, self.every_site)


def _promotion(row: Row[Any]) -> Promotion:
    return Promotion(
        id=row.id,
        site_id=row.site_id,
        model=row.model,
        previous=row.previous,
        action=row.action,
        actor=row.actor,
        created_at=row.created_at,
    )


class PromotionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def promote(self, site_id: str | None, model: str, actor: str) -> Promotion:
        """Put ``model`` in force for ``site_id`` (None: every site). Promoting the model
        already in force is refused (``Conflict``): nothing would change."""
        async with self._engine.begin() as conn:
            newest = await self._newest(conn, site_id)
            current = newest.model if newest is not None else None
            if current == model:
                raise Conflict(
                    f"{model!r} is already the model promoted for {_scope_words(site_id)}."
                )
            return await self._change(conn, site_id, model, current, "promote", actor)

    async def rollback(self, site_id: str | None, actor: str) -> Promotion:
        """Restore the model in force before the scope's newest change."""
        async with self._engine.begin() as conn:
            newest = await self._newest(conn, site_id)
            if newest is None:
                raise Conflict(
                    f"No model was ever promoted for {_scope_words(site_id)}: nothing to roll back."
                )
            return await self._change(
                conn, site_id, newest.previous, newest.model, "rollback", actor
            )

    async def in_force(self) -> PromotedModels:
        """The promoted model of every scope, as the workers route comments."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q.IN_FORCE)).all()
        every = next((r.model for r in rows if r.site_id is None), None)
        return PromotedModels(
            every, {r.site_id: r.model for r in rows if r.site_id is not None and r.model}
        )

    async def history(self, sites: Sequence[str] | None, limit: int) -> list[Promotion]:
        """Newest first: every change for ``sites`` (None: all) and the every-site ones."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    q.HISTORY, {"sites": None if sites is None else list(sites), "limit": limit}
                )
            ).all()
        return [_promotion(r) for r in rows]

    async def worker_reports(self, stale_after: float) -> list[tuple[str, list[dict[str, Any]]]]:
        """Each live worker's id and its report of the promoted models it runs."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q.WORKER_PROMOTED, {"stale_after": stale_after})).all()
        return [(r.id, list(r.promoted_models)) for r in rows]

    async def _newest(self, conn: AsyncConnection, site_id: str | None) -> Promotion | None:
        await conn.execute(q.LOCK_SCOPE, {"scope": site_id or ""})
        if site_id is not None and (
            (await conn.execute(q.SITE_EXISTS, {"site_id": site_id})).first() is None
        ):
            raise NotFound(f"No site {site_id!r}.")
        row = (await conn.execute(q.SCOPE_NEWEST, {"site_id": site_id})).first()
        return None if row is None else _promotion(row)

    async def _change(
        self,
        conn: AsyncConnection,
        site_id: str | None,
        model: str | None,
        previous: str | None,
        action: PromotionAction,
        actor: str,
    ) -> Promotion:
        row = (
            await conn.execute(
                q.INSERT_PROMOTION,
                {
                    "site_id": site_id,
                    "model": model,
                    "previous": previous,
                    "action": action,
                    "actor": actor,
                },
            )
        ).one()
        made = _promotion(row)
        await record_staff_change(
            conn,
            "model.promoted" if action == "promote" else "model.rolled_back",
            f"model:{model or 'none'}",
            None if site_id is None else [site_id],
            actor,
        )
        reached = (
            [site_id]
            if site_id is not None
            else [r.id for r in (await conn.execute(q.SITES_FOLLOWING_ALL)).all()]
        )
        for site in reached:
            payload = {
                "site_id": site,
                "scope": "site" if site_id is not None else "all",
                "model": model,
                "previous": previous,
                "action": action,
                "by": actor,
                "promotion_id": made.id,
            }
            await conn.execute(q.INSERT_EVENT, {"site_id": site, "payload": dumps(payload)})
        return made


def _scope_words(site_id: str | None) -> str:
    return "every site" if site_id is None else f"site {site_id!r}"
