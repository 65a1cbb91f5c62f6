"""Fault script: nothing accepted is lost, nothing is decided twice, no false 202.

Runs replyguard as an operator would, with two ``replyguard web`` processes and two
``replyguard worker`` processes (the shipped model, ``REPLYGUARD_MODEL=default``) against a
PostgreSQL cluster of its own (created with ``pg_createcluster`` if missing: never the shared
one on port 5432). While a steady stream of comments goes to both web processes, it:

* SIGKILLs a worker at random moments (``--worker-kills``, at least 20) and starts it again;
* SIGTERMs a web process (``--web-restarts``), waits for it to finish its requests in
  flight and exit, and starts it again on the same port;
* restarts PostgreSQL with ``pg_ctlcluster ... restart -m immediate`` (``--pg-restarts``) and
  takes it down for a few seconds (``--pg-outages``: ``stop -m immediate``, wait, ``start``).

A probe connects to PostgreSQL every 100 ms, so the script knows when it was down. At the
end, with the traffic stopped and the queue drained, it checks in the database that every
comment answered 202 exists and was decided exactly once (one ``comment_scores`` row for the
model version, one model decision in ``audit_log``, not pending), that no scoring job is left
queued or running, and that no request sent and answered while PostgreSQL was down got a
202. Connection errors (a web process restarting) are counted apart. Exit status 1 when
anything was lost, decided twice or not at all, stuck, or falsely accepted.

    nice python bench/faults.py [--seconds 240] [--rate 30] [--worker-kills 24] [--seed 1]

Must run as root (it creates and restarts the cluster through pg_ctlcluster). The baseline
for each figure is the guarantee itself: lost, double-decided, stuck and false 202 must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from fleet import SITE, Cluster, Fleet, Slot, drop_database, free_port, fresh_database
from fleet import service_env as make_env

DATABASE = "replyguard_faults"
MARK = re.compile(r"\[fault (\d+)\]")


@dataclass(slots=True)
class Sent:
    """One comment POST and what came of it."""

    n: int
    web: int
    sent: float
    answered: float = 0.0
    status: int | None = None
    error: str | None = None
    comment_id: str | None = None


@dataclass
class Faults:
    """What the script did to the service, and when PostgreSQL was seen down."""

    worker_kills: int = 0
    kills_mid_batch: int = 0
    web_terms: int = 0
    web_term_seconds: list[float] = field(default_factory=list)
    web_term_forced: int = 0
    pg_restarts: int = 0
    pg_outages: int = 0
    pg_seconds: list[float] = field(default_factory=list)
    probes: list[tuple[float, float, bool]] = field(default_factory=list)

    def down_windows(self) -> list[tuple[float, float]]:
        """Stretches when PostgreSQL was certainly down: from the end of the first failed
        probe of an episode to the start of its last (a restart is one down interval, so
        it covers both ends and all between)."""
        windows: list[tuple[float, float]] = []
        run: list[tuple[float, float, bool]] = []
        for probe in [*self.probes, (0.0, 0.0, True)]:
            if not probe[2]:
                run.append(probe)
                continue
            if len(run) >= 2 and run[0][1] < run[-1][0]:
                windows.append((run[0][1], run[-1][0]))
            run = []
        return windows

    def episodes(self) -> int:
        return sum(1 for a, b in pairwise(self.probes) if a[2] and not b[2])


# --- traffic ------------------------------------------------------------------------------


def _comment(n: int) -> dict[str, Any]:
    topics = ("the budget", "the bridge repairs", "school meals", "the tram line", "rents")
    return {
        "body": f"[fault {n}] A considered view on {topics[n % len(topics)]}: "
        f"thanks for the reporting, point {n * 7919 % 1000}.",
        "author_name": f"Reader {n}",
        "article_title": "Fault run",
    }


async def _post(session: aiohttp.ClientSession, slot: Slot, item: Sent) -> None:
    url = f"{slot.base}/v1/sites/{SITE}/articles/story-{item.n % 7}/comments"
    try:
        async with session.post(url, json=_comment(item.n)) as response:
            item.status = response.status
            data = await response.json(content_type=None)
            if response.status == 202:
                item.comment_id = str(data["id"])
    except aiohttp.ClientConnectorError:
        item.error = "refused"
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        item.error = "disconnected"
    except TimeoutError:
        item.error = "timeout"
    except (aiohttp.ClientError, ValueError) as error:
        item.error = f"other: {type(error).__name__}"
    item.answered = time.monotonic()


async def traffic(fleet: Fleet, seconds: float, rate: float) -> list[Sent]:
    """Open loop: comments go out on schedule, alternating web processes, whatever answers."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=30)
    sent: list[Sent] = []
    tasks = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.monotonic()
        for n in range(int(seconds * rate)):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            item = Sent(n=n, web=n % len(fleet.webs), sent=time.monotonic())
            sent.append(item)
            tasks.append(asyncio.create_task(_post(session, fleet.webs[item.web], item)))
        await asyncio.gather(*tasks)
    return sent


