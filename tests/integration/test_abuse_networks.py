"""Abuse across addresses and replicas: reports count once per network, and every limit
is shared by all web processes through PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import replace
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.queue.scoring import ScoringWorker
from service.settings import Settings
from service.store.jobs import JobStore
from service.store.schema import migrate
from service.web.app import create_app, create_ops_app
from tests.fakes import FakeScorer

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/daily/articles/story-1/comments"


async def _rows(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _proxied_client(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str], **kw: Any
) -> Client:
    """A client behind a trusted proxy (so X-Forwarded-For names the reader), site 'daily'."""
    proxied = replace(settings, trusted_proxies="127.0.0.1/32", **kw)
    client: Client = await aiohttp_client(create_app(proxied, engine=engine))
    r = await client.put(
        "/v1/sites/daily", json={"name": "Daily", "policy": {"report_threshold": 3}}, headers=auth
    )
    assert r.status == 201
    return client


async def _published(client: Client, settings: Settings, engine: AsyncEngine, n: int) -> list[str]:
    """``n`` comments, scored and approved by the fake model."""
    ids = []
    for i in range(n):
        r = await client.post(COMMENTS, json={"body": f"Hot take {i}", "author_name": f"A{i}"})
        assert r.status == 202
        ids.append((await r.json())["id"])
    worker = ScoringWorker(settings, engine, FakeScorer())
    while await worker.run_once():
        pass
    return ids


async def _report(client: Client, comment_id: str, address: str) -> Any:
    return await client.post(
        f"/v1/comments/{comment_id}/reports", json={}, headers={"X-Forwarded-For": address}
    )


# --- reports per network ----------------------------------------------------------------


async def test_reports__three_addresses_in_one_network_count_once(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    client = await _proxied_client(aiohttp_client, settings, engine, auth)
    [ipv4, ipv6] = await _published(client, settings, engine, 2)
    recorded = []
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.250"):
        r = await _report(client, ipv4, address)
        assert r.status == 202
        recorded.append((await r.json())["recorded"])
    # One IPv6 host owns a whole /64: its addresses are one reporter too.
    for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::3"):
        r = await _report(client, ipv6, address)
        assert r.status == 202
        recorded.append((await r.json())["recorded"])
    assert recorded == [True, False, False, True, False, False]
    rows = await _rows(settings, "SELECT status, report_count FROM comments ORDER BY body")
    assert [(r["status"], r["report_count"]) for r in rows] == [("approved", 1), ("approved", 1)]


async def test_reports__threshold_audit_row_says_how_many_networks_reported(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    client = await _proxied_client(aiohttp_client, settings, engine, auth)
    [comment_id] = await _published(client, settings, engine, 1)
    for address in ("203.0.113.1", "203.0.113.7", "198.51.100.1", "2001:db8::1"):
        assert (await _report(client, comment_id, address)).status == 202
    [audit] = await _rows(
        settings,
        "SELECT actor, reason, explanation::text AS explanation FROM audit_log "
        "WHERE to_status = 'held'",
    )
    assert audit["actor"] == "readers"
    assert audit["reason"] == "reported from 3 networks"
    assert '"networks": 3' in audit["explanation"]
    [event] = await _rows(
        settings, "SELECT payload FROM outbox WHERE event_type = 'comment.reported'"
    )
    assert '"networks": 3' in event["payload"]


async def test_reports__per_network_limit_answers_429_with_retry_after(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    client = await _proxied_client(aiohttp_client, settings, engine, auth, reports_per_network=2)
    ids = await _published(client, settings, engine, 4)
    assert (await _report(client, ids[0], "203.0.113.1")).status == 202
    # Reporting again what it already reported is accepted and costs nothing.
    again = await _report(client, ids[0], "203.0.113.3")
    assert again.status == 202 and (await again.json())["recorded"] is False
    assert (await _report(client, ids[1], "203.0.113.2")).status == 202
    refused = await _report(client, ids[2], "203.0.113.4")
    assert refused.status == 429
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600 + 300
    # Another network has its own budget; the refused report left nothing behind.
    assert (await _report(client, ids[2], "198.51.100.1")).status == 202
    rows = await _rows(settings, "SELECT report_count FROM comments ORDER BY body")
    assert [r["report_count"] for r in rows] == [1, 1, 1, 0]


async def test_migration_0005__reports_keyed_by_address_upgrade(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    client = await _proxied_client(aiohttp_client, settings, engine, auth)
    [comment_id] = await _published(client, settings, engine, 1)
    # The old shape: no shared counters, and two reports keyed by a hash of the address.
    legacy = [hashlib.sha256(f"reader:203.0.113.{i}".encode()).digest() for i in (1, 2)]
    await _rows(settings, "DROP TABLE rate_limit_hits")
    for key in legacy:
        await _rows(
            settings,
            "INSERT INTO comment_reports (comment_id, reader_key) VALUES ($1, $2)",
            comment_id,
            key,
        )
    await _rows(settings, "UPDATE comments SET report_count = 2")
    # A database at the migration before this one.
    await _rows(settings, "DELETE FROM schema_migrations WHERE version = 5")
    assert settings.database_url is not None
    await migrate(settings.database_url)
    # The old rows stay (each counts as one network: only a hash of the address was kept).
    assert len(await _rows(settings, "SELECT 1 FROM comment_reports")) == 2
    assert (await _report(client, comment_id, "198.51.100.1")).status == 202
    [row] = await _rows(settings, "SELECT status, report_count FROM comments")
    assert (row["status"], row["report_count"]) == ("held", 3)


# --- limits shared by replicas ----------------------------------------------------------


async def test_rate_limit__two_replicas_together_cannot_exceed_the_limit(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    tight = replace(settings, rate_per_network=5, rate_per_author=100)
    replicas = [await aiohttp_client(create_app(tight, engine=engine)) for _ in range(2)]
    assert (
        await replicas[0].put("/v1/sites/daily", json={"name": "D"}, headers=auth)
    ).status == 201
    # Alternating one by one, then all at once: five in all, whichever replica answers.
    statuses = []
    for i in range(4):
        r = await replicas[i % 2].post(COMMENTS, json={"body": f"b{i}", "author_name": f"A{i}"})
        statuses.append(r.status)
    assert statuses == [202, 202, 202, 202]
    burst = await asyncio.gather(
        *(
            replicas[i % 2].post(COMMENTS, json={"body": f"c{i}", "author_name": f"B{i}"})
            for i in range(10)
        )
    )
    assert sorted(r.status for r in burst) == [202] + [429] * 9
    refused = next(r for r in burst if r.status == 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 70
    assert len(await _rows(settings, "SELECT 1 FROM comments")) == 5
    assert len(await _rows(settings, "SELECT 1 FROM scoring_jobs")) == 5
    assert len(await _rows(settings, "SELECT 1 FROM audit_log")) == 5


async def test_rate_limit__per_author_and_per_site_hold_across_replicas(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    tight = replace(settings, rate_per_network=100, rate_per_author=2, rate_per_site=3)
    replicas = [await aiohttp_client(create_app(tight, engine=engine)) for _ in range(2)]
    await replicas[0].put("/v1/sites/daily", json={"name": "D"}, headers=auth)
    ann = {"author_name": "Ann", "author_email": "ann@x.example"}
    assert (await replicas[0].post(COMMENTS, json={"body": "1", **ann})).status == 202
    assert (await replicas[1].post(COMMENTS, json={"body": "2", **ann})).status == 202
    assert (await replicas[0].post(COMMENTS, json={"body": "3", **ann})).status == 429
    assert (await replicas[1].post(COMMENTS, json={"body": "4", "author_name": "Bo"})).status == 202
    assert (await replicas[0].post(COMMENTS, json={"body": "5", "author_name": "Cy"})).status == 429
    ops = await aiohttp_client(create_ops_app(replicas[0].app))
    metrics = await (await ops.get("/metrics")).text()
    assert 'replyguard_comments_rate_limited_total{site="daily"} 2' in metrics


async def test_rate_limit__refused_or_failed_submissions_are_not_counted(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    tight = replace(settings, rate_per_network=2, rate_per_author=100)
    client = await aiohttp_client(create_app(tight, engine=engine))
    await client.put("/v1/sites/daily", json={"name": "D"}, headers=auth)
    orphan = {"body": "a reply", "author_name": "A", "parent_id": str(uuid.uuid4())}
    assert (await client.post(COMMENTS, json=orphan)).status == 422
    assert (await client.post(COMMENTS, json={"body": "one", "author_name": "A"})).status == 202
    assert (await client.post(COMMENTS, json={"body": "one", "author_name": "A"})).status == 409
    assert (await client.post(COMMENTS, json={"body": "two", "author_name": "B"})).status == 202
    assert (await client.post(COMMENTS, json={"body": "three", "author_name": "C"})).status == 429


async def test_rate_limit__sweep_removes_only_expired_counters_a_batch_at_a_time(
    settings: Settings, engine: AsyncEngine
) -> None:
    await _rows(
        settings,
        "INSERT INTO rate_limit_hits (key, bucket, hits, expires_at) "
        "SELECT 'k' || i, i, 1, now() - interval '1 second' FROM generate_series(1, 5) i "
        "UNION ALL SELECT 'live', 1, 1, now() + interval '1 minute'",
    )
    jobs = JobStore(engine)
    assert await jobs.sweep_rate_limits(batch=3) == 3
    assert await jobs.sweep_rate_limits(batch=3) == 2
    assert await jobs.sweep_rate_limits(batch=3) == 0
    [row] = await _rows(settings, "SELECT key FROM rate_limit_hits")
    assert row["key"] == "live"


async def test_rate_limit__retry_after_is_when_the_oldest_counted_hits_leave_the_window(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    tight = replace(settings, rate_per_network=3, rate_per_author=100)
    client = await aiohttp_client(create_app(tight, engine=engine))
    await client.put("/v1/sites/daily", json={"name": "D"}, headers=auth)
    # Three hits five 10-second buckets back fill the window until that bucket leaves it:
    # seven bucket edges after it (a minute and up to one bucket more).
    [hit] = await _rows(
        settings,
        "INSERT INTO rate_limit_hits (key, bucket, hits, expires_at) "
        "VALUES ('net:daily:127.0.0.0/24', floor(extract(epoch FROM now()) / 10) - 5, 3, "
        "now() + interval '1 minute') RETURNING bucket",
    )
    refused = await client.post(COMMENTS, json={"body": "x", "author_name": "A"})
    assert refused.status == 429
    [now] = await _rows(settings, "SELECT extract(epoch FROM now()) AS t")
    expected = (hit["bucket"] + 7) * 10 - float(now["t"])
    assert 0 < expected <= 20
    assert abs(int(refused.headers["Retry-After"]) - expected) <= 2
    assert await _rows(settings, "SELECT 1 FROM comments") == []
