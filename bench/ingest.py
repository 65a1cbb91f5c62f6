"""Ingest benchmark: replyguard's comment POST against a bare aiohttp+asyncpg insert.

Both servers run as their own processes against the same PostgreSQL (a fresh database made
for the run), each with 1 process and with N (``--processes``, default one per core, sharing
the port with SO_REUSEPORT as ``replyguard serve`` runs them); this process is the load
generator. Two phases for each server:

* throughput: C concurrent clients post as fast as they can for D seconds;
* fixed rate: R requests per second, open loop, for D seconds; p50/p99 latency.

    python bench/ingest.py [--seconds 10] [--concurrency 32] [--rate 300] [--rounds 3]
                           [--processes N] [--prefill 50000]

Rounds alternate between the servers, each phase after a CHECKPOINT. After the rounds on
the fresh table, ``--prefill`` comments are written to the site with one INSERT (no ANALYZE,
as on a server with autovacuum off) and one more round runs on the full table. Besides
requests per second it prints the web processes' CPU per answered request, which a shared
machine disturbs less, and what it ran on: the CPU model, the server's autovacuum setting
and the comments already in the table.

The bare endpoint validates nothing and writes one row; replyguard validates the input,
checks the site, and writes the article, comment, scoring job and audit row in one
transaction. On a 2-core machine the client shares the CPU with the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
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
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
            reuse_port=True)
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
    answered = len(latencies) - failures
    return {
        "rps": answered / elapsed,
        "answered": answered,
        "failures": failures,
        **_percentiles(latencies),
    }


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
    answered = len(latencies) - failures
    return {
        "rps": answered / elapsed,
        "answered": answered,
        "failures": failures,
        **_percentiles(latencies),
    }


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


async def _scalar(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


# Comments of the bench site as a busy site has them: many articles, every status, a few
# thousand authors; each with its scoring job done. No ANALYZE: the plans must not need it.
PREFILL = """
INSERT INTO articles (site_id, id) SELECT 'bench', 'old-' || i FROM generate_series(1, 500) i
ON CONFLICT DO NOTHING;
WITH c AS (
    INSERT INTO comments (site_id, article_id, body, author_name, author_token_hash,
                          author_key, body_hash, status, max_score, created_at)
    SELECT 'bench', 'old-' || (i % 500 + 1), 'An older comment, number ' || i, 'Reader',
           '\\x00', sha256(int4send(i % 5000)), sha256(int4send(i)),
           (ARRAY['approved', 'approved', 'held', 'rejected'])[i % 4 + 1], (i % 100) / 100.0,
           now() - make_interval(secs => i)
    FROM generate_series(1, $1) i
    RETURNING id
)
INSERT INTO scoring_jobs (comment_id, state, finished_at) SELECT id, 'done', now() FROM c
"""


async def _prefill(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(PREFILL.replace("$1", str(int(count))))
    finally:
        await conn.close()


def cpu_model() -> str:
    """The CPU's name, as lscpu or /proc/cpuinfo gives it."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    label: str
    base: str
    procs: list[subprocess.Popen[bytes]]
    rounds: list[dict[str, dict[str, float]]] = field(default_factory=list)
    full: list[dict[str, dict[str, float]]] = field(default_factory=list)

    async def measure(self, args: argparse.Namespace) -> dict[str, dict[str, float]]:
        pids = [p.pid for p in self.procs]
        result = {}
        for phase in ("throughput", "fixed"):
            cpu = _cpu_seconds(pids)
            if phase == "throughput":
                figures = await throughput(self.base, args.seconds, args.concurrency)
            else:
                figures = await fixed_rate(self.base, args.seconds, args.rate)
            used = _cpu_seconds(pids) - cpu
            figures["cpu_ms"] = used * 1000 / max(figures["answered"], 1)
            result[phase] = figures
        return result


def _start_servers(url: str, env: dict[str, str], processes: int) -> list[Server]:
    servers = []
    for n in sorted({1, processes}):
        bare_port, ours_port = _free_port(), _free_port()
        bare = [
            _start([sys.executable, "-c", BARE_SERVER, str(bare_port), url], env) for _ in range(n)
        ]
        ours_cmd = [sys.executable, "-m", "service", "web", "--port", str(ours_port)]
        ours_cmd += ["--ops-port", "0", "--reuse-port"]
        ours = [_start(ours_cmd, env) for _ in range(n)]
        servers.append(Server(f"bare x{n}", f"http://127.0.0.1:{bare_port}", bare))
        servers.append(Server(f"replyguard x{n}", f"http://127.0.0.1:{ours_port}", ours))
    return servers