# --- faults -------------------------------------------------------------------------------


def _schedule(rng: random.Random, count: int, start: float, end: float) -> list[float]:
    """``count`` moments in [start, end]: one at random in each of ``count`` equal slices,
    so they are random yet spread over the whole run."""
    width = (end - start) / max(count, 1)
    return [start + i * width + rng.uniform(0.1, 0.9) * width for i in range(count)]


async def _sleep_until(t0: float, at: float) -> None:
    await asyncio.sleep(max(t0 + at - time.monotonic(), 0))


async def _until_leased(url: str, pid: int, within: float) -> bool:
    """Wait up to ``within`` seconds for the worker with this pid to hold leased jobs (a
    claimed batch it has not finished); whether it does. Killing it then is the hard case:
    its jobs stay leased to a dead process until the lease runs out."""
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            held = await conn.fetchval(
                "SELECT count(*) FROM scoring_jobs WHERE state = 'running' AND locked_by LIKE $1",
                f"%:{pid}:%",
                timeout=2,
            )
            if held:
                return True
            await asyncio.sleep(0.02)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await conn.close(timeout=1)
    return False


async def kill_workers(
    fleet: Fleet, faults: Faults, url: str, moments: list[float], t0: float, rng: random.Random
) -> None:
    """At each moment, pick a worker at random and SIGKILL it, mid-batch if it starts one
    within three seconds, else as it is."""
    for at in moments:
        await _sleep_until(t0, at)
        # Prefer a worker that has had time to load its model and claim work.
        now = time.monotonic()
        ready = [s for s in fleet.workers if s.alive and now - s.started_at > 8]
        candidates = ready or [s for s in fleet.workers if s.alive]
        if not candidates:
            continue
        slot = rng.choice(candidates)
        assert slot.proc is not None
        held = await _until_leased(url, slot.proc.pid, 3.0)
        if not slot.alive:
            continue
        fleet.kill(slot)
        faults.worker_kills += 1
        faults.kills_mid_batch += 1 if held else 0


async def restart_webs(
    fleet: Fleet, faults: Faults, moments: list[float], t0: float, within: float
) -> None:
    for i, at in enumerate(moments):
        await _sleep_until(t0, at)
        slot = fleet.webs[i % len(fleet.webs)]
        if not slot.alive:
            continue
        took = await fleet.terminate(slot, within)
        faults.web_terms += 1
        faults.web_term_seconds.append(took)
        faults.web_term_forced += 1 if slot.exits[-1][0] == "term-killed" else 0
        await fleet.wait_web(slot, 60)


