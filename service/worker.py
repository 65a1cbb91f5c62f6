"""The scoring worker: claim a batch, normalise, score off the event loop, decide, commit.

Any number of workers share one queue through ``FOR UPDATE SKIP LOCKED``. A worker wakes on
``NOTIFY replyguard_jobs`` and also polls, in case a notification is lost (or the listening
connection is down). On stop it claims nothing more, lets the running batch finish for up to
``shutdown_timeout`` seconds, then hands back what it could not finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.languages import detect_languages, languages_of
from moderation.policy import decide
from moderation.scoring import Scorer
from moderation.text import count_links, normalise_for_scoring
from service.db import is_unavailable, listen
from service.settings import Settings
from service.stores import ClaimedJob, JobStore, ScoredComment
from service.waiting import back_off_from_outage, wait_any

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "replyguard_jobs"
HEARTBEAT_SECONDS = 10.0


def retry_delay(attempts: int, *, initial: float, multiplier: float, maximum: float) -> float:
    """Seconds to wait before the next try: ``min(initial * multiplier**(attempts-1), max)``."""
    return float(min(initial * multiplier ** max(attempts - 1, 0), maximum))


class ScoringWorker:
    """One worker process's scoring loop (``run``), around a scorer loaded once."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        scorer: Scorer,
        *,
        worker_id: str | None = None,
    ) -> None:
        self._settings = settings
        self._jobs = JobStore(engine)
        self._scorer = scorer
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # One thread: the model is loaded once and called by one thread at a time.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer")
        self._wake = asyncio.Event()
        self.decided = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Score until ``stop`` is set, then shut down within the configured bound."""
        assert self._settings.database_url is not None
        listener = asyncio.create_task(
            listen(
                self._settings.database_url,
                NOTIFY_CHANNEL,
                self._wake,
                stop,
                retry_seconds=self._settings.poll_interval,
            ),
            name="listen",
        )
        heartbeat = asyncio.create_task(self._heartbeat(stop), name="heartbeat")
        log.info(
            "worker %s scoring with %s@%s",
            self.worker_id,
            self._scorer.model.name,
            self._scorer.model.version,
        )
        failures = 0
        try:
            while not stop.is_set():
                try:
                    claimed = await self.run_once(stop)
                    failures = 0
                except Exception as error:
                    if not is_unavailable(error):
                        raise
                    failures += 1
                    await back_off_from_outage(stop, failures, error)
                    continue
                if not claimed:
                    self._wake.clear()
                    await wait_any(stop, self._wake, self._settings.poll_interval)
        finally:
            listener.cancel()
            heartbeat.cancel()
            await asyncio.gather(listener, heartbeat, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._jobs.remove_worker(self.worker_id)
            self._executor.shutdown(wait=False, cancel_futures=True)
            log.info("worker %s stopped after deciding %d comments", self.worker_id, self.decided)

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Claim and process one batch; returns how many jobs were claimed (0: queue empty)."""
        settings = self._settings
        jobs = await self._jobs.claim(
            self.worker_id, limit=settings.batch_size, lease_seconds=settings.job_lease
        )
        if not jobs:
            return 0
        batch = asyncio.create_task(self._process(jobs))
        if stop is None:
            await batch
            return len(jobs)
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({batch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if batch not in done:
            log.info("stop requested; letting the batch of %d finish", len(jobs))
            try:
                await asyncio.wait_for(asyncio.shield(batch), settings.shutdown_timeout)
            except TimeoutError:
                batch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await batch
                await self._jobs.release(self.worker_id, [j.comment_id for j in jobs])
                log.warning("released %d unfinished jobs on shutdown", len(jobs))
        stopping.cancel()
        if batch.done() and not batch.cancelled():
            batch.result()  # re-raise what the batch raised
        return len(jobs)

    async def _process(self, jobs: list[ClaimedJob]) -> None:
        settings = self._settings
        live = [j for j in jobs if j.status == "pending"]
        if len(live) < len(jobs):
            # A moderator decided these before the model got to them; nothing to score.
            await self._jobs.finish(j.comment_id for j in jobs if j.status != "pending")
        if not live:
            return
        texts = [normalise_for_scoring(j.body) for j in live]
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            scores = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._scorer.score, texts),
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
                "scoring a batch of %d failed (%s: %s): %d to retry, %d held for a human",
                len(live),
                type(error).__name__,
                error,
                retried,
                held,
            )
            return
        model = self._scorer.model
        model_languages = languages_of(self._scorer)
        scored = [
            ScoredComment(
                comment_id=job.comment_id,
                scores=result,
                decision=decide(
                    job.policy,
                    result,
                    text=text,
                    links=count_links(job.body),
                    model=model,
                    policy_source=job.policy_source,
                    language=guess,
                    model_languages=model_languages,
                ),
            )
            for job, text, result, guess in zip(live, texts, scores, guesses, strict=True)
        ]
        decided = await self._jobs.complete(model, scored)
        self.decided += decided
        log.info(
            "scored %d comments in %.0f ms, decided %d",
            len(live),
            (time.perf_counter() - started) * 1000,
            decided,
        )

    def _delay(self, attempts: int) -> float:
        s = self._settings
        return retry_delay(
            attempts, initial=s.retry_initial, multiplier=s.retry_multiplier, maximum=s.retry_max
        )

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Say this worker is alive, and do the queue's housekeeping: backlog episodes and
        expired idempotency keys (any worker may; each step is safe to run concurrently)."""
        host, pid = socket.gethostname(), os.getpid()
        while not stop.is_set():
            try:
                await self._jobs.heartbeat(self.worker_id, host, pid, self._scorer.model)
                for site in await self._jobs.check_backlog():
                    log.warning("site %s is in backlog: scoring is behind its limit", site)
                await self._jobs.sweep_idempotency_keys(self._settings.idempotency_keep)
            except Exception as error:
                log.debug("heartbeat failed: %s", error)
            await wait_any(stop, None, HEARTBEAT_SECONDS)