async def _round(
    servers: list[Server], url: str, args: argparse.Namespace, full: bool
) -> list[int]:
    """One phase pair per server, each after a CHECKPOINT; the comments each started with."""
    counts = []
    for server in servers:
        await _checkpoint(url)
        counts.append(int(await _scalar(url, "SELECT count(*) FROM comments")))
        figures = await server.measure(args)
        (server.full if full else server.rounds).append(figures)
    return counts


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--prefill", type=int, default=50_000, help="0: no round on a full table")
    args = parser.parse_args()

    name = f"rg_bench_{uuid.uuid4().hex[:8]}"
    url = await _prepare(name)
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
    servers = _start_servers(url, env, args.processes)
    autovacuum = await _scalar(url, "SHOW autovacuum")
    load = os.getloadavg()[0]
    counts: list[list[int]] = []
    try:
        for server in servers:
            await _wait_up(server.base)
        for server in servers:
            await throughput(server.base, 2.0, args.concurrency)  # warm up pools and caches
        # Rounds alternate between the servers, each after a CHECKPOINT, so none pays for
        # another's writes (a checkpoint landing in one phase only).
        for _ in range(args.rounds):
            counts.append(await _round(servers, url, args, full=False))
        if args.prefill:
            await _prefill(url, args.prefill)
            counts.append(await _round(servers, url, args, full=True))
    finally:
        for server in servers:
            for proc in server.procs:
                proc.send_signal(signal.SIGTERM)
        for server in servers:
            for proc in server.procs:
                proc.wait(timeout=30)
        await _drop(name)

    print(
        f"ingest benchmark: {cpu_model()}, {os.cpu_count()} CPUs shared with the client "
        f"(load {load:.1f} at the start); PostgreSQL autovacuum = {autovacuum}"
    )
    print(
        f"{args.seconds:.0f}s per phase, {args.concurrency} concurrent clients, fixed rate "
        f"{args.rate:.0f}/s; comments in the table at the start of each server's phases, "
        f"round by round: {counts}"
    )
    _report(f"medians of {args.rounds} alternating rounds", servers, "rounds", args)
    if args.prefill:
        _report(f"one round after {args.prefill:,} more comments", servers, "full", args)


def _report(title: str, servers: list[Server], which: str, args: argparse.Namespace) -> None:
    results = {s.label: _median(getattr(s, which)) for s in servers}
    print(f"\n{title}")
    # Every request of every round counts here, not the medians' (a median of 0.5 failures
    # printed as "0 requests were not answered").
    failed = sum(int(r[p]["failures"]) for s in servers for r in getattr(s, which) for p in r)
    if failed:
        print(f"WARNING: {failed} requests were not answered 202; the figures are not valid")
    rows = [
        ("throughput (comments/s)", "throughput", "rps"),
        ("  p50 latency (ms)", "throughput", "p50_ms"),
        ("  p99 latency (ms)", "throughput", "p99_ms"),
        ("  web CPU per comment (ms)", "throughput", "cpu_ms"),
        ("  failures", "throughput", "failures"),
        (f"at {args.rate:.0f}/s: achieved (/s)", "fixed", "rps"),
        ("  p50 latency (ms)", "fixed", "p50_ms"),
        ("  p99 latency (ms)", "fixed", "p99_ms"),
        ("  failures", "fixed", "failures"),
    ]
    pairs = [(s.label, t.label) for s, t in zip(servers[::2], servers[1::2], strict=True)]
    header = "".join(f"{b:>12}{o:>16}{'ratio':>7}" for b, o in pairs)
    print(f"{'':30}{header}")
    for title_, phase, key in rows:
        line = f"{title_:30}"
        for b_label, o_label in pairs:
            b, o = results[b_label][phase][key], results[o_label][phase][key]
            ratio = f"{o / b:7.2f}" if b else f"{'-':>7}"
            line += f"{b:12.1f}{o:16.1f}{ratio}"
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
