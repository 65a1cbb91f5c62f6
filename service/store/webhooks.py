"""The webhook store: endpoints, the fan-out of outbox events, and the delivery queue.

Each public method is one transaction. SQL lives in ``service.store.webhook_queries``; this
module binds parameters, keeps the transaction boundaries and shapes rows into objects.
The event bodies are rendered here, once per event, at fan-out: the same bytes are signed
and sent on every retry and redelivery.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, cast
from uuid import UUID

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from service.errors import Conflict, NotFound
from service.store import webhook_queries as q
from service.store.values import Page, Principal
from service.times import iso

#: Events an endpoint can subscribe to. ``webhook.test`` is sent on demand only.
SUBSCRIBABLE_EVENTS: Final[tuple[str, ...]] = (
    "comment.held",
    "comment.approved",
    "comment.rejected",
    "comment.reported",
    "queue.backlog",
    # An author banned or suspended on a site, and the sanction lifted (issue 12).
    "author.sanctioned",
    "author.unsanctioned",
    # A model promoted or rolled back for the site, or for every site (issue 13).
    "model.promoted",
)
TEST_EVENT: Final = "webhook.test"
#: Outbox events that record a status change, and so carry a decision.
_DECISION_EVENTS: Final = frozenset({"comment.held", "comment.approved", "comment.rejected"})

DeliveryState = Literal["pending", "delivering", "delivered", "failed", "dead"]
DELIVERY_STATES: Final[tuple[DeliveryState, ...]] = (
    "pending",
    "delivering",
    "delivered",
    "failed",
    "dead",
)
#: How much of a receiver's answer is kept, for people reading the deliveries list.
RESPONSE_EXCERPT_CHARS: Final = 1000


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


# --- values the store takes and gives ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: UUID
    url: str
    #: None: every site.
    site_id: str | None
    events: tuple[str, ...]
    description: str
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    disabled_by: str | None
    #: The first failed attempt since the last success; None while healthy.
    failing_since: datetime | None
    #: While a rotated-out secret still signs, until when.
    previous_secret_until: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    endpoint_id: UUID
    message_id: UUID
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_duration_ms: int | None
    last_status_code: int | None
    last_error: str | None
    last_response: str | None
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a deliverer holds the lease on, with everything one attempt needs."""

    id: int
    endpoint_id: UUID
    message_id: UUID
    event_type: str
    #: Attempts already finished (so this one is number ``attempts + 1``).
    attempts: int
    url: str
    #: The current secret first, then the rotated-out one while it still signs.
    secrets: tuple[str, ...]
    body: str


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """How an attempt ended and what happens next, as the deliverer decided."""

    state: DeliveryState
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response: str | None
    #: When to try again (state ``pending``), else None.
    next_attempt_at: datetime | None
    #: Disable the endpoint with this reason (a 410 answer).
    disable_reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "delivered"


@dataclass(frozen=True, slots=True)
class FanOut:
    events: int
    deliveries: int


@dataclass(frozen=True, slots=True)
class Purged:
    """Rows deleted past retention, per table."""

    deliveries: int = 0
    messages: int = 0
    events: int = 0

    def __add__(self, other: Purged) -> Purged:
        return Purged(
            self.deliveries + other.deliveries,
            self.messages + other.messages,
            self.events + other.events,
        )

    def most(self) -> int:
        """The largest count of one table: a batch reaching its limit may have left more."""
        return max(self.deliveries, self.messages, self.events)


