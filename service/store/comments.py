"""Comments: submission (one statement: limits, article, comment, job, audit), the public
thread, authors' views, moderators' queue and decisions, readers' reports."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn
from uuid import UUID

import asyncpg
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from moderation.domain import (
    AuditEntry,
    Comment,
    CommentId,
    Status,
    Verdict,
)
from moderation.errors import FieldError
from moderation.policy import Policy
from service.cursors import decode_score_cursor, decode_time_cursor, encode_cursor
from service.errors import Conflict, InvalidInput, NotFound, RateLimited
from service.store import queries as q
from service.store.db import DriverStatement, driver_transaction
from service.store.limits import Limits
from service.store.rows import change_status, comment_from_row, dumps, hash_token
from service.store.values import (
    THREAD_MAX_DEPTH,
    AuthorsComment,
    DecisionResult,
    NewComment,
    Page,
    Principal,
    QueueOrder,
    ReportResult,
    Submitted,
    ThreadItem,
)
from service.times import iso

#: What an author who posts the same text again is told, by what became of the first post.
_DUPLICATE_MESSAGES: dict[Status, str] = {
    "pending": "You posted the same comment a moment ago; it is waiting for moderation.",
    "held": "You posted the same comment a moment ago; it is waiting for moderation.",
    "approved": "You posted the same comment a moment ago, and it is already published.",
    "rejected": "You posted the same comment a moment ago, and it was not published; "
    "posting it again will not change that.",
}

# The submission's statements, on the asyncpg connection itself (``driver_transaction``).
_INSERT_COMMENT = DriverStatement.of(q.INSERT_COMMENT)
_RATE_LIMIT_WAIT = DriverStatement.of(q.RATE_LIMIT_WAIT)
_IDEMPOTENCY_LOCK_TIMEOUT = DriverStatement.of(q.IDEMPOTENCY_LOCK_TIMEOUT)
_IDEMPOTENCY_LOCK_TIMEOUT_OFF = DriverStatement.of(q.IDEMPOTENCY_LOCK_TIMEOUT_OFF)
_CLAIM_IDEMPOTENCY_KEY = DriverStatement.of(q.CLAIM_IDEMPOTENCY_KEY)
_GET_IDEMPOTENCY_KEY = DriverStatement.of(q.GET_IDEMPOTENCY_KEY)
_SAVE_IDEMPOTENT_RESPONSE = DriverStatement.of(q.SAVE_IDEMPOTENT_RESPONSE)


def _thread_item(row: Row[Any]) -> ThreadItem:
    """A thread row; a rejected one keeps its place but none of its author's name or words."""
    removed = row.status != "approved"
    return ThreadItem(
        id=CommentId(row.id),
        parent_id=CommentId(row.parent_id) if row.parent_id else None,
        author_name="" if removed else row.author_name,
        body="" if removed else row.body,
        created_at=row.created_at,
        removed=removed,
    )


def _without_empty_removed(items: list[ThreadItem]) -> list[ThreadItem]:
    """Drop removed comments below which nothing is shown (their replies were rejected
    too, or lie past the thread's depth)."""
    kept = []
    for item in items:
        item.replies[:] = _without_empty_removed(item.replies)
        if not item.removed or item.replies:
            kept.append(item)
    return kept


class CommentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def submit(
        self,
        new: NewComment,
        *,
        duplicate_window: float,
        idempotency_key: str | None = None,
        request_hash: bytes = b"",
        limits: Limits | None = None,
    ) -> Submitted:
        """Store a comment and its scoring job in one transaction, or nothing at all.

        With an idempotency key, a retry of the same request gets the original answer (and
        is not counted against ``limits``); the same key with another body is InvalidInput,
        and while the first request is still running, Conflict. Raises RateLimited when a
        limit is reached (counted in the same statement, across every replica), InvalidInput
        when the parent is not a comment of the same article, and Conflict when the author
        posted the same text within the window. Only a stored comment is counted.
        """
        token = "rga_" + secrets.token_urlsafe(24)
        limit_params = rate_limit_params(limits)
        async with driver_transaction(self._engine) as conn:
            if idempotency_key is not None:
                replay = await _claim_idempotency_key(
                    conn, new.site_id, idempotency_key, request_hash
                )
                if replay is not None:
                    return replay
            params = submission_params(new, token, limit_params, duplicate_window)
            row = await conn.fetchrow(_INSERT_COMMENT.sql, *_INSERT_COMMENT.args(params))
            assert row is not None  # the statement's last SELECT always gives one row
            if not row["allowed"]:
                await _refuse(
                    conn, limit_params, "Too many comments from here; wait and try again."
                )
            if not row["parent_ok"]:
                raise InvalidInput([FieldError("parent_id", "is not a comment of this article")])
            if not row["fresh"]:
                raise Conflict(_DUPLICATE_MESSAGES[row["duplicate_status"]])
            submitted = Submitted(CommentId(UUID(bytes=row["id"].bytes)), row["created_at"], token)
            if idempotency_key is not None:
                answer = {
                    "id": str(submitted.id),
                    "created_at": iso(submitted.created_at),
                    "author_token": token,
                }
                await conn.execute(
                    _SAVE_IDEMPOTENT_RESPONSE.sql,
                    *_SAVE_IDEMPOTENT_RESPONSE.args(
                        {"site_id": new.site_id, "key": idempotency_key, "response": dumps(answer)}
                    ),
                )
        return submitted

    async def get(self, comment_id: UUID) -> Comment:
        async with self._engine.connect() as conn:
            row = (await conn.execute(q.GET_COMMENT, {"comment_id": comment_id})).first()
        if row is None:
            raise NotFound("No such comment.")
        return comment_from_row(row)

    async def get_many(self, comment_ids: Iterable[UUID]) -> dict[UUID, Comment]:
        """The comments that exist among ``comment_ids`` (for showing parents beside replies)."""
        ids = list(dict.fromkeys(comment_ids))
        if not ids:
            return {}
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q.GET_COMMENTS, {"comment_ids": ids})).all()
        return {r.id: comment_from_row(r) for r in rows}

    async def get_for_author(self, comment_id: UUID, author_token: str) -> AuthorsComment:
        """The comment, if ``author_token`` is the one given at submission; else NotFound."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    q.GET_COMMENT_FOR_AUTHOR,
                    {"comment_id": comment_id, "max_depth": THREAD_MAX_DEPTH},
                )
            ).first()
        if row is None or not secrets.compare_digest(
            bytes(row.author_token_hash), hash_token(author_token)
        ):
            raise NotFound("No such comment.")
        return AuthorsComment(comment_from_row(row), bool(row.parent_waiting))

    async def thread(
        self, site_id: str, article_id: str, *, cursor: str | None, limit: int
    ) -> Page[ThreadItem]:
        """Top-level comments, oldest first, each with its replies nested: the approved
        ones, and rejected ones as ``removed`` placeholders while shown replies hang from
        them. Replies below a pending or held comment wait until it is decided."""
        after_ts: datetime | None = None
        after_id: UUID | None = None
        if cursor:
            after_ts, after_id = decode_time_cursor(cursor)
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    q.THREAD_PAGE,
                    {
                        "site_id": site_id,
                        "article_id": article_id,
                        "after_ts": after_ts,
                        "after_id": after_id,
                        "limit": limit + 1,
                        "max_depth": THREAD_MAX_DEPTH,
                    },
                )
            ).all()
            roots = rows[:limit]
            replies = (
                (
                    await conn.execute(
                        q.THREAD_REPLIES,
                        {
                            "roots": [r.id for r in roots],
                            "max_depth": THREAD_MAX_DEPTH,
                            "limit": 5000,
                        },
                    )
                ).all()
                if roots
                else []
            )
        items = {r.id: _thread_item(r) for r in roots}
        for r in replies:
            item = _thread_item(r)
            items[r.id] = item
            parent = items.get(r.parent_id)
            if parent is not None:
                parent.replies.append(item)
        next_cursor = None
        if len(rows) > limit:
            last = roots[-1]
            next_cursor = encode_cursor(last.created_at.isoformat(), str(last.id))
        return Page(_without_empty_removed([items[r.id] for r in roots]), next_cursor)

    async def queue(
        self,
        principal: Principal,
        *,
        status: Status,
        site_id: str | None,
        label: str | None,
        article_id: str | None = None,
        order: QueueOrder,
        cursor: str | None,
        limit: int,
    ) -> Page[Comment]:
        """A page of the moderators' queue, restricted to the sites ``principal`` covers."""
        if site_id is not None:
            if not principal.may_see(site_id):
                raise NotFound(f"No site {site_id!r}.")
            sites: list[str] | None = [site_id]
        else:
            sites = None if principal.sites is None else sorted(principal.sites)
        params: dict[str, Any] = {
            "status": status,
            "sites": sites,
            "article_id": article_id,
            "label": label,
            "label_fired": dumps([{"label": label, "outcome": "hold"}]),
            "label_rejected": dumps([{"label": label, "outcome": "reject"}]),
            "limit": limit + 1,
        }
        if order == "oldest":
            statement = q.QUEUE_PAGE_OLDEST
            params["after_ts"] = params["after_id"] = None
            if cursor:
                params["after_ts"], params["after_id"] = decode_time_cursor(cursor)
        else:
            statement = q.QUEUE_PAGE_SCORE if label is None else q.QUEUE_PAGE_LABEL_SCORE
            params["after_key"] = params["after_id"] = None
            if cursor:
                params["after_key"], params["after_id"] = decode_score_cursor(cursor)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement, params)).all()
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = (
                encode_cursor(last.created_at.isoformat(), str(last.id))
                if order == "oldest"
                else encode_cursor(float(last.sort_key), str(last.id))
            )
        return Page([comment_from_row(r) for r in page], next_cursor)

    async def decide(
        self,
        principal: Principal,
        comment_ids: Sequence[UUID],
        verdict: Verdict,
        reason: str | None,
    ) -> tuple[list[DecisionResult], list[UUID]]:
        """A moderator's decision on one or many comments, in one transaction.

        Comments the principal may not see are reported as not found, never touched. A
        comment already in the requested state is left alone (``changed`` False), so a
        repeated click writes no second audit row.
        """
        results: list[DecisionResult] = []
        missing: list[UUID] = []
        async with self._engine.begin() as conn:
            for comment_id in dict.fromkeys(comment_ids):
                row = (await conn.execute(q.LOCK_COMMENT, {"comment_id": comment_id})).first()
                if row is None or not principal.may_see(row.site_id):
                    missing.append(comment_id)
                    continue
                if row.status == verdict:
                    results.append(DecisionResult(CommentId(comment_id), verdict, False))
                    continue
                await change_status(
                    conn,
                    comment_id=comment_id,
                    site_id=row.site_id,
                    from_status=row.status,
                    to_status=verdict,
                    actor_kind="moderator",
                    actor=principal.actor,
                    reason=reason,
                )
                results.append(DecisionResult(CommentId(comment_id), verdict, True))
        return results, missing

    async def report(
        self, comment_id: UUID, reader_key: bytes, reason: str | None, limits: Limits | None = None
    ) -> ReportResult:
        """Record a reader's report of a published comment, once per reader.

        ``reader_key`` names the reporter (a hash of their network, so a household's many
        addresses report once). A repeated report is accepted but neither counted again nor
        counted against ``limits``; a new one past them raises RateLimited and leaves
        nothing behind. When the reports reach the site's threshold, the comment goes back
        to ``held`` (audit row saying how many networks reported, ``comment.held`` and
        ``comment.reported`` events, same transaction). Only published comments can be
        reported: others are NotFound, as readers cannot see them.
        """
        async with self._engine.begin() as conn:
            context = (await conn.execute(q.REPORT_CONTEXT, {"comment_id": comment_id})).first()
            if context is None or context.status != "approved":
                raise NotFound("No such comment.")
            added = (
                await conn.execute(
                    q.ADD_REPORT,
                    {"comment_id": comment_id, "reader_key": reader_key, "reason": reason},
                )
            ).first()
            if added is None:
                return ReportResult(context.site_id, recorded=False, held=False)
            limit_params = rate_limit_params(limits)
            if not (await conn.execute(q.HIT_RATE_LIMITS, limit_params)).scalar_one():
                await _refuse(
                    conn, limit_params, "Too many reports from your network; wait and try again."
                )
            policy = Policy.from_json(context.policy, version=context.policy_version)
            if added.report_count != policy.report_threshold:
                return ReportResult(context.site_id, recorded=True, held=False)
            await _hold_reported(conn, comment_id, context.site_id, added.report_count, policy)
        return ReportResult(context.site_id, recorded=True, held=True)

    async def audit(self, comment_id: UUID) -> list[AuditEntry]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q.GET_AUDIT, {"comment_id": comment_id})).all()
        return [
            AuditEntry(
                id=r.id,
                comment_id=CommentId(r.comment_id),
                from_status=r.from_status,
                to_status=r.to_status,
                actor_kind=r.actor_kind,
                actor=r.actor,
                reason=r.reason,
                explanation=r.explanation,
                created_at=r.created_at,
            )
            for r in rows
        ]


