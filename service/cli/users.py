"""``replyguard create-user``: make, or reset, a person who signs in to ``/moderate``.

The password comes from a prompt (asked twice), or from the first line of standard input
with ``--password-stdin`` or when standard input is not a terminal, so scripts never put
it on a command line where ``ps`` would show it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from service.settings import Settings

__all__ = ["add_user_commands"]


def add_user_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "create-user",
        help="make (or reset) a person who signs in to the moderator's page",
        description="Create a user of /moderate, or replace an existing user's password, "
        "role and sites (which signs them out everywhere).",
    )
    p.add_argument("name", help="the sign-in name (lowercase letters, digits, . _ @ -)")
    p.add_argument("--role", choices=("admin", "moderator"), required=True)
    p.add_argument("--site", action="append", help="a site they moderate (repeatable)")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of a prompt",
    )
    p.set_defaults(func=cmd_create_user)


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print("error: the two passwords differ", file=sys.stderr)
        return None
    return first


async def _create_user(
    settings: Settings, name: str, password: str, role: str, sites: list[str] | None
) -> bool:
    from service.accounts.auth import Authenticator
    from service.cli.common import cli_actor, prepare
    from service.store.db import create_engine

    await prepare(settings)
    engine = create_engine(settings, pool_size=1)
    try:
        return await Authenticator(engine, settings).create_user(
            name, password, role, sites, actor=cli_actor()
        )
    finally:
        await engine.dispose()


def cmd_create_user(args: argparse.Namespace) -> int:
    from service.accounts.auth import USER_NAME, normalise_name, password_problem
    from service.cli.common import check_sites, existing_database, sites_for_role

    name = normalise_name(args.name)
    if not USER_NAME.match(name):
        print("error: a name is 1-64 lowercase letters, digits, . _ @ or -", file=sys.stderr)
        return 2
    sites: list[str] = args.site or []
    if not sites_for_role(args.role, sites, ""):
        return 2
    # Find the database and the sites before asking for a password that would be wasted.
    database = existing_database(args.settings)
    if database is None or not check_sites(database, sites):
        return 2
    password = _read_password(args.password_stdin)
    if password is None:
        return 2
    problem = password_problem(password)
    if problem is not None:
        print(f"error: the password {problem}", file=sys.stderr)
        return 2
    created = asyncio.run(_create_user(database, name, password, args.role, sites or None))
    scope = "every site" if not sites else ", ".join(sites)
    if created:
        print(f"Created {args.role} {name} for {scope}. They sign in at /moderate.")
    else:
        print(f"Updated {name}: {args.role} for {scope}, new password; their sessions ended.")
    return 0