def _endpoint(row: Row[Any]) -> Endpoint:
    m = row._mapping
    return Endpoint(
        id=m["id"],
        url=m["url"],
        site_id=m["site_id"],
        events=tuple(m["events"]),
        description=m["description"],
        enabled=m["enabled"],
        disabled_reason=m["disabled_reason"],
        disabled_at=m["disabled_at"],
        disabled_by=m["disabled_by"],
        failing_since=m["failing_since"],
        previous_secret_until=m["previous_secret_until"],
        created_by=m["created_by"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _delivery(row: Row[Any]) -> Delivery:
    m = row._mapping
    return Delivery(
        id=m["id"],
        endpoint_id=m["endpoint_id"],
        message_id=m["message_id"],
        event_type=m["event_type"],
        state=cast(DeliveryState, m["state"]),
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"] if m["state"] == "pending" else None,
        first_attempt_at=m["first_attempt_at"],
        last_attempt_at=m["last_attempt_at"],
        last_duration_ms=m["last_duration_ms"],
        last_status_code=m["last_status_code"],
        last_error=m["last_error"],
        last_response=m["last_response"],
        delivered_at=m["delivered_at"],
        created_at=m["created_at"],
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def event_body(event_type: str, at: datetime, data: Mapping[str, Any]) -> str:
    """The Standard Webhooks body: ``{"type", "timestamp", "data"}``, compact JSON."""
    return _dumps({"type": event_type, "timestamp": iso(at), "data": dict(data)})


def _event_data(row: Row[Any]) -> dict[str, Any]:
    """What an event says: the comment, its article, and the decision or report.

    The comment's status is the one the event recorded, not whatever it is by the time the
    event is sent. The author's email stays out: these bodies leave for staff tools.
    """
    m = row._mapping
    raw = m["payload"]
    payload: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {"payload": raw}
    comment_id = m["comment_id"] or payload.get("comment_id")
    data: dict[str, Any] = {"site_id": m["site_id"]}
    if comment_id is None:
        # A site event (queue.backlog): its payload is all there is to say.
        data.update(payload)
        return data
    if m["body"] is not None:
        data["comment"] = {
            "id": str(comment_id),
            "site_id": m["site_id"],
            "article_id": m["article_id"],
            "parent_id": str(m["parent_id"]) if m["parent_id"] else None,
            "author_name": m["author_name"],
            "body": m["body"],
            "status": payload.get("status", m["status"]),
            "created_at": iso(m["comment_created_at"]),
            "scores": m["scores"],
            "explanation": m["explanation"],
        }
        data["article"] = {
            "id": m["article_id"],
            "title": m["article_title"],
            "url": m["article_url"],
        }
    else:
        data["comment"] = {"id": str(comment_id)}
    if m["event_type"] in _DECISION_EVENTS:
        data["decision"] = {
            "status": payload.get("status"),
            "previous_status": payload.get("from_status"),
            "by": payload.get("by"),
            "reason": payload.get("reason"),
            "explanation": payload.get("explanation"),
        }
    else:
        data.update(
            (k, v) for k, v in payload.items() if k not in ("comment_id", "site_id", "comment")
        )
    return data


# --- the store ----------------------------------------------------------------------------


class WebhookStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # endpoints

    async def create(
        self,
        *,
        url: str,
        events: Sequence[str],
        site_id: str | None,
        description: str,
        created_by: str,
    ) -> tuple[Endpoint, str]:
        """Register an endpoint; returns it with its secret, which is never shown again.

        The URL must already have passed the SSRF guard; the site must exist.
        """
        secret = new_secret()
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    q.INSERT_ENDPOINT,
                    {
                        "url": url,
                        "site_id": site_id,
                        "events": list(events),
                        "description": description,
                        "secret": secret,
                        "created_by": created_by,
                    },
                )
            ).one()
        return _endpoint(row), secret

    async def get(self, endpoint_id: UUID, principal: Principal) -> Endpoint:
        """The endpoint, or NotFound when it does not exist or ``principal`` may not see it."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(q.GET_ENDPOINT, {"endpoint_id": endpoint_id})).first()
        if row is None:
            raise NotFound("No such webhook endpoint.")
        endpoint = _endpoint(row)
        if not _covers(principal, endpoint.site_id):
            raise NotFound("No such webhook endpoint.")
        return endpoint

    async def visible_to(self, principal: Principal, site_id: str | None) -> list[Endpoint]:
        """The endpoints ``principal`` may see (at most 500), oldest first."""
        sites = None if principal.sites is None else sorted(principal.sites)
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    q.LIST_ENDPOINTS, {"sites": sites, "site_id": site_id, "limit": 500}
                )
            ).all()
        return [_endpoint(r) for r in rows]

    async def update(
        self,
        endpoint_id: UUID,
        principal: Principal,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        rotate_secret: bool = False,
        secret_overlap: float = 86400.0,
    ) -> tuple[Endpoint, str | None]:
        """Change an endpoint; returns it, with the new secret when one was made.

        Rotating keeps the old secret signing beside the new one for ``secret_overlap``
        seconds. Enabling clears the disabled reason and the failure clock.
        """
        await self.get(endpoint_id, principal)
        new = new_secret() if rotate_secret else None
        async with self._engine.begin() as conn:
            params = {"endpoint_id": endpoint_id}
            row = (
                await conn.execute(
                    q.UPDATE_ENDPOINT,
                    {
                        **params,
                        "url": url,
                        "events": None if events is None else list(events),
                        "description": description,
                    },
                )
            ).first()
            if row is None:
                raise NotFound("No such webhook endpoint.")
            if enabled is True:
                row = (await conn.execute(q.ENABLE_ENDPOINT, params)).one()
            elif enabled is False:
                row = (
                    await conn.execute(
                        q.DISABLE_ENDPOINT,
                        {
                            **params,
                            "reason": "disabled by an admin",
                            "by": principal.actor,
                            "now": datetime.now(UTC),
                        },
                    )
                ).first() or row
            if new is not None:
                row = (
                    await conn.execute(
                        q.ROTATE_SECRET,
                        {**params, "secret": new, "overlap_seconds": secret_overlap},
                    )
                ).one()
        return _endpoint(row), new

    async def delete(self, endpoint_id: UUID, principal: Principal) -> None:
        """Remove an endpoint and its deliveries."""
        await self.get(endpoint_id, principal)
        async with self._engine.begin() as conn:
            await conn.execute(q.DELETE_ENDPOINT, {"endpoint_id": endpoint_id})

    # deliveries, as the API shows them

    async def deliveries(
        self,
        endpoint_id: UUID,
        principal: Principal,
        *,
        state: DeliveryState | None,
        before_id: int | None,
        limit: int,
    ) -> Page[Delivery]:
        """A page of the endpoint's deliveries, newest first; the cursor is the last id."""
        await self.get(endpoint_id, principal)
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    q.DELIVERIES_PAGE,
                    {
                        "endpoint_id": endpoint_id,
                        "state": state,
                        "before_id": before_id,
                        "limit": limit + 1,
                    },
                )
            ).all()
        items = [_delivery(r) for r in rows[:limit]]
        next_cursor = str(items[-1].id) if len(rows) > limit else None
        return Page(items, next_cursor)

    async def get_delivery(
        self, endpoint_id: UUID, delivery_id: int, principal: Principal
    ) -> Delivery:
        await self.get(endpoint_id, principal)
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    q.GET_DELIVERY, {"endpoint_id": endpoint_id, "delivery_id": delivery_id}
                )
            ).first()
        if row is None:
            raise NotFound("No such delivery.")
        return _delivery(row)

    async def redeliver(
        self, endpoint_id: UUID, delivery_id: int, principal: Principal
    ) -> Delivery:
        """Send a finished delivery again, same webhook-id, with a fresh set of attempts.

        Conflict when it is still queued or in flight.
        """
        await self.get_delivery(endpoint_id, delivery_id, principal)
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    q.REDELIVER_ONE,
                    {
                        "endpoint_id": endpoint_id,
                        "delivery_id": delivery_id,
                        "now": datetime.now(UTC),
                    },
                )
            ).first()
            if row is None:
                raise Conflict("That delivery is still queued or being delivered.")
            await conn.execute(q.NOTIFY_DELIVERERS)
        return _delivery(row)

    async def redeliver_failed(
        self, endpoint_id: UUID, principal: Principal, since: datetime
    ) -> int:
        """Queue again every failed or dead delivery created since ``since``; how many."""
        await self.get(endpoint_id, principal)
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    q.REDELIVER_FAILED,
                    {"endpoint_id": endpoint_id, "since": since, "now": datetime.now(UTC)},
                )
            ).all()
            if rows:
                await conn.execute(q.NOTIFY_DELIVERERS)
        return len(rows)

    async def send_test(self, endpoint_id: UUID, principal: Principal) -> Delivery:
        """Queue a ``webhook.test`` event for one endpoint, whatever it subscribes to.

        Conflict when the endpoint is disabled: nothing would be sent.
        """
        endpoint = await self.get(endpoint_id, principal)
        if not endpoint.enabled:
            raise Conflict("The endpoint is disabled; enable it before testing it.")
        message_id = uuid.uuid4()
        now = datetime.now(UTC)
        body = event_body(
            TEST_EVENT,
            now,
            {
                "endpoint_id": str(endpoint.id),
                "site_id": endpoint.site_id,
                "message": "A test event from replyguard. No action is needed.",
                "requested_by": principal.actor,
            },
        )
        async with self._engine.begin() as conn:
            await conn.execute(
                q.INSERT_MESSAGE,
                {
                    "message_id": message_id,
                    "event_type": TEST_EVENT,
                    "site_id": endpoint.site_id,
                    "body": body,
                    "created_at": now,
                },
            )
            row = (
                await conn.execute(
                    q.INSERT_DELIVERY,
                    {
                        "endpoint_id": endpoint.id,
                        "message_id": message_id,
                        "event_type": TEST_EVENT,
                        "now": now,
                    },
                )
            ).one()
        return _delivery(row)

    async def stats(self) -> dict[str, float]:
        """Queue depths for metrics and benchmarks."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(q.DELIVERY_STATS)).one()
        return {k: float(v or 0) for k, v in row._mapping.items()}

    # the deliverer's side

    async def fan_out(self, *, limit: int, now: datetime) -> FanOut:
        """Turn up to ``limit`` outbox events into messages and deliveries, and mark them.

        One transaction: a deliverer killed half-way leaves the events unmarked and
        nothing else, and the next fan-out takes them.
        """
        async with self._engine.begin() as conn:
            rows = (await conn.execute(q.CLAIM_OUTBOX, {"limit": limit})).all()
            if not rows:
                return FanOut(0, 0)
            await conn.execute(
                q.INSERT_MESSAGE,
                [
                    {
                        "message_id": r.id,
                        "event_type": r.event_type,
                        "site_id": r.site_id,
                        "body": event_body(r.event_type, r.created_at, _event_data(r)),
                        "created_at": r.created_at,
                    }
                    for r in rows
                ],
            )
            ids = [r.id for r in rows]
            created = (
                await conn.execute(q.FAN_OUT_DELIVERIES, {"message_ids": ids, "now": now})
            ).all()
            await conn.execute(q.MARK_FANNED_OUT, {"outbox_ids": ids})
        return FanOut(len(rows), len(created))

    async def claim(
        self,
        worker_id: str,
        *,
        limit: int,
        per_endpoint: int,
        busy: Collection[UUID],
        lease_seconds: float,
        now: datetime,
    ) -> list[ClaimedDelivery]:
        """Take up to ``limit`` due deliveries (and ones whose deliverer died) under a lease.

        ``busy`` endpoints, already at this process's bound, get none.
        """
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    q.CLAIM_DELIVERIES,
                    {
                        "worker_id": worker_id,
                        "limit": limit,
                        "per_endpoint": per_endpoint,
                        "busy": list(busy),
                        "lease_seconds": lease_seconds,
                        "now": now,
                    },
                )
            ).all()
        return [
            ClaimedDelivery(
                id=r.id,
                endpoint_id=r.endpoint_id,
                message_id=r.message_id,
                event_type=r.event_type,
                attempts=r.attempts,
                url=r.url,
                secrets=tuple(s for s in (r.secret, r.previous_secret) if s),
                body=r.body,
            )
            for r in rows
        ]

    async def record(
        self,
        worker_id: str,
        delivery: ClaimedDelivery,
        attempt: AttemptRecord,
        *,
        disable_after: timedelta,
    ) -> Endpoint | None:
        """Store an attempt's outcome and the endpoint's health, in one transaction.

        A failure starts (or continues) the endpoint's failure clock; past
        ``disable_after`` of continuous failure, or on ``attempt.disable_reason``, the
        endpoint is disabled and returned (None otherwise). An attempt whose lease was
        taken over meanwhile is dropped: the new holder's attempt counts.
        """
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    q.RECORD_ATTEMPT,
                    {
                        "delivery_id": delivery.id,
                        "worker_id": worker_id,
                        "state": attempt.state,
                        "next_attempt_at": attempt.next_attempt_at,
                        "started_at": attempt.started_at,
                        "finished_at": attempt.finished_at,
                        "duration_ms": attempt.duration_ms,
                        "status_code": attempt.status_code,
                        "error": None if attempt.error is None else attempt.error[:2000],
                        "response": None
                        if attempt.response is None
                        else attempt.response[:RESPONSE_EXCERPT_CHARS],
                    },
                )
            ).first()
            if row is None:
                return None
            params = {"endpoint_id": delivery.endpoint_id}
            if attempt.succeeded:
                await conn.execute(q.ENDPOINT_SUCCEEDED, params)
                return None
            health = (
                await conn.execute(q.ENDPOINT_FAILED, {**params, "now": attempt.finished_at})
            ).first()
            if health is None or not health.enabled:
                return None
            reason = attempt.disable_reason
            if reason is None and attempt.finished_at - health.failing_since >= disable_after:
                reason = (
                    f"failing continuously since {iso(health.failing_since)} "
                    f"(more than {disable_after.days} days)"
                )
            if reason is None:
                return None
            disabled = (
                await conn.execute(
                    q.DISABLE_ENDPOINT,
                    {**params, "reason": reason, "by": "system", "now": attempt.finished_at},
                )
            ).first()
        return None if disabled is None else _endpoint(disabled)

    async def purge_batch(self, *, before: datetime, limit: int) -> Purged:
        """Delete at most ``limit`` rows of each table that are past retention (``before``).

        In this order, one transaction: finished deliveries last attempted before
        ``before``; then messages no delivery refers to; then outbox events whose message
        is gone. Pending or in-flight deliveries, their messages and events, and events not
        yet fanned out are never deleted. The audit log is not touched.
        """
        params = {"before": before, "limit": limit}
        async with self._engine.begin() as conn:
            deliveries = (await conn.execute(q.PURGE_DELIVERIES, params)).rowcount
            messages = (await conn.execute(q.PURGE_MESSAGES, params)).rowcount
            events = (await conn.execute(q.PURGE_OUTBOX, params)).rowcount
        return Purged(deliveries, messages, events)

    async def release(self, worker_id: str, delivery_ids: Collection[int]) -> None:
        """Hand back deliveries not finished at shutdown, counting nothing."""
        if not delivery_ids:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                q.RELEASE_DELIVERIES,
                {"delivery_ids": list(delivery_ids), "worker_id": worker_id},
            )


def _covers(principal: Principal, site_id: str | None) -> bool:
    """An all-sites endpoint belongs to all-sites admins; a site's, to its admins."""
    if site_id is None:
        return principal.sites is None
    return principal.may_see(site_id)


def covers(principal: Principal, site_id: str | None) -> bool:
    """Whether ``principal`` may manage endpoints for ``site_id`` (None: every site)."""
    return principal.role == "admin" and _covers(principal, site_id)
