"""Which model scores each site's comments now: promotions picked up without a restart.

A worker starts with its configured model (``REPLYGUARD_MODEL``). An admin may promote
another for one site or for every site (``service.store.promotions``); the worker reads the
models in force at most every ``check_every`` seconds, before a batch, and routes each comment
to its site's model. Nothing here may lose or delay a comment:

* a newly promoted model is loaded in the background, on a thread of its own; until it is
  loaded, the site's comments are scored by the model that scored them before;
* a model that cannot be loaded is logged and reported (GET /v1/models) and the site keeps
  its model before; the load is tried again every ``retry_after`` seconds, in case its files
  arrive later;
* a rollback to the configured model takes effect at the next check: that model is always
  loaded;
* a model no scope uses any more is dropped, so memory holds only the models in force.

If the promotions cannot be read, the routing read last stays (logged).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from moderation.scoring import Scorer
from service.store.db import is_unavailable
from service.store.promotions import PromotedModels, PromotionStore

log = logging.getLogger(__name__)

LoadState = Literal["loading", "loaded", "failed"]
#: The scope key of the every-site promotion.
EVERY_SITE = "*"


@dataclass(slots=True)
class _Promoted:
    """One promoted spec in this worker."""

    spec: str
    state: LoadState = "loading"
    scorer: Scorer | None = None
    error: str | None = None
    failed_at: float = 0.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class LiveModels:
    """The configured scorer and the promoted ones, and which serves which site."""

    def __init__(
        self,
        store: PromotionStore,
        configured: Scorer,
        configured_spec: str,
        load: Callable[[str], Scorer],
        *,
        check_every: float = 2.0,
        retry_after: float = 60.0,
    ) -> None:
        """``load`` turns a spec into a scorer (blocking; run on the loading thread)."""
        self._store = store
        self.configured = configured
        self._configured_spec = configured_spec
        self._load = load
        self._check_every = check_every
        self._retry_after = retry_after
        self._in_force = PromotedModels(None, {})
        self._checked_at: float | None = None
        self._models: dict[str, _Promoted] = {}
        # The scorer each scope (site, or EVERY_SITE) was last served by: it goes on serving
        # while the scope's newly promoted model loads, or if it fails to.
        self._serving: dict[str, Scorer] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")

    async def refresh(self, *, force: bool = False) -> None:
        """Read the models in force if ``check_every`` has passed (or ``force``), start
        loading new ones and drop those no scope uses. Never raises for a read that fails
        unless the database is unavailable (the worker's loop backs off then)."""
        now = time.monotonic()
        recent = self._checked_at is not None and now - self._checked_at < self._check_every
        if recent and not force:
            return
        try:
            in_force = await self._store.in_force()
        except Exception as error:
            if is_unavailable(error):
                raise
            log.exception("could not read the promoted models; routing as before")
            return
        self._checked_at = now
        if in_force != self._in_force:
            log.info(
                "models in force: every site %s; sites %s",
                in_force.every_site or f"{self._configured_spec} (configured)",
                dict(in_force.sites) or "none of their own",
            )
        self._in_force = in_force
        for scope in [s for s in self._serving if s != EVERY_SITE and s not in in_force.sites]:
            del self._serving[scope]
        wanted = {s for s in (in_force.every_site, *in_force.sites.values()) if s}
        for spec in wanted:
            self._ensure(spec, now)
        kept = {id(s) for s in self._serving.values()}
        for spec in list(self._models):
            promoted = self._models[spec]
            if spec not in wanted and (promoted.scorer is None or id(promoted.scorer) not in kept):
                if promoted.task is not None:
                    promoted.task.cancel()
                del self._models[spec]

    def scorer_for(self, site_id: str) -> Scorer:
        """The scorer for ``site_id``'s comments now."""
        scope = site_id if site_id in self._in_force.sites else EVERY_SITE
        spec = self._in_force.spec_for(site_id)
        scorer = self._scorer_of(spec)
        if scorer is None:
            # Loading, or failed: what served this scope before, else the every-site model.
            scorer = self._serving.get(scope) or self._serving.get(EVERY_SITE) or self.configured
        self._serving[scope] = scorer
        return scorer

    def report(self) -> list[dict[str, Any]]:
        """Each promoted spec's state, model, error and the scopes it is promoted for."""
        scopes: dict[str, list[str]] = {}
        if self._in_force.every_site:
            scopes.setdefault(self._in_force.every_site, []).append(EVERY_SITE)
        for site, spec in sorted(self._in_force.sites.items()):
            scopes.setdefault(spec, []).append(site)
        out = []
        for spec, sites in scopes.items():
            scorer: Scorer | None
            error: str | None
            if spec == self._configured_spec:
                state, scorer, error = "loaded", self.configured, None
            else:
                promoted = self._models.get(spec)
                if promoted is None:
                    continue
                state, scorer, error = promoted.state, promoted.scorer, promoted.error
            model = scorer.model if scorer is not None else None
            out.append(
                {
                    "spec": spec,
                    "sites": sites,
                    "state": state,
                    "model_name": model.name if model else None,
                    "model_version": model.version if model else None,
                    "error": error,
                }
            )
        return out

    async def idle(self) -> None:
        """Wait until no model is loading (for tests, like the shadows' ``idle``)."""
        tasks = [m.task for m in self._models.values() if m.task is not None]
        if tasks:
            await asyncio.wait(tasks)

    def close(self) -> None:
        for promoted in self._models.values():
            if promoted.task is not None:
                promoted.task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _scorer_of(self, spec: str | None) -> Scorer | None:
        if spec is None or spec == self._configured_spec:
            return self.configured
        promoted = self._models.get(spec)
        return promoted.scorer if promoted is not None and promoted.state == "loaded" else None

    def _ensure(self, spec: str, now: float) -> None:
        if spec == self._configured_spec:
            return
        promoted = self._models.get(spec)
        if promoted is None:
            promoted = self._models[spec] = _Promoted(spec)
        elif promoted.state != "failed" or now - promoted.failed_at < self._retry_after:
            return
        promoted.state, promoted.error = "loading", None
        promoted.task = asyncio.create_task(self._load_one(promoted), name=f"load {spec}")

    async def _load_one(self, promoted: _Promoted) -> None:
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            scorer = await loop.run_in_executor(self._executor, self._load, promoted.spec)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            promoted.state, promoted.error = "failed", f"{type(error).__name__}: {error}"
            promoted.failed_at = time.monotonic()
            log.error(
                "promoted model %s could not be loaded (%s); its sites keep the model that "
                "scored them before; trying again in %g s",
                promoted.spec,
                promoted.error,
                self._retry_after,
            )
            return
        finally:
            promoted.task = None
        if scorer.model == self.configured.model:
            scorer = self.configured  # the same model: one copy in memory
        promoted.scorer, promoted.state = scorer, "loaded"
        log.info(
            "promoted model %s loaded as %s@%s in %.1fs",
            promoted.spec,
            scorer.model.name,
            scorer.model.version,
            time.perf_counter() - started,
        )
