"""The stores behind the moderator's page: people and their sessions, sign-in slow-down,
claims, the live queue, the policy preview's sample and calibration's decisions. SQL is in
``service.store.review_queries``.

Each public method is one transaction and returns domain objects, as in ``service.store.comments``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.calibration import ModeratorDecision
from moderation.domain import ActorKind, Comment, CommentId, ModelInfo, Status
from moderation.errors import FieldError
from service.errors import InvalidInput, NotFound
from service.store import review_queries as pq
from service.store import staff_queries as sq
from service.store.values import Principal, Role

# --- values -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    """Someone who signs in to the moderator's page."""

    id: int
    name: str
    role: Role
    #: None: every site (an admin).
    sites: frozenset[str] | None

    def principal(self) -> Principal:
        """The same standing a bearer token with this role and these sites has; the API
        records the person's name as the actor."""
        return Principal(token_id=0, role=self.role, sites=self.sites, label=self.name)


@dataclass(frozen=True, slots=True)
class Credentials:
    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class LiveSession:
    user: User
    expires_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """An actor looking at a comment, until ``expires_at``."""

    comment_id: CommentId
    actor: str
    claimed_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """One status change, with where the comment stands now."""

    audit_id: int
    comment_id: CommentId
    site_id: str
    article_id: str
    from_status: Status | None
    to_status: Status
    status: Status
    actor_kind: ActorKind
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Changes:
    #: The database's clock when the changes were read: the next poll's ``since``.
    now: datetime
    items: list[Change]
    claims: list[Claim]


@dataclass(frozen=True, slots=True)
class WaitingArticle:
    site_id: str
    article_id: str
    title: str | None
    waiting: int
    oldest_seconds: float


@dataclass(frozen=True, slots=True)
class QueueSummary:
    #: pending and held: all of them; approved and rejected: those that arrived in 24 hours.
    counts: dict[str, int]
    #: Seconds the oldest pending and the oldest held comment have waited (None: none).
    oldest_seconds: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class DecidedSample:
    """A decided comment with the scores its decision came from."""

    id: CommentId
    body: str
    status: Status
    scores: dict[str, float]
    model: ModelInfo


def _sites_param(principal: Principal, site_id: str | None) -> list[str] | None:
    if site_id is not None:
        if not principal.may_see(site_id):
            raise NotFound(f"No site {site_id!r}.")
        return [site_id]
    return None if principal.sites is None else sorted(principal.sites)


def _user(m: Any) -> User:
    sites = None if m["sites"] is None else frozenset(m["sites"])
    return User(id=m["user_id"], name=m["name"], role=cast(Role, m["role"]), sites=sites)


def _claim(row: Row[Any]) -> Claim:
    return Claim(CommentId(row.comment_id), row.actor, row.claimed_at, row.expires_at)


# --- users and sessions -------------------------------------------------------------------


class UserStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def put(
        self,
        name: str,
        password_hash: str,
        role: Role,
        sites: Sequence[str] | None,
        *,
        actor: str = "cli",
    ) -> bool:
        """Create a user, or replace an existing one's password, role and sites (and end
        its sessions, so a reset password locks out whoever had the old one; a disabled
        user is enabled again). The staff audit records ``actor`` did it. True when
        created."""
        if role == "moderator" and not sites:
            raise InvalidInput([FieldError("sites", "a moderator needs at least one site")])
        stored_sites = None if role == "admin" and not sites else list(sites or [])
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    pq.UPSERT_USER,
                    {
                        "name": name,
                        "password_hash": password_hash,
                        "role": role,
                        "sites": stored_sites,
                    },
                )
            ).one()
            if not row.created:
                await conn.execute(pq.DELETE_USER_SESSIONS, {"user_id": row.id})
            await conn.execute(
                sq.INSERT_STAFF_AUDIT,
                {
                    "action": "user.created" if row.created else "user.updated",
                    "target": f"user:{name}",
                    "sites": stored_sites,
                    "actor": actor,
                },
            )
        return bool(row.created)

    async def credentials(self, name: str) -> Credentials | None:
        """The enabled user of that name and their password hash, or None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(pq.FIND_USER, {"name": name})).first()
        if row is None:
            return None
        m = dict(row._mapping)
        m["user_id"] = m.pop("id")
        return Credentials(_user(m), m["password_hash"])

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                pq.UPDATE_PASSWORD_HASH, {"user_id": user_id, "password_hash": password_hash}
            )


class SessionStore:
    """Signed-in browsers, keyed by a hash of the cookie's secret."""

    def __init__(self, engine: AsyncEngine, *, idle_seconds: float, max_seconds: float) -> None:
        self._engine = engine
        self._idle = idle_seconds
        self._max = max_seconds

    async def start(self, id_hash: bytes, user: User, *, user_agent: str, remote: str) -> None:
        """Record a new session (and clear out sessions that have ended, anyone's)."""
        async with self._engine.begin() as conn:
            await conn.execute(pq.PURGE_SESSIONS, {"idle_seconds": self._idle})
            await conn.execute(
                pq.INSERT_SESSION,
                {
                    "id_hash": id_hash,
                    "user_id": user.id,
                    "max_seconds": self._max,
                    "user_agent": user_agent[:300],
                    "remote": remote[:100],
                },
            )

    async def resolve(self, id_hash: bytes, *, touch: bool) -> LiveSession | None:
        """The live session, or None when unknown, idle too long or past its end.

        ``touch`` marks it used (the person did something); the page's background polling
        passes False, so an unattended page still times out.
        """
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    pq.RESOLVE_SESSION,
                    {"id_hash": id_hash, "idle_seconds": self._idle, "touch": touch},
                )
            ).first()
        if row is None:
            return None
        return LiveSession(_user(row._mapping), row.expires_at, row.last_seen_at)

    async def end(self, id_hash: bytes) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(pq.DELETE_SESSION, {"id_hash": id_hash})