def submission_params(
    new: NewComment, token: str, limit_params: Mapping[str, Any], duplicate_window: float
) -> dict[str, Any]:
    """``INSERT_COMMENT``'s parameters (``bench/rate_limits.py`` runs it other ways too)."""
    return {
        **limit_params,
        "site_id": new.site_id,
        "article_id": new.article_id,
        "article_url": new.article_url,
        "article_title": new.article_title,
        "parent_id": new.parent_id,
        "body": new.body,
        "author_name": new.author_name,
        "author_email": new.author_email,
        "token_hash": hash_token(token),
        "author_key": new.author_key,
        "body_hash": new.body_hash,
        "author_verified": new.author_verified,
        "duplicate_window": duplicate_window,
    }


def rate_limit_params(limits: Limits | None) -> dict[str, Any]:
    """The rate-limit statements' parameters for ``limits`` (none: nothing counted)."""
    checks = limits.checks if limits is not None else ()
    return {
        "rl_keys": [c.key for c in checks],
        "rl_caps": [c.cap for c in checks],
        "rl_shards": [c.shards for c in checks],
        "rl_window": limits.window if limits is not None else 60,
        "rl_bucket": limits.bucket if limits is not None else 10,
    }


async def _refuse(
    conn: asyncpg.Connection, limit_params: Mapping[str, Any], detail: str
) -> NoReturn:
    """Raise RateLimited with how long to wait; the transaction, and its hit, roll back."""
    wait = await conn.fetchval(_RATE_LIMIT_WAIT.sql, *_RATE_LIMIT_WAIT.args(limit_params))
    raise RateLimited(detail, float(wait))