async def restart_postgres(
    cluster: Cluster,
    faults: Faults,
    moments: list[tuple[float, str]],
    t0: float,
    down_for: float,
) -> None:
    for at, how in moments:
        await _sleep_until(t0, at)
        if how == "restart":
            took = await cluster.ctl("restart", "-m", "immediate")
            faults.pg_restarts += 1
        else:
            started = time.monotonic()
            await cluster.ctl("stop", "-m", "immediate")
            await asyncio.sleep(down_for)
            await cluster.ctl("start")
            took = time.monotonic() - started
            faults.pg_outages += 1
        faults.pg_seconds.append(took)


async def probe(url: str, faults: Faults, until: asyncio.Event) -> None:
    """Every 100 ms: can a new connection run a query? Each probe is (start, end, ok)."""
    while not until.is_set():
        started = time.monotonic()
        ok = True
        try:
            conn = await asyncpg.connect(url, timeout=1)
            try:
                await conn.fetchval("SELECT 1", timeout=1)
            finally:
                await conn.close(timeout=1)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            ok = False
        faults.probes.append((started, time.monotonic(), ok))
        await asyncio.sleep(0.1)


# --- checks -------------------------------------------------------------------------------

CHECK_SQL = """
SELECT c.id, c.body, c.status,
       (SELECT count(*) FROM comment_scores s WHERE s.comment_id = c.id) AS score_rows,
       (SELECT count(DISTINCT (s.model_name, s.model_version)) FROM comment_scores s
         WHERE s.comment_id = c.id) AS versions,
       (SELECT count(*) FROM audit_log a
         WHERE a.comment_id = c.id AND a.actor_kind = 'model') AS model_decisions,
       (SELECT count(*) FROM audit_log a
         WHERE a.comment_id = c.id AND a.to_status = 'pending') AS submissions,
       j.state AS job_state, j.attempts
FROM comments c LEFT JOIN scoring_jobs j ON j.comment_id = c.id
"""


async def drain(url: str, within: float) -> tuple[int, float]:
    """Wait until no job is queued or running; returns (jobs left, seconds waited)."""
    started = time.monotonic()
    left = -1
    while time.monotonic() - started < within:
        try:
            conn = await asyncpg.connect(url, timeout=2)
            try:
                left = await conn.fetchval(
                    "SELECT count(*) FROM scoring_jobs WHERE state IN ('queued', 'running')"
                )
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError, TimeoutError):
            left = -1
        if left == 0:
            break
        await asyncio.sleep(1.0)
    return left, time.monotonic() - started


@dataclass
class Verdict:
    accepted: int = 0
    lost: int = 0
    double_decided: int = 0
    undecided: int = 0
    stuck_jobs: int = 0
    failed_jobs: int = 0
    stored_without_202: int = 0
    stored: int = 0
    job_runs: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.double_decided or self.undecided or self.stuck_jobs)


def _judge_row(row: asyncpg.Record, verdict: Verdict) -> None:
    decided_twice = (
        row["score_rows"] > row["versions"]
        or row["model_decisions"] > max(row["versions"], 1)
        or row["submissions"] != 1
    )
    undecided = row["status"] == "pending" or row["model_decisions"] < 1
    if decided_twice:
        verdict.double_decided += 1
        verdict.examples.append(f"decided twice: {dict(row)}")
    if undecided:
        verdict.undecided += 1
        verdict.examples.append(f"not decided: {dict(row)}")
    if row["job_state"] in ("queued", "running", None):
        verdict.stuck_jobs += 1
        verdict.examples.append(f"job stuck: {dict(row)}")
    if row["job_state"] == "failed":
        verdict.failed_jobs += 1
    verdict.job_runs += row["attempts"] or 0


async def verify(url: str, sent: list[Sent]) -> Verdict:
    verdict = Verdict()
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(CHECK_SQL)
    finally:
        await conn.close()
    by_n: dict[int, asyncpg.Record] = {}
    for row in rows:
        mark = MARK.search(row["body"])
        if mark is not None:
            by_n[int(mark.group(1))] = row
        _judge_row(row, verdict)
    verdict.stored = len(rows)
    for item in sent:
        row = by_n.get(item.n)
        if item.status == 202:
            verdict.accepted += 1
            if row is None or str(row["id"]) != item.comment_id:
                verdict.lost += 1
                verdict.examples.append(f"lost: {asdict(item)}")
        elif row is not None:
            verdict.stored_without_202 += 1
    return verdict


