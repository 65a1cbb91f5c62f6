"""The stores: every read and write of replyguard's data, returning domain objects.

Each public method is one transaction. SQL lives in ``service.store.queries``; this module binds
parameters, keeps the transaction boundaries and shapes rows into objects.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, NoReturn, TypeVar, cast
from uuid import UUID

from sqlalchemy import Row
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from moderation.domain import (
    ActorKind,
    AuditEntry,
    Comment,
    CommentId,
    ModelInfo,
    Status,
    Verdict,
)
from moderation.errors import FieldError
from moderation.policy import Decision, Policy, max_score
from service.cursors import decode_score_cursor, decode_time_cursor, encode_cursor
from service.errors import Conflict, InvalidInput, NotFound, RateLimited
from service.store import queries as q
from service.store import staff_queries as sq
from service.store.db import sqlstate
from service.store.limits import Limits

T = TypeVar("T")
#: Replies nest this deep in the public thread; deeper ones are not shown.
THREAD_MAX_DEPTH = 20
Role = Literal["moderator", "admin"]
QueueOrder = Literal["oldest", "score"]

# --- values the stores take and give ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    allowed_origins: tuple[str, ...]
    policy: Policy
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewComment:
    """A validated submission; the web layer has checked every field's shape and size."""

    site_id: str
    article_id: str
    body: str
    author_name: str
    author_email: str | None = None
    parent_id: CommentId | None = None
    article_url: str | None = None
    article_title: str | None = None
    #: Identifies the author across comments without keeping more than a hash.
    author_key: bytes = b""
    #: Identifies the text, to refuse the same author posting it again at once.
    body_hash: bytes = b""


@dataclass(frozen=True, slots=True)
class Submitted:
    id: CommentId
    created_at: datetime
    #: Shown to the author at submission; only its hash is kept with the comment.
    author_token: str
    #: True when this is the stored answer to an earlier request with the same key.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ThreadItem:
    id: CommentId
    parent_id: CommentId | None
    author_name: str
    body: str
    created_at: datetime
    replies: list[ThreadItem] = field(default_factory=list)
    #: A rejected comment kept in place for the replies below it: no name, no words.
    removed: bool = False


@dataclass(frozen=True, slots=True)
class AuthorsComment:
    """A comment as its author may see it."""

    comment: Comment
    #: A comment above it still waits for moderation: an approved reply is not shown yet.
    parent_waiting: bool


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the moderator and admin API: a token's role and the sites it covers."""

    token_id: int
    role: Role
    #: None: every site (an admin).
    sites: frozenset[str] | None
    label: str

    @property
    def actor(self) -> str:
        return self.label or f"token:{self.token_id}"

    def may_see(self, site_id: str) -> bool:
        return self.sites is None or site_id in self.sites


@dataclass(frozen=True, slots=True)
class DecisionResult:
    id: CommentId
    status: Status
    changed: bool


@dataclass(frozen=True, slots=True)
class ReportResult:
    site_id: str
    #: False when this reader had already reported this comment.
    recorded: bool
    #: True when this report sent the comment back to the moderators' queue.
    held: bool


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A comment a worker holds the lease on, with what it needs to decide it."""

    comment_id: CommentId
    attempts: int
    body: str
    status: Status
    site_id: str
    article_id: str
    policy: Policy
    policy_source: Literal["site", "article"]


@dataclass(frozen=True, slots=True)
class ScoredComment:
    comment_id: CommentId
    scores: Mapping[str, float]
    decision: Decision


#: What an author who posts the same text again is told, by what became of the first post.
_DUPLICATE_MESSAGES: dict[Status, str] = {
    "pending": "You posted the same comment a moment ago; it is waiting for moderation.",
    "held": "You posted the same comment a moment ago; it is waiting for moderation.",
    "approved": "You posted the same comment a moment ago, and it is already published.",
    "rejected": "You posted the same comment a moment ago, and it was not published; "
    "posting it again will not change that.",
}


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _comment(row: Row[Any]) -> Comment:
    m = row._mapping
    return Comment(
        id=CommentId(m["id"]),
        site_id=m["site_id"],
        article_id=m["article_id"],
        parent_id=CommentId(m["parent_id"]) if m["parent_id"] else None,
        body=m["body"],
        author_name=m["author_name"],
        author_email=m["author_email"],
        status=m["status"],
        created_at=m["created_at"],
        status_changed_at=m["status_changed_at"],
        status_reason=m["status_reason"],
        scores=m["scores"],
        explanation=m["explanation"],
        article_title=m["article_title"],
        article_url=m["article_url"],
    )


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


def _site(row: Row[Any]) -> Site:
    m = row._mapping
    return Site(
        id=m["id"],
        name=m["name"],
        allowed_origins=tuple(m["allowed_origins"]),
        policy=Policy.from_json(m["policy"], version=m["policy_version"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


# --- sites ------------------------------------------------------------------------------


class SiteStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, site_id: str) -> Site:
        """The site, or NotFound."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(q.GET_SITE, {"site_id": site_id})).first()
        if row is None:
            raise NotFound(f"No site {site_id!r}.")
        return _site(row)

    async def put(
        self, site_id: str, *, name: str, allowed_origins: Sequence[str], policy: Policy
    ) -> tuple[Site, bool]:
        """Create or replace a site; True when it was created. Policy version grows on change."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    q.UPSERT_SITE,
                    {
                        "site_id": site_id,
                        "name": name,
                        "origins": list(allowed_origins),
                        "policy": _dumps(policy.to_json()),
                    },
                )
            ).one()
        return _site(row), bool(row._mapping["created"])

    async def set_article_override(
        self,
        site_id: str,
        article_id: str,
        override: Mapping[str, Any] | None,
        until: datetime | None,
    ) -> int:
        """Replace an article's policy override (None removes it); returns its version."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    q.UPSERT_ARTICLE_OVERRIDE,
                    {
                        "site_id": site_id,
                        "article_id": article_id,
                        "override": None if override is None else _dumps(override),
                        "until": until,
                    },
                )
            ).one()
        return int(row._mapping["override_version"])