async def _hold_reported(
    conn: AsyncConnection, comment_id: UUID, site_id: str, networks: int, policy: Policy
) -> None:
    """Send a reported comment back to the queue, saying how many networks reported it."""
    why = f"reported from {networks} networks"
    reports = {"networks": networks, "threshold": policy.report_threshold}
    await change_status(
        conn,
        comment_id=comment_id,
        site_id=site_id,
        from_status="approved",
        to_status="held",
        actor_kind="system",
        actor="readers",
        reason=why,
        explanation={"rule": "reader_reports", "reports": reports},
    )
    await conn.execute(
        q.INSERT_OUTBOX,
        {
            "event_type": "comment.reported",
            "site_id": site_id,
            "comment_id": comment_id,
            "payload": dumps(
                {
                    "comment_id": str(comment_id),
                    "site_id": site_id,
                    # "reports" is kept for receivers written before reports were per network.
                    "reports": networks,
                    "networks": networks,
                    "threshold": policy.report_threshold,
                    "status": "held",
                    "reason": why,
                }
            ),
        },
    )


async def _claim_idempotency_key(
    conn: asyncpg.Connection, site_id: str, key: str, request_hash: bytes
) -> Submitted | None:
    """Take the key for this request (None), or return the stored answer of an earlier one."""
    await conn.execute(_IDEMPOTENCY_LOCK_TIMEOUT.sql)
    params = {"site_id": site_id, "key": key, "request_hash": request_hash}
    try:
        claimed = await conn.fetchrow(
            _CLAIM_IDEMPOTENCY_KEY.sql, *_CLAIM_IDEMPOTENCY_KEY.args(params)
        )
    except asyncpg.LockNotAvailableError:  # the first request is still running
        raise Conflict(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        ) from None
    if claimed is not None:
        await conn.execute(_IDEMPOTENCY_LOCK_TIMEOUT_OFF.sql)
        return None
    row = await conn.fetchrow(_GET_IDEMPOTENCY_KEY.sql, *_GET_IDEMPOTENCY_KEY.args(params))
    assert row is not None  # the claim found it, and keys are swept only when long expired
    if bytes(row["request_hash"]) != request_hash:
        raise InvalidInput(
            [FieldError("Idempotency-Key", "was already used for a different request")]
        )
    if row["response"] is None:  # cannot happen: the answer is saved in the claiming transaction
        raise Conflict("A request with this Idempotency-Key has not finished; retry shortly.")
    answer = row["response"]  # the engine's jsonb codec: written as text, read parsed
    return Submitted(
        id=CommentId(UUID(answer["id"])),
        created_at=datetime.fromisoformat(answer["created_at"]),
        author_token=answer["author_token"],
        replayed=True,
    )
