"""An author's data for export and erasure (the audit facts stay)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.domain import (
    Comment,
)
from service.store import queries as q
from service.store.rows import comment_from_row


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
        return len(rows)
