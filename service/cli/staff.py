"""``replyguard list-tokens``, ``revoke-token``, ``list-users``, ``disable-user``,
``enable-user`` and ``staff-audit``: taking access away when someone leaves, and seeing
who has it. Also the check ``create-token`` and ``create-user`` make that each ``--site``
names a site (``service.cli.common``).

These commands reach the database ``serve`` uses (``service.cli.common.existing_database``) and
never make one. Each change is written to the staff audit as ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from service.cli.common import admin_engine, cli_actor, existing_database
from service.settings import Settings

if TYPE_CHECKING:
    from service.store.staff import StaffStore

__all__ = ["add_staff_commands"]

T = TypeVar("T")


def add_staff_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subparsers.add_parser(
        "list-tokens", help="list API tokens (never their secrets), revoked ones too"
    ).set_defaults(func=cmd_list_tokens)
    p = subparsers.add_parser(
        "revoke-token", help="revoke an API token: it is refused from the next request on"
    )
    p.add_argument("id", type=int, help="the token's id, from list-tokens")
    p.set_defaults(func=cmd_revoke_token)
    subparsers.add_parser(
        "list-users", help="list the people who sign in to the moderator's page"
    ).set_defaults(func=cmd_list_users)
    for name, func, text in (
        ("disable-user", cmd_disable_user, "stop a user signing in and end their sessions now"),
        ("enable-user", cmd_enable_user, "let a disabled user sign in again"),
    ):
        p = subparsers.add_parser(name, help=text)
        p.add_argument("name", help="the user's sign-in name")
        p.set_defaults(func=func)
    p = subparsers.add_parser(
        "staff-audit", help="show the latest changes to tokens and users, newest first"
    )
    p.add_argument("--limit", type=int, default=50, help="how many (default 50, at most 1000)")
    p.set_defaults(func=cmd_staff_audit)


def _run(args: argparse.Namespace, work: Callable[[StaffStore], Awaitable[T]]) -> T | None:
    """Run ``work`` against the database ``serve`` uses; None when there is none."""

    settings = existing_database(args.settings)
    if settings is None:
        return None
    return asyncio.run(_with_store(settings, work))


async def _with_store(settings: Settings, work: Callable[[StaffStore], Awaitable[T]]) -> T:
    from service.store.staff import StaffStore

    async with admin_engine(settings) as engine:
        return await work(StaffStore(engine))


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M")


def _scope(sites: frozenset[str] | None) -> str:
    return "every site" if sites is None else ",".join(sorted(sites))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _not_found(error: Exception, listing: str) -> int:
    print(f"error: {error} See {listing}.", file=sys.stderr)
    return 1


# --- tokens -------------------------------------------------------------------------------


def cmd_list_tokens(args: argparse.Namespace) -> int:
    tokens = _run(args, lambda store: store.tokens(None))
    if tokens is None:
        return 2
    if not tokens:
        print("No tokens. Make one with: replyguard create-token --role admin")
        return 0
    _table(
        ("ID", "ROLE", "SITES", "LABEL", "CREATED", "LAST USED", "REVOKED"),
        [
            (
                str(t.id),
                t.role,
                _scope(t.sites),
                t.label or "-",
                _when(t.created_at),
                _when(t.last_used_at),
                _when(t.revoked_at),
            )
            for t in tokens
        ],
    )
    return 0


def cmd_revoke_token(args: argparse.Namespace) -> int:
    from service.errors import NotFound

    token_id: int = args.id
    try:
        result = _run(args, lambda s: s.revoke_token(token_id, scope=None, actor=cli_actor()))
    except NotFound as error:
        return _not_found(error, "replyguard list-tokens")
    if result is None:
        return 2
    token, changed = result
    label = f" ({token.label})" if token.label else ""
    if changed:
        print(f"Revoked token {token.id}{label}: it is refused from now on.")
    else:
        print(f"Token {token.id}{label} was already revoked at {_when(token.revoked_at)}.")
    return 0


# --- users --------------------------------------------------------------------------------


def cmd_list_users(args: argparse.Namespace) -> int:
    users = _run(args, lambda store: store.users(None))
    if users is None:
        return 2
    if not users:
        print("No users. Make one with: replyguard create-user NAME --role admin")
        return 0
    _table(
        ("NAME", "ROLE", "SITES", "CREATED", "LAST SEEN", "DISABLED"),
        [
            (
                u.name,
                u.role,
                _scope(u.sites),
                _when(u.created_at),
                _when(u.last_seen_at),
                _when(u.disabled_at),
            )
            for u in users
        ],
    )
    return 0


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    from service.accounts.auth import normalise_name
    from service.errors import NotFound

    name = normalise_name(args.name)
    try:
        result = _run(
            args,
            lambda s: s.set_user_disabled(name, disabled, scope=None, actor=cli_actor()),
        )
    except NotFound as error:
        return _not_found(error, "replyguard list-users")
    if result is None:
        return 2
    _, changed = result
    if disabled:
        print(
            f"Disabled {name}: they cannot sign in, and their sessions have ended."
            if changed
            else f"{name} was already disabled."
        )
    else:
        print(f"Enabled {name}: they may sign in again." if changed else f"{name} is enabled.")
    return 0


def cmd_disable_user(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def cmd_enable_user(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


# --- audit --------------------------------------------------------------------------------


def cmd_staff_audit(args: argparse.Namespace) -> int:
    limit: int = args.limit
    changes = _run(args, lambda store: store.audit(None, limit))
    if changes is None:
        return 2
    if not changes:
        print("No changes recorded yet.")
        return 0
    _table(
        ("WHEN", "ACTION", "TARGET", "SITES", "BY"),
        [(_when(c.at), c.action, c.target, _scope(c.sites), c.actor) for c in changes],
    )
    return 0
