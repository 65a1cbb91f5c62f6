"""The one loop every PostgreSQL-queue consumer runs: claim, work, wait, back off, drain.

A consumer (the scoring worker, the webhook deliverer) says how to claim units of work, how
to do one unit and how to hand unfinished units back; ``QueueConsumer.run`` does the rest:

* it claims while it has room (``capacity`` units in flight at once) and runs each unit as
  its own task, so a finished unit makes room for the next at once;
* with nothing to claim it waits for a ``NOTIFY`` on its channel, the poll interval (a
  notification can be lost while the listening connection is down) or stop, whichever
  comes first;
* while the database is unavailable (``is_unavailable``) it backs off, 1 s doubling to
  15 s, and carries on when the database is back; any other error ends ``run``;
* it runs its chores (heartbeats, housekeeping) beside the loop, each every so often, a
  failing chore never stopping the work;
* on stop it claims nothing more, lets the units in flight finish for up to
  ``shutdown_timeout`` seconds, then cancels the rest and hands them back (``release``) so
  another consumer takes them up without waiting for their leases to run out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from service.store.db import is_unavailable, listen
from service.waiting import back_off_from_outage, wait_any

log = logging.getLogger(__name__)

Unit = TypeVar("Unit")


def consumer_id() -> str:
    """``host:pid:random``: who holds a lease, unique even when a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Chore:
    """Work beside the queue, run at the start and then every ``every`` seconds until stop.

    A failure is logged and the chore tried again at its next turn: chores can wait, the
    queue's work must not.
    """

    #: What it does, for the log: "could not <name>".
    name: str
    every: float
    run: Callable[[asyncio.Event], Awaitable[None]]


class QueueConsumer(Generic[Unit]):
    """Claims and works units until stop; the caller supplies the three steps it cannot know.

    ``claim(free)`` claims up to ``free`` units and returns them (``free`` may be 0: the
    consumer is full, so claim nothing, though a step that makes work, like the webhooks'
    fan-out, may still run); an empty answer means "nothing now, wait". ``process(unit)``
    does one unit: an error it raises ends ``run`` (after the outage back-off, when the
    database was unavailable), so a consumer that should outlive its units' bugs catches
    them there. ``release(units)`` hands back units cancelled at shutdown.
    """

    def __init__(
        self,
        *,
        name: str,
        units: str,
        database_url: str | None,
        channel: str,
        claim: Callable[[int], Awaitable[Sequence[Unit]]],
        process: Callable[[Unit], Coroutine[Any, Any, None]],
        release: Callable[[Sequence[Unit]], Awaitable[None]],
        capacity: int = 1,
        poll_interval: float,
        listen_retry: float,
        shutdown_timeout: float,
        chores: Sequence[Chore] = (),
    ) -> None:
        self.name = name
        self._units = units
        self._database_url = database_url
        self._channel = channel
        self._claim = claim
        self._process = process
        self._release = release
        self._capacity = capacity
        self._poll_interval = poll_interval
        self._listen_retry = listen_retry
        self._shutdown_timeout = shutdown_timeout
        self._chores = tuple(chores)
        self._wake = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], Unit] = {}
        self._failed: list[BaseException] = []

    @property
    def in_flight(self) -> int:
        """How many units are being worked now."""
        return len(self._in_flight)

    def wake(self) -> None:
        """Look for work again at once instead of waiting: a claim left more behind."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set (or an error that is not an outage), then drain."""
        assert self._database_url is not None, "a consumer listens on the database"
        helpers = [
            asyncio.create_task(
                listen(
                    self._database_url,
                    self._channel,
                    self._wake,
                    stop,
                    retry_seconds=self._listen_retry,
                ),
                name=f"{self._channel}-listen",
            ),
            *(
                asyncio.create_task(self._run_chore(chore, stop), name=chore.name)
                for chore in self._chores
            ),
        ]
        try:
            await self._consume(stop)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._drain()

    async def _consume(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            # Cleared before the claim, so a NOTIFY or a finished unit during it is not lost.
            self._wake.clear()
            try:
                self._raise_failure()
                claimed = await self._claim(self._capacity - len(self._in_flight))
            except Exception as error:
                if not is_unavailable(error):
                    raise
                failures += 1
                await back_off_from_outage(stop, failures, error)
                continue
            failures = 0
            for unit in claimed:
                self._start(unit)
            if not claimed:
                await wait_any(stop, self._wake, self._poll_interval)

    def _start(self, unit: Unit) -> None:
        task = asyncio.create_task(self._process(unit))
        self._in_flight[task] = unit
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        if not task.cancelled() and (error := task.exception()) is not None:
            self._failed.append(error)
        # Room for another unit: claim now rather than at the next poll.
        self._wake.set()

    def _raise_failure(self) -> None:
        """Raise what a finished unit raised: a bug first, else an outage (to back off)."""
        failed, self._failed = self._failed, []
        for error in failed:
            if not is_unavailable(error):
                raise error
        if failed:
            raise failed[0]

    async def _run_chore(self, chore: Chore, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await chore.run(stop)
            except Exception as error:
                if not is_unavailable(error):
                    log.exception(
                        "%s could not %s (please report this); the work goes on, and it is "
                        "tried again in %g s",
                        self.name,
                        chore.name,
                        chore.every,
                    )
                else:
                    log.warning(
                        "%s could not %s, the database is unavailable (%s); trying again in %g s",
                        self.name,
                        chore.name,
                        error,
                        chore.every,
                    )
            await wait_any(stop, None, chore.every)

    async def _drain(self) -> None:
        """Let the units in flight finish within the bound; cancel and hand back the rest."""
        if not self._in_flight:
            return
        log.info(
            "%s stopping: letting %d %s finish (up to %g s)",
            self.name,
            len(self._in_flight),
            self._units,
            self._shutdown_timeout,
        )
        _, pending = await asyncio.wait(list(self._in_flight), timeout=self._shutdown_timeout)
        if not pending:
            return
        unfinished = [self._in_flight[task] for task in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self._release(unfinished)
        except Exception as error:
            log.warning(
                "%s could not hand back %d unfinished %s (%s); their leases run out and "
                "another takes them up then",
                self.name,
                len(unfinished),
                self._units,
                error,
            )
        else:
            log.warning("%s handed back %d unfinished %s", self.name, len(unfinished), self._units)
