"""The database schema: numbered migrations applied in order, and the snapshot they add up to.

``service/store/migrations/NNNN_what.sql`` are the changes. Each runs once, in its own
transaction, under an advisory lock, and is recorded in ``schema_migrations``; ``replyguard
migrate`` runs the pending ones, and so does every command at start. ``schema.sql`` (the
top-level file; the package carries it as ``service/store/schema.sql``) is the whole current
schema: what the migrations give an empty database, which a test checks. Tests and
benchmarks load it directly; its ``schema_migrations`` rows say which migrations it holds.

Adding a change: a file with the next number in ``service/store/migrations``, the same change in
``schema.sql``, and its row in the snapshot's ``schema_migrations`` insert. A migration that
has been released is never edited: a later one corrects it. A file runs in one transaction,
so it cannot use statements that refuse one (``CREATE INDEX CONCURRENTLY``).

The release before migrations re-ran ``schema.sql`` at every start and kept its checksum in
``replyguard_schema``. ``0001_initial.sql`` is that file byte for byte, so a database it made
is recognised by the checksum and recorded at version 1 without running any DDL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import asyncpg

from service.errors import SchemaTooNewError
from service.store import migration_queries as q
from service.store.db import is_unavailable, plain_url, sqlstate

log = logging.getLogger(__name__)

SCHEMA_PATH: Final = Path(__file__).parent / "schema.sql"
MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"
_FILE_NAME: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
#: The key the release before migrations locked too, so its processes and these exclude
#: each other while both run during an upgrade.
_LOCK_KEY: Final = 0x7265706C79  # "reply"

T = TypeVar("T")


class MigrationFilesError(RuntimeError):
    """The migration files of this release are not a clean 0001..N sequence (a bug)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str = field(repr=False)

    @property
    def label(self) -> str:
        """The file's name without ``.sql``: ``0001_initial``."""
        return f"{self.version:04d}_{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Plan:
    """What ``migrate`` would do to a database now."""

    current: int  # the newest applied version; 0 for an empty or previous-release database
    pending: tuple[Migration, ...]
    #: Made by the release before migrations, which kept no record of migrations.
    previous_release: bool = False
    #: That release's database already has this migration's schema: recorded, not run.
    baseline: Migration | None = None


@dataclass(frozen=True)
class _State:
    applied: dict[int, str | None]  # version -> checksum as run (None: from schema.sql)
    previous_release: bool = False
    previous_release_checksum: str | None = None


def load_migrations(folder: Path = MIGRATIONS_DIR) -> tuple[Migration, ...]:
    """This release's migrations, in order; raises if the files are not exactly 0001..N."""
    found: dict[int, Migration] = {}
    for path in sorted(folder.iterdir()):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationFilesError(
                f"{path} is not a migration: name them NNNN_what.sql (digits, a-z, _)"
            )
        version = int(match[1])
        if version in found:
            raise MigrationFilesError(
                f"two migrations are numbered {version:04d} ({found[version].label}.sql and "
                f"{path.name}): renumber the newer one to follow the last"
            )
        found[version] = Migration(version, match[2], path.read_text(encoding="utf-8"))
    expected = list(range(1, len(found) + 1))
    if sorted(found) != expected:
        raise MigrationFilesError(
            f"migrations in {folder} are numbered {sorted(found)}, not 1..{len(found)} "
            "without gaps: renumber them"
        )
    return tuple(found[v] for v in expected)


async def plan(
    database_url: str, migrations: Sequence[Migration] | None = None, *, patience: float = 60.0
) -> Plan:
    """What ``migrate`` would apply now; changes nothing. Raises ``SchemaTooNewError``."""
    known = load_migrations() if migrations is None else tuple(migrations)

    async def look(conn: Any) -> Plan:
        return _plan(await _read_state(conn), known)

    return await _patiently(database_url, look, patience)


async def migrate(
    database_url: str,
    migrations: Sequence[Migration] | None = None,
    *,
    patience: float = 60.0,
    starting: Callable[[Migration], object] | None = None,
) -> list[Migration]:
    """Apply the pending migrations in order and return them; safe from many processes.

    A database with nothing pending takes no lock, so routine restarts stay cheap. While
    the database is unreachable or starting, or a migration loses a deadlock to live
    traffic, it retries for ``patience`` seconds. Raises ``SchemaTooNewError`` for a
    database a newer release has migrated. ``starting`` is told of each migration as it
    begins, so a long backfill shows which step it is on.
    """
    known = load_migrations() if migrations is None else tuple(migrations)

    async def apply(conn: Any) -> list[Migration]:
        return await _apply_pending(conn, known, starting)

    return await _patiently(database_url, apply, patience)


