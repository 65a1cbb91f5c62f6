"""Rate limits counted in PostgreSQL: what they cost the submission statement.

Runs ``CommentStore.submit`` (the one INSERT_COMMENT statement and its commit) straight
against a fresh database, N concurrent submitters, in alternating rounds of three modes:

* no limits: the baseline (the statement with no keys to count);
* limits, many networks: each submission from its own network and author, all to one
  site, the usual shape (the site's count row is the one every submission shares);
* limits, one network: everything from one network and one site, the worst case, as two
  count rows are shared by every submission;
* no limits, through SQLAlchemy: the same statement and transaction on SQLAlchemy's
  ``AsyncConnection`` (how ``submit`` ran it before issue 14), against the first mode, where
  ``submit`` runs it on the asyncpg connection under the same pool.

    python bench/rate_limits.py [--seconds 4] [--concurrency 16] [--rounds 3]

There is no HTTP here: the figures are the database's cost, not the web server's. On a
shared machine throughput swings with the neighbours' load; the CPU used per comment (this
process and its database backends, read from /proc when the server is local) swings less.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.settings import load_settings  # noqa: E402
from service.store.comments import (  # noqa: E402
    CommentStore,
    rate_limit_params,
    submission_params,
)
from service.store.db import create_engine  # noqa: E402
from service.store.limits import Check, Limits  # noqa: E402
from service.store.queries import INSERT_COMMENT  # noqa: E402
from service.store.values import NewComment  # noqa: E402
from service.web.api.public import SITE_LIMIT_SHARDS  # noqa: E402

ADMIN_URL = os.environ.get(
    "REPLYGUARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
LIFTED = 10**9  # counted, never reached: the cost of counting, not of refusing
SQLALCHEMY = "no limits, via SQLAlchemy"
MODES = ("no limits", "limits, many networks", "limits, one network", SQLALCHEMY)


def _limits(mode: str, i: int) -> Limits | None:
    if mode in ("no limits", SQLALCHEMY):
        return None
    network = (
        "203.0.113.0/24" if mode == "limits, one network" else f"10.{i >> 8 & 255}.{i & 255}.0/24"
    )
    author = hashlib.sha256(f"{mode}{i}".encode()).hexdigest()
    return Limits.per_minute(
        [
            Check(f"net:bench:{network}", LIFTED),
            Check(f"author:{author}", LIFTED),
            Check("site:bench", LIFTED, shards=SITE_LIMIT_SHARDS),
        ]
    )


def _cpu_seconds(pids: list[int]) -> float:
    """CPU used so far by this process and the database backends serving it (when the
    server runs on this machine and /proc is readable; else this process alone)."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


async def _through_sqlalchemy(engine: AsyncEngine, new: NewComment) -> None:
    """``submit``'s statement and transaction, executed by SQLAlchemy (no limits)."""
    params = submission_params(new, "rga_bench", rate_limit_params(None), 300)
    async with engine.begin() as conn:
        row = (await conn.execute(INSERT_COMMENT, params)).one()
    assert row.fresh


async def _round(
    store: CommentStore, engine: AsyncEngine, mode: str, seconds: float, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def submitter() -> None:
        while time.perf_counter() < deadline:
            i = next(counter)
            new = NewComment(
                site_id="bench",
                article_id="story-1",
                body=f"Comment {i}",
                author_name=f"Reader {i}",
                author_key=hashlib.sha256(f"{uuid.uuid4()}".encode()).digest(),
                body_hash=hashlib.sha256(f"{i}".encode()).digest(),
            )
            started = time.perf_counter()
            if mode == SQLALCHEMY:
                await _through_sqlalchemy(engine, new)
            else:
                await store.submit(new, duplicate_window=300, limits=_limits(mode, i))
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(submitter() for _ in range(concurrency)))
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    name = f"rg_bench_rl_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
    conn = await asyncpg.connect(url)
    await conn.execute((REPO / "schema.sql").read_text())
    await conn.execute("INSERT INTO sites (id, name) VALUES ('bench', 'Bench')")
    await conn.close()
    engine = create_engine(load_settings({}, database_url=url), pool_size=args.concurrency)
    runs: dict[str, list[tuple[float, ...]]] = {m: [] for m in MODES}
    watcher = await asyncpg.connect(ADMIN_URL)
    try:
        store = CommentStore(engine)
        await _round(store, engine, "no limits", 1.0, args.concurrency)  # warm the pool
        pids = [
            r["pid"]
            for r in await watcher.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        ]
        for _ in range(args.rounds):
            for mode in MODES:
                cpu = _cpu_seconds(pids)
                lat = await _round(store, engine, mode, args.seconds, args.concurrency)
                cpu = _cpu_seconds(pids) - cpu
                q = statistics.quantiles(lat, n=100)
                runs[mode].append(
                    (len(lat) / args.seconds, q[49] * 1000, q[98] * 1000, cpu * 1000 / len(lat))
                )
    finally:
        await watcher.close()
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    print(
        f"submission statement: medians of {args.rounds} alternating rounds, "
        f"{args.seconds:.0f}s each, {args.concurrency} concurrent, {os.cpu_count()} CPUs"
    )
    print(
        f"{'':26}{'comments/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'vs none':>9}"
        f"{'CPU ms/comment':>16}{'vs none':>9}"
    )
    base = [statistics.median(r[k] for r in runs["no limits"]) for k in range(4)]
    for mode in MODES:
        rps, p50, p99, cpu = (statistics.median(r[k] for r in runs[mode]) for k in range(4))
        print(
            f"{mode:26}{rps:12.0f}{p50:10.1f}{p99:10.1f}{rps / base[0]:9.2f}"
            f"{cpu:16.2f}{cpu / base[3]:9.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