class SignInThrottle:
    """Counts failed sign-ins per key and says until when a key must wait.

    A key's first ``free`` failures in a window cost nothing extra; each one after that
    blocks the key for twice as long as the last, up to ``cap`` seconds.
    """

    def __init__(self, engine: AsyncEngine, *, window_seconds: float = 900.0) -> None:
        self._engine = engine
        self._window = window_seconds

    async def blocked_until(self, keys: Sequence[str]) -> datetime | None:
        async with self._engine.connect() as conn:
            value = (await conn.execute(pq.SIGN_IN_BLOCKED_UNTIL, {"keys": list(keys)})).scalar()
        return cast(datetime | None, value)

    async def failed(self, key: str, *, free: int, cap: float) -> datetime | None:
        """Count a failure; returns until when the key is now blocked, if it is."""
        async with self._engine.begin() as conn:
            failures = int(
                (
                    await conn.execute(
                        pq.RECORD_SIGN_IN_FAILURE, {"key": key, "window_seconds": self._window}
                    )
                ).scalar_one()
            )
            if failures <= free:
                return None
            seconds = min(2.0 ** (failures - free - 1), cap)
            until = (
                await conn.execute(pq.BLOCK_SIGN_IN, {"key": key, "seconds": seconds})
            ).scalar_one()
        return cast(datetime, until)

    async def clear(self, key: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(pq.CLEAR_SIGN_IN_FAILURES, {"key": key})


# --- claims and the live queue ------------------------------------------------------------


class ReviewStore:
    """What moderators working one queue together need: claims, changes, counts."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(self, principal: Principal, comment: Comment, seconds: float) -> Claim:
        """Claim ``comment`` for the principal, releasing their other claim. Returns the
        claim that stands: theirs, or another moderator's live one."""
        actor = principal.actor
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    pq.CLAIM,
                    {
                        "comment_id": comment.id,
                        "site_id": comment.site_id,
                        "actor": actor,
                        "seconds": seconds,
                    },
                )
            ).first()
        if row is not None:
            return _claim(row)
        async with self._engine.connect() as conn:
            row = (await conn.execute(pq.GET_CLAIM, {"comment_id": comment.id})).first()
        if row is None:
            # The other claim lapsed between the two statements: try once more.
            return await self.claim(principal, comment, seconds)
        return _claim(row)

    async def release(self, principal: Principal, comment_id: UUID) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                pq.RELEASE_CLAIM, {"comment_id": comment_id, "actor": principal.actor}
            )

    async def changes(
        self, principal: Principal, *, site_id: str | None, since: datetime | None, limit: int
    ) -> Changes:
        """Status changes on the principal's sites since ``since`` (none on a first call,
        which only learns the clock), and every live claim on those sites."""
        sites = _sites_param(principal, site_id)
        async with self._engine.connect() as conn:
            now = (await conn.execute(pq.SERVER_NOW)).scalar_one()
            rows = (
                []
                if since is None
                else (
                    await conn.execute(
                        pq.CHANGES_SINCE, {"since": since, "sites": sites, "limit": limit}
                    )
                ).all()
            )
            claims = (await conn.execute(pq.LIVE_CLAIMS, {"sites": sites})).all()
        items = [
            Change(
                audit_id=r.audit_id,
                comment_id=CommentId(r.comment_id),
                site_id=r.site_id,
                article_id=r.article_id,
                from_status=r.from_status,
                to_status=r.to_status,
                status=r.current_status,
                actor_kind=r.actor_kind,
                actor=r.actor,
                at=r.created_at,
            )
            for r in rows
        ]
        return Changes(now=now, items=items, claims=[_claim(r) for r in claims])

    async def summary(
        self, principal: Principal, *, site_id: str | None, article_id: str | None
    ) -> QueueSummary:
        """Counts per status and how long the oldest waiting comments have waited."""
        sites = _sites_param(principal, site_id)
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(pq.QUEUE_SUMMARY, {"sites": sites, "article_id": article_id})
            ).all()
        counts = {"pending": 0, "held": 0, "approved": 0, "rejected": 0}
        oldest: dict[str, float | None] = {"pending": None, "held": None}
        for r in rows:
            counts[r.status] = int(r.n)
            if r.status in oldest:
                oldest[r.status] = float(r.oldest_seconds)
        return QueueSummary(counts, oldest)

    async def waiting_articles(
        self, principal: Principal, *, site_id: str | None, status: Status
    ) -> list[WaitingArticle]:
        """The 50 articles with the most comments in ``status``, most first."""
        sites = _sites_param(principal, site_id)
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(pq.WAITING_ARTICLES, {"sites": sites, "status": status})
            ).all()
        return [
            WaitingArticle(
                r.site_id, r.article_id, r.title, int(r.waiting), float(r.oldest_seconds)
            )
            for r in rows
        ]

    async def sites(self, principal: Principal) -> list[tuple[str, str]]:
        """(id, name) of the sites the principal covers, by id."""
        sites = None if principal.sites is None else sorted(principal.sites)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(pq.LIST_SITES, {"sites": sites})).all()
        return [(r.id, r.name) for r in rows]

    async def recent_decided(self, site_id: str, limit: int) -> list[DecidedSample]:
        """The site's ``limit`` most recent decided comments that carry model scores."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(pq.RECENT_DECIDED, {"site_id": site_id, "limit": limit})
            ).all()
        return [
            DecidedSample(
                id=CommentId(r.id),
                body=r.body,
                status=r.status,
                scores=_scores(r),
                model=_model(r),
            )
            for r in rows
        ]

    async def moderator_decisions(self, site_id: str, limit: int) -> list[ModeratorDecision]:
        """The moderators' last word on up to ``limit`` comments the model held, the most
        recent first, each with the scores it was held with: the input of
        ``moderation.calibration.calibrate``."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(pq.MODERATOR_DECISIONS, {"site_id": site_id, "limit": limit})
            ).all()
        return [ModeratorDecision(_scores(r), bool(r.rejected), _model(r)) for r in rows]


def _scores(row: Row[Any]) -> dict[str, float]:
    """A comment's stored scores; a label the model could not score is stored as null."""
    return {k: float(v) for k, v in row.scores.items() if v is not None}


def _model(row: Row[Any]) -> ModelInfo:
    """The model named in a comment's explanation (empty names where there is none)."""
    model = row.model if isinstance(row.model, dict) else {}
    return ModelInfo(str(model.get("name", "")), str(model.get("version", "")))