async def _patiently(database_url: str, work: Callable[[Any], Awaitable[T]], patience: float) -> T:
    deadline = time.monotonic() + patience
    pause = 0.5
    while True:
        try:
            conn = await asyncpg.connect(
                plain_url(database_url),
                timeout=5,
                server_settings={"application_name": "replyguard-migrate"},
            )
            try:
                return await work(conn)
            finally:
                # Also releases the advisory lock, however the work ended; a connection
                # that already failed has nothing left to release.
                with contextlib.suppress(Exception):
                    await conn.close(timeout=5)
        except Exception as error:
            retry = is_unavailable(error) or sqlstate(error) == "40P01"  # deadlock_detected
            remaining = deadline - time.monotonic()
            if not retry or remaining <= 0:
                raise
            wait = min(pause, remaining)
            log.warning("cannot migrate the database yet (%s); retrying in %.1fs", error, wait)
            await asyncio.sleep(wait)
            pause = min(pause * 2, 5.0)


async def _apply_pending(
    conn: Any, known: tuple[Migration, ...], starting: Callable[[Migration], object] | None
) -> list[Migration]:
    if not _plan(await _read_state(conn), known).pending:
        return []
    await conn.execute(q.LOCK, _LOCK_KEY)
    # Another process may have migrated while we waited for the lock: look again.
    todo = _plan(await _read_state(conn), known)
    for migration in todo.pending:
        if starting is not None:
            starting(migration)
        async with conn.transaction():
            await conn.execute(q.NO_STATEMENT_TIMEOUT)
            await conn.execute(q.CREATE_MIGRATIONS_TABLE)
            if migration is todo.baseline:
                log.info("database made by the previous release: recording %s", migration.label)
            else:
                # A multi-statement file must go through the simple query protocol.
                await conn.execute(migration.sql)
            await conn.execute(
                q.RECORD_MIGRATION, migration.version, migration.name, migration.checksum
            )
        log.info("applied migration %s", migration.label)
    return list(todo.pending)


async def _read_state(conn: Any) -> _State:
    if await conn.fetchval(q.HAS_MIGRATIONS_TABLE):
        rows = await conn.fetch(q.APPLIED_MIGRATIONS)
        return _State(applied={row["version"]: row["checksum"] for row in rows})
    if await conn.fetchval(q.HAS_PREVIOUS_RELEASE_TABLE):
        checksum = await conn.fetchval(q.PREVIOUS_RELEASE_CHECKSUM)
        return _State(applied={}, previous_release=True, previous_release_checksum=checksum)
    return _State(applied={})


def _plan(state: _State, known: tuple[Migration, ...]) -> Plan:
    versions = {m.version for m in known}
    unknown = sorted(set(state.applied) - versions)
    if unknown:
        raise SchemaTooNewError(_too_new(unknown[-1], known))
    for migration in known:
        ran = state.applied.get(migration.version)
        if ran is not None and ran != migration.checksum:
            log.warning(
                "migration %s was edited after it was applied to this database; a released "
                "migration must never change: put the change in a new migration",
                migration.label,
            )
    pending = tuple(m for m in known if m.version not in state.applied)
    # The previous release's own schema.sql is 0001: when the database holds exactly that,
    # it is recorded, not run. An older one runs it (idempotent), as that release would have.
    first = pending[0] if pending else None
    baseline = None
    if state.previous_release and first is not None and first.version == 1:
        baseline = first if state.previous_release_checksum == first.checksum else None
    return Plan(
        current=max(state.applied, default=0),
        pending=pending,
        previous_release=state.previous_release,
        baseline=baseline,
    )


def _too_new(newest: int, known: tuple[Migration, ...]) -> str:
    ours = known[-1].label if known else "none"
    return (
        f"the database's schema is at version {newest}, newer than this replyguard knows "
        f"(its newest migration is {ours}): a newer release has migrated it. Run that "
        "release (or a later one) against this database, or restore the backup taken "
        "before the upgrade to go back to this one."
    )
