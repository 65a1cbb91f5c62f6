"""Webhook benchmark: replyguard's deliverer, concurrent, against itself run serially.

Everything runs as its own process against one PostgreSQL (a fresh database per run): a
receiver on 127.0.0.1 that answers 200 and notes when it answered each webhook, and
``replyguard deliver``. This process writes the events. Two phases for each setting:

* throughput: a backlog of N status changes for E endpoints is waiting when the deliverer
  starts; deliveries per second from its first delivery to its last;
* latency: status changes at R per second for D seconds (each a real moderator decision,
  through ``CommentStore.decide``) with the deliverer running; p50/p99 from the decision's
  commit to the receiver's 200.

    python bench/webhooks.py [--events 1000] [--endpoints 4] [--rate 50] [--seconds 10]

The baseline is the same deliverer with one delivery at a time (concurrency 1, one per
endpoint); replyguard's setting is the default (32 in all, 4 per endpoint). On a 2-core
machine the receiver, the deliverer, PostgreSQL and this process share the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.settings import load_settings  # noqa: E402
from service.store.comments import CommentStore  # noqa: E402
from service.store.db import create_engine  # noqa: E402
from service.store.values import NewComment, Principal  # noqa: E402

ADMIN_URL = os.environ.get(
    "REPLYGUARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
ADMIN = Principal(token_id=0, role="admin", sites=None, label="bench")

RECEIVER = """
import json, sys, time
from aiohttp import web

seen = []

async def hook(request):
    await request.read()
    seen.append((request.path, request.headers["webhook-id"], time.time()))
    return web.Response(text="ok")

async def stats(request):
    return web.json_response({"count": len(seen)})

async def dump(request):
    return web.json_response(seen)

app = web.Application()
app.router.add_post("/{endpoint}", hook)
app.router.add_get("/_stats", stats)
app.router.add_get("/_dump", dump)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _prepare(name: str, endpoints: int, port: int) -> str:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_db(ADMIN_URL, name)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute((REPO / "schema.sql").read_text())
        await conn.execute("INSERT INTO sites (id, name) VALUES ('bench', 'Bench')")
        await conn.execute("INSERT INTO articles (site_id, id) VALUES ('bench', 'story')")
        for i in range(endpoints):
            await conn.execute(
                "INSERT INTO webhook_endpoints (url, events, secret, created_at) "
                "VALUES ($1, '{comment.held,comment.rejected}', $2, now() - interval '1 hour')",
                f"http://127.0.0.1:{port}/e{i}",
                "whsec_" + "QUJD" * 8,
            )
    finally:
        await conn.close()
    return url


