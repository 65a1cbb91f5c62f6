"""Shadow models' scores and reports: what the workers' shadows scored (stored beside the live
model's scores, marked shadow, never deciding), which models the workers run, and the figures
that compare each shadow with the live model and the moderators. SQL is in
``service.store.shadow_queries``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.comparison import ModeratedComment
from moderation.domain import CommentId, ModelInfo, Scores, Verdict
from moderation.policy import max_score
from service.store import queries as q
from service.store import shadow_queries as sq
from service.store.jobs import jobs_in_context
from service.store.rows import dumps
from service.store.values import ClaimedJob


@dataclass(frozen=True, slots=True)
class ShadowScore:
    """One comment as a shadow model scored it, and the verdict the policy gives on that."""

    comment_id: CommentId
    scores: Scores
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class LiveModel:
    model: ModelInfo
    #: Workers scoring with it now.
    workers: int


@dataclass(frozen=True, slots=True)
class ShadowModel:
    """A shadow model as the workers report it: alike reports of several workers added up."""

    spec: str
    #: loading, loaded or failed (it could not be loaded, or is the live model).
    state: str
    #: None until it is loaded.
    model: ModelInfo | None
    error: str | None
    workers: int
    #: Comments it scored, batches that failed or ran out of time, comments it skipped while
    #: busy, since each of those workers started.
    scored: int
    failures: int
    skipped: int


@dataclass(frozen=True, slots=True)
class ShadowFigures:
    """One shadow model on one site: what it scored and how its verdicts compare."""

    site_id: str
    model: ModelInfo
    comments: int
    ms_per_comment: float | None
    verdicts: Mapping[Verdict, int]
    compared_with_live: int
    agreeing_with_live: int
    first_scored_at: datetime
    last_scored_at: datetime
    #: Those of its comments a moderator approved or rejected.
    moderated: Sequence[ModeratedComment]


class ShadowStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(
        self,
        model: ModelInfo,
        scored: Sequence[ShadowScore],
        ms: float,
        *,
        role: Literal["shadow", "rescore"] = "shadow",
    ) -> int:
        """Store a batch of ``model``'s shadow scores (or, ``role`` rescore, a rescore's),
        ``ms`` milliseconds per comment; a comment it already scored keeps its row. Returns
        how many rows were written."""
        rows = [
            {"comment_id": str(s.comment_id), "scores": dict(s.scores), "verdict": s.verdict}
            for s in scored
        ]
        async with self._engine.begin() as conn:
            written = await conn.execute(
                sq.INSERT_SHADOW_SCORES,
                {
                    "model_name": model.name,
                    "model_version": model.version,
                    "score_ms": ms,
                    "rows": dumps(rows),
                    "role": role,
                },
            )
        return int(written.rowcount or 0)

    async def count_past(self, site_id: str, since: datetime, until: datetime) -> int:
        """How many of the site's decided comments were created in [since, until)."""
        params = {"site_id": site_id, "since": since, "until": until}
        async with self._engine.connect() as conn:
            return int((await conn.execute(sq.COUNT_PAST_COMMENTS, params)).scalar_one())

    async def past_comments(
        self,
        site_id: str,
        since: datetime,
        until: datetime,
        *,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> tuple[list[ClaimedJob], tuple[datetime, UUID] | None]:
        """A page of the site's decided comments created in [since, until), oldest first,
        with what deciding them now would need (the policy and the author's standing as
        they are now), and the key of the next page (None: the last)."""
        params = {
            "site_id": site_id,
            "since": since,
            "until": until,
            "after_at": after[0] if after else None,
            "after_id": str(after[1]) if after else None,
            "limit": limit,
        }
        async with self._engine.connect() as conn:
            keys = (await conn.execute(sq.PAST_COMMENTS, params)).all()
            if not keys:
                return [], None
            ids = [k.id for k in keys]
            rows = (await conn.execute(q.JOB_CONTEXT, {"comment_ids": ids})).all()
        order = {comment_id: i for i, comment_id in enumerate(ids)}
        jobs = sorted(jobs_in_context(rows, {}), key=lambda j: order[j.comment_id])
        last = keys[-1]
        return jobs, ((last.created_at, last.id) if len(keys) == limit else None)

    async def scores_of(self, comment_id: UUID) -> dict[str, dict[str, float]]:
        """The comment's shadow scores by ``name@version``."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(sq.SHADOW_SCORES_OF_COMMENT, {"comment_id": comment_id})
            ).all()
        return {f"{r.model_name}@{r.model_version}": dict(r.scores) for r in rows}

    async def models(self, stale_seconds: float) -> tuple[list[LiveModel], list[ShadowModel]]:
        """The live and shadow models of the workers that reported in the last
        ``stale_seconds``."""
        params = {"stale_seconds": stale_seconds}
        async with self._engine.connect() as conn:
            live = (await conn.execute(sq.LIVE_MODELS, params)).all()
            shadows = (await conn.execute(sq.SHADOW_MODELS, params)).all()
        return (
            [LiveModel(ModelInfo(r.model_name, r.model_version), int(r.workers)) for r in live],
            [
                ShadowModel(
                    spec=r.spec,
                    state=r.state,
                    model=ModelInfo(r.model_name, r.model_version) if r.model_name else None,
                    error=r.error,
                    workers=int(r.workers),
                    scored=int(r.scored or 0),
                    failures=int(r.failures or 0),
                    skipped=int(r.skipped or 0),
                )
                for r in shadows
            ],
        )

    async def figures(self, sites: Sequence[str] | None) -> list[ShadowFigures]:
        """Each shadow model's figures on each of ``sites`` (None: every site) where it
        scored comments, by site and model."""
        params = {"sites": list(sites) if sites is not None else None}
        async with self._engine.connect() as conn:
            totals = (await conn.execute(sq.SHADOW_FIGURES, params)).all()
            moderated = (await conn.execute(sq.MODERATED_SHADOW_SCORES, params)).all()
        by_model: dict[tuple[str, str, str], list[ModeratedComment]] = {}
        for r in moderated:
            by_model.setdefault((r.site_id, r.model_name, r.model_version), []).append(
                ModeratedComment(
                    rejected=r.moderator_verdict == "rejected",
                    shadow_verdict=cast(Verdict, r.verdict),
                    shadow_score=max_score(r.scores),
                    live_verdict=cast(Verdict | None, r.live_verdict),
                    live_score=r.live_score,
                )
            )
        return [
            _figures(r, by_model.get((r.site_id, r.model_name, r.model_version), []))
            for r in totals
        ]


def _figures(row: Any, moderated: Sequence[ModeratedComment]) -> ShadowFigures:
    return ShadowFigures(
        site_id=row.site_id,
        model=ModelInfo(row.model_name, row.model_version),
        comments=int(row.comments),
        ms_per_comment=None if row.ms_per_comment is None else float(row.ms_per_comment),
        verdicts={"approved": row.approved, "held": row.held, "rejected": row.rejected},
        compared_with_live=int(row.compared_with_live),
        agreeing_with_live=int(row.agreeing_with_live),
        first_scored_at=row.first_scored_at,
        last_scored_at=row.last_scored_at,
        moderated=moderated,
    )
