"""The scoring worker against a real PostgreSQL: exactly-once decisions, retries, leases, kills."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.queue.scoring import ScoringWorker, retry_delay
from service.settings import Settings
from service.store.jobs import JobStore
from tests.conftest import SiteFactory
from tests.db_rows import fetch_rows
from tests.fakes import FakeScorer

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/daily/articles/story-1/comments"
WORKER_SCRIPT = Path(__file__).with_name("worker_process.py")


async def _post_many(client: Client, n: int, toxic_every: int = 3) -> list[str]:
    ids = []
    for i in range(n):
        toxic = toxic_every > 0 and i % toxic_every == 0
        body = f"comment {i} you idiot" if toxic else f"comment {i} fine"
        r = await client.post(COMMENTS, json={"body": body, "author_name": "A"})
        assert r.status == 202
        ids.append((await r.json())["id"])
    return ids


async def _assert_each_decided_once(settings: Settings, n: int) -> None:
    rows = await fetch_rows(
        settings,
        """SELECT c.id, c.status,
                  (SELECT count(*) FROM audit_log a
                   WHERE a.comment_id = c.id AND a.from_status = 'pending') AS decisions,
                  (SELECT count(*) FROM comment_scores s WHERE s.comment_id = c.id) AS scores,
                  (SELECT count(*) FROM outbox o WHERE o.comment_id = c.id) AS events
           FROM comments c""",
    )
    assert len(rows) == n
    for row in rows:
        assert row["status"] != "pending", row
        assert row["decisions"] == 1, row
        assert row["scores"] == 1, row
        assert row["events"] == 1, row


def test_retry_delay__grows_exponentially_and_is_capped() -> None:
    delays = [retry_delay(a, initial=2, multiplier=4, maximum=600) for a in range(1, 7)]
    assert delays == [2, 8, 32, 128, 512, 600]


async def test_worker__two_workers_at_once_never_decide_a_comment_twice(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    await _post_many(client, 120)
    tuned = replace(settings, batch_size=7)
    workers = [
        ScoringWorker(tuned, engine, FakeScorer(delay=0.01), worker_id=f"w{i}") for i in range(2)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pending = await fetch_rows(settings, "SELECT 1 FROM comments WHERE status = 'pending'")
        if not pending:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*tasks)
    await _assert_each_decided_once(settings, 120)
    assert all(w.decided > 0 for w in workers), "both workers should have taken a share"
    assert sum(w.decided for w in workers) == 120


async def test_worker__failures_retry_then_hold_for_a_human_never_approve(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    [comment_id] = await _post_many(client, 1, toxic_every=0)  # a benign comment
    tuned = replace(settings, max_attempts=3, retry_initial=0.01, retry_max=0.01)
    scorer = FakeScorer(fail_times=100)
    worker = ScoringWorker(tuned, engine, scorer)
    for _ in range(3):
        await asyncio.sleep(0.05)  # let the backoff pass
        assert await worker.run_once() == 1
    [row] = await fetch_rows(settings, "SELECT status, status_reason FROM comments")
    assert row["status"] == "held"
    assert "scoring failed after 3 attempts" in row["status_reason"]
    [job] = await fetch_rows(settings, "SELECT state, attempts, last_error FROM scoring_jobs")
    assert (job["state"], job["attempts"]) == ("failed", 3)
    assert "the model fell over" in job["last_error"]
    audit = await fetch_rows(settings, "SELECT actor_kind, to_status FROM audit_log ORDER BY id")
    assert [(a["actor_kind"], a["to_status"]) for a in audit] == [
        ("system", "pending"),
        ("system", "held"),
    ]
    assert len(scorer.calls) == 3
    assert comment_id


async def test_worker__a_failure_then_success_decides_normally(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    await _post_many(client, 2, toxic_every=0)
    worker = ScoringWorker(settings, engine, FakeScorer(fail_times=1))
    assert await worker.run_once() == 2  # fails, backs off
    assert await worker.run_once() == 0  # still backing off
    await asyncio.sleep(0.1)
    assert await worker.run_once() == 2
    statuses = await fetch_rows(settings, "SELECT status FROM comments")
    assert {r["status"] for r in statuses} == {"approved"}


async def test_worker__a_dead_workers_jobs_are_taken_up_after_the_lease(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    await _post_many(client, 3)
    jobs = JobStore(engine)
    # A worker claims and then dies without a word.
    claimed = await jobs.claim("dead-worker", limit=10, lease_seconds=0.3)
    assert len(claimed) == 3
    survivor = ScoringWorker(settings, engine, FakeScorer())
    assert await survivor.run_once() == 0, "leased jobs must not be taken early"
    await asyncio.sleep(0.4)
    assert await survivor.run_once() == 3
    await _assert_each_decided_once(settings, 3)


async def test_worker__a_moderator_who_acted_first_keeps_the_decision(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site()
    [comment_id] = await _post_many(client, 1, toxic_every=1)  # toxic
    r = await client.post(
        f"/v1/comments/{comment_id}/decision",
        json={"action": "approve", "reason": "satire"},
        headers=auth,
    )
    assert r.status == 200
    assert await ScoringWorker(settings, engine, FakeScorer()).run_once() == 1
    [row] = await fetch_rows(settings, "SELECT status FROM comments")
    assert row["status"] == "approved"
    [job] = await fetch_rows(settings, "SELECT state FROM scoring_jobs")
    assert job["state"] == "done"


async def test_worker__stop_lets_the_running_batch_finish(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    await _post_many(client, 4)
    scorer = FakeScorer(delay=0.5)
    worker = ScoringWorker(settings, engine, scorer)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    while not scorer.calls:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 10)
    await _assert_each_decided_once(settings, 4)


async def test_worker__stop_past_the_timeout_hands_the_batch_back_uncounted(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    await _post_many(client, 2)
    tuned = replace(settings, shutdown_timeout=0.2)
    scorer = FakeScorer(delay=2.0)
    worker = ScoringWorker(tuned, engine, scorer)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    while not scorer.calls:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    jobs = await fetch_rows(settings, "SELECT state, attempts, locked_by FROM scoring_jobs")
    assert [(j["state"], j["attempts"], j["locked_by"]) for j in jobs] == [("queued", 0, None)] * 2


@pytest.mark.slow
async def test_worker__sigkill_mid_batch_loses_nothing_and_decides_once(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    n = 60
    await _post_many(client, n)
    assert settings.database_url is not None
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REPLYGUARD_JOB_LEASE": "1",
        "REPLYGUARD_MAX_ATTEMPTS": "50",
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    kills = 0
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, str(WORKER_SCRIPT), "0.2"], env=env)
        # Kill it only once it holds a batch: that is the case that must lose nothing.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            held = await fetch_rows(
                settings,
                "SELECT 1 FROM scoring_jobs WHERE state = 'running' AND locked_until > now()",
            )
            if held:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    assert kills == 6
    remaining = await fetch_rows(
        settings, "SELECT count(*) AS n FROM comments WHERE status = 'pending'"
    )
    assert remaining[0]["n"] > 0, "the kills should have left work behind"
    await asyncio.sleep(1.1)  # the last lease runs out
    tuned = replace(settings, max_attempts=50)
    survivor = ScoringWorker(tuned, engine, FakeScorer())
    while await survivor.run_once():
        pass
    await _assert_each_decided_once(settings, n)


@pytest.mark.slow
async def test_worker__sigterm_stops_a_worker_process_within_the_bound(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    n = 20
    await _post_many(client, n)
    assert settings.database_url is not None
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REPLYGUARD_SHUTDOWN_TIMEOUT": "5",
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    proc = subprocess.Popen([sys.executable, str(WORKER_SCRIPT), "0.3"], env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if await fetch_rows(settings, "SELECT 1 FROM scoring_jobs WHERE state = 'running'"):
            break
        await asyncio.sleep(0.02)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 6
    # Nothing is left leased to the departed worker: finished or handed back.
    leased = await fetch_rows(settings, "SELECT 1 FROM scoring_jobs WHERE state = 'running'")
    assert leased == []
    survivor = ScoringWorker(settings, engine, FakeScorer())
    while await survivor.run_once():
        pass
    await _assert_each_decided_once(settings, n)
