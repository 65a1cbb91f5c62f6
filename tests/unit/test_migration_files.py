"""The files the migrator reads: shipped inside the package, numbered 0001..N, 0001 frozen."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.store.schema import MIGRATIONS_DIR, SCHEMA_PATH, MigrationFilesError, load_migrations

REPO = Path(__file__).parents[2]

#: SHA-256 of the previous release's schema.sql, the checksum every database it made holds
#: in replyguard_schema. 0001 must keep it, or those databases would no longer be
#: recognised as already holding 0001's schema.
PREVIOUS_RELEASE_CHECKSUM = "6c7aab37b094f4f4f83a8b2b98a7647b89475f94a4c697ea44d42170434e1b40"


def test_schema_sql__the_package_carries_the_top_level_file() -> None:
    # service/store/schema.sql is a link, so the top-level file stays the one source while a
    # wheel (which cannot reach outside the package) carries a copy.
    assert SCHEMA_PATH.parent == REPO / "service" / "store"
    assert SCHEMA_PATH.read_bytes() == (REPO / "schema.sql").read_bytes()


def test_load_migrations__this_release_is_numbered_from_0001_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].label == "0001_initial"
    assert all((MIGRATIONS_DIR / f"{m.label}.sql").is_file() for m in migrations)


def test_initial_migration__is_the_previous_release_schema_byte_for_byte() -> None:
    initial = load_migrations()[0]
    assert hashlib.sha256(initial.sql.encode()).hexdigest() == PREVIOUS_RELEASE_CHECKSUM
    assert initial.checksum == PREVIOUS_RELEASE_CHECKSUM


def _folder(tmp_path: Path, *names: str) -> Path:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;")
    return tmp_path


def test_load_migrations__refuses_two_files_with_one_number(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "0001_initial.sql", "0002_a.sql", "0002_b.sql")
    with pytest.raises(MigrationFilesError, match="two migrations are numbered 0002"):
        load_migrations(folder)


def test_load_migrations__refuses_a_gap(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "0001_initial.sql", "0003_c.sql")
    with pytest.raises(MigrationFilesError, match=r"numbered \[1, 3\]"):
        load_migrations(folder)


def test_load_migrations__refuses_a_file_named_otherwise(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "0001_initial.sql", "2-rename.sql")
    with pytest.raises(MigrationFilesError, match=r"2-rename\.sql is not a migration"):
        load_migrations(folder)
