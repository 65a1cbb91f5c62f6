"""Migrations: they add up to schema.sql, run once under a lock from many processes at once,
upgrade a previous release's database without losing a row, and a database newer than the
code stops every command with a message saying what to do."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from service.errors import SchemaTooNewError
from service.store.schema import (
    MIGRATIONS_DIR,
    SCHEMA_PATH,
    Migration,
    load_migrations,
    migrate,
    plan,
)
from tests.ports import free_port

REPO = Path(__file__).parents[2]
MakeDatabase = Callable[[], Awaitable[str]]

# One query per kind of schema object; each row is a line of text, so a difference reads as
# a diff. Columns keep their order (SELECT * depends on it) but not their attnum, which a
# dropped column leaves a gap in.
CATALOG: dict[str, str] = {
    "relations": """
        SELECT c.relname || ' ' || c.relkind::text FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    """,
    "columns": """
        SELECT c.relname || ' #' || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)
            || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
            || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
            || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
            || CASE a.attidentity WHEN 'a' THEN ' IDENTITY ALWAYS'
                                  WHEN 'd' THEN ' IDENTITY BY DEFAULT' ELSE '' END
            || CASE WHEN a.attgenerated = 's' THEN ' GENERATED' ELSE '' END
            || CASE WHEN a.attcollation <> t.typcollation
                    THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraints": """
        SELECT cl.relname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
            || CASE WHEN co.condeferrable THEN ' DEFERRABLE' ELSE '' END
        FROM pg_constraint co
        JOIN pg_class cl ON cl.oid = co.conrelid
        JOIN pg_namespace n ON n.oid = co.connamespace
        WHERE n.nspname = current_schema()
    """,
    "indexes": """
        SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema()
    """,
    "functions": """
        SELECT pg_get_functiondef(p.oid) FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema()
    """,
    "triggers": """
        SELECT pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'D' THEN ' DISABLED' ELSE '' END
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND NOT t.tgisinternal
    """,
    "sequences": """
        SELECT sequencename || ' ' || data_type::text || ' ' || start_value || ' '
            || increment_by || ' ' || min_value || ' ' || max_value || ' ' || cycle
        FROM pg_sequences WHERE schemaname = current_schema()
    """,
    "types": """
        SELECT t.typname || ' ' || t.typtype::text
            || coalesce(' ' || format_type(nullif(t.typbasetype, 0), t.typtypmod), '')
            || coalesce(' ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                FROM pg_enum e WHERE e.enumtypid = t.oid), '')
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'r', 'm')
    """,
    "views": """
        SELECT c.relname || ' ' || pg_get_viewdef(c.oid) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm')
    """,
    "policies": """
        SELECT tablename || ' ' || policyname || ' ' || cmd || ' ' || coalesce(qual, '')
            || ' ' || coalesce(with_check, '')
        FROM pg_policies WHERE schemaname = current_schema()
    """,
    "extensions": "SELECT extname FROM pg_extension",
}


async def _catalog(url: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(url)
    try:
        return {
            kind: sorted(row[0] for row in await conn.fetch(query))
            for kind, query in CATALOG.items()
        }
    finally:
        await conn.close()


async def _differences(migrated_url: str, snapshot_url: str) -> list[str]:
    """What the two databases' schemas do not share, one line per object."""
    migrated, snapshot = await _catalog(migrated_url), await _catalog(snapshot_url)
    lines = []
    for kind in CATALOG:
        lines += [
            f"{kind}, only from the migrations: {x}"
            for x in migrated[kind]
            if x not in snapshot[kind]
        ]
        lines += [
            f"{kind}, only in schema.sql: {x}" for x in snapshot[kind] if x not in migrated[kind]
        ]
    return lines


