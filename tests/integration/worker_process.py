"""A scoring worker process with a slow fake model, for tests that kill it.

Usage: python worker_process.py SECONDS_PER_BATCH (settings from the environment).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace

from service.queue.scoring import ScoringWorker
from service.settings import load_settings
from service.store.db import create_engine
from service.waiting import stop_on_signals
from tests.fakes import FakeScorer


async def main(delay: float) -> None:
    settings = replace(load_settings(), batch_size=5, poll_interval=0.1)
    engine = create_engine(settings, pool_size=2)
    try:
        stop = stop_on_signals()
        await ScoringWorker(settings, engine, FakeScorer(delay=delay)).run(stop)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
