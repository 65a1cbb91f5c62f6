"""Soak bench: replyguard for minutes at a steady rate its scorer can keep up with.

Runs ``replyguard web`` and ``replyguard worker`` (the shipped model) as their own processes
against a fresh database, then:

1. measures the scoring rate: a burst of comments, posted at once; comments decided per
   second from the first POST to the last decision;
2. soaks: comments at ``--load`` (default 80%) of that rate, open loop, for ``--seconds``,
   while it samples the queue (jobs waiting and running, age of the oldest) and the
   resident memory of every process;
3. waits for the queue to drain, and reads each comment's decision time from the database.

It prints POST latency and POST-to-decision latency (p50/p95/p99/max) for the whole soak and,
side by side, for its first and last minute (the baseline: a service that holds up reads the
same at the end as at the start), queue depth over time, and each process's memory at the
start of the soak and at its end.

    python bench/soak.py [--seconds 180] [--load 0.8 | --rate 60] [--workers 1]

The database server is REPLYGUARD_BENCH_DATABASE_URL (default: the local one on 5432); a
database is made for the run and dropped after it. On a 2-core machine the load generator,
PostgreSQL, the web process and the worker share the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from fleet import SITE, Fleet, drop_database, free_port, fresh_database, rss_mib, service_env

ADMIN_URL = os.environ.get(
    "REPLYGUARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
WORDS = tuple(
    " ".join(
        (
            "the council budget vote was closer than expected and the reporting explains why",
            "residents on the east side have waited years for the bridge repairs while rents",
            "rose schools say meals cost more each term I think the tram line is worth it but",
            "not at any price thanks for a clear piece though the chart on page two confused",
            "me a little my street floods every spring and nobody answers letters about it",
        )
    ).split(" ")
)


def _comment(rng: random.Random, n: int) -> dict[str, Any]:
    words = rng.choices(WORDS, k=rng.randint(6, 70))
    return {
        "body": f"{' '.join(words).capitalize()}. ({n})",
        "author_name": f"Reader {n}",
        "article_title": "Soak",
    }


@dataclass(slots=True)
class Post:
    n: int
    sent_wall: float
    latency: float = 0.0
    status: int | None = None
    comment_id: str | None = None


async def _post(
    session: aiohttp.ClientSession, base: str, post: Post, body: dict[str, Any]
) -> None:
    started = time.perf_counter()
    url = f"{base}/v1/sites/{SITE}/articles/story-{post.n % 11}/comments"
    try:
        async with session.post(url, json=body) as response:
            post.status = response.status
            data = await response.json(content_type=None)
            if response.status == 202:
                post.comment_id = str(data["id"])
    except (aiohttp.ClientError, TimeoutError, ValueError):
        post.status = None
    post.latency = time.perf_counter() - started


async def send(
    bases: list[str], count: int, rate: float | None, rng: random.Random, first: int = 0
) -> list[Post]:
    """``count`` comments, round robin over the web processes: open loop at ``rate`` per
    second, or all at once (16 in flight) when ``rate`` is None."""
    posts: list[Post] = []
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=256 if rate else 16)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = []
        started = time.monotonic()
        for i in range(count):
            if rate:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            n = first + i
            post = Post(n=n, sent_wall=time.time())
            posts.append(post)
            body = _comment(rng, n)
            tasks.append(asyncio.create_task(_post(session, bases[i % len(bases)], post, body)))
        await asyncio.gather(*tasks)
    return posts


async def decided_at(url: str, ids: list[str]) -> dict[str, float]:
    """Comment id -> when the model's decision was made (epoch seconds), for decided ones."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT id::text AS id, EXTRACT(EPOCH FROM status_changed_at)::float8 AS at"
            " FROM comments WHERE status <> 'pending' AND id = ANY($1::uuid[])",
            ids,
        )
    finally:
        await conn.close()
    return {r["id"]: r["at"] for r in rows}


async def wait_decided(url: str, ids: list[str], within: float) -> dict[str, float]:
    deadline = time.monotonic() + within
    done: dict[str, float] = {}
    while time.monotonic() < deadline:
        done = await decided_at(url, ids)
        if len(done) == len(ids):
            break
        await asyncio.sleep(0.25)
    return done


