"""At least once, across crashes: ``replyguard deliver`` is SIGKILLed again and again while
events keep coming and deliveries are in flight; afterwards every event has reached the
receiver (some twice, with the same webhook-id: that is what at-least-once allows)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from service.store.comments import CommentStore
from service.store.values import NewComment, Principal
from tests.conftest import SiteFactory
from tests.webhook_receiver import Receiver, verify

Client = TestClient[Any, Any]
ADMIN = Principal(token_id=0, role="admin", sites=None, label="test-admin")
KILLS = 20
EVENTS_PER_CYCLE = 8


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, webhook_allowed_networks="127.0.0.1/32")


async def _until(condition: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def _events(engine: AsyncEngine, count: int) -> None:
    store = CommentStore(engine)
    for _ in range(count):
        submitted = await store.submit(
            NewComment(site_id="daily", article_id="story-1", body="Hm.", author_name="Ann"),
            duplicate_window=0.0,
        )
        await store.decide(ADMIN, [submitted.id], "held", "checking")


def _more_than(receiver: Receiver, count: int) -> Callable[[], bool]:
    return lambda: len(receiver.received) > count


@pytest.mark.slow
async def test_deliverer__sigkilled_twenty_times_mid_delivery_misses_no_event(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    receiver = Receiver(slow_seconds=0.05)
    await receiver.start()
    assert settings.database_url is not None
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REPLYGUARD_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "REPLYGUARD_WEBHOOK_LEASE": "1",
        "REPLYGUARD_WEBHOOK_POLL_INTERVAL": "0.1",
        "REPLYGUARD_WEBHOOK_PER_ENDPOINT": "4",
        "REPLYGUARD_LOG_LEVEL": "ERROR",
    }
    rng = random.Random(4)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await make_site("daily")
        r = await client.post(
            "/v1/webhooks",
            json={"url": receiver.url("/slow"), "events": ["comment.held"]},
            headers=auth,
        )
        secret = (await r.json())["secret"]
        kills = mid_delivery = 0
        for _ in range(KILLS):
            await _events(engine, EVENTS_PER_CYCLE)
            before = len(receiver.received)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "service", "deliver", env=env
            )
            # Kill once it is delivering: after its first request, at a random moment.
            await _until(_more_than(receiver, before), within=15)
            producing = asyncio.create_task(_events(engine, 2))
            await asyncio.sleep(rng.uniform(0.0, 0.12))
            assert proc.returncode is None, "the deliverer exited on its own"
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await producing
            kills += proc.returncode == -signal.SIGKILL
            in_flight = await conn.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE state = 'delivering'"
            )
            mid_delivery += in_flight > 0

        event_ids = {str(i) for i in await conn.fetchval("SELECT array_agg(id) FROM outbox")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service", "deliver", env=env
        )
        try:
            everything = await _until(
                lambda: event_ids <= {x.webhook_id for x in receiver.received}, within=60
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        left = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'"
        )
    finally:
        await conn.close()
        await receiver.close()

    assert kills == KILLS
    assert mid_delivery >= KILLS // 2, mid_delivery
    assert everything, event_ids - {x.webhook_id for x in receiver.received}
    assert len(event_ids) == KILLS * (EVENTS_PER_CYCLE + 2)
    assert left == 0
    assert proc.returncode == 0  # SIGTERM: a clean stop
    for got in receiver.received[:: max(len(receiver.received) // 20, 1)]:
        assert verify(got, secret)["type"] == "comment.held"
