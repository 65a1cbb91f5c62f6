"""``replyguard migrate``: bring the database to this release's schema, or say what would run.

``serve``, ``web`` and ``worker`` apply pending migrations at start too; this command lets an
operator do it first, on purpose, after a backup, and ``--dry-run`` shows the plan.
"""

from __future__ import annotations

import argparse
import asyncio

from service.cli.progress import add_quiet_flag, progress_bar
from service.settings import Settings

__all__ = ["add_schema_commands"]


def add_schema_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="apply this release's pending schema migrations to the database",
        description="Apply the pending migrations in order, each in its own transaction, "
        "under a lock (safe while other processes start). Every command does this at start.",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print what would be applied; change nothing"
    )
    add_quiet_flag(p)
    p.set_defaults(func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    from service.cli.common import with_database
    from service.store.schema import Migration, migrate, plan

    settings: Settings = with_database(args.settings)
    assert settings.database_url is not None
    before = asyncio.run(plan(settings.database_url))
    print(_where(before.current, before.previous_release))
    if not before.pending:
        print("Nothing to apply: the database has every migration of this release.")
        return 0
    if args.dry_run:
        print("Would apply, in order:")
        for migration in before.pending:
            how = (
                "recorded as applied, not run: the database already has its schema"
                if migration is before.baseline
                else f"service/store/migrations/{migration.label}.sql"
            )
            print(f"  {migration.label}  ({how})")
        print("Nothing was changed (--dry-run).")
        return 0
    with progress_bar(len(before.pending), "migrating", unit="steps", quiet=args.quiet) as bar:
        order = [m.version for m in before.pending]

        def starting(migration: Migration) -> None:
            # The steps before this one are done; the bar names the one running now.
            if migration.version in order:
                bar.n = order.index(migration.version)
            bar.set_postfix_str(migration.label)

        applied = asyncio.run(migrate(settings.database_url, starting=starting))
        bar.update(len(order) - bar.n)
    for migration in applied:
        print(f"Applied {migration.label}.")
    after = asyncio.run(plan(settings.database_url))
    print(f"The database is now at version {after.current}.")
    return 0


def _where(version: int, previous_release: bool) -> str:
    if previous_release:
        return "The database was made by the release before migrations (no version recorded)."
    if version == 0:
        return "The database is empty (version 0)."
    return f"The database is at version {version}."