async def _sql(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        if args or sql.lstrip().upper().startswith("SELECT"):
            return await conn.fetch(sql, *args)
        return await conn.execute(sql)
    finally:
        await conn.close()


async def _schema_sql_database(make_database: MakeDatabase) -> str:
    url = await make_database()
    await _sql(url, SCHEMA_PATH.read_text(encoding="utf-8"))
    return url


async def _previous_release_database(make_database: MakeDatabase) -> str:
    """What the release before migrations left: its schema.sql (0001, byte for byte) run
    and its checksum recorded, as its service.store.db.apply_schema did at every start."""
    url = await make_database()
    script = (MIGRATIONS_DIR / "0001_initial.sql").read_text(encoding="utf-8")
    checksum = hashlib.sha256(script.encode("utf-8")).hexdigest()
    await _sql(url, script)
    await _sql(url, "UPDATE replyguard_schema SET checksum = $1", checksum)
    return url


# Comments in every state with a reply, their scores, decisions and audit, a report, the
# outbox and webhooks with deliveries in several states, tokens and a user: a live site.
PREVIOUS_RELEASE_DATA = """
INSERT INTO sites (id, name, allowed_origins, policy, policy_version)
VALUES ('daily', 'The Daily', '{https://daily.example}', '{"mode": "auto"}', 3);
INSERT INTO articles (site_id, id, url, title, policy_override, override_version)
VALUES ('daily', 'budget', 'https://daily.example/budget', 'Budget', '{"mode": "pre"}', 1);
INSERT INTO comments (id, site_id, article_id, parent_id, body, author_name, author_email,
                      author_token_hash, author_key, body_hash, status, scores, max_score,
                      explanation, status_reason, report_count)
VALUES
  ('00000000-0000-0000-0000-000000000001', 'daily', 'budget', NULL, 'Clear explainer.',
   'Ann', 'ann@example.org', '\\x01', '\\x0a', '\\x0b', 'approved', '{"toxicity": 0.01}',
   0.01, '{"rule": "below thresholds"}', 'model', 1),
  ('00000000-0000-0000-0000-000000000002', 'daily', 'budget',
   '00000000-0000-0000-0000-000000000001', 'You are an idiot.', 'Bob', NULL, '\\x02',
   '\\x0c', '\\x0d', 'held', '{"toxicity": 0.8}', 0.8, '{"rule": "hold_at"}', 'model', 0),
  ('00000000-0000-0000-0000-000000000003', 'daily', 'budget', NULL, 'Buy followers now',
   'Spam', NULL, '\\x03', NULL, NULL, 'rejected', NULL, NULL, '{"rule": "blocked term"}',
   'moderator', 0),
  ('00000000-0000-0000-0000-000000000004', 'daily', 'budget', NULL, 'Just posted.',
   'Cy', NULL, '\\x04', NULL, NULL, 'pending', NULL, NULL, NULL, NULL, 0);
INSERT INTO scoring_jobs (comment_id, state, attempts, finished_at) VALUES
  ('00000000-0000-0000-0000-000000000001', 'done', 1, now()),
  ('00000000-0000-0000-0000-000000000002', 'done', 1, now()),
  ('00000000-0000-0000-0000-000000000004', 'queued', 0, NULL);
INSERT INTO comment_scores (comment_id, model_name, model_version, scores) VALUES
  ('00000000-0000-0000-0000-000000000001', 'original', '0.5.4', '{"toxicity": 0.01}'),
  ('00000000-0000-0000-0000-000000000002', 'original', '0.5.4', '{"toxicity": 0.8}');
INSERT INTO audit_log (comment_id, site_id, from_status, to_status, actor_kind, actor,
                       reason, explanation) VALUES
  ('00000000-0000-0000-0000-000000000001', 'daily', 'pending', 'approved', 'model',
   'original@0.5.4', NULL, '{"rule": "below thresholds"}'),
  ('00000000-0000-0000-0000-000000000002', 'daily', 'pending', 'held', 'model',
   'original@0.5.4', NULL, '{"rule": "hold_at"}'),
  ('00000000-0000-0000-0000-000000000003', 'daily', 'held', 'rejected', 'moderator',
   'token:1', 'spam', NULL);
INSERT INTO comment_reports (comment_id, reader_key, reason)
VALUES ('00000000-0000-0000-0000-000000000001', '\\x99', 'rude');
INSERT INTO outbox (id, event_type, site_id, comment_id, payload, fanned_out_at) VALUES
  ('00000000-0000-0000-0000-0000000000a1', 'comment.held', 'daily',
   '00000000-0000-0000-0000-000000000002', '{"comment": {"id": "2"}}', now()),
  ('00000000-0000-0000-0000-0000000000a2', 'comment.rejected', 'daily',
   '00000000-0000-0000-0000-000000000003', '{"comment": {"id": "3"}}', NULL);
INSERT INTO api_tokens (token_hash, role, sites, label) VALUES
  ('\\xaa', 'admin', NULL, 'ops'), ('\\xbb', 'moderator', '{daily}', 'Mo');
INSERT INTO users (name, password_hash, role, sites)
VALUES ('mo', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 'moderator', '{daily}');
INSERT INTO webhook_endpoints (id, url, site_id, events, secret, created_by) VALUES
  ('00000000-0000-0000-0000-0000000000e1', 'https://staff.example/hook', 'daily',
   '{comment.held,comment.rejected}', 'whsec_c2VjcmV0', 'token:1');
INSERT INTO webhook_messages (id, event_type, site_id, body) VALUES
  ('00000000-0000-0000-0000-0000000000a1', 'comment.held', 'daily', '{"type": "held"}');
INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, state, attempts,
                                last_status_code, delivered_at) VALUES
  ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000a1',
   'comment.held', 'delivered', 2, 204, now());
"""


async def _all_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as JSON objects in a stable order."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        found: dict[str, list[dict[str, Any]]] = {}
        for (table,) in tables:
            rows = await conn.fetch(f'SELECT to_jsonb(t)::text FROM "{table}" AS t')
            found[table] = sorted((json.loads(r[0]) for r in rows), key=json.dumps)
        return found
    finally:
        await conn.close()


async def test_migrations__applied_to_an_empty_database_give_exactly_schema_sql(
    make_database: MakeDatabase,
) -> None:
    migrated = await make_database()
    applied = await migrate(migrated)
    assert [m.label for m in applied] == [m.label for m in load_migrations()]
    snapshot = await _schema_sql_database(make_database)
    assert await _differences(migrated, snapshot) == []


async def test_schema_sql__records_every_migration_so_nothing_is_pending(
    make_database: MakeDatabase,
) -> None:
    snapshot = await _schema_sql_database(make_database)
    rows = await _sql(snapshot, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [
        (m.version, m.name) for m in load_migrations()
    ]
    assert (await plan(snapshot)).pending == ()
    assert await migrate(snapshot) == []


async def test_migrate__upgrades_a_previous_release_database_losing_nothing(
    make_database: MakeDatabase,
) -> None:
    old = await _previous_release_database(make_database)
    await _sql(old, PREVIOUS_RELEASE_DATA)
    before = await _all_rows(old)

    await migrate(old)

    after = await _all_rows(old)
    assert len(before["comments"]) == 4 and len(before["webhook_deliveries"]) == 1
    for table, rows in before.items():
        if not rows:
            continue
        # Later migrations may add columns; every value that was there must still be.
        kept = sorted(
            ({column: row.get(column, "<dropped>") for column in rows[0]} for row in after[table]),
            key=json.dumps,
        )
        assert kept == rows, f"{table} changed in the upgrade"
    recorded = sorted(r["version"] for r in after["schema_migrations"])
    assert recorded == [m.version for m in load_migrations()]
    # An upgraded database ends exactly where a new one starts.
    snapshot = await _schema_sql_database(make_database)
    assert await _differences(old, snapshot) == []


async def test_migrate__records_a_previous_release_database_at_0001_without_its_ddl(
    make_database: MakeDatabase,
) -> None:
    old = await _previous_release_database(make_database)
    # Gone while its checksum says current: if 0001's DDL ran again, it would come back.
    await _sql(old, "DROP INDEX comments_parent_idx")
    assert (await plan(old)).baseline == load_migrations()[0]

    await migrate(old)

    assert not (await _sql(old, "SELECT to_regclass('comments_parent_idx') IS NOT NULL"))[0][0]
    row = (await _sql(old, "SELECT name, checksum FROM schema_migrations WHERE version = 1"))[0]
    assert (row["name"], row["checksum"]) == ("initial", load_migrations()[0].checksum)


async def test_migrate__runs_0001_on_a_database_of_an_older_release(
    make_database: MakeDatabase,
) -> None:
    old = await _previous_release_database(make_database)
    await _sql(old, "UPDATE replyguard_schema SET checksum = 'an older schema.sql'")
    await _sql(old, "DROP INDEX comments_parent_idx")
    assert (await plan(old)).baseline is None

    await migrate(old)

    assert (await _sql(old, "SELECT to_regclass('comments_parent_idx') IS NOT NULL"))[0][0]
    assert (await plan(old)).pending == ()


async def test_migrate__concurrent_migrators_apply_each_migration_once(
    make_database: MakeDatabase,
) -> None:
    url = await make_database()
    # Neither file can run twice (CREATE TABLE without IF NOT EXISTS); the sleep makes the
    # starts overlap.
    migrations = (
        Migration(1, "first", "SELECT pg_sleep(0.3); CREATE TABLE first_table (n int);"),
        Migration(2, "second", "CREATE TABLE second_table (n int);"),
    )
    results = await asyncio.gather(*(migrate(url, migrations) for _ in range(3)))
    assert sorted(len(applied) for applied in results) == [0, 0, 2]
    rows = await _sql(url, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == [1, 2]


async def test_migrate__each_migration_is_its_own_transaction(
    make_database: MakeDatabase,
) -> None:
    url = await make_database()
    migrations = (
        Migration(1, "good", "CREATE TABLE good (n int);"),
        Migration(2, "bad", "CREATE TABLE half (n int); SELECT no_such_function();"),
    )
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await migrate(url, migrations)
    rows = await _sql(url, "SELECT version FROM schema_migrations")
    assert [r["version"] for r in rows] == [1]
    assert not (await _sql(url, "SELECT to_regclass('half') IS NOT NULL"))[0][0]
    assert (await plan(url, migrations)).pending == migrations[1:]


async def test_migrate__refuses_a_database_a_newer_release_migrated(database_url: str) -> None:
    await _sql(database_url, "INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    newest = load_migrations()[-1].label
    with pytest.raises(SchemaTooNewError, match=rf"version 999.*{newest}.*backup"):
        await migrate(database_url)
    with pytest.raises(SchemaTooNewError):
        await plan(database_url)


async def test_migrate__warns_of_a_migration_edited_after_it_ran(
    make_database: MakeDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    url = await make_database()
    await migrate(url, (Migration(1, "first", "CREATE TABLE first_table (n int);"),))
    edited = (Migration(1, "first", "CREATE TABLE first_table (n bigint);"),)
    with caplog.at_level(logging.WARNING, logger="service.store.schema"):
        assert await migrate(url, edited) == []
    assert "0001_first was edited after it was applied" in caplog.text


async def test_migrate__gives_up_after_its_patience_when_unreachable() -> None:
    started = time.monotonic()
    with pytest.raises(OSError):
        await migrate("postgresql://postgres@127.0.0.1:1/nowhere", patience=1.5)
    assert 1.0 <= time.monotonic() - started < 10


def _replyguard(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_migrate_command__dry_run_prints_the_plan_and_changes_nothing(
    make_database: MakeDatabase,
) -> None:
    url = await make_database()
    labels = [m.label for m in load_migrations()]

    dry = _replyguard(url, "migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "empty (version 0)" in dry.stdout
    assert all(label in dry.stdout for label in labels)
    assert "Nothing was changed" in dry.stdout
    assert await _sql(url, "SELECT to_regclass('comments') IS NULL") == [(True,)]

    done = _replyguard(url, "migrate")
    assert done.returncode == 0, done.stderr
    assert f"Applied {labels[-1]}." in done.stdout
    assert f"now at version {len(labels)}" in done.stdout

    again = _replyguard(url, "migrate", "--dry-run")
    assert "Nothing to apply" in again.stdout


async def test_migrate_command__dry_run_on_a_previous_release_database(
    make_database: MakeDatabase,
) -> None:
    old = await _previous_release_database(make_database)
    dry = _replyguard(old, "migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "made by the release before migrations" in dry.stdout
    assert "0001_initial  (recorded as applied, not run" in dry.stdout
    assert await _sql(old, "SELECT to_regclass('schema_migrations') IS NULL") == [(True,)]


@pytest.mark.parametrize("command", ["serve", "web", "worker", "migrate"])
async def test_commands__refuse_a_database_a_newer_release_migrated(
    database_url: str, command: str
) -> None:
    await _sql(database_url, "INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    # Ports of their own: the default 8080 may be taken on a busy machine.
    ports = ["--port", str(free_port()), "--ops-port", str(free_port())]
    done = _replyguard(database_url, command, *(ports if command in ("serve", "web") else ()))
    assert done.returncode == 78, done.stderr
    assert "version 999" in done.stderr and load_migrations()[-1].label in done.stderr
    assert "newer release" in done.stderr


async def test_readyz__reports_the_newest_applied_migration(
    ops_client: TestClient[Any, Any], database_url: str
) -> None:
    newest = max(m.version for m in load_migrations())
    await _sql(
        database_url,
        f"INSERT INTO schema_migrations (version, name) VALUES ({newest + 1}, 'next')",
    )
    body = await (await ops_client.get("/readyz")).json()
    assert body["checks"]["schema"] == f"version {newest + 1}"