# --- comments ---------------------------------------------------------------------------


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
        limit_params = _limit_params(limits)
        async with self._engine.begin() as conn:
            if idempotency_key is not None:
                replay = await _claim_idempotency_key(
                    conn, new.site_id, idempotency_key, request_hash
                )
                if replay is not None:
                    return replay
            row = (
                await conn.execute(
                    q.INSERT_COMMENT,
                    {
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
                        "duplicate_window": duplicate_window,
                    },
                )
            ).one()
            if not row.allowed:
                await _refuse(
                    conn, limit_params, "Too many comments from here; wait and try again."
                )
            if not row.parent_ok:
                raise InvalidInput([FieldError("parent_id", "is not a comment of this article")])
            if not row.fresh:
                raise Conflict(_DUPLICATE_MESSAGES[row.duplicate_status])
            submitted = Submitted(CommentId(row.id), row.created_at, token)
            if idempotency_key is not None:
                answer = {
                    "id": str(submitted.id),
                    "created_at": submitted.created_at.isoformat(),
                    "author_token": token,
                }
                await conn.execute(
                    q.SAVE_IDEMPOTENT_RESPONSE,
                    {"site_id": new.site_id, "key": idempotency_key, "response": _dumps(answer)},
                )
        return submitted

    async def get(self, comment_id: UUID) -> Comment:
        async with self._engine.connect() as conn:
            row = (await conn.execute(q.GET_COMMENT, {"comment_id": comment_id})).first()
        if row is None:
            raise NotFound("No such comment.")
        return _comment(row)

    async def get_many(self, comment_ids: Iterable[UUID]) -> dict[UUID, Comment]:
        """The comments that exist among ``comment_ids`` (for showing parents beside replies)."""
        ids = list(dict.fromkeys(comment_ids))
        if not ids:
            return {}
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q.GET_COMMENTS, {"comment_ids": ids})).all()
        return {r.id: _comment(r) for r in rows}

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
        return AuthorsComment(_comment(row), bool(row.parent_waiting))

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
            "label_fired": _dumps([{"label": label, "outcome": "hold"}]),
            "label_rejected": _dumps([{"label": label, "outcome": "reject"}]),
            "limit": limit + 1,
        }
        if order == "oldest":
            statement = q.QUEUE_PAGE_OLDEST
            params["after_ts"] = params["after_id"] = None
            if cursor:
                params["after_ts"], params["after_id"] = decode_time_cursor(cursor)
        else:
            statement = q.QUEUE_PAGE_SCORE
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
        return Page([_comment(r) for r in page], next_cursor)

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
                await _change_status(
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
            limit_params = _limit_params(limits)
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


def _limit_params(limits: Limits | None) -> dict[str, Any]:
    checks = limits.checks if limits is not None else ()
    return {
        "rl_keys": [c.key for c in checks],
        "rl_caps": [c.cap for c in checks],
        "rl_shards": [c.shards for c in checks],
        "rl_window": limits.window if limits is not None else 60,
        "rl_bucket": limits.bucket if limits is not None else 10,
    }


async def _refuse(conn: AsyncConnection, limit_params: Mapping[str, Any], detail: str) -> NoReturn:
    """Raise RateLimited with how long to wait; the transaction, and its hit, roll back."""
    wait = (await conn.execute(q.RATE_LIMIT_WAIT, limit_params)).scalar_one()
    raise RateLimited(detail, float(wait))


async def _hold_reported(
    conn: AsyncConnection, comment_id: UUID, site_id: str, networks: int, policy: Policy
) -> None:
    """Send a reported comment back to the queue, saying how many networks reported it."""
    why = f"reported from {networks} networks"
    reports = {"networks": networks, "threshold": policy.report_threshold}
    await _change_status(
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
            "payload": _dumps(
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
    conn: AsyncConnection, site_id: str, key: str, request_hash: bytes
) -> Submitted | None:
    """Take the key for this request (None), or return the stored answer of an earlier one."""
    await conn.execute(q.IDEMPOTENCY_LOCK_TIMEOUT)
    params = {"site_id": site_id, "key": key, "request_hash": request_hash}
    try:
        claimed = (await conn.execute(q.CLAIM_IDEMPOTENCY_KEY, params)).first()
    except sa_exc.DBAPIError as error:
        if sqlstate(error) == "55P03":  # lock_not_available: the first is still running
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly."
            ) from None
        raise
    if claimed is not None:
        await conn.execute(q.IDEMPOTENCY_LOCK_TIMEOUT_OFF)
        return None
    row = (await conn.execute(q.GET_IDEMPOTENCY_KEY, params)).one()
    if bytes(row.request_hash) != request_hash:
        raise InvalidInput(
            [FieldError("Idempotency-Key", "was already used for a different request")]
        )
    answer = row.response
    if answer is None:  # cannot happen: the answer is saved in the claiming transaction
        raise Conflict("A request with this Idempotency-Key has not finished; retry shortly.")
    return Submitted(
        id=CommentId(UUID(answer["id"])),
        created_at=datetime.fromisoformat(answer["created_at"]),
        author_token=answer["author_token"],
        replayed=True,
    )


async def _change_status(
    conn: AsyncConnection,
    *,
    comment_id: UUID,
    site_id: str,
    from_status: Status | None,
    to_status: Status,
    actor_kind: ActorKind,
    actor: str,
    reason: str | None,
    explanation: Mapping[str, Any] | None = None,
    update_comment: bool = True,
) -> None:
    """Record a status change: the comment, its audit row and its outbox event, together."""
    if update_comment:
        await conn.execute(
            q.SET_STATUS, {"comment_id": comment_id, "status": to_status, "reason": reason}
        )
    await conn.execute(
        q.INSERT_AUDIT,
        {
            "comment_id": comment_id,
            "site_id": site_id,
            "from_status": from_status,
            "to_status": to_status,
            "actor_kind": actor_kind,
            "actor": actor,
            "reason": reason,
            "explanation": None if explanation is None else _dumps(explanation),
        },
    )
    if to_status != "pending":
        await conn.execute(
            q.INSERT_OUTBOX,
            {
                "event_type": f"comment.{to_status}",
                "site_id": site_id,
                "comment_id": comment_id,
                "payload": _dumps(
                    {
                        "comment_id": str(comment_id),
                        "site_id": site_id,
                        "from_status": from_status,
                        "status": to_status,
                        "by": {"kind": actor_kind, "name": actor},
                        "reason": reason,
                        "explanation": explanation,
                    }
                ),
            },
        )


# --- scoring jobs -----------------------------------------------------------------------


class JobStore:
    """The scoring queue, shared by any number of workers through PostgreSQL row locks."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(self, worker_id: str, *, limit: int, lease_seconds: float) -> list[ClaimedJob]:
        """Take up to ``limit`` ready jobs (and jobs whose worker died) under a lease."""
        async with self._engine.begin() as conn:
            claimed = (
                await conn.execute(
                    q.CLAIM_JOBS,
                    {"worker_id": worker_id, "limit": limit, "lease_seconds": lease_seconds},
                )
            ).all()
            if not claimed:
                return []
            attempts = {r.comment_id: r.attempts for r in claimed}
            rows = (await conn.execute(q.JOB_CONTEXT, {"comment_ids": list(attempts)})).all()
        jobs = []
        for r in rows:
            policy = Policy.from_json(r.policy, version=r.policy_version)
            source: Literal["site", "article"] = "site"
            if r.policy_override is not None:
                policy = policy.with_override(r.policy_override)
                source = "article"
            jobs.append(
                ClaimedJob(
                    comment_id=CommentId(r.id),
                    attempts=attempts[r.id],
                    body=r.body,
                    status=r.status,
                    site_id=r.site_id,
                    article_id=r.article_id,
                    policy=policy,
                    policy_source=source,
                )
            )
        return jobs

    async def complete(self, model: ModelInfo, scored: Sequence[ScoredComment]) -> int:
        """Store scores and decisions and finish the jobs, in one transaction.

        A comment already scored by this model version (its job ran twice) is skipped; a
        comment a moderator already decided keeps that decision. Returns how many
        comments this call decided.
        """
        decided = 0
        async with self._engine.begin() as conn:
            for item in scored:
                first = (
                    await conn.execute(
                        q.INSERT_SCORES,
                        {
                            "comment_id": item.comment_id,
                            "model_name": model.name,
                            "model_version": model.version,
                            "scores": _dumps(dict(item.scores)),
                        },
                    )
                ).first()
                if first is None:
                    continue
                decision = item.decision
                values = {
                    "comment_id": item.comment_id,
                    "scores": _dumps(dict(item.scores)),
                    "max_score": max_score(item.scores),
                    "explanation": _dumps(decision.explanation),
                }
                row = (
                    await conn.execute(
                        q.APPLY_MODEL_DECISION,
                        {**values, "status": decision.verdict, "reason": decision.rule},
                    )
                ).first()
                if row is None:
                    await conn.execute(q.RECORD_LATE_SCORES, values)
                    continue
                await _change_status(
                    conn,
                    comment_id=item.comment_id,
                    site_id=row.site_id,
                    from_status="pending",
                    to_status=decision.verdict,
                    actor_kind="model",
                    actor=f"{model.name}@{model.version}",
                    reason=decision.explanation["reason"],
                    explanation=decision.explanation,
                    update_comment=False,
                )
                decided += 1
            await conn.execute(q.FINISH_JOBS, {"comment_ids": [item.comment_id for item in scored]})
        return decided

    async def finish(self, comment_ids: Iterable[UUID]) -> None:
        """Close jobs with nothing left to do (their comment was already decided)."""
        async with self._engine.begin() as conn:
            await conn.execute(q.FINISH_JOBS, {"comment_ids": list(comment_ids)})

    async def retry_or_hold(
        self,
        jobs: Sequence[ClaimedJob],
        error: str,
        *,
        max_attempts: int,
        delay_for: Callable[[int], float],
    ) -> tuple[int, int]:
        """After a failed attempt: back off and retry, or, past the last attempt, hold the
        comment for a human with the reason. Never approves. Returns (retried, held)."""
        retried = held = 0
        async with self._engine.begin() as conn:
            for job in jobs:
                if job.attempts < max_attempts:
                    await conn.execute(
                        q.RETRY_JOB,
                        {
                            "comment_id": job.comment_id,
                            "error": error[:2000],
                            "delay_seconds": float(delay_for(job.attempts)),
                        },
                    )
                    retried += 1
                    continue
                await conn.execute(
                    q.FAIL_JOB, {"comment_id": job.comment_id, "error": error[:2000]}
                )
                reason = f"scoring failed after {job.attempts} attempts: {error[:500]}"
                row = (
                    await conn.execute(
                        q.HOLD_PENDING, {"comment_id": job.comment_id, "reason": reason}
                    )
                ).first()
                if row is not None:
                    await _change_status(
                        conn,
                        comment_id=job.comment_id,
                        site_id=row.site_id,
                        from_status="pending",
                        to_status="held",
                        actor_kind="system",
                        actor="system",
                        reason=reason,
                        update_comment=False,
                    )
                held += 1
        return retried, held

    async def release(self, worker_id: str, comment_ids: Iterable[UUID]) -> None:
        """Hand unscored jobs back on shutdown, without counting the attempt."""
        async with self._engine.begin() as conn:
            await conn.execute(
                q.RELEASE_JOBS, {"comment_ids": list(comment_ids), "worker_id": worker_id}
            )

    async def heartbeat(
        self, worker_id: str, hostname: str, pid: int, model: ModelInfo | None
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                q.HEARTBEAT,
                {
                    "worker_id": worker_id,
                    "hostname": hostname,
                    "pid": pid,
                    "model_name": model.name if model else None,
                    "model_version": model.version if model else None,
                },
            )

    async def remove_worker(self, worker_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(q.REMOVE_WORKER, {"worker_id": worker_id})

    async def check_backlog(self) -> list[str]:
        """Open or close each site's backlog episode; returns the sites newly in backlog.

        A site is in backlog while its oldest unscored comment is older than its policy's
        ``backlog_seconds``. Opening an episode writes one ``queue.backlog`` event; the
        unique open-episode index makes that once per episode however many workers check.
        """
        opened: list[str] = []
        async with self._engine.begin() as conn:
            for row in (await conn.execute(q.BACKLOG_STATE)).all():
                limit = Policy.from_json(row.policy, version=row.policy_version).backlog_seconds
                age = float(row.oldest_age or 0.0)
                if age > limit and row.episode_id is None:
                    created = (
                        await conn.execute(
                            q.OPEN_BACKLOG, {"site_id": row.site_id, "oldest_age": age}
                        )
                    ).first()
                    if created is None:
                        continue
                    await conn.execute(
                        q.INSERT_SITE_EVENT,
                        {
                            "event_type": "queue.backlog",
                            "site_id": row.site_id,
                            "payload": _dumps(
                                {
                                    "site_id": row.site_id,
                                    "oldest_pending_seconds": round(age, 1),
                                    "limit_seconds": limit,
                                }
                            ),
                        },
                    )
                    opened.append(row.site_id)
                elif age <= limit and row.episode_id is not None:
                    await conn.execute(q.CLOSE_BACKLOG, {"episode_id": row.episode_id})
        return opened

    async def open_backlogs(self) -> list[dict[str, Any]]:
        """Sites whose scoring is behind their limit right now, for /readyz and /metrics."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q.OPEN_BACKLOGS)).all()
        return [
            {"site": r.site_id, "since": r.started_at.isoformat(), "oldest_age": r.oldest_age}
            for r in rows
        ]

    async def sweep_idempotency_keys(self, keep_seconds: float) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(q.SWEEP_IDEMPOTENCY_KEYS, {"keep": keep_seconds})
        return int(getattr(result, "rowcount", 0) or 0)

    async def sweep_rate_limits(self, batch: int = 10_000) -> int:
        """Delete up to ``batch`` rate-limit counts whose window has passed; how many went."""
        async with self._engine.begin() as conn:
            result = await conn.execute(q.SWEEP_RATE_LIMITS, {"batch": batch})
        return int(getattr(result, "rowcount", 0) or 0)

    async def stats(self) -> dict[str, float]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(q.QUEUE_STATS)).one()
        return {k: float(v or 0) for k, v in row._mapping.items()}


