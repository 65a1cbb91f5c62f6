"""Waiting in background loops: for a stop signal, a wake-up, or a timeout, whichever first."""

from __future__ import annotations

import asyncio
import logging
import signal

log = logging.getLogger(__name__)


async def wait_any(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Return when ``stop`` or ``wake`` is set, or after ``seconds``."""
    waiters = [asyncio.create_task(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.create_task(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: the signal to stop claiming and wind down."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def back_off_from_outage(stop: asyncio.Event, failures: int, error: BaseException) -> None:
    """After the ``failures``-th database outage in a row: wait 1 s, 2 s, 4 s ... up to 15 s."""
    pause = min(0.5 * 2**failures, 15.0)
    log.warning("database unavailable (%s); retrying in %.1fs", error, pause)
    await wait_any(stop, None, pause)
