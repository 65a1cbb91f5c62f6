"""Submissions under abuse: idempotent retries, reposts, rate limits, readers' reports."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.queue.scoring import ScoringWorker
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import SiteFactory
from tests.fakes import FakeScorer

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/daily/articles/story-1/comments"


async def _rows(settings: Settings, sql: str) -> list[asyncpg.Record]:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def test_idempotency__same_key_same_body_replays_the_first_answer(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    await make_site()
    body = {"body": "Well argued.", "author_name": "Ann"}
    key = {"Idempotency-Key": "phone-retry-1"}
    first = await client.post(COMMENTS, json=body, headers=key)
    again = await client.post(COMMENTS, json=body, headers=key)
    assert (first.status, again.status) == (202, 202)
    a, b = await first.json(), await again.json()
    assert a["id"] == b["id"] and a["author_token"] == b["author_token"]
    assert len(await _rows(settings, "SELECT 1 FROM comments")) == 1

    other = await client.post(COMMENTS, json={**body, "body": "Changed my mind."}, headers=key)
    assert other.status == 422
    assert (await other.json())["errors"][0]["field"] == "Idempotency-Key"
    bad = await client.post(COMMENTS, json=body, headers={"Idempotency-Key": "has space"})
    assert bad.status == 422


async def test_idempotency__fifty_identical_requests_at_once_make_one_comment(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    await make_site()
    body = {"body": "Posted from a flaky train connection.", "author_name": "Commuter"}
    responses = await asyncio.gather(
        *(client.post(COMMENTS, json=body, headers={"Idempotency-Key": "k-50"}) for _ in range(50))
    )
    statuses = [r.status for r in responses]
    ids = {(await r.json())["id"] for r in responses if r.status == 202}
    assert set(statuses) <= {202, 409}
    assert statuses.count(202) >= 1
    assert len(ids) == 1
    assert len(await _rows(settings, "SELECT 1 FROM comments")) == 1
    assert len(await _rows(settings, "SELECT 1 FROM scoring_jobs")) == 1


async def test_duplicates__same_author_same_text_soon_after_is_refused(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    await make_site()
    body = {"body": "Buy  cheap watches", "author_name": "Spammer", "author_email": "s@x.example"}
    assert (await client.post(COMMENTS, json=body)).status == 202
    again = await client.post(
        "/v1/sites/daily/articles/story-2/comments", json={**body, "body": "buy cheap WATCHES"}
    )
    assert again.status == 409
    someone_else = await client.post(COMMENTS, json={**body, "author_email": "t@x.example"})
    assert someone_else.status == 202
    assert len(await _rows(settings, "SELECT 1 FROM comments")) == 2


async def test_rate_limit__per_network_answers_429_with_retry_after(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    tight = replace(settings, rate_per_network=3, rate_per_author=100)
    client = await aiohttp_client(create_app(tight, engine=engine))
    r = await client.put("/v1/sites/daily", json={"name": "Daily"}, headers=auth)
    assert r.status == 201
    for i in range(3):
        ok = await client.post(COMMENTS, json={"body": f"n{i}", "author_name": f"A{i}"})
        assert ok.status == 202
    refused = await client.post(COMMENTS, json={"body": "n4", "author_name": "A4"})
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(await _rows(settings, "SELECT 1 FROM comments")) == 3


async def test_rate_limit__x_forwarded_for_counts_only_behind_a_trusted_proxy(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    trusting = replace(
        settings, rate_per_network=1, rate_per_author=100, trusted_proxies="127.0.0.1/32"
    )
    client = await aiohttp_client(create_app(trusting, engine=engine))
    await client.put("/v1/sites/daily", json={"name": "Daily"}, headers=auth)

    async def post(n: int, forwarded: str) -> int:
        r = await client.post(
            COMMENTS,
            json={"body": f"b{n}", "author_name": f"A{n}"},
            headers={"X-Forwarded-For": forwarded},
        )
        return int(r.status)

    # Behind the trusted proxy, readers in different networks have their own budgets...
    assert await post(1, "203.0.113.7") == 202
    assert await post(2, "198.51.100.9") == 202
    # ...and the same /24 shares one.
    assert await post(3, "203.0.113.99") == 429
    # A spoofed chain: only the address the trusted proxy saw counts.
    assert await post(4, "10.9.9.9, 198.51.100.20") == 429


async def test_reports__past_the_threshold_a_published_comment_goes_back_to_held(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site("daily", policy={"report_threshold": 2})
    posted = await (
        await client.post(COMMENTS, json={"body": "Hot take", "author_name": "A"})
    ).json()
    worker = ScoringWorker(settings, engine, FakeScorer())
    while await worker.run_once():
        pass
    url = f"/v1/comments/{posted['id']}/reports"

    async def report(address: str) -> Any:
        r = await client.post(url, json={"reason": "rude"}, headers={"X-Forwarded-For": address})
        assert r.status == 202
        return await r.json()

    # The test client comes from 127.0.0.1, not a trusted proxy: one reader, however many
    # addresses it claims.
    assert (await report("1.1.1.1"))["recorded"] is True
    assert (await report("2.2.2.2"))["recorded"] is False
    [row] = await _rows(settings, "SELECT status, report_count FROM comments")
    assert (row["status"], row["report_count"]) == ("approved", 1)


async def test_reports__threshold_holds_with_reason_and_sends_comment_reported(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    proxied = replace(settings, trusted_proxies="127.0.0.1/32")
    client = await aiohttp_client(create_app(proxied, engine=engine))
    await client.put(
        "/v1/sites/daily", json={"name": "Daily", "policy": {"report_threshold": 2}}, headers=auth
    )
    posted = await (
        await client.post(COMMENTS, json={"body": "Hot take", "author_name": "A"})
    ).json()
    worker = ScoringWorker(settings, engine, FakeScorer())
    while await worker.run_once():
        pass
    url = f"/v1/comments/{posted['id']}/reports"
    for address in ("203.0.113.1", "198.51.100.1"):
        r = await client.post(url, json={}, headers={"X-Forwarded-For": address})
        assert r.status == 202
    [row] = await _rows(settings, "SELECT status, status_reason FROM comments")
    assert (row["status"], row["status_reason"]) == ("held", "reported from 2 networks")
    events = [
        r["event_type"] for r in await _rows(settings, "SELECT event_type FROM outbox ORDER BY seq")
    ]
    assert events == ["comment.approved", "comment.held", "comment.reported"]
    # A held comment is no longer public: reporting it is 404.
    gone = await client.post(url, json={}, headers={"X-Forwarded-For": "192.0.2.1"})
    assert gone.status == 404


async def test_backlog__fires_queue_backlog_once_per_episode_and_shows_in_readyz(
    client: Client,
    ops_client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    from service.store.jobs import JobStore

    await make_site("daily", policy={"backlog_seconds": 10})
    await client.post(COMMENTS, json={"body": "waiting", "author_name": "A"})
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("UPDATE comments SET created_at = now() - interval '1 minute'")
    finally:
        await conn.close()
    jobs = JobStore(engine)
    assert await jobs.check_backlog() == ["daily"]
    assert await jobs.check_backlog() == []  # same episode: no second event
    ready = await (await ops_client.get("/readyz")).json()
    assert [b["site"] for b in ready["checks"]["backlog"]] == ["daily"]
    metrics = await (await ops_client.get("/metrics")).text()
    assert "replyguard_sites_in_backlog 1" in metrics
    # Scoring catches up: the episode closes; a new backlog later is a new episode.
    worker = ScoringWorker(settings, engine, FakeScorer())
    while await worker.run_once():
        pass
    assert await jobs.check_backlog() == []
    assert (await (await ops_client.get("/readyz")).json())["checks"]["backlog"] == []
    events = await _rows(
        settings, "SELECT event_type FROM outbox WHERE event_type = 'queue.backlog'"
    )
    assert len(events) == 1
