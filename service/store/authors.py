"""Authors: their data for export and erasure (the audit facts stay), and on one site
their history and sanctions (issue 12).

An author on a site is ``(site_id, author_key)``; the public author id is the key in hex.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from moderation.domain import (
    Comment,
    SanctionKind,
)
from service.cursors import decode_time_cursor, encode_cursor
from service.store import queries as q
from service.store.rows import comment_from_row, dumps
from service.store.values import Page
from service.times import iso

#: Counts per state; the queue shows approved, rejected and held.
History = Mapping[str, int]
EMPTY_HISTORY: Final[Mapping[str, int]] = {"approved": 0, "rejected": 0, "held": 0, "pending": 0}


@dataclass(frozen=True, slots=True)
class Sanction:
    """A sanction in force: a ban (no end) or a suspension until a time."""

    kind: SanctionKind
    until: datetime | None
    reason: str | None
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AuthorProfile:
    id: str
    name: str | None
    verified: bool
    first_seen: datetime | None
    last_seen: datetime | None
    history: History
    sanction: Sanction | None


class AuthorStore:
    """An author's comments, for access and erasure requests (by email or author id)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def comments(
        self, *, email: str | None = None, author_id: bytes | None = None
    ) -> list[tuple[Comment, bytes | None]]:
        """Every comment by the author, with the author id (a hash) each was filed under."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(q.AUTHOR_COMMENTS, {"email": email, "author_key": author_id})
            ).all()
        return [
            (comment_from_row(r), None if r.author_key is None else bytes(r.author_key))
            for r in rows
        ]

    async def erase(
        self,
        *,
        email: str | None = None,
        author_id: bytes | None = None,
        actor: str,
        progress: Callable[[int, int], object] | None = None,
    ) -> int:
        """Remove the words and personal fields of every comment by the author.

        The rows stay, so replies and the audit trail keep their shape; each erasure is
        itself recorded in the audit trail. Published or pending comments become rejected:
        nothing erased is shown or scored. Returns how many comments were erased. A prolific
        author takes a while (all in one transaction): ``progress`` is told (erased, total)
        after each comment.
        """
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(q.AUTHOR_COMMENTS, {"email": email, "author_key": author_id})
            ).all()
            for done, r in enumerate(rows, start=1):
                params = {"comment_id": r.id}
                erased = (await conn.execute(q.ERASE_COMMENT, params)).one()
                await conn.execute(q.ERASE_COMMENT_HISTORY, params)
                await conn.execute(q.ERASE_COMMENT_SCORES, params)
                await conn.execute(q.ERASE_COMMENT_EVENTS, params)
                await conn.execute(q.FINISH_JOBS, {"comment_ids": [r.id]})
                await conn.execute(
                    q.INSERT_AUDIT,
                    {
                        "comment_id": r.id,
                        "site_id": erased.site_id,
                        "from_status": r.status,
                        "to_status": erased.status,
                        "actor_kind": "system",
                        "actor": actor,
                        "reason": "erased at the author's request",
                        "explanation": None,
                    },
                )
                if progress is not None:
                    progress(done, len(rows))
            keys = {bytes(r.author_key) for r in rows if r.author_key is not None}
            if author_id is not None:
                keys.add(author_id)
            await _erase_sanction_reasons(conn, keys)
        return len(rows)


async def _erase_sanction_reasons(conn: AsyncConnection, keys: set[bytes]) -> None:
    """The sanctions on the author stay in force, and their audit keeps who did what and
    when; the moderators' reasons, which may describe the person, go."""
    if not keys:
        return
    await conn.execute(q.ERASE_SANCTION_REASONS, {"keys": list(keys)})
    await conn.execute(q.ERASE_AUTHOR_AUDIT_REASONS, {"keys": list(keys)})
    await conn.execute(q.ERASE_AUTHOR_EVENTS, {"author_ids": [k.hex() for k in keys]})