# --- report -------------------------------------------------------------------------------


def _inside(item: Sent, windows: list[tuple[float, float]]) -> bool:
    return any(a <= item.sent and item.answered <= b for a, b in windows)


def report(
    args: argparse.Namespace,
    sent: list[Sent],
    faults: Faults,
    fleet: Fleet,
    verdict: Verdict,
    drained: tuple[int, float],
) -> bool:
    statuses = Counter(item.status for item in sent if item.status is not None)
    errors = Counter((item.error or "").split(":")[0] for item in sent if item.error)
    other = sum(v for k, v in statuses.items() if k not in (202, 503))
    windows = faults.down_windows()
    during = [item for item in sent if _inside(item, windows)]
    during_status = Counter(item.status for item in during if item.status is not None)
    false_202 = during_status.get(202, 0)
    restarts = {s.name: s.starts - 1 for s in fleet.slots}
    crashes = {s.name: s.unplanned_exits() for s in fleet.slots if s.unplanned_exits()}
    terms = faults.web_term_seconds
    ok = verdict.ok and false_202 == 0 and other == 0
    lines = [
        f"replyguard fault run: {args.seconds:.0f} s of comments at {args.rate:.0f}/s to "
        f"{len(fleet.webs)} web processes, {len(fleet.workers)} workers "
        f"(REPLYGUARD_MODEL=default), PostgreSQL {args.cluster} on port {args.port}",
        "",
        f"{'requests sent':44}{len(sent):8}",
        f"{'  202 accepted':44}{statuses.get(202, 0):8}",
        f"{'  503 unavailable':44}{statuses.get(503, 0):8}",
        f"{'  any other status (must be 0)':44}{other:8}  {dict(statuses)}",
        f"{'  connection errors (web restarting)':44}{sum(errors.values()):8}  {dict(errors)}",
        f"{'worker SIGKILLs':44}{faults.worker_kills:8}  "
        f"({faults.kills_mid_batch} while holding leased jobs)",
        f"{'web SIGTERMs':44}{faults.web_terms:8}  (exited in "
        f"{min(terms, default=0):.1f}-{max(terms, default=0):.1f} s; "
        f"{faults.web_term_forced} needed SIGKILL)",
        f"{'PostgreSQL restart -m immediate':44}{faults.pg_restarts:8}",
        f"{'PostgreSQL stop -m immediate, down, start':44}{faults.pg_outages:8}  "
        f"(down {args.pg_down:.0f} s each)",
        f"{'process restarts':44}{sum(restarts.values()):8}  {restarts}",
        f"{'  of them after an unplanned exit':44}{sum(len(c) for c in crashes.values()):8}  "
        f"{crashes}",
        f"{'PostgreSQL down, as the probe saw it':44}{faults.episodes():8} episodes, "
        f"{sum(b - a for a, b in windows):.1f} s certainly down",
        f"{'  requests sent and answered in that time':44}{len(during):8}  {dict(during_status)}",
        f"{'  of them 202 (false 202s, must be 0)':44}{false_202:8}",
        f"{'queue drained after the traffic':44}{drained[1]:8.1f} s",
        f"{'comments stored':44}{verdict.stored:8}  ({verdict.job_runs} job runs in all)",
        f"{'lost: 202 but not stored (must be 0)':44}{verdict.lost:8}",
        f"{'decided more than once (must be 0)':44}{verdict.double_decided:8}",
        f"{'not decided (must be 0)':44}{verdict.undecided:8}  "
        f"({verdict.failed_jobs} jobs failed past their retries)",
        f"{'jobs stuck queued or running (must be 0)':44}{verdict.stuck_jobs:8}",
        f"{'stored though not answered 202':44}{verdict.stored_without_202:8}  "
        "(the commit raced a restart: the client saw an error, the row exists)",
        "",
        f"result: {'PASS' if ok else 'FAIL'}",
    ]
    print("\n".join(lines), flush=True)
    for example in verdict.examples[:10]:
        print("  " + example)
    return ok


