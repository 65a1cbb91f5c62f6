"""Ingest benchmark: replyguard's comment POST against a bare aiohttp+asyncpg insert.

Both servers run as their own processes against the same PostgreSQL (a fresh database made
for the run); this process is the load generator. Two phases for each server:

* throughput: N concurrent clients post as fast as they can for D seconds;
* fixed rate: R requests per second, open loop, for D seconds; p50/p99 latency.

    python bench/ingest.py [--seconds 10] [--concurrency 32] [--rate 300] [--rounds 3]

The bare endpoint validates nothing and writes one row; replyguard validates the input,
checks the site, and writes the article, comment, scoring job and audit row in one
transaction. On a 2-core machine the client shares the CPU with the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
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
ADMIN_URL = os.environ.get(
    "REPLYGUARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

BARE_SERVER = """
import asyncio, json, sys
import asyncpg
from aiohttp import web

async def init(app):
    app["pool"] = await asyncpg.create_pool(sys.argv[2], min_size=10, max_size=10)
    yield
    await app["pool"].close()

async def post(request):
    data = await request.json()
    row = await request.app["pool"].fetchrow(
        "INSERT INTO bare_comments (body, author_name) VALUES ($1, $2) RETURNING id",
        data["body"], data["author_name"])
    return web.json_response({"id": row["id"], "status": "pending"}, status=202)

app = web.Application()
app.cleanup_ctx.append(init)
app.router.add_post("/v1/sites/{site}/articles/{article}/comments", post)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _prepare(name: str) -> str:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_db(ADMIN_URL, name)
    conn = await asyncpg.connect(url)
    await conn.execute((REPO / "schema.sql").read_text())
    await conn.execute(
        "CREATE TABLE bare_comments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " body text NOT NULL, author_name text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now())"
    )
    await conn.execute(
        "INSERT INTO sites (id, name, allowed_origins) VALUES ('bench', 'Bench', '{}')"
    )
    await conn.close()
    return url


async def _drop(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL)


async def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(base + "/healthz") as r:
                    if r.status in (200, 404):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base} did not come up")


_RUN = uuid.uuid4().hex[:8]


def _body(i: int) -> dict[str, Any]:
    # Unique per request, so the repost check (same author, same text) never fires.
    return {
        "body": f"Comment {_RUN}-{i}-{uuid.uuid4().hex[:6]}: a measured view of the council's "
        "budget, with thanks.",
        "author_name": f"Reader {i % 97}",
        "article_title": "Budget 2026",
    }


async def _post(session: aiohttp.ClientSession, url: str, i: int, latencies: list[float]) -> bool:
    started = time.perf_counter()
    # Readers come from many networks (a trusted proxy says which), as on a real site: the
    # shared limits then count on many rows, not all on one network's.
    forwarded = {"X-Forwarded-For": f"10.{i >> 8 & 255}.{i & 255}.1"}
    async with session.post(url, json=_body(i), headers=forwarded) as r:
        await r.read()
        ok = r.status == 202
    latencies.append(time.perf_counter() - started)
    return ok


async def throughput(base: str, seconds: float, concurrency: int) -> dict[str, float]:
    url = base + "/v1/sites/bench/articles/story-1/comments"
    latencies: list[float] = []
    counter = iter(range(10**9))
    failures = 0
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            if not await _post(session, url, next(counter), latencies):
                failures += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"rps": len(latencies) / elapsed, "failures": failures, **_percentiles(latencies)}


async def fixed_rate(base: str, seconds: float, rate: float) -> dict[str, float]:
    """Open loop: requests start on schedule whether or not earlier ones have answered."""
    url = base + "/v1/sites/bench/articles/story-2/comments"
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        started = time.perf_counter()
        total = int(seconds * rate)
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_post(session, url, i, latencies)))
        results = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        failures = results.count(False)
    return {"rps": len(latencies) / elapsed, "failures": failures, **_percentiles(latencies)}


async def _checkpoint(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def _median(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {
        phase: {key: statistics.median(r[phase][key] for r in runs) for key in runs[0][phase]}
        for phase in runs[0]
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    q = statistics.quantiles(values, n=100)
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians")
    args = parser.parse_args()

    name = f"rg_bench_{uuid.uuid4().hex[:8]}"
    url = await _prepare(name)
    bare_port, ours_port = _free_port(), _free_port()
    # One client machine posts everything: lift the per-network, per-author and per-site
    # limits, which would otherwise (rightly) answer most of this load with 429. They are
    # still counted, so their cost is measured.
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REPLYGUARD_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
        "REPLYGUARD_RATE_PER_NETWORK": "100000000",
        "REPLYGUARD_RATE_PER_AUTHOR": "100000000",
        "REPLYGUARD_RATE_PER_SITE": "100000000",
        "REPLYGUARD_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    procs = [
        _start([sys.executable, "-c", BARE_SERVER, str(bare_port), url], env),
        _start(
            [sys.executable, "-m", "service", "web", "--port", str(ours_port), "--ops-port", "0"],
            env,
        ),
    ]
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        servers = {
            "bare aiohttp+asyncpg": f"http://127.0.0.1:{bare_port}",
            "replyguard": f"http://127.0.0.1:{ours_port}",
        }
        for base in servers.values():
            await _wait_up(base)
        for base in servers.values():
            await throughput(base, 2.0, args.concurrency)  # warm up pools and caches
        # Rounds alternate between the two, each after a CHECKPOINT, so neither pays for
        # the other's writes (a checkpoint or autovacuum landing in one phase only).
        rounds: dict[str, list[dict[str, dict[str, float]]]] = {k: [] for k in servers}
        for _ in range(args.rounds):
            for label, base in servers.items():
                await _checkpoint(url)
                rounds[label].append(
                    {
                        "throughput": await throughput(base, args.seconds, args.concurrency),
                        "fixed": await fixed_rate(base, args.seconds, args.rate),
                    }
                )
        results = {label: _median(runs) for label, runs in rounds.items()}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        await _drop(name)

    bare, ours = results["bare aiohttp+asyncpg"], results["replyguard"]
    print(
        f"ingest benchmark: medians of {args.rounds} alternating rounds, {args.seconds:.0f}s "
        f"per phase, {args.concurrency} concurrent clients, fixed rate {args.rate:.0f}/s, "
        f"{os.cpu_count()} CPUs shared with the client"
    )
    print(f"{'':34}{'bare':>12}{'replyguard':>12}{'ratio':>8}")
    rows = [
        ("throughput (comments/s)", "throughput", "rps"),
        ("  p50 latency (ms)", "throughput", "p50_ms"),
        ("  p99 latency (ms)", "throughput", "p99_ms"),
        ("  failures", "throughput", "failures"),
        (f"at {args.rate:.0f}/s: achieved (/s)", "fixed", "rps"),
        ("  p50 latency (ms)", "fixed", "p50_ms"),
        ("  p99 latency (ms)", "fixed", "p99_ms"),
        ("  failures", "fixed", "failures"),
    ]
    failed = sum(r[p]["failures"] for r in results.values() for p in ("throughput", "fixed"))
    if failed:
        print(f"WARNING: {failed:.0f} requests were not answered 202; the figures are not valid")
    for title, phase, key in rows:
        b, o = bare[phase][key], ours[phase][key]
        ratio = f"{o / b:8.2f}" if b else f"{'-':>8}"
        print(f"{title:34}{b:12.1f}{o:12.1f}{ratio}")


if __name__ == "__main__":
    asyncio.run(main())
