"""What the commands share: finding the database (``serve``'s embedded one or
DATABASE_URL), migrating it, checking ``--site`` values, and naming the CLI as an actor in
the staff audit. Every command module imports these; this module imports none of them."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from service.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

#: sysexits' EX_CONFIG: a process that cannot start as configured (no model, no scoring extra,
#: a taken port, a too-new schema) will not do better on a restart; ``serve`` stops on it.
EXIT_CONFIG = 78


def with_database(settings: Settings) -> Settings:
    """The settings with a database URL: DATABASE_URL, or the embedded server's."""
    if settings.database_url is not None:
        return settings
    from service.store.db import embedded_database

    return settings.with_database(embedded_database(settings.data_dir))


def existing_database(settings: Settings) -> Settings | None:
    """The settings with a database URL, for a command that must reach the database
    ``serve`` uses and never make one: DATABASE_URL, or the embedded PostgreSQL already in
    REPLYGUARD_DATA_DIR. None, after saying where it looked and how to point it, when
    there is neither (a token made in a second, empty database would be refused)."""
    if settings.database_url is not None:
        return settings
    pgdata = (settings.data_dir / "postgres").resolve()
    if (pgdata / "PG_VERSION").is_file():
        return with_database(settings)
    print(
        f"error: no replyguard database found. With DATABASE_URL unset, this command uses the "
        f"embedded PostgreSQL that 'replyguard serve' keeps in REPLYGUARD_DATA_DIR/postgres, "
        f"and there is none in {pgdata} (REPLYGUARD_DATA_DIR={settings.data_dir}, "
        f"from {Path.cwd()}). Run this command from the folder where 'replyguard serve' runs, "
        f"or set REPLYGUARD_DATA_DIR to serve's data folder, or DATABASE_URL to the "
        f"PostgreSQL it uses. Nothing was created.",
        file=sys.stderr,
    )
    return None


async def prepare(settings: Settings) -> None:
    """Apply pending migrations (safe from several processes at once); refuse a database
    a newer release has migrated (``SchemaTooNewError``, which ``main`` reports)."""
    from service.store.schema import migrate

    assert settings.database_url is not None
    await migrate(settings.database_url)


def sites_for_role(role: str, sites: list[str], what: str) -> bool:
    """Check ``--site`` values for ``--role``; print what is wrong and return False if any."""
    from service.web.validation import SLUG

    bad = [s for s in sites if not SLUG.match(s)]
    if bad:
        print(f"error: not a site id: {', '.join(bad)}", file=sys.stderr)
        return False
    if role == "moderator" and not sites:
        print(f"error: a moderator {what}needs --site SITE (repeat for several)", file=sys.stderr)
        return False
    return True


def cli_actor() -> str:
    """Who the staff audit says made a change from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


async def sites_exist(engine: AsyncEngine, sites: Sequence[str]) -> bool:
    """Whether every id in ``sites`` names a site; if not, say which and how to make one."""
    from service.store.staff import StaffStore

    if not sites:
        return True
    missing, existing = await StaffStore(engine).missing_sites(sites)
    if not missing:
        return True
    there = f"Sites that exist: {', '.join(existing)}." if existing else "No site exists yet."
    print(
        f"error: no site {', '.join(repr(s) for s in missing)}. {there} Create a site with an "
        f"admin token (replyguard create-token --role admin) and PUT /v1/sites/{missing[0]} "
        f"(see the README's quick start), then run this again.",
        file=sys.stderr,
    )
    return False


@contextlib.asynccontextmanager
async def admin_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A one-connection engine on ``settings``' database, migrated first (``prepare``) and
    disposed of after the block: what each admin command works in."""
    from service.store.db import create_engine

    await prepare(settings)
    engine = create_engine(settings, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()


def check_sites(settings: Settings, sites: Sequence[str]) -> bool:
    """``sites_exist`` on its own connection, for a command that checks before it asks."""
    if not sites:
        return True

    async def check() -> bool:
        async with admin_engine(settings) as engine:
            return await sites_exist(engine, sites)

    return asyncio.run(check())