# --- sampling -------------------------------------------------------------------------------


@dataclass
class Samples:
    queue: list[tuple[float, int, int, float]] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=dict)


async def sample(url: str, fleet: Fleet, samples: Samples, stop: asyncio.Event) -> None:
    """Every two seconds: jobs queued and running, the oldest waiting's age, and RSS."""
    conn = await asyncpg.connect(url)
    started = time.monotonic()
    try:
        while not stop.is_set():
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE state = 'queued') AS queued,"
                " count(*) FILTER (WHERE state = 'running') AS running,"
                " COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)"
                "   FILTER (WHERE state IN ('queued', 'running'))), 0)::float8 AS oldest"
                " FROM scoring_jobs"
            )
            assert row is not None
            t = time.monotonic() - started
            samples.queue.append((t, row["queued"], row["running"], row["oldest"]))
            for slot in fleet.slots:
                if slot.proc is not None and (mib := rss_mib(slot.proc.pid)) is not None:
                    samples.rss.setdefault(slot.name, []).append(mib)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
    finally:
        await conn.close()


# --- figures --------------------------------------------------------------------------------


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _row(title: str, values: list[float], scale: float = 1000.0) -> str:
    cells = [pct(values, 50), pct(values, 95), pct(values, 99), max(values, default=float("nan"))]
    return f"{title:34}" + "".join(f"{v * scale:10.0f}" for v in cells) + f"{len(values):9}"


def report(
    args: argparse.Namespace,
    scoring_rate: float,
    rate: float,
    posts: list[Post],
    decided: dict[str, float],
    samples: Samples,
    rss_start: dict[str, float],
    rss_end: dict[str, float],
) -> list[str]:
    ok = [p for p in posts if p.status == 202 and p.comment_id]
    t0 = min(p.sent_wall for p in posts)
    t1 = max(p.sent_wall for p in posts)
    e2e = [(p, decided[p.comment_id] - p.sent_wall) for p in ok if p.comment_id in decided]
    first = [d for p, d in e2e if p.sent_wall - t0 < 60]
    last = [d for p, d in e2e if t1 - p.sent_wall < 60]
    post_all = [p.latency for p in posts if p.status == 202]
    post_first = [p.latency for p in ok if p.sent_wall - t0 < 60]
    post_last = [p.latency for p in ok if t1 - p.sent_wall < 60]
    lines = [
        f"soak: {len(args.webs_ports)} web, {args.workers} worker (REPLYGUARD_MODEL=default), "
        f"{os.cpu_count()} CPUs shared with PostgreSQL and this client",
        f"scoring rate measured on a burst of {args.burst}: {scoring_rate:.0f} comments/s; "
        f"soak at {rate:.1f}/s ({rate / scoring_rate:.0%}) for {args.seconds:.0f} s",
        f"sent {len(posts)}, answered 202: {len(ok)}, other: {len(posts) - len(ok)}; "
        f"decided: {len(e2e)} of {len(ok)}",
        "",
        f"{'latency (ms)':34}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}{'count':>9}",
        _row("POST -> 202, whole soak", post_all),
        _row("  first minute", post_first),
        _row("  last minute", post_last),
        _row("POST -> decision, whole soak", [d for _, d in e2e]),
        _row("  first minute", first),
        _row("  last minute", last),
        "",
        "queue over time (every 15 s): t, jobs queued + running, oldest waiting (s)",
    ]
    series = [
        f"{t:4.0f}s {q + r:4d} {age:5.1f}"
        for i, (t, q, r, age) in enumerate(samples.queue)
        if i % 7 == 0 or i == len(samples.queue) - 1
    ]
    lines += ["  " + "   ".join(series[i : i + 5]) for i in range(0, len(series), 5)]
    depths = [q + r for _, q, r, _ in samples.queue]
    ages = [a for *_, a in samples.queue]
    lines.append(
        f"  queue depth: median {pct([float(d) for d in depths], 50):.0f}, "
        f"max {max(depths, default=0)}; oldest waiting max {max(ages, default=0):.1f} s"
    )
    lines += ["", f"{'memory, RSS (MiB)':34}{'start':>10}{'end':>10}{'change':>10}{'max':>10}"]
    for name in rss_start:
        start, end = rss_start[name], rss_end.get(name, float("nan"))
        peak = max(samples.rss.get(name, [end]))
        lines.append(f"{name:34}{start:10.1f}{end:10.1f}{end - start:+10.1f}{peak:10.1f}")
    lines.append("RSS every 30 s (MiB), to tell a plateau from a leak:")
    for name, values in samples.rss.items():
        lines.append(f"  {name:8}" + " ".join(f"{v:.0f}" for v in values[::15]))
    return lines


