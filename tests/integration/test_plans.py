"""Plans that stay bounded: the statements of a POST, the scoring queue, the thread and the
moderators' queue read as many rows with 50,000 comments as with none, whatever plan a
pooled connection cached.

PostgreSQL switches a prepared statement to a generic plan after five executions and keeps
it on that connection. Built while the tables were nearly empty, with no statistics (the
tests' server, like many, runs with autovacuum off), it is reused when they hold millions.
Each statement here is prepared on a near-empty database and its generic plan cached; then
50,000 comments of one site (and their 50,000 jobs, all queued: a backlog) are written with
no ANALYZE, and the rows the statement examines are read from EXPLAIN ANALYZE, both with
that stale plan and with a generic plan built on the full tables. They must not grow with
the table: each may examine at most a few rows (a page, a batch) more than on the empty one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from sqlalchemy import TextClause
from sqlalchemy.ext.asyncio import create_async_engine

from service.store import queries as q

PARENT = uuid.UUID("00000000-0000-4000-8000-000000000001")
AUTHOR = bytes(32)  # the busy author: every tenth comment of the filled site is theirs
PAGE = 50
# The service's own dialect (asyncpg), for the statements as it sends them: $1, $2...
DIALECT = create_async_engine("postgresql+asyncpg://").dialect
BATCH = 16

SEED = f"""
ALTER TABLE comments SET (autovacuum_enabled = false);
ALTER TABLE scoring_jobs SET (autovacuum_enabled = false);
INSERT INTO sites (id, name, allowed_origins, policy) VALUES ('big', 'Big', '{{}}', '{{}}');
INSERT INTO articles (site_id, id) VALUES ('big', 'a1');
INSERT INTO comments (id, site_id, article_id, body, author_name, author_token_hash, status)
VALUES ('{PARENT}', 'big', 'a1', 'the parent', 'P', '\\x00', 'pending');
INSERT INTO scoring_jobs (comment_id) VALUES ('{PARENT}');
"""

# 50,000 comments of one site over 100 articles, in every status, oldest last; a tenth by
# AUTHOR; each with a queued scoring job. No ANALYZE.
FILL = """
INSERT INTO articles (site_id, id) SELECT 'big', 'a' || i FROM generate_series(2, 100) i;
INSERT INTO comments (site_id, article_id, body, author_name, author_token_hash, author_key,
                      body_hash, status, max_score, created_at)
SELECT 'big', 'a' || (i % 100 + 1), 'comment ' || i, 'N', '\\x00',
       CASE WHEN i % 10 = 0 THEN decode(repeat('00', 32), 'hex')
            ELSE sha256(int4send(i % 5000)) END,
       sha256(int4send(i)), (ARRAY['pending', 'approved', 'held', 'rejected'])[i % 4 + 1],
       (i % 100) / 100.0, now() - make_interval(secs => i)
