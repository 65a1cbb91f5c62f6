"""The webhook deliverer against a real PostgreSQL and receivers on 127.0.0.1.

Retry schedules run on a ``FakeClock``: nothing here sleeps for a backoff. Time limits are
real (an attempt's timeout is 1 s here) and asserted with generous bounds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.domain import CommentId, Verdict
from service.queue.scoring import ScoringWorker
from service.settings import Settings
from service.store.comments import CommentStore
from service.store.values import NewComment, Principal
from service.store.webhooks import AttemptRecord, ClaimedDelivery, WebhookStore
from service.webhooks.deliverer import RETRY_SCHEDULE, WebhookDeliverer, sign
from service.webhooks.ssrf import UrlGuard, UrlRefused
from tests.conftest import SiteFactory
from tests.fakes import FakeScorer
from tests.webhook_receiver import FakeClock, RawReceiver, Receiver, verify

Client = TestClient[Any, Any]
ADMIN = Principal(token_id=0, role="admin", sites=None, label="test-admin")
EVENTS = ["comment.held", "comment.approved", "comment.rejected", "comment.reported"]
Results = list[tuple[ClaimedDelivery, AttemptRecord]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(
        settings,
        webhook_allowed_networks="127.0.0.1/32",
        webhook_timeout=1.0,
        webhook_connect_timeout=1.0,
        webhook_per_endpoint=2,
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


async def _endpoint(
    client: Client,
    auth: dict[str, str],
    url: str,
    events: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhooks", json={"url": url, "events": events or EVENTS, **extra}, headers=auth
    )
    assert response.status == 201, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def _comment(engine: AsyncEngine, body: str = "A fair point.", site: str = "daily") -> UUID:
    submitted = await CommentStore(engine).submit(
        NewComment(
            site_id=site,
            article_id="story-1",
            body=body,
            author_name="Ann",
            article_title="Budget",
            article_url="https://news.example/budget",
        ),
        duplicate_window=0.0,
    )
    return submitted.id


async def _decide(engine: AsyncEngine, comment_id: UUID, verdict: Verdict = "approved") -> None:
    await CommentStore(engine).decide(ADMIN, [comment_id], verdict, "checked")


async def _deliveries(settings: Settings) -> list[dict[str, Any]]:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("SELECT * FROM webhook_deliveries ORDER BY id")
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def _one_delivery(
    client: Client, auth: dict[str, str], endpoint: dict[str, Any]
) -> dict[str, Any]:
    response = await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries", headers=auth)
    assert response.status == 200
    items: list[dict[str, Any]] = (await response.json())["items"]
    assert len(items) == 1, items
    return items[0]


# --- events, payloads, signatures -----------------------------------------------------------


async def test_deliverer__every_event_reaches_the_receiver_signed_and_verifiable(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await make_site("daily")
    await make_site("sensitive", policy={"mode": "pre"})
    endpoint = await _endpoint(client, auth, receiver.url("/ok"))
    clean = await _comment(engine, "A fair point about the budget.")
    toxic = await _comment(engine, "You idiot, I hate you.")
    held = await _comment(engine, "Careful now.", site="sensitive")
    worker = ScoringWorker(settings, engine, FakeScorer())
    while await worker.run_once():
        pass
    await _decide(engine, held, "approved")
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:  # what issue 6's reports will write
        await conn.execute(
            "INSERT INTO outbox (event_type, site_id, comment_id, payload) "
            "VALUES ('comment.reported', 'daily', $1, $2::jsonb)",
            clean,
            json.dumps({"comment_id": str(clean), "report": {"reason": "spam", "count": 1}}),
        )
    finally:
        await conn.close()

    results = await deliverer.deliver_due()

    assert [r.state for _, r in results] == ["delivered"] * 5
    events = [verify(r, endpoint["secret"]) for r in receiver.on("/ok")]
    by_type: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        assert set(event) == {"type", "timestamp", "data"}
        by_type[(event["type"], event["data"]["comment"]["id"])] = event["data"]
    assert set(by_type) == {
        ("comment.approved", str(clean)),
        ("comment.rejected", str(toxic)),
        ("comment.held", str(held)),
        ("comment.approved", str(held)),
        ("comment.reported", str(clean)),
    }
    rejected = by_type[("comment.rejected", str(toxic))]
    assert rejected["decision"]["by"]["kind"] == "model"
    assert rejected["decision"]["explanation"]["model"]["name"] == "fake-scorer"
    assert rejected["comment"]["body"] == "You idiot, I hate you."
    assert rejected["comment"]["status"] == "rejected"
    assert rejected["article"] == {
        "id": "story-1",
        "title": "Budget",
        "url": "https://news.example/budget",
    }
    assert "author_email" not in rejected["comment"]
    by_moderator = by_type[("comment.approved", str(held))]["decision"]
    assert by_moderator["by"] == {"kind": "moderator", "name": "test-admin"}
    assert by_moderator["previous_status"] == "held"
    assert by_type[("comment.reported", str(clean))]["report"] == {"reason": "spam", "count": 1}
    ids = [r.webhook_id for r in receiver.on("/ok")]
    assert len(set(ids)) == 5


async def test_fan_out__endpoints_hear_only_their_site_and_their_events(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await make_site("daily")
    await make_site("weekly")
    await _endpoint(client, auth, receiver.url("/daily-held"), ["comment.held"], site="daily")
    await _endpoint(client, auth, receiver.url("/all"), EVENTS)
    off = await _endpoint(client, auth, receiver.url("/off"), EVENTS)
    r = await client.patch(f"/v1/webhooks/{off['id']}", json={"enabled": False}, headers=auth)
    assert r.status == 200
    a = await _comment(engine, site="daily")
    b = await _comment(engine, site="weekly")
    await _decide(engine, a, "held")
    await _decide(engine, b, "held")
    await _decide(engine, a, "approved")

    await deliverer.deliver_due()

    daily = [json.loads(r.body) for r in receiver.on("/daily-held")]
    assert [(e["type"], e["data"]["comment"]["id"]) for e in daily] == [("comment.held", str(a))]
    assert len(receiver.on("/all")) == 3
    assert receiver.on("/off") == []


async def test_secret_rotation__both_signatures_are_sent_and_either_secret_verifies(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await make_site("daily")
    endpoint = await _endpoint(client, auth, receiver.url("/ok"))
    old = endpoint["secret"]
    r = await client.patch(
        f"/v1/webhooks/{endpoint['id']}", json={"rotate_secret": True}, headers=auth
    )
    rotated = await r.json()
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old
    assert rotated["previous_secret_valid_until"] is not None
    await _decide(engine, await _comment(engine), "held")

    await deliverer.deliver_due()

    (got,) = receiver.on("/ok")
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verify(got, old)["type"] == "comment.held"
    assert verify(got, new)["type"] == "comment.held"


def test_sign__matches_the_standard_webhooks_reference() -> None:
    from standardwebhooks import Webhook

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"type":"comment.held"}'
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    expected = Webhook(secret).sign("msg_1", at, body)
    assert sign(secret, "msg_1", int(at.timestamp()), body.encode()) == expected


# --- retries --------------------------------------------------------------------------------


async def test_deliverer__500_then_200_retries_on_schedule_with_the_same_webhook_id(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    clock: FakeClock,
) -> None:
    await make_site("daily")
    endpoint = await _endpoint(client, auth, receiver.url("/flaky"))
    receiver.script["/flaky"] = [500]
    await _decide(engine, await _comment(engine), "held")

    (first,) = await deliverer.deliver_due()
    assert first[1].state == "pending" and first[1].status_code == 500
    assert first[1].next_attempt_at is not None
    wait = (first[1].next_attempt_at - first[1].finished_at).total_seconds()
    assert 5 * 0.9 <= wait <= 5 * 1.1
    clock.advance(4.0)
    assert await deliverer.deliver_due() == []  # not due yet
    clock.advance(2.0)
    (second,) = await deliverer.deliver_due()

    assert second[1].state == "delivered"
    one, two = receiver.on("/flaky")
    assert one.webhook_id == two.webhook_id
    assert verify(two, endpoint["secret"])["type"] == "comment.held"
    delivery = await _one_delivery(client, auth, endpoint)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 2
    assert delivery["last_status_code"] == 200
    assert delivery["response_excerpt"] == "answer 200"
    assert delivery["webhook_id"] == one.webhook_id


async def test_deliverer__failing_receiver_gets_eight_attempts_then_dead_then_redelivery(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    clock: FakeClock,
) -> None:
    await make_site("daily")
    endpoint = await _endpoint(client, auth, receiver.url("/down"))
    receiver.script["/down"] = [503] * 8
    await _decide(engine, await _comment(engine), "held")

    waits: list[float] = []
    for attempt in range(1, 9):
        (result,) = await deliverer.deliver_due()
        record = result[1]
        if attempt < 8:
            assert record.state == "pending", attempt
            assert record.next_attempt_at is not None
            waits.append((record.next_attempt_at - record.finished_at).total_seconds())
            clock.set(record.next_attempt_at)
        else:
            assert record.state == "dead"
    for wait, planned in zip(waits, RETRY_SCHEDULE[1:], strict=True):
        assert planned * 0.9 <= wait <= planned * 1.1
    assert 0.9 * 27 * 3600 < sum(waits) < 1.1 * 27 * 3600  # "about a day"
    assert len({r.webhook_id for r in receiver.on("/down")}) == 1
    delivery = await _one_delivery(client, auth, endpoint)
    assert (delivery["status"], delivery["attempts"]) == ("dead", 8)

    r = await client.post(
        f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver", headers=auth
    )
    assert r.status == 202
    assert (await r.json())["status"] == "pending"
    r = await client.post(
        f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver", headers=auth
    )
    assert r.status == 409
    (again,) = await deliverer.deliver_due()
    assert again[1].state == "delivered"
    assert len({r.webhook_id for r in receiver.on("/down")}) == 1


async def test_deliverer__retry_after_is_honoured_up_to_ten_hours(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    clock: FakeClock,
) -> None:
    await make_site("daily")
    await _endpoint(client, auth, receiver.url("/busy"))
    receiver.script["/busy"] = [429, 429]
    await _decide(engine, await _comment(engine), "held")

    receiver.retry_after = "120"
    (first,) = await deliverer.deliver_due()
    assert first[1].next_attempt_at is not None
    assert (first[1].next_attempt_at - first[1].finished_at).total_seconds() == 120
    clock.set(first[1].next_attempt_at)
    receiver.retry_after = "99999999"
    (second,) = await deliverer.deliver_due()
    assert second[1].next_attempt_at is not None
    assert (second[1].next_attempt_at - second[1].finished_at).total_seconds() == 36000


async def test_deliverer__4xx_is_final_and_410_disables_the_endpoint(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await make_site("daily")
    bad = await _endpoint(client, auth, receiver.url("/bad"))
    gone = await _endpoint(client, auth, receiver.url("/gone"))
    receiver.script["/bad"] = [400]
    receiver.script["/gone"] = [410]
    await _decide(engine, await _comment(engine), "held")

    results = await deliverer.deliver_due()

    assert sorted(r.state for _, r in results) == ["failed", "failed"]
    r = await client.get(f"/v1/webhooks/{bad['id']}", headers=auth)
    assert (await r.json())["enabled"] is True
    r = await client.get(f"/v1/webhooks/{gone['id']}", headers=auth)
    data = await r.json()
    assert data["enabled"] is False
    assert data["disabled"]["by"] == "system"
    assert "410" in data["disabled"]["reason"]
    await _decide(engine, await _comment(engine), "held")
    await deliverer.deliver_due()
    assert len(receiver.on("/gone")) == 1  # nothing more for a disabled endpoint
    assert len(receiver.on("/bad")) == 2


async def test_deliverer__endpoint_failing_for_five_days_is_disabled_and_says_why(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    clock: FakeClock,
) -> None:
    await make_site("daily")
    endpoint = await _endpoint(client, auth, receiver.url("/down"))
    receiver.script["/down"] = [500] * 100
    await _decide(engine, await _comment(engine), "held")
    await deliverer.deliver_due()
    r = await client.get(f"/v1/webhooks/{endpoint['id']}", headers=auth)
    assert (await r.json())["failing_since"] is not None

    for _ in range(5):  # a new event and a failed attempt every day
        clock.advance(86400 + 60)
        await _decide(engine, await _comment(engine), "held")
        await deliverer.deliver_due()

    r = await client.get(f"/v1/webhooks/{endpoint['id']}", headers=auth)
    data = await r.json()
    assert data["enabled"] is False
    assert data["disabled"]["by"] == "system"
    assert "failing continuously since" in data["disabled"]["reason"]
    r = await client.patch(f"/v1/webhooks/{endpoint['id']}", json={"enabled": True}, headers=auth)
    data = await r.json()
    assert (data["enabled"], data["disabled"], data["failing_since"]) == (True, None, None)


async def test_deliverer__a_success_resets_the_failure_clock(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await make_site("daily")
    endpoint = await _endpoint(client, auth, receiver.url("/flaky"))
    receiver.script["/flaky"] = [500]
    await _decide(engine, await _comment(engine), "held")
    await deliverer.deliver_due()
    await _decide(engine, await _comment(engine), "held")
    await deliverer.deliver_due()
    r = await client.get(f"/v1/webhooks/{endpoint['id']}", headers=auth)
    assert (await r.json())["failing_since"] is None


# --- receivers that misbehave -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hang", "trickle"])
async def test_deliverer__hanging_or_trickling_receiver_is_cut_off_at_the_attempt_timeout(
    mode: str,
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    deliverer: WebhookDeliverer,
    settings: Settings,
) -> None:
    raw = RawReceiver(mode)
    await raw.start()
    try:
        await make_site("daily")
        await _endpoint(client, auth, raw.url())
        await _decide(engine, await _comment(engine), "held")
        started = time.monotonic()
        (result,) = await deliverer.deliver_due()
        elapsed = time.monotonic() - started
    finally:
        await raw.close()
    assert raw.connections == 1
    assert settings.webhook_timeout <= elapsed < settings.webhook_timeout + 1.5
    record = result[1]
    assert record.state == "pending"
    assert record.status_code is None
    assert record.error is not None and "within 1 s" in record.error


async def test_deliverer__huge_answer_is_read_only_to_the_limit(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await make_site("daily")
    endpoint = await _endpoint(client, auth, receiver.url("/huge"))
    await _decide(engine, await _comment(engine), "held")

    started = time.monotonic()
    (result,) = await deliverer.deliver_due()

    assert time.monotonic() - started < 2.0
    assert result[1].state == "delivered"
    assert result[1].response is not None and len(result[1].response) == 20 * 1024
    assert receiver.huge_sent < receiver.huge_bytes  # the rest was never downloaded
    delivery = await _one_delivery(client, auth, endpoint)
    assert len(delivery["response_excerpt"]) == 1000


async def test_deliverer__redirects_are_not_followed(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await make_site("daily")
    await _endpoint(client, auth, receiver.url("/redirect"))
    await _decide(engine, await _comment(engine), "held")

    (result,) = await deliverer.deliver_due()

    assert result[1].status_code == 302
    assert result[1].state == "pending"
    assert receiver.on("/redirected") == []


async def test_deliverer__a_name_rebinding_to_loopback_is_refused_at_delivery(
    settings: Settings,
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    clock: FakeClock,
) -> None:
    answers = {"registration": ["93.184.216.34"], "delivery": ["127.0.0.1"]}
    phase = ["registration"]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers[phase[0]]

    guard = UrlGuard(lookup=rebinding)  # no allowed networks: production settings
    url = f"http://hooks.example:{receiver.port}/ok"
    await guard.check(url)
    await make_site("daily")
    await WebhookStore(engine).create(
        url=url, events=EVENTS, site_id=None, description="", created_by="test"
    )
    await _decide(engine, await _comment(engine), "held")
    phase[0] = "delivery"

    async with WebhookDeliverer(settings, engine, guard=guard, clock=clock) as deliverer:
        (result,) = await deliverer.deliver_due()

    assert result[1].state == "failed"
    assert result[1].error is not None
    assert "refused" in result[1].error and "127.0.0.1" in result[1].error
    assert receiver.received == []
    with pytest.raises(UrlRefused):
        guard.check_url("http://[::ffff:127.0.0.1]:1/")  # literals never reach a resolver


async def test_deliverer__a_stored_look_alike_host_is_refused_not_delivered(
    settings: Settings,
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    clock: FakeClock,
) -> None:
    # Stored before registration refused such hosts: full-width digits and dots, which
    # aiohttp reads as the literal 127.0.0.1 and connects to without asking a resolver.
    host = "".join(chr(0xFF10 + int(c)) if c.isdigit() else "\uff0e" for c in "127.0.0.1")
    await make_site("daily")
    await WebhookStore(engine).create(
        url=f"http://{host}:{receiver.port}/ok",
        events=EVENTS,
        site_id=None,
        description="",
        created_by="test",
    )
    await _decide(engine, await _comment(engine), "held")

    guard = UrlGuard()  # no allowed networks: production settings
    async with WebhookDeliverer(settings, engine, guard=guard, clock=clock) as deliverer:
        (result,) = await deliverer.deliver_due()

    assert receiver.received == []
    assert result[1].state == "failed"
    assert result[1].error is not None and "plain ASCII" in result[1].error
    (row,) = await _deliveries(settings)
    assert row["state"] == "failed" and "refused" in row["last_error"]


# --- sharing the queue ----------------------------------------------------------------------


async def test_deliverer__two_deliverers_share_the_queue_and_bound_each_endpoint(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    receiver: Receiver,
    clock: FakeClock,
) -> None:
    await make_site("daily")
    await _endpoint(client, auth, receiver.url("/slow"))
    receiver.slow_seconds = 0.1
    for _ in range(12):
        await _decide(engine, await _comment(engine), "held")

    async with (
        WebhookDeliverer(settings, engine, clock=clock) as one,
        WebhookDeliverer(settings, engine, clock=clock) as two,
    ):
        a, b = await asyncio.gather(one.deliver_due(), two.deliver_due())

    assert len(a) + len(b) == 12
    assert len(receiver.on("/slow")) == 12
    assert len({r.webhook_id for r in receiver.on("/slow")}) == 12
    # per-endpoint bound 2, in each of the two processes
    assert receiver.max_in_flight <= 2 * settings.webhook_per_endpoint


async def test_deliverer__a_lost_lease_is_taken_over_and_delivered(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    clock: FakeClock,
) -> None:
    await make_site("daily")
    await _endpoint(client, auth, receiver.url("/ok"))
    await _decide(engine, await _comment(engine), "held")
    store = WebhookStore(engine)
    await deliverer.fan_out()
    (taken,) = await store.claim(
        "dead-worker", limit=10, per_endpoint=4, busy=(), lease_seconds=30, now=clock.now()
    )
    assert await deliverer.deliver_due() == []  # leased
    clock.advance(31)

    (result,) = await deliverer.deliver_due()

    assert result[0].id == taken.id
    assert result[1].state == "delivered"
    assert result[0].attempts == 0  # the dead worker's attempt did not count


async def test_send_test__queues_a_webhook_test_event_that_is_delivered(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    endpoint = await _endpoint(client, auth, receiver.url("/ok"), ["comment.held"])
    r = await client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=auth)
    assert r.status == 202
    queued = await r.json()

    await deliverer.deliver_due()

    (got,) = receiver.on("/ok")
    event = verify(got, endpoint["secret"])
    assert event["type"] == "webhook.test"
    assert event["data"]["endpoint_id"] == endpoint["id"]
    r = await client.get(r.headers["Location"], headers=auth)
    assert (await r.json())["status"] == "delivered"
    assert queued["webhook_id"] == got.webhook_id


async def test_redeliver_failed__requeues_what_failed_since_a_time(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await make_site("daily")
    endpoint = await _endpoint(client, auth, receiver.url("/bad"))
    receiver.script["/bad"] = [400, 400, 400]
    for _ in range(3):
        await _decide(engine, await _comment(engine), "held")
    await deliverer.deliver_due()
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    r = await client.post(
        f"/v1/webhooks/{endpoint['id']}/redeliver", json={"since": since}, headers=auth
    )
    assert r.status == 202
    assert (await r.json())["queued"] == 3
    results = await deliverer.deliver_due()

    assert [rec.state for _, rec in results] == ["delivered"] * 3
    r = await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries?status=delivered", headers=auth)
    assert len((await r.json())["items"]) == 3


async def test_fan_out__a_killed_fan_out_loses_nothing(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    """Events written while no deliverer runs, and an outbox row locked by a stuck
    transaction, are all delivered once the way is clear."""
    await make_site("daily")
    await _endpoint(client, auth, receiver.url("/ok"))
    ids = [await _comment(engine) for _ in range(3)]
    for comment_id in ids:
        await _decide(engine, CommentId(comment_id), "held")
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT id FROM outbox WHERE comment_id = $1 FOR UPDATE", ids[0])
        first = await deliverer.deliver_due()
        await tx.rollback()
    finally:
        await conn.close()
    second = await deliverer.deliver_due()
    assert (len(first), len(second)) == (2, 1)
    assert {json.loads(r.body)["data"]["comment"]["id"] for r in receiver.on("/ok")} == {
        str(i) for i in ids
    }


async def test_erasure__an_erased_comment_leaves_no_words_in_webhook_bodies(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await make_site("daily")
    endpoint = await _endpoint(client, auth, receiver.url("/ok"))
    comment_id = await _comment(engine, "My secret confession.")
    await _decide(engine, comment_id, "held")
    await deliverer.deliver_due()
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:  # what erasing a comment does to its outbox events
        await conn.execute(
            "UPDATE outbox SET payload = jsonb_build_object('comment_id', comment_id::text, "
            "'site_id', site_id, 'erased', true) WHERE comment_id = $1",
            comment_id,
        )
        bodies = await conn.fetch("SELECT body FROM webhook_messages")
    finally:
        await conn.close()
    assert all("confession" not in b["body"] for b in bodies)
    delivery = await _one_delivery(client, auth, endpoint)
    r = await client.post(
        f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver", headers=auth
    )
    assert r.status == 202
    await deliverer.deliver_due()
    first, again = receiver.on("/ok")
    assert first.webhook_id == again.webhook_id
    erased = verify(again, endpoint["secret"])
    assert erased["data"] == {
        "site_id": "daily",
        "comment": {"id": str(comment_id)},
        "erased": True,
    }
    assert erased["type"] == "comment.held"


async def test_deliverer_log__a_failed_attempt_carries_endpoint_status_and_attempt(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await make_site("daily")
    endpoint = await _endpoint(client, auth, receiver.url("/flaky"))
    receiver.script["/flaky"] = [500]
    await _decide(engine, await _comment(engine), "held")
    caplog.set_level(logging.INFO, logger="service.webhooks.deliverer")

    (first,) = await deliverer.deliver_due()

    [line] = [r for r in caplog.records if "attempt 1" in r.getMessage()]
    fields = {k: line.__dict__.get(k) for k in ("endpoint_id", "status", "attempt", "state")}
    assert fields == {
        "endpoint_id": UUID(endpoint["id"]),
        "status": 500,
        "attempt": 1,
        "state": "pending",
    }
    assert line.__dict__["delivery_id"] == first[0].id
