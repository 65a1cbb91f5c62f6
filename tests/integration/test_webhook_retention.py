"""Webhook retention: finished deliveries, their messages and outbox events are deleted after
``webhook_retention_days``, in bounded batches; nothing still owed, and no audit row, goes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.domain import Verdict
from service.settings import Settings
from service.store.comments import CommentStore
from service.store.values import NewComment, Principal
from service.store.webhooks import Purged, WebhookStore
from service.webhooks.deliverer import WebhookDeliverer
from tests.conftest import SiteFactory
from tests.webhook_receiver import FakeClock, Receiver

Client = TestClient[Any, Any]
ADMIN = Principal(token_id=0, role="admin", sites=None, label="test-admin")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(
        settings,
        webhook_allowed_networks="127.0.0.1/32",
        webhook_timeout=1.0,
        webhook_connect_timeout=1.0,
        webhook_retention_days=30,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def deliverer(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> AsyncIterator[WebhookDeliverer]:
    async with WebhookDeliverer(settings, engine, clock=clock, rng=random.Random(7)) as d:
        yield d


async def _endpoint(client: Client, auth: dict[str, str], url: str, events: list[str]) -> str:
    response = await client.post("/v1/webhooks", json={"url": url, "events": events}, headers=auth)
    assert response.status == 201, await response.text()
    endpoint_id: str = (await response.json())["id"]
    return endpoint_id


async def _decided(engine: AsyncEngine, verdict: Verdict, body: str) -> UUID:
    """A comment moved to ``verdict`` by a moderator, which writes one outbox event."""
    store = CommentStore(engine)
    submitted = await store.submit(
        NewComment(site_id="daily", article_id="story-1", body=body, author_name="Ann"),
        duplicate_window=0.0,
    )
    await store.decide(ADMIN, [submitted.id], verdict, "checked")
    return submitted.id


class Db:
    """Direct SQL for what the test sets up and looks at; the code under test has its own."""

    def __init__(self, conn: asyncpg.Connection[Any]) -> None:
        self.conn = conn

    async def age(self, comment_id: UUID, days: int) -> None:
        """Make the comment's event, message, deliveries and audit rows ``days`` old."""
        ago = timedelta(days=days)
        ids = "SELECT id FROM outbox WHERE comment_id = $1"
        await self.conn.execute(
            f"UPDATE webhook_deliveries SET created_at = created_at - $2::interval, "
            f"last_attempt_at = last_attempt_at - $2::interval WHERE message_id IN ({ids})",
            comment_id,
            ago,
        )
        await self.conn.execute(
            f"UPDATE webhook_messages SET created_at = created_at - $2::interval "
            f"WHERE id IN ({ids})",
            comment_id,
            ago,
        )
        await self.conn.execute(
            "UPDATE outbox SET created_at = created_at - $2::interval, "
            "fanned_out_at = fanned_out_at - $2::interval WHERE comment_id = $1",
            comment_id,
            ago,
        )
        await self.conn.execute(
            "UPDATE audit_log SET created_at = created_at - $2::interval WHERE comment_id = $1",
            comment_id,
            ago,
        )

    async def rows(self, comment_id: UUID) -> dict[str, Any]:
        """What is left of the comment's event: outbox row, message, delivery states."""
        row = await self.conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM outbox WHERE comment_id = $1) AS events,
                   (SELECT count(*) FROM webhook_messages m
                    JOIN outbox o ON o.id = m.id WHERE o.comment_id = $1) AS messages,
                   (SELECT coalesce(array_agg(d.state ORDER BY d.state), '{}')
                    FROM webhook_deliveries d JOIN outbox o ON o.id = d.message_id
                    WHERE o.comment_id = $1) AS deliveries
            """,
            comment_id,
        )
        assert row is not None
        return dict(row)

    async def audit(self) -> list[Any]:
        return [tuple(r) for r in await self.conn.fetch("SELECT * FROM audit_log ORDER BY id")]

    async def counts(self) -> tuple[int, int, int]:
        row = await self.conn.fetchrow(
            "SELECT (SELECT count(*) FROM webhook_deliveries), "
            "(SELECT count(*) FROM webhook_messages), (SELECT count(*) FROM outbox)"
        )
        assert row is not None
        return (row[0], row[1], row[2])


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Db]:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        yield Db(conn)
    finally:
        await conn.close()


async def test_purge__old_finished_rows_go_while_fresh_pending_and_audit_rows_stay(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    db: Db,
) -> None:
    await make_site("daily")
    await _endpoint(client, auth, receiver.url("/ok"), ["comment.approved", "comment.rejected"])
    # This one answers 500 for now: its deliveries stay pending, with retries to come.
    receiver.script["/down"] = [500] * 10
    await _endpoint(client, auth, receiver.url("/down"), ["comment.rejected"])
    old = await _decided(engine, "approved", "Old and delivered.")
    owed = await _decided(engine, "rejected", "Old, delivered to one, owed to another.")
    fresh = await _decided(engine, "approved", "Delivered yesterday.")
    await deliverer.deliver_due()
    waiting = await _decided(engine, "approved", "Old, never fanned out.")
    for comment_id in (old, owed, waiting):
        await db.age(comment_id, 40)
    await db.age(fresh, 1)
    audit = await db.audit()

    purged = await deliverer.purge_expired()

    assert purged == Purged(deliveries=2, messages=1, events=1)
    assert await db.rows(old) == {"events": 0, "messages": 0, "deliveries": []}
    # Its body is still owed to /down, so the message and the event stay with it.
    assert await db.rows(owed) == {
        "events": 1,
        "messages": 1,
        "deliveries": ["pending"],
    }
    assert await db.rows(fresh) == {
        "events": 1,
        "messages": 1,
        "deliveries": ["delivered"],
    }
    # Never fanned out: old, but not yet turned into deliveries, so kept.
    assert await db.rows(waiting) == {"events": 1, "messages": 0, "deliveries": []}
    assert await db.audit() == audit
    assert await deliverer.purge_expired() == Purged()


async def test_purge__failed_and_dead_go_too_and_a_recent_redelivery_keeps_its_message(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    db: Db,
) -> None:
    await make_site("daily")
    await _endpoint(client, auth, receiver.url("/a"), ["comment.approved"])
    await _endpoint(client, auth, receiver.url("/b"), ["comment.approved"])
    comment = await _decided(engine, "approved", "Sent to two endpoints.")
    await deliverer.deliver_due()
    await db.age(comment, 40)
    rows = await db.conn.fetch("SELECT id FROM webhook_deliveries ORDER BY id")
    first, second = (r["id"] for r in rows)
    await db.conn.execute("UPDATE webhook_deliveries SET state = 'dead' WHERE id = $1", first)
    # Redelivered two days ago, and refused with a 4xx: finished, but recently.
    await db.conn.execute(
        "UPDATE webhook_deliveries SET state = 'failed', "
        "last_attempt_at = now() - interval '2 days' WHERE id = $1",
        second,
    )

    assert await deliverer.purge_expired() == Purged(deliveries=1)
    assert await db.rows(comment) == {
        "events": 1,
        "messages": 1,
        "deliveries": ["failed"],
    }

    await db.age(comment, 40)
    assert await deliverer.purge_expired() == Purged(deliveries=1, messages=1, events=1)
    assert await db.rows(comment) == {"events": 0, "messages": 0, "deliveries": []}


async def test_purge__each_statement_deletes_at_most_the_batch_size(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    receiver: Receiver,
    clock: FakeClock,
    db: Db,
) -> None:
    await make_site("daily")
    await _endpoint(client, auth, receiver.url("/ok"), ["comment.approved"])
    comments = [await _decided(engine, "approved", f"Comment {i}.") for i in range(5)]
    async with WebhookDeliverer(settings, engine, clock=clock, purge_batch=2) as deliverer:
        await deliverer.deliver_due()
        for comment_id in comments:
            await db.age(comment_id, 40)
        before = datetime.now(UTC) - timedelta(days=30)
        audit = await db.audit()

        one_batch = await WebhookStore(engine).purge_batch(before=before, limit=2)
        assert one_batch == Purged(deliveries=2, messages=2, events=2)
        assert await db.counts() == (3, 3, 3)

        assert await deliverer.purge_expired() == Purged(deliveries=3, messages=3, events=3)
    assert await db.counts() == (0, 0, 0)
    assert await db.audit() == audit


async def test_run__the_deliverer_purges_on_its_own(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    receiver: Receiver,
    clock: FakeClock,
    db: Db,
) -> None:
    await make_site("daily")
    await _endpoint(client, auth, receiver.url("/ok"), ["comment.approved"])
    await _decided(engine, "approved", "Delivered, then kept 30 days.")
    async with WebhookDeliverer(settings, engine, clock=clock) as deliverer:
        await deliverer.deliver_due()
    assert await db.counts() == (1, 1, 1)
    audit = await db.audit()
    clock.advance(31 * 86400)

    stop = asyncio.Event()
    running = asyncio.create_task(WebhookDeliverer(settings, engine, clock=clock).run(stop))
    try:
        async with asyncio.timeout(10):
            while await db.counts() != (0, 0, 0):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    assert await db.audit() == audit
