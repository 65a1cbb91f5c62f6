"""The scoring worker: claim a batch, normalise, score off the event loop, decide, commit.

Any number of workers share one queue through ``FOR UPDATE SKIP LOCKED``. A worker wakes on
``NOTIFY replyguard_jobs`` and also polls, in case a notification is lost (or the listening
connection is down). On stop it claims nothing more, lets the running batch finish for up to
``shutdown_timeout`` seconds, then hands back what it could not finish. That loop is
``service.queue.consumer``'s; this module says what a batch is and how it is scored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.domain import LanguageGuess
from moderation.languages import detect_languages, languages_of
from moderation.scoring import Scorer
from moderation.text import normalise_for_scoring
from service.queue.consumer import Chore, QueueConsumer, consumer_id
from service.queue.live_models import LiveModels
from service.queue.shadows import ShadowScoring
from service.settings import Settings
from service.store.db import is_unavailable
from service.store.jobs import JobStore
from service.store.values import ClaimedJob, ScoredComment

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "replyguard_jobs"
HEARTBEAT_SECONDS = 10.0


def retry_delay(attempts: int, *, initial: float, multiplier: float, maximum: float) -> float:
    """Seconds to wait before the next try: ``min(initial * multiplier**(attempts-1), max)``."""
    return float(min(initial * multiplier ** max(attempts - 1, 0), maximum))


class ScoringWorker:
    """One worker process's scoring loop (``run``), around its configured scorer, the models
    promoted since (``live_models``: each comment is scored by its site's model in force) and
    its shadow models, if any, which see each batch after it is decided."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        scorer: Scorer,
        *,
        worker_id: str | None = None,
        shadows: ShadowScoring | None = None,
        live_models: LiveModels | None = None,
    ) -> None:
        """Without ``live_models`` every comment is scored by ``scorer`` (promotions are not
        read); with it, ``scorer`` must be its configured one."""
        self._settings = settings
        self._jobs = JobStore(engine)
        self._scorer = scorer
        self._shadows = shadows
        self._live_models = live_models
        self.worker_id = worker_id or consumer_id()
        # One thread: the model is loaded once and called by one thread at a time.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer")
        self.decided = 0
        self._consumer = QueueConsumer(
            name=f"worker {self.worker_id}",
            units="scoring batches",
            database_url=settings.database_url,
            channel=NOTIFY_CHANNEL,
            claim=self._claim,
            process=self._process,
            release=self._release,
            poll_interval=settings.poll_interval,
            listen_retry=settings.poll_interval,
            shutdown_timeout=settings.shutdown_timeout,
            chores=[Chore("send its heartbeat", HEARTBEAT_SECONDS, self._heartbeat)],
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Score until ``stop`` is set, then shut down within the configured bound."""
        log.info(
            "worker %s scoring with %s@%s",
            self.worker_id,
            self._scorer.model.name,
            self._scorer.model.version,
        )
        if self._shadows is not None:
            self._shadows.start()
        try:
            await self._consumer.run(stop)
        finally:
            if self._shadows is not None:
                self._shadows.close()
            if self._live_models is not None:
                self._live_models.close()
            with contextlib.suppress(Exception):
                await self._jobs.remove_worker(self.worker_id)
            self._executor.shutdown(wait=False, cancel_futures=True)
            log.info("worker %s stopped after deciding %d comments", self.worker_id, self.decided)

    async def run_once(self) -> int:
        """Claim one batch and score it here, for tests and benchmarks; how many jobs it
        claimed (0: nothing is due)."""
        jobs = await self._claim_batch()
        if jobs:
            await self._process(jobs)
        return len(jobs)

    async def _claim(self, free: int) -> list[list[ClaimedJob]]:
        """The consumer's claim: one batch at a time, the model scoring one at a time."""
        if free <= 0:
            return []
        jobs = await self._claim_batch()
        return [jobs] if jobs else []

    async def _claim_batch(self) -> list[ClaimedJob]:
        settings = self._settings
        return await self._jobs.claim(
            self.worker_id, limit=settings.batch_size, lease_seconds=settings.job_lease
        )

    async def _release(self, batches: Sequence[list[ClaimedJob]]) -> None:
        """Hand back batches stopped at shutdown, uncounted: the next worker starts afresh."""
        await self._jobs.release(self.worker_id, [j.comment_id for b in batches for j in b])

    async def _process(self, jobs: list[ClaimedJob]) -> None:
        live = [j for j in jobs if j.status == "pending"]
        if len(live) < len(jobs):
            # A moderator decided these before the model got to them; nothing to score.
            await self._jobs.finish(j.comment_id for j in jobs if j.status != "pending")
        sanctioned = [j for j in live if j.standing.sanction is not None]
        if sanctioned:
            # A banned or suspended author's comment is rejected at once: no model needed.
            await self._reject_sanctioned(sanctioned)
            live = [j for j in live if j.standing.sanction is None]
        if not live:
            return
        groups: dict[int, tuple[Scorer, list[ClaimedJob]]] = {}
        if self._live_models is None:
            groups[id(self._scorer)] = (self._scorer, live)
        else:
            await self._live_models.refresh()
            for job in live:
                scorer = self._live_models.scorer_for(job.site_id)
                groups.setdefault(id(scorer), (scorer, []))[1].append(job)
        decided: list[tuple[ClaimedJob, str, LanguageGuess]] = []
        for scorer, group in groups.values():
            decided += await self._score_and_decide(scorer, group)
        if self._shadows is not None and decided:
            # The whole batch at once, whichever models decided it: the shadows see it all.
            self._shadows.submit(
                [job for job, _, _ in decided],
                [text for _, text, _ in decided],
                [guess for _, _, guess in decided],
            )

    async def _score_and_decide(
        self, scorer: Scorer, live: list[ClaimedJob]
    ) -> list[tuple[ClaimedJob, str, LanguageGuess]]:
        """Score ``live`` with ``scorer``, decide and commit; a failure retries or holds
        them (never raised, unless the database is unavailable). Returns the jobs decided,
        with their normalised texts and languages, for the shadows (none after a failure)."""
        settings = self._settings
        texts = [normalise_for_scoring(j.body) for j in live]
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            scores = await asyncio.wait_for(
                loop.run_in_executor(self._executor, scorer.score, texts),
                timeout=max(settings.job_lease - 5, 5),
            )
            if len(scores) != len(live):
                raise RuntimeError(f"scorer returned {len(scores)} results for {len(live)} texts")
            # About 70 µs a comment (moderation.languages); off the loop with the model.
            guesses = await loop.run_in_executor(self._executor, detect_languages, texts)
        except Exception as error:
            if is_unavailable(error) and not isinstance(error, TimeoutError):
                raise
            retried, held = await self._jobs.retry_or_hold(
                live,
                f"{type(error).__name__}: {error}",
                max_attempts=settings.max_attempts,
                delay_for=self._delay,
            )
            log.error(
                "scoring a batch of %d with %s@%s failed (%s: %s): %d to retry, %d held for "
                "a human",
                len(live),
                scorer.model.name,
                scorer.model.version,
                type(error).__name__,
                error,
                retried,
                held,
                extra={"count": len(live), "retried": retried, "held": held},
            )
            return []
        model = scorer.model
        model_languages = languages_of(scorer)
        scored = [
            ScoredComment(
                comment_id=job.comment_id,
                scores=result,
                decision=job.decide(
                    result, text=text, model=model, language=guess, model_languages=model_languages
                ),
            )
            for job, text, result, guess in zip(live, texts, scores, guesses, strict=True)
        ]
        decided = await self._jobs.complete(model, scored)
        self.decided += decided
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info(
            "scored %d comments with %s@%s in %.0f ms, decided %d",
            len(live),
            model.name,
            model.version,
            elapsed_ms,
            decided,
            extra={"count": len(live), "ms": round(elapsed_ms, 1), "decided": decided},
        )
        return list(zip(live, texts, guesses, strict=True))

    async def _reject_sanctioned(self, jobs: list[ClaimedJob]) -> None:
        """Decide sanctioned authors' comments without scores: the policy's standing step
        rejects them (rule ``banned`` or ``suspended``) whatever a model would say."""
        model = self._scorer.model
        unscored = [
            ScoredComment(
                comment_id=job.comment_id,
                scores={},
                decision=job.decide({}, text=normalise_for_scoring(job.body), model=model),
            )
            for job in jobs
        ]
        self.decided += await self._jobs.complete(model, unscored)

    def _delay(self, attempts: int) -> float:
        s = self._settings
        return retry_delay(
            attempts, initial=s.retry_initial, multiplier=s.retry_multiplier, maximum=s.retry_max
        )

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Say this worker is alive, and do the queue's housekeeping: backlog episodes,
        expired idempotency keys and rate-limit counts (any worker may; each step is safe
        to run concurrently)."""
        host, pid = socket.gethostname(), os.getpid()
        shadows = self._shadows.report() if self._shadows is not None else []
        promoted = self._live_models.report() if self._live_models is not None else []
        await self._jobs.heartbeat(self.worker_id, host, pid, self._scorer.model, shadows, promoted)
        for site in await self._jobs.check_backlog():
            log.warning("site %s is in backlog: scoring is behind its limit", site)
        await self._jobs.sweep_idempotency_keys(self._settings.idempotency_keep)
        await self._jobs.sweep_rate_limits()