FROM generate_series(1, 50000) i;
INSERT INTO scoring_jobs (comment_id, run_after)
SELECT id, created_at FROM comments WHERE id <> '00000000-0000-4000-8000-000000000001';
"""

RATE_LIMITS = {
    "rl_keys": ["net:big:127.0.0.0/24", "author:x", "site:big"],
    "rl_caps": [1000, 1000, 1000],
    "rl_shards": [1, 1, 8],
    "rl_window": 60,
    "rl_bucket": 10,
}


def _post(**changes: Any) -> dict[str, Any]:
    return {
        **RATE_LIMITS,
        "site_id": "big",
        "article_id": "a1",
        "article_url": None,
        "article_title": None,
        "parent_id": None,
        "body": "hello",
        "author_name": "A",
        "author_email": None,
        "token_hash": b"t",
        "author_key": AUTHOR,
        "body_hash": b"not posted before",
        "author_verified": False,
        "duplicate_window": 600.0,
        **changes,
    }


def _queue(**changes: Any) -> dict[str, Any]:
    return {
        "status": "held",
        "sites": ["big"],
        "article_id": None,
        "label": None,
        "label_fired": "[]",
        "label_rejected": "[]",
        "after_ts": None,
        "after_id": None,
        "after_key": None,
        "limit": PAGE + 1,
        **changes,
    }


@dataclass(frozen=True)
class Case:
    """A statement as a request or the worker runs it, and how many more rows it may
    examine on the full tables than on the empty ones (a page, a batch, or a handful)."""

    statement: TextClause
    params: Mapping[str, Any]
    allowance: int = 5
    #: The worker runs it after q.FRESH_PLANS, in the same transaction.
    fresh_plans: bool = False


CASES: dict[str, Case] = {
    "post": Case(q.INSERT_COMMENT, _post()),
    "post a reply": Case(q.INSERT_COMMENT, _post(parent_id=PARENT)),
    "post again": Case(q.INSERT_COMMENT, _post(body_hash=b"\x00" * 32)),
    "claim": Case(
        q.CLAIM_JOBS, {"worker_id": "w", "limit": BATCH, "lease_seconds": 60.0}, 3 * BATCH
    ),
    "job context": Case(q.JOB_CONTEXT, {"comment_ids": [PARENT]}, fresh_plans=True),
    "decide": Case(
        q.APPLY_MODEL_DECISION,
        {
            "comment_id": PARENT,
            "status": "approved",
            "reason": "below",
            "scores": "{}",
            "max_score": 0.1,
            "explanation": "{}",
        },
    ),
    "hold": Case(q.HOLD_PENDING, {"comment_id": PARENT, "reason": "failed"}),
    "finish": Case(q.FINISH_JOBS, {"comment_ids": [PARENT]}, fresh_plans=True),
    "release": Case(q.RELEASE_JOBS, {"comment_ids": [PARENT], "worker_id": "w"}, fresh_plans=True),
    "thread page": Case(
        q.THREAD_PAGE,
        {
            "site_id": "big",
            "article_id": "a1",
            "after_ts": None,
            "after_id": None,
            "limit": PAGE + 1,
            "max_depth": 8,
        },
        3 * PAGE,
    ),
    "queue page, oldest": Case(q.QUEUE_PAGE_OLDEST, _queue(), 3 * PAGE),
    "queue page, highest score": Case(q.QUEUE_PAGE_SCORE, _queue(), 3 * PAGE),
    "queue page, every site": Case(q.QUEUE_PAGE_OLDEST, _queue(sites=None), 3 * PAGE),
}


@dataclass
class Examined:
    rows: int = 0
    buffers: int = 0
    scans: list[str] = field(default_factory=list)


def _scans(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    if node.get("Relation Name") and node["Node Type"] != "ModifyTable":
        yield node
    for child in node.get("Plans", []):
        yield from _scans(child)


class GenericPlans:
    """Statements prepared on one connection that always uses generic plans."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._names: dict[int, str] = {}

    async def examine(self, case: Case) -> Examined:
        """Run ``case`` under EXPLAIN ANALYZE (rolled back): the rows its scans read."""
        compiled = case.statement.compile(dialect=DIALECT)
        name = self._names.get(id(case.statement))
        if name is None:
            name = self._names[id(case.statement)] = f"s{len(self._names)}"
            await self._conn.execute("SET plan_cache_mode = force_generic_plan")
            await self._conn.execute(f"PREPARE {name} AS {compiled}")
        types = await self._conn.fetchval(
            "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = $1", name
        )
        # EXECUTE takes no bind parameters: each value goes in as a quoted literal.
        args = [
            f"{await self._conn.fetchval(f'SELECT quote_nullable($1::{t})', case.params[p])}::{t}"
            for p, t in zip(compiled.positiontup or [], types, strict=True)
        ]
        call = f"EXECUTE {name}" + (f"({', '.join(args)})" if args else "")
        # Rolled back: a POST or a claim under EXPLAIN ANALYZE really writes.
        transaction = self._conn.transaction()
        await transaction.start()
        try:
            if case.fresh_plans:
                await self._conn.execute(str(q.FRESH_PLANS))
            explained = await self._conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {call}")
        finally:
            await transaction.rollback()
        return _count(json.loads(explained)[0]["Plan"])


def _count(plan: Mapping[str, Any]) -> Examined:
    seen = Examined()
    for scan in _scans(plan):
        rows = (
            scan.get("Actual Rows", 0) * scan.get("Actual Loops", 1)
            + scan.get("Rows Removed by Filter", 0)
            + scan.get("Rows Removed by Index Recheck", 0)
        )
        seen.rows += rows
        seen.buffers += scan.get("Shared Hit Blocks", 0) + scan.get("Shared Read Blocks", 0)
        seen.scans.append(
            f"{scan['Node Type']} {scan.get('Index Name') or scan['Relation Name']}: {rows}"
        )
    return seen


@pytest.fixture
async def conns(database_url: str) -> Any:
    opened = [await asyncpg.connect(database_url) for _ in range(3)]
    yield opened
    for conn in opened:
        await conn.close()


async def test_plans__rows_examined_do_not_grow_with_the_table(conns: list[Any]) -> None:
    admin, early, late = conns
    await admin.execute(SEED)
    stale = GenericPlans(early)
    empty = {name: await stale.examine(case) for name, case in CASES.items()}

    await admin.execute(FILL)
    assert await admin.fetchval("SELECT count(*) FROM comments") == 50_001
    assert (
        await admin.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'comments'") == -1
    ), "the table must not have been analyzed"

    fresh = GenericPlans(late)
    grown = []
    for name, case in CASES.items():
        for which, plans in (("plan cached when empty", stale), ("plan made when full", fresh)):
            full = await plans.examine(case)
            if full.rows > empty[name].rows + case.allowance:
                grown.append(
                    f"{name} ({which}): {empty[name].rows} rows -> {full.rows}: {full.scans}"
                )
    assert not grown, "\n".join(grown)