class AuthorRecords:
    """One site's authors as moderators see them: history, recent comments, sanctions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def profile(self, site_id: str, author_key: bytes) -> AuthorProfile | None:
        """The author on the site; None when the site has neither a comment by them nor a
        sanction on them."""
        params = {"site_id": site_id, "author_key": author_key}
        async with self._engine.connect() as conn:
            row = (await conn.execute(q.AUTHOR_PROFILE, params)).one()
            sanction = await _sanction(conn, params)
        if row.total == 0 and sanction is None:
            return None
        return AuthorProfile(
            id=author_key.hex(),
            name=row.name,
            verified=bool(row.verified),
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            history={k: int(getattr(row, k)) for k in EMPTY_HISTORY},
            sanction=sanction,
        )

    async def histories(self, authors: Iterable[tuple[str, str]]) -> dict[tuple[str, str], History]:
        """Counts per state of each (site, author id) in one query; an author with no
        comments left (all erased) has the empty history."""
        wanted = sorted(set(authors))
        if not wanted:
            return {}
        params = {"sites": [s for s, _ in wanted], "author_ids": [a for _, a in wanted]}
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q.AUTHOR_HISTORIES, params)).all()
        found: dict[tuple[str, str], History] = {pair: EMPTY_HISTORY for pair in wanted}
        for r in rows:
            found[(r.site_id, r.author_id)] = {k: int(getattr(r, k)) for k in EMPTY_HISTORY}
        return found

    async def recent_comments(
        self, site_id: str, author_key: bytes, *, cursor: str | None, limit: int
    ) -> Page[Comment]:
        """The author's comments on the site, newest first, a page at a time."""
        after_ts, after_id = decode_time_cursor(cursor) if cursor else (None, None)
        params = {
            "site_id": site_id,
            "author_key": author_key,
            "after_ts": after_ts,
            "after_id": after_id,
            "limit": limit + 1,
        }
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q.AUTHOR_COMMENTS_PAGE, params)).all()
        items = [comment_from_row(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(iso(last.created_at), str(last.id))
        return Page(items, next_cursor)

    async def sanction(
        self,
        site_id: str,
        author_key: bytes,
        *,
        kind: SanctionKind,
        until: datetime | None,
        reason: str,
        actor: str,
    ) -> Sanction:
        """Ban or suspend the author, replacing any sanction before; the audit row and the
        ``author.sanctioned`` event are written in the same transaction."""
        params: dict[str, Any] = {
            "site_id": site_id,
            "author_key": author_key,
            "kind": kind,
            "until": until,
            "reason": reason,
            "actor": actor,
        }
        async with self._engine.begin() as conn:
            row = (await conn.execute(q.UPSERT_SANCTION, params)).one()
            await conn.execute(q.INSERT_AUTHOR_AUDIT, {**params, "action": "sanctioned"})
            made = Sanction(row.kind, row.until, row.reason, row.created_by, row.created_at)
            await _event(conn, "author.sanctioned", site_id, author_key, made)
        return made

    async def lift(self, site_id: str, author_key: bytes, *, actor: str) -> bool:
        """Lift the author's sanction; False when none was in force (nothing is recorded
        then). The audit row and ``author.unsanctioned`` event go in the same transaction."""
        params: dict[str, Any] = {"site_id": site_id, "author_key": author_key}
        async with self._engine.begin() as conn:
            row = (await conn.execute(q.LIFT_SANCTION, params)).first()
            if row is None or not row.in_force:
                return False
            await conn.execute(
                q.INSERT_AUTHOR_AUDIT,
                {
                    **params,
                    "action": "unsanctioned",
                    "kind": row.kind,
                    "until": row.until,
                    "reason": None,
                    "actor": actor,
                },
            )
            await conn.execute(
                q.INSERT_SITE_EVENT,
                {
                    "event_type": "author.unsanctioned",
                    "site_id": site_id,
                    "payload": dumps(
                        {
                            "site_id": site_id,
                            "author_id": author_key.hex(),
                            "kind": row.kind,
                            "by": actor,
                        }
                    ),
                },
            )
        return True


async def _sanction(conn: AsyncConnection, params: Mapping[str, Any]) -> Sanction | None:
    row = (await conn.execute(q.GET_SANCTION, params)).first()
    if row is None:
        return None
    return Sanction(row.kind, row.until, row.reason, row.created_by, row.created_at)


async def _event(
    conn: AsyncConnection, event_type: str, site_id: str, author_key: bytes, made: Sanction
) -> None:
    payload = {
        "site_id": site_id,
        "author_id": author_key.hex(),
        "kind": made.kind,
        "until": iso(made.until),
        "reason": made.reason,
        "by": made.by,
    }
    await conn.execute(
        q.INSERT_SITE_EVENT,
        {"event_type": event_type, "site_id": site_id, "payload": dumps(payload)},
    )
