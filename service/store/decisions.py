"""What a site's moderators decided, read back as training data for the site's own candidate
model. SQL is in ``service.store.decision_queries``."""

from __future__ import annotations

from typing import Literal, cast

from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.domain import CommentId, ModeratorDecision
from service.store import decision_queries as dq


class DecisionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def site_decisions(self, site_id: str, limit: int) -> list[ModeratorDecision]:
        """The site's ``limit`` newest moderator decisions, oldest first: per comment, the
        moderator's latest action when it approved or rejected it (erased comments left out).
        An unknown site has none."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(dq.SITE_DECISIONS, {"site_id": site_id, "limit": limit})
            ).all()
        return [
            ModeratorDecision(
                comment_id=CommentId(r.comment_id),
                body=r.body,
                verdict=cast(Literal["approved", "rejected"], r.verdict),
                decided_at=r.decided_at,
            )
            for r in reversed(rows)
        ]
