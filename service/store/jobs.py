"""The scoring queue: claim a batch (SKIP LOCKED, under a lease), complete it with scores
and decisions, retry or hold, heartbeats and housekeeping."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.domain import (
    AuthorStanding,
    CommentId,
    ModelInfo,
)
from moderation.policy import Policy, max_score
from service.store import queries as q
from service.store.rows import change_status, dumps
from service.store.values import ClaimedJob, ScoredComment
from service.times import iso


def jobs_in_context(rows: Sequence[Row[Any]], attempts: Mapping[UUID, int]) -> list[ClaimedJob]:
    """``JOB_CONTEXT`` rows as jobs to decide (``attempts`` by comment; 0 where absent)."""
    jobs = []
    for r in rows:
        policy = Policy.from_json(r.policy, version=r.policy_version)
        source: Literal["site", "article"] = "site"
        if r.policy_override is not None:
            policy = policy.with_override(r.policy_override)
            source = "article"
        jobs.append(
            ClaimedJob(
                comment_id=CommentId(r.id),
                attempts=attempts.get(r.id, 0),
                body=r.body,
                status=r.status,
                site_id=r.site_id,
                article_id=r.article_id,
                policy=policy,
                policy_source=source,
                standing=AuthorStanding(
                    verified=r.author_verified,
                    earlier_comments=r.earlier_comments,
                    approved=r.approved,
                    rejected_recently=r.rejected_recently,
                    sanction=r.sanction_kind,
                    sanction_until=r.sanction_until,
                ),
            )
        )
    return jobs


class JobStore:
    """The scoring queue, shared by any number of workers through PostgreSQL row locks."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(self, worker_id: str, *, limit: int, lease_seconds: float) -> list[ClaimedJob]:
        """Take up to ``limit`` ready jobs (and jobs whose worker died) under a lease."""
        async with self._engine.begin() as conn:
            claimed = (
                await conn.execute(
                    q.CLAIM_JOBS,
                    {"worker_id": worker_id, "limit": limit, "lease_seconds": lease_seconds},
                )
            ).all()
            if not claimed:
                return []
            await conn.execute(q.FRESH_PLANS)
            attempts = {r.comment_id: r.attempts for r in claimed}
            rows = (await conn.execute(q.JOB_CONTEXT, {"comment_ids": list(attempts)})).all()
        return jobs_in_context(rows, attempts)

    async def complete(self, model: ModelInfo, scored: Sequence[ScoredComment]) -> int:
        """Store scores and decisions and finish the jobs, in one transaction.

        A comment already scored by this model version (its job ran twice) is skipped; a
        comment a moderator already decided keeps that decision. An item without scores
        (decided without the model) stores its decision alone. Returns how many
        comments this call decided.
        """
        decided = 0
        async with self._engine.begin() as conn:
            for item in scored:
                # No scores: decided without the model (a sanctioned author), nothing to keep.
                if item.scores:
                    first = (
                        await conn.execute(
                            q.INSERT_SCORES,
                            {
                                "comment_id": item.comment_id,
                                "model_name": model.name,
                                "model_version": model.version,
                                "scores": dumps(dict(item.scores)),
                            },
                        )
                    ).first()
                    if first is None:
                        continue
                decision = item.decision
                values = {
                    "comment_id": item.comment_id,
                    "scores": dumps(dict(item.scores)) if item.scores else None,
                    "max_score": max_score(item.scores) if item.scores else None,
                    "explanation": dumps(decision.explanation),
                }
                row = (
                    await conn.execute(
                        q.APPLY_MODEL_DECISION,
                        {**values, "status": decision.verdict, "reason": decision.rule},
                    )
                ).first()
                if row is None:
                    await conn.execute(q.RECORD_LATE_SCORES, values)
                    continue
                await change_status(
                    conn,
                    comment_id=item.comment_id,
                    site_id=row.site_id,
                    from_status="pending",
                    to_status=decision.verdict,
                    actor_kind="model",
                    actor=f"{model.name}@{model.version}",
                    reason=decision.explanation["reason"],
                    explanation=decision.explanation,
                    update_comment=False,
                )
                decided += 1
            await conn.execute(q.FRESH_PLANS)
            await conn.execute(q.FINISH_JOBS, {"comment_ids": [item.comment_id for item in scored]})
        return decided

    async def finish(self, comment_ids: Iterable[UUID]) -> None:
        """Close jobs with nothing left to do (their comment was already decided)."""
        async with self._engine.begin() as conn:
            await conn.execute(q.FRESH_PLANS)
            await conn.execute(q.FINISH_JOBS, {"comment_ids": list(comment_ids)})

    async def retry_or_hold(
        self,
        jobs: Sequence[ClaimedJob],
        error: str,
        *,
        max_attempts: int,
        delay_for: Callable[[int], float],
    ) -> tuple[int, int]:
        """After a failed attempt: back off and retry, or, past the last attempt, hold the
        comment for a human with the reason. Never approves. Returns (retried, held)."""
        retried = held = 0
        async with self._engine.begin() as conn:
            for job in jobs:
                if job.attempts < max_attempts:
                    await conn.execute(
                        q.RETRY_JOB,
                        {
                            "comment_id": job.comment_id,
                            "error": error[:2000],
                            "delay_seconds": float(delay_for(job.attempts)),
                        },
                    )
                    retried += 1
                    continue
                await conn.execute(
                    q.FAIL_JOB, {"comment_id": job.comment_id, "error": error[:2000]}
                )
                reason = f"scoring failed after {job.attempts} attempts: {error[:500]}"
                row = (
                    await conn.execute(
                        q.HOLD_PENDING, {"comment_id": job.comment_id, "reason": reason}
                    )
                ).first()
                if row is not None:
                    await change_status(
                        conn,
                        comment_id=job.comment_id,
                        site_id=row.site_id,
                        from_status="pending",
                        to_status="held",
                        actor_kind="system",
                        actor="system",
                        reason=reason,
                        update_comment=False,
                    )
                held += 1
        return retried, held

    async def release(self, worker_id: str, comment_ids: Iterable[UUID]) -> None:
        """Hand unscored jobs back on shutdown, without counting the attempt."""
        async with self._engine.begin() as conn:
            await conn.execute(q.FRESH_PLANS)
            await conn.execute(
                q.RELEASE_JOBS, {"comment_ids": list(comment_ids), "worker_id": worker_id}
            )

    async def heartbeat(
        self,
        worker_id: str,
        hostname: str,
        pid: int,
        model: ModelInfo | None,
        shadow_models: Sequence[Mapping[str, Any]] = (),
        promoted_models: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Say the worker is alive, with its configured model, its shadow models' reports
        (service.queue.shadows) and its promoted models' (service.queue.live_models), which
        GET /v1/models and /metrics read."""
        async with self._engine.begin() as conn:
            await conn.execute(
                q.HEARTBEAT,
                {
                    "worker_id": worker_id,
                    "hostname": hostname,
                    "pid": pid,
                    "model_name": model.name if model else None,
                    "model_version": model.version if model else None,
                    "shadow_models": dumps(list(shadow_models)),
                    "promoted_models": dumps(list(promoted_models)),
                },
            )

    async def remove_worker(self, worker_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(q.REMOVE_WORKER, {"worker_id": worker_id})

    async def check_backlog(self) -> list[str]:
        """Open or close each site's backlog episode; returns the sites newly in backlog.

        A site is in backlog while its oldest unscored comment is older than its policy's
        ``backlog_seconds``. Opening an episode writes one ``queue.backlog`` event; the
        unique open-episode index makes that once per episode however many workers check.
        """
        opened: list[str] = []
        async with self._engine.begin() as conn:
            for row in (await conn.execute(q.BACKLOG_STATE)).all():
                limit = Policy.from_json(row.policy, version=row.policy_version).backlog_seconds
                age = float(row.oldest_age or 0.0)
                if age > limit and row.episode_id is None:
                    created = (
                        await conn.execute(
                            q.OPEN_BACKLOG, {"site_id": row.site_id, "oldest_age": age}
                        )
                    ).first()
                    if created is None:
                        continue
                    await conn.execute(
                        q.INSERT_SITE_EVENT,
                        {
                            "event_type": "queue.backlog",
                            "site_id": row.site_id,
                            "payload": dumps(
                                {
                                    "site_id": row.site_id,
                                    "oldest_pending_seconds": round(age, 1),
                                    "limit_seconds": limit,
                                }
                            ),
                        },
                    )
                    opened.append(row.site_id)
                elif age <= limit and row.episode_id is not None:
                    await conn.execute(q.CLOSE_BACKLOG, {"episode_id": row.episode_id})
        return opened

    async def open_backlogs(self) -> list[dict[str, Any]]:
        """Sites whose scoring is behind their limit right now, for /readyz and /metrics."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q.OPEN_BACKLOGS)).all()
        return [
            {"site": r.site_id, "since": iso(r.started_at), "oldest_age": r.oldest_age}
            for r in rows
        ]

    async def sweep_idempotency_keys(self, keep_seconds: float) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(q.SWEEP_IDEMPOTENCY_KEYS, {"keep": keep_seconds})
        return int(getattr(result, "rowcount", 0) or 0)

    async def sweep_rate_limits(self, batch: int = 10_000) -> int:
        """Delete up to ``batch`` rate-limit counts whose window has passed; how many went."""
        async with self._engine.begin() as conn:
            result = await conn.execute(q.SWEEP_RATE_LIMITS, {"batch": batch})
        return int(getattr(result, "rowcount", 0) or 0)

    async def stats(self) -> dict[str, float]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(q.QUEUE_STATS)).one()
        return {k: float(v or 0) for k, v in row._mapping.items()}
