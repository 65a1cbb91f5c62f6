"""The SQL of the migrator (``service.store.schema``): where a database stands, and recording steps.

These run on a plain asyncpg connection of the migrator's own, not through the engine: a
session-level advisory lock must outlive the transaction of each migration, and a long
backfill must not hit the engine's statement timeouts.
"""

from __future__ import annotations

from typing import Final

# The record of applied migrations. checksum is the SHA-256 of the file as it ran; null for
# rows that schema.sql wrote (a database loaded from the snapshot ran no migration file).
# schema.sql holds the same statement: a test checks both give the same table.
CREATE_MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY CHECK (version > 0),
    name        text NOT NULL,
    checksum    text,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""

HAS_MIGRATIONS_TABLE: Final = "SELECT to_regclass('schema_migrations') IS NOT NULL"

APPLIED_MIGRATIONS: Final = "SELECT version, checksum FROM schema_migrations ORDER BY version"

# The release before migrations kept one row here, with the checksum of the schema.sql it
# last ran; it had no schema_migrations table. to_jsonb reads the checksum column without
# failing on the releases before that column existed.
HAS_PREVIOUS_RELEASE_TABLE: Final = "SELECT to_regclass('replyguard_schema') IS NOT NULL"

PREVIOUS_RELEASE_CHECKSUM: Final = (
    "SELECT to_jsonb(s) ->> 'checksum' FROM replyguard_schema AS s LIMIT 1"
)

# Held for the whole run, so two processes starting at once (web and worker, or a fleet)
# apply each migration once, one after the other. The connection's end releases it, even
# after a crash.
LOCK: Final = "SELECT pg_advisory_lock($1)"

# A migration may rewrite a large table: it runs without the server's statement timeout.
NO_STATEMENT_TIMEOUT: Final = "SET LOCAL statement_timeout = 0"

RECORD_MIGRATION: Final = (
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"
)