async def _backlog(url: str, events: int) -> None:
    """N held comments and their outbox events, as the scoring worker would leave them."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """
            WITH c AS (
                INSERT INTO comments (site_id, article_id, body, author_name,
                                      author_token_hash, status)
                SELECT 'bench', 'story', 'Comment number ' || g, 'Reader', '\\x00', 'held'
                FROM generate_series(1, $1) g
                RETURNING id
            )
            INSERT INTO outbox (event_type, site_id, comment_id, payload)
            SELECT 'comment.held', 'bench', id,
                   jsonb_build_object('comment_id', id, 'site_id', 'bench', 'status', 'held',
                                      'from_status', 'pending',
                                      'by', jsonb_build_object('kind', 'model', 'name', 'bench'),
                                      'reason', 'bench')
            FROM c
            """,
            events,
        )
    finally:
        await conn.close()


async def _count(session: aiohttp.ClientSession, port: int) -> int:
    async with session.get(f"http://127.0.0.1:{port}/_stats") as r:
        return int((await r.json())["count"])


async def _wait_for(session: aiohttp.ClientSession, port: int, total: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while await _count(session, port) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {await _count(session, port)} of {total} delivered")
        await asyncio.sleep(0.05)


def _deliverer(url: str, concurrency: int, per_endpoint: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REPLYGUARD_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "REPLYGUARD_WEBHOOK_CONCURRENCY": str(concurrency),
        "REPLYGUARD_WEBHOOK_PER_ENDPOINT": str(per_endpoint),
        "REPLYGUARD_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "service", "deliver"], env=env, cwd=REPO)


def _receiver(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _run(
    label: str, concurrency: int, per_endpoint: int, args: argparse.Namespace
) -> dict[str, float]:
    port = _free_port()
    receiver = _receiver(port)
    name = f"rg_bench_wh_{uuid.uuid4().hex[:8]}"
    url = await _prepare(name, args.endpoints, port)
    deliverer: subprocess.Popen[bytes] | None = None
    engine = create_engine(load_settings({}, database_url=url), pool_size=4)
    figures: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    await _count(session, port)
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            # throughput: drain a backlog
            await _backlog(url, args.events)
            total = args.events * args.endpoints
            deliverer = _deliverer(url, concurrency, per_endpoint)
            await _wait_for(session, port, total, limit=600)
            async with session.get(f"http://127.0.0.1:{port}/_dump") as r:
                seen: list[list[Any]] = await r.json()
            times = sorted(t for _, _, t in seen)
            figures["deliveries/s"] = (len(times) - 1) / max(times[-1] - times[0], 1e-9)

            # latency: a steady stream of moderator decisions
            store = CommentStore(engine)
            committed: dict[str, float] = {}
            interval = 1.0 / args.rate
            started = time.monotonic()
            sent = 0
            while time.monotonic() - started < args.seconds:
                submitted = await store.submit(
                    NewComment(site_id="bench", article_id="story", body="Hm.", author_name="A"),
                    duplicate_window=0.0,
                )
                await store.decide(ADMIN, [submitted.id], "rejected", "bench")
                committed[str(submitted.id)] = time.time()
                sent += 1
                await asyncio.sleep(max(started + sent * interval - time.monotonic(), 0))
            await _wait_for(session, port, total + sent * args.endpoints, limit=120)
            async with session.get(f"http://127.0.0.1:{port}/_dump") as r:
                seen = await r.json()
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT id, comment_id FROM outbox WHERE event_type = 'comment.rejected'"
            )
        finally:
            await conn.close()
        comment_of = {str(r["id"]): str(r["comment_id"]) for r in rows}
        first: dict[tuple[str, str], float] = {}
        for path, webhook_id, at in seen:
            if webhook_id in comment_of:
                first.setdefault((path, webhook_id), at)
        latencies = sorted(
            (at - committed[comment_of[wid]]) * 1000 for (_, wid), at in first.items()
        )
        figures["p50 ms"] = statistics.median(latencies)
        figures["p99 ms"] = latencies[min(int(len(latencies) * 0.99), len(latencies) - 1)]
        figures["latency samples"] = len(latencies)
        print(f"  {label}: done", file=sys.stderr)
        return figures
    finally:
        if deliverer is not None:
            _stop(deliverer)
        _stop(receiver)
        await engine.dispose()
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="backlog of status changes")
    parser.add_argument("--endpoints", type=int, default=4, help="endpoints hearing each one")
    parser.add_argument("--rate", type=float, default=50.0, help="status changes per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="latency phase length")
    args = parser.parse_args()
    baseline = await _run("serial baseline", 1, 1, args)
    replyguard = await _run("replyguard", 32, 4, args)
    print(
        f"webhooks: {args.events} events x {args.endpoints} endpoints backlog; "
        f"then {args.rate:g} status changes/s for {args.seconds:g} s"
    )
    print(f"{'':<18}{'serial baseline':>18}{'replyguard':>14}")
    for key in ("deliveries/s", "p50 ms", "p99 ms", "latency samples"):
        print(f"{key:<18}{baseline[key]:>18.1f}{replyguard[key]:>14.1f}")
    print(json.dumps({"baseline": baseline, "replyguard": replyguard}))


if __name__ == "__main__":
    asyncio.run(main())