# --- tokens and health ------------------------------------------------------------------


class TokenStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self, role: Role, sites: Sequence[str] | None, label: str = "", *, actor: str = "cli"
    ) -> str:
        """Make a token and return it: the only time it is ever seen. Only its hash is kept;
        the staff audit records ``actor`` made it."""
        if role == "moderator" and not sites:
            raise InvalidInput([FieldError("sites", "a moderator token needs at least one site")])
        token = "rg_" + secrets.token_urlsafe(32)
        stored_sites = None if role == "admin" and not sites else list(sites or [])
        async with self._engine.begin() as conn:
            token_id = (
                await conn.execute(
                    q.INSERT_TOKEN,
                    {
                        "token_hash": hash_token(token),
                        "role": role,
                        "sites": stored_sites,
                        "label": label,
                    },
                )
            ).scalar_one()
            await conn.execute(
                sq.INSERT_STAFF_AUDIT,
                {
                    "action": "token.created",
                    "target": f"token:{token_id}",
                    "sites": stored_sites,
                    "actor": actor,
                },
            )
        return token

    async def principal(self, token: str) -> Principal | None:
        """The token's standing, or None when it is unknown or revoked (checked each time)."""
        async with self._engine.begin() as conn:
            row = (await conn.execute(q.FIND_TOKEN, {"token_hash": hash_token(token)})).first()
        if row is None:
            return None
        sites = None if row.sites is None else frozenset(row.sites)
        return Principal(token_id=row.id, role=cast(Role, row.role), sites=sites, label=row.label)

    async def admin_count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(q.COUNT_ADMIN_TOKENS)).scalar_one())


class HealthStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self, stale_seconds: float) -> dict[str, Any]:
        """What /readyz reports: schema version and live scorers (raises if the DB is down)."""
        async with self._engine.connect() as conn:
            version = (await conn.execute(q.SCHEMA_VERSION)).scalar()
            scorers = (
                await conn.execute(q.LIVE_SCORERS, {"stale_seconds": stale_seconds})
            ).scalar_one()
        return {"schema_version": version, "live_scorers": int(scorers)}


# --- authors' data ------------------------------------------------------------------------


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
        return [(_comment(r), None if r.author_key is None else bytes(r.author_key)) for r in rows]

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
