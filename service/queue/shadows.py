"""Shadow models: scored beside the live model, stored, never deciding.

A worker may also score every comment with shadow models (``REPLYGUARD_SHADOW_MODELS``), so
that GET /v1/models can show how each would have judged the site's comments before anyone
trusts one with decisions. Nothing here may delay or change a live decision:

* the shadows take a batch only after the live decisions on it are committed, in a task the
  worker does not wait for, on a thread of their own (the live model keeps its thread), with
  a connection pool of their own;
* while they are still busy with an earlier batch (or loading), a batch is skipped, and
  counted: the shadows never build a backlog, nor memory for one;
* each shadow's scoring of a batch has a time limit; an error or a time-out is logged and
  counted, never raised; a model that cannot be loaded, or is the live model itself, is
  reported with its error and left out;
* each worker reports its shadows' states and counts with its heartbeat, for GET /v1/models
  and /metrics.

A shadow's verdict is the comment's own policy, the one the live model was judged by, applied
to the shadow's scores with the same inputs (text, links, the author's standing, language):
only the scores differ. A shadow shares the worker's CPU with the live model; the
milliseconds per comment stored with its scores are what it adds. Shadow work is never
retried: a batch skipped, failed or in flight at stop is simply not scored.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.domain import LanguageGuess, ModelInfo
from moderation.languages import languages_of
from moderation.scoring import Scorer
from service.store.shadows import ShadowScore, ShadowStore
from service.store.values import ClaimedJob

log = logging.getLogger(__name__)

T = TypeVar("T")
ShadowState = Literal["loading", "loaded", "failed"]


@dataclass(slots=True)
class _Shadow:
    """One shadow model in this worker: its state and what it did since the worker started."""

    spec: str
    state: ShadowState = "loading"
    scorer: Scorer | None = None
    languages: tuple[str, ...] = ()
    error: str | None = None
    scored: int = 0
    failures: int = 0
    skipped: int = 0

    def report(self) -> dict[str, Any]:
        model = self.scorer.model if self.scorer is not None else None
        return {
            "spec": self.spec,
            "state": self.state,
            "model_name": model.name if model else None,
            "model_version": model.version if model else None,
            "error": self.error,
            "scored": self.scored,
            "failures": self.failures,
            "skipped": self.skipped,
        }


class ShadowScoring:
    """A worker's shadow models: loaded in the background (``start``), then given each
    batch whose live decisions are committed (``submit``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        specs: Sequence[str],
        load: Callable[[str], Scorer],
        *,
        live: ModelInfo,
        timeout: float,
    ) -> None:
        """``load`` turns a spec into a scorer (blocking; run on the shadows' thread);
        ``live`` is the live model, refused as a shadow; ``timeout`` is the seconds each
        shadow may take over one batch."""
        self._store = ShadowStore(engine)
        self._load = load
        self._live = live
        self._timeout = timeout
        self._shadows = [_Shadow(spec) for spec in specs]
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self._task: asyncio.Task[None] | None = None
        # The thread's latest call: one past its time limit may still be running there.
        self._in_thread: concurrent.futures.Future[Any] | None = None

    def report(self) -> list[dict[str, Any]]:
        """Each shadow's spec, state, model, load error and counts, for the heartbeat."""
        return [shadow.report() for shadow in self._shadows]

    def start(self) -> None:
        """Load the models in the background; batches are skipped until they are loaded."""
        if self._shadows and self._task is None:
            self._task = asyncio.create_task(self._load_all(), name="shadow-load")

    def submit(
        self, jobs: Sequence[ClaimedJob], texts: Sequence[str], languages: Sequence[LanguageGuess]
    ) -> None:
        """Score a batch whose live decisions are committed (``texts`` normalised, the
        ``languages`` detected), in the background. Returns at once and never raises."""
        try:
            active = [s for s in self._shadows if s.state != "failed"]
            if not active or not jobs:
                return
            if self._busy() or any(s.state == "loading" for s in active):
                for shadow in active:
                    shadow.skipped += len(jobs)
                return
            self._task = asyncio.create_task(
                self._score(active, list(jobs), list(texts), list(languages)),
                name="shadow-score",
            )
        except Exception:
            log.exception("shadow scoring could not take a batch (please report this)")

    async def idle(self) -> None:
        """Wait until the shadows have nothing in flight, loading or scoring (for tests and
        benchmarks, like the worker's ``run_once``)."""
        if self._task is not None:
            await asyncio.wait([self._task])

    def close(self) -> None:
        """Drop the work in flight: shadow work is never retried."""
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _load_all(self) -> None:
        for shadow in self._shadows:
            started = time.perf_counter()
            try:
                scorer = await self._in_own_thread(self._load, shadow.spec)
                if scorer.model == self._live:
                    raise ValueError(
                        f"it is the live model ({scorer.model.name}@{scorer.model.version}); "
                        "name another model as a shadow"
                    )
            except Exception as error:
                shadow.state, shadow.error = "failed", f"{type(error).__name__}: {error}"
                log.error(
                    "shadow model %s is left out: %s; live scoring goes on without it",
                    shadow.spec,
                    shadow.error,
                )
                continue
            shadow.scorer, shadow.languages, shadow.state = scorer, languages_of(scorer), "loaded"
            log.info(
                "shadow model %s loaded as %s@%s in %.1fs",
                shadow.spec,
                scorer.model.name,
                scorer.model.version,
                time.perf_counter() - started,
            )

    async def _score(
        self,
        shadows: Sequence[_Shadow],
        jobs: list[ClaimedJob],
        texts: list[str],
        languages: list[LanguageGuess],
    ) -> None:
        for shadow in shadows:
            if shadow.scorer is None:
                continue
            scorer = shadow.scorer
            started = time.perf_counter()
            try:
                results = await asyncio.wait_for(
                    self._in_own_thread(scorer.score, texts), self._timeout
                )
                if len(results) != len(jobs):
                    raise RuntimeError(f"it returned {len(results)} results for {len(jobs)} texts")
                ms = (time.perf_counter() - started) * 1000 / len(jobs)
                scored = [
                    ShadowScore(
                        comment_id=job.comment_id,
                        scores=result,
                        verdict=job.decide(
                            result,
                            text=text,
                            model=scorer.model,
                            language=language,
                            model_languages=shadow.languages,
                        ).verdict,
                    )
                    for job, text, result, language in zip(
                        jobs, texts, results, languages, strict=True
                    )
                ]
                await self._store.record(scorer.model, scored, ms)
            except Exception as error:
                shadow.failures += 1
                reason = (
                    f"it ran past its {self._timeout:g} s"
                    if isinstance(error, TimeoutError)
                    else f"{type(error).__name__}: {error}"
                )
                log.warning(
                    "shadow model %s could not score a batch of %d (%s); live decisions are "
                    "not affected",
                    shadow.spec,
                    len(jobs),
                    reason,
                    extra={"count": len(jobs)},
                )
                continue
            shadow.scored += len(jobs)

    async def _in_own_thread(self, call: Callable[..., T], *args: Any) -> T:
        future = self._executor.submit(call, *args)
        self._in_thread = future
        return await asyncio.wrap_future(future)

    def _busy(self) -> bool:
        task_running = self._task is not None and not self._task.done()
        return task_running or (self._in_thread is not None and not self._in_thread.done())