# --- main ---------------------------------------------------------------------------------


def _pg_moments(args: argparse.Namespace, rng: random.Random) -> list[tuple[float, str]]:
    kinds = ["restart"] * args.pg_restarts + ["outage"] * args.pg_outages
    rng.shuffle(kinds)
    at = _schedule(rng, len(kinds), 10, args.seconds - 15)
    return list(zip(at, kinds, strict=True))


async def run(args: argparse.Namespace, cluster: Cluster) -> bool:
    rng = random.Random(args.seed)
    url = await fresh_database(cluster.admin_url, DATABASE, {"mode": "auto"})
    run_dir = Path(args.logs)
    env = make_env(
        url,
        model="default",
        scorer_threads="1",
        job_lease=str(args.lease),
        poll_interval="1",
        shutdown_timeout="10",
        retry_initial="0.5",
        retry_multiplier="2",
        retry_max="5",
        db_pool_size="5",
    )
    fleet = Fleet(env, run_dir, [free_port() for _ in range(2)], workers=2)
    faults = Faults()
    stop_probe = asyncio.Event()
    fleet.start()
    try:
        for slot in fleet.webs:
            if not await fleet.wait_web(slot, 120):
                raise SystemExit(f"{slot.name} did not start; see {run_dir}")
        await asyncio.sleep(args.warmup)  # the workers load the model
        prober = asyncio.create_task(probe(url, faults, stop_probe))
        t0 = time.monotonic()
        kills = _schedule(rng, args.worker_kills, 3, args.seconds - 5)
        chaos = [
            kill_workers(fleet, faults, url, kills, t0, rng),
            restart_webs(
                fleet, faults, _schedule(rng, args.web_restarts, 5, args.seconds - 10), t0, 20
            ),
            restart_postgres(cluster, faults, _pg_moments(args, rng), t0, args.pg_down),
        ]
        load = asyncio.create_task(traffic(fleet, args.seconds, args.rate))
        await asyncio.gather(load, *chaos)
        sent = load.result()
        drained = await drain(url, args.drain)
        stop_probe.set()
        await prober
        verdict = await verify(url, sent)
    finally:
        stop_probe.set()
        await fleet.stop()
    ok = report(args, sent, faults, fleet, verdict, drained)
    summary = {
        "faults": asdict(faults) | {"probes": len(faults.probes)},
        "verdict": asdict(verdict),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if ok and not args.keep:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await drop_database(cluster.admin_url, DATABASE)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=240.0, help="traffic duration")
    parser.add_argument("--rate", type=float, default=30.0, help="comments per second")
    parser.add_argument("--worker-kills", type=int, default=24)
    parser.add_argument("--web-restarts", type=int, default=6)
    parser.add_argument("--pg-restarts", type=int, default=4, help="restart -m immediate")
    parser.add_argument("--pg-outages", type=int, default=2, help="stop, wait, start")
    parser.add_argument("--pg-down", type=float, default=5.0, help="seconds of each outage")
    parser.add_argument("--lease", type=float, default=10.0, help="REPLYGUARD_JOB_LEASE")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before traffic")
    parser.add_argument("--drain", type=float, default=300.0, help="most seconds to drain")
    parser.add_argument("--cluster", default="faults", help="pg_ctlcluster name (not main)")
    parser.add_argument("--port", type=int, default=5433)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--logs", default=f"/tmp/replyguard-faults-{int(time.time())}")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    cluster = Cluster.ensure(args.cluster, args.port)
    print(f"logs: {args.logs}", flush=True)
    return 0 if asyncio.run(run(args, cluster)) else 1


if __name__ == "__main__":
    sys.exit(main())