def _rss_now(fleet: Fleet) -> dict[str, float]:
    found = {}
    for slot in fleet.slots:
        if slot.proc is not None and (mib := rss_mib(slot.proc.pid)) is not None:
            found[slot.name] = mib
    return found


# --- main -------------------------------------------------------------------------------------


async def measure(url: str, bases: list[str], burst: int, rng: random.Random) -> float:
    """Comments decided per second for a burst posted all at once."""
    posts = await send(bases, burst, None, rng, first=10_000_000)
    ids = [p.comment_id for p in posts if p.comment_id]
    done = await wait_decided(url, ids, 600)
    if len(done) < len(ids):
        raise SystemExit(f"only {len(done)} of {len(ids)} burst comments were decided")
    return len(ids) / (max(done.values()) - min(p.sent_wall for p in posts))


async def run(args: argparse.Namespace) -> list[str]:
    rng = random.Random(args.seed)
    name = f"rg_soak_{uuid.uuid4().hex[:8]}"
    url = await fresh_database(ADMIN_URL, name, {"mode": "auto"})
    extra = {"scorer_threads": str(args.scorer_threads)} if args.scorer_threads else {}
    env = service_env(url, model="default", poll_interval="1", log_level=args.log_level, **extra)
    fleet = Fleet(env, Path(args.logs), args.webs_ports, workers=args.workers)
    fleet.start()
    stop = asyncio.Event()
    try:
        for slot in fleet.webs:
            if not await fleet.wait_web(slot, 120):
                raise SystemExit(f"{slot.name} did not start; see {args.logs}")
        bases = [slot.base for slot in fleet.webs]
        warm = await send(bases, 64, None, rng, first=20_000_000)  # loads the model, fills pools
        await wait_decided(url, [p.comment_id for p in warm if p.comment_id], 300)
        scoring_rate = await measure(url, bases, args.burst, rng)
        rate = args.rate or scoring_rate * args.load
        print(f"scoring rate {scoring_rate:.1f}/s; soaking at {rate:.1f}/s", flush=True)
        samples = Samples()
        sampler = asyncio.create_task(sample(url, fleet, samples, stop))
        rss_start = _rss_now(fleet)
        posts = await send(bases, int(args.seconds * rate), rate, rng)
        ids = [p.comment_id for p in posts if p.comment_id]
        decided = await wait_decided(url, ids, 600)
        rss_end = _rss_now(fleet)
        stop.set()
        await sampler
    finally:
        stop.set()
        await fleet.stop()
        await drop_database(ADMIN_URL, name)
    return report(args, scoring_rate, rate, posts, decided, samples, rss_start, rss_end)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="soak duration")
    parser.add_argument("--load", type=float, default=0.8, help="share of the scoring rate")
    parser.add_argument("--rate", type=float, default=None, help="comments/s (skips --load)")
    parser.add_argument("--burst", type=int, default=1500, help="comments to measure with")
    parser.add_argument("--webs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scorer-threads", type=int, default=None, help="torch's default")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-level", default="WARNING", help="the processes' log level")
    parser.add_argument("--logs", default=f"/tmp/replyguard-soak-{int(time.time())}")
    args = parser.parse_args()
    args.webs_ports = [free_port() for _ in range(args.webs)]
    lines = asyncio.run(run(args))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
