"""The webhook deliverer: outbox events out to staff endpoints, signed, at least once.

Two steps, both through PostgreSQL so any number of deliverers can run side by side:

* fan-out: a batch of outbox rows becomes one message (the body, rendered once) and one
  delivery per matching endpoint, and the rows are marked, in one transaction;
* delivery: due deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` under a lease and
  sent concurrently, at most ``webhook_per_endpoint`` at a time to one endpoint and
  ``webhook_concurrency`` in all. A deliverer killed mid-request loses nothing: the lease
  runs out and another takes the delivery (the receiver may see it twice, with the same
  ``webhook-id``).

Signing follows Standard Webhooks: ``webhook-id`` (the event's id, the same on every retry),
``webhook-timestamp`` (seconds, the time of the attempt) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per live secret).

Retries (``retry_delay``): immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each
with +-10 % jitter, on timeouts, connection errors, 408, 429, 3xx and 5xx; ``Retry-After``
can push the next attempt later, up to 10 h. Any other 4xx is final; 410 also disables the
endpoint. A delivery out of attempts is ``dead`` (and can be redelivered). An endpoint that
has failed continuously for ``webhook_disable_after`` (five days) is disabled, with the
reason recorded on it.

Retention: each deliverer, at start and then hourly, deletes finished deliveries whose last
attempt is older than ``webhook_retention_days`` (30), then the messages and outbox events
nothing refers to any more, ``PURGE_BATCH`` rows per statement with a short pause between
(``purge_expired``). Nothing still owed to a receiver is deleted; the audit log stays.

Every attempt is bounded: ``webhook_connect_timeout`` to connect, ``webhook_timeout`` for the
whole attempt, 20 KB of the answer read, redirects never followed, and the SSRF guard
(``service.webhooks.ssrf``) between the URL and the socket.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import logging
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Final, Protocol

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from service.queue.consumer import Chore, QueueConsumer, consumer_id
from service.settings import Settings
from service.store.db import is_unavailable
from service.store.webhooks import (
    AttemptRecord,
    ClaimedDelivery,
    DeliveryState,
    Purged,
    WebhookStore,
)
from service.webhooks.ssrf import UrlGuard, UrlLookupFailed, UrlRefused

log = logging.getLogger(__name__)

NOTIFY_CHANNEL: Final = "replyguard_webhooks"
#: Seconds to wait before each attempt: the first at once, the eighth some 27 hours later.
# fmt: off
RETRY_SCHEDULE: Final[tuple[float, ...]] = (
    0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0,
)
# fmt: on
MAX_ATTEMPTS: Final = len(RETRY_SCHEDULE)
#: Each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER], so receivers that
#: came back at once are not hit by every deliverer in the same second.
JITTER: Final = 0.1
#: The longest a receiver's Retry-After can push an attempt back.
RETRY_AFTER_MAX: Final = 36000.0
#: How much of an answer is read; the rest is never downloaded.
READ_LIMIT: Final = 20 * 1024
USER_AGENT: Final = "replyguard-webhooks/1"
#: Retention (``webhook_retention_days``): rows deleted per table per statement, the pause
#: between such batches, and how often a deliverer purges (first at its start).
PURGE_BATCH: Final = 1000
PURGE_PAUSE: Final = 0.2
PURGE_INTERVAL: Final = 3600.0


class Clock(Protocol):
    """When deliveries are due. Tests pass one they can move; signing uses real time."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# --- signing ------------------------------------------------------------------------------


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body`` with a ``whsec_`` secret's key."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """One signature per live secret, space-separated: receivers accept either during rotation."""
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets)


# --- the retry policy -------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def retry_delay(
    attempts_done: int, rng: random.Random, retry_after: float | None = None
) -> float | None:
    """Seconds from a failed attempt to the next, or None when no attempt is left.

    ``attempts_done`` counts the attempt that just failed. A receiver's ``retry_after`` is
    honoured when it asks for longer than the schedule, up to ``RETRY_AFTER_MAX``; asking
    for less never makes us retry sooner than the schedule.
    """
    if attempts_done >= MAX_ATTEMPTS:
        return None
    delay = RETRY_SCHEDULE[attempts_done] * rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
    return delay


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got: a status (and a bit of the body), or an error."""

    status: int | None = None
    body: bytes = b""
    retry_after: str | None = None
    error: str | None = None
    #: The error is final (the URL was refused): retrying cannot help.
    final: bool = False


def judge(
    answer: Answer, attempts_done: int, rng: random.Random
) -> tuple[DeliveryState, float | None, str | None]:
    """An attempt's outcome: the delivery's new state, seconds to the next attempt (when
    ``pending``), and a reason to disable the endpoint (on 410)."""
    status = answer.status
    if status is not None and 200 <= status < 300:
        return "delivered", None, None
    if status == 410:
        return "failed", None, "the receiver answered 410 Gone"
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        return "failed", None, None
    if answer.final:
        return "failed", None, None
    delay = retry_delay(attempts_done, rng, parse_retry_after(answer.retry_after, _now()))
    if delay is None:
        return "dead", None, None
    return "pending", delay, None


def _now() -> datetime:
    return datetime.now(UTC)


async def _read_capped(content: aiohttp.StreamReader, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a body, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), content.at_eof()


# --- the deliverer ------------------------------------------------------------------------


class WebhookDeliverer:
    """One process's fan-out and delivery loop (``run``); ``deliver_due`` does one pass."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        *,
        guard: UrlGuard | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        worker_id: str | None = None,
        purge_batch: int = PURGE_BATCH,
    ) -> None:
        self._settings = settings
        self._store = WebhookStore(engine)
        self._guard = guard or UrlGuard.from_setting(settings.webhook_allowed_networks)
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self.worker_id = worker_id or consumer_id()
        self._session: aiohttp.ClientSession | None = None
        self._slots: dict[uuid.UUID, asyncio.Semaphore] = {}
        self._claimed_per_endpoint: dict[uuid.UUID, int] = {}
        self._purge_batch = purge_batch
        self.attempts = 0
        self.delivered = 0
        self._consumer = QueueConsumer(
            name=f"webhook deliverer {self.worker_id}",
            units="webhook deliveries",
            database_url=settings.database_url,
            channel=NOTIFY_CHANNEL,
            claim=self._fan_out_and_claim,
            process=self._deliver_in_loop,
            release=self._release,
            capacity=settings.webhook_concurrency,
            poll_interval=settings.webhook_poll_interval,
            listen_retry=settings.webhook_poll_interval * 5,
            shutdown_timeout=settings.shutdown_timeout,
            chores=[Chore("delete old webhook rows", PURGE_INTERVAL, self._purge)],
        )

    async def __aenter__(self) -> WebhookDeliverer:
        s = self._settings
        connector = aiohttp.TCPConnector(
            resolver=self._guard.resolver(),
            # Every new connection resolves (and is checked) afresh.
            use_dns_cache=False,
            limit=s.webhook_concurrency,
            limit_per_host=s.webhook_per_endpoint,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=s.webhook_timeout, sock_connect=s.webhook_connect_timeout
            ),
            # A compressed answer could expand without bound; we read 20 KB as sent.
            auto_decompress=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # one pass, for tests and benchmarks

    async def fan_out(self) -> int:
        """Fan out every waiting outbox event; how many events."""
        total = 0
        while True:
            done = await self._store.fan_out(
                limit=self._settings.webhook_batch_size, now=self._clock.now()
            )
            total += done.events
            if done.events == 0:
                return total

    async def deliver_due(self) -> list[tuple[ClaimedDelivery, AttemptRecord]]:
        """Fan out, then make every attempt due now (by the clock), and wait for them all."""
        await self.fan_out()
        results: list[tuple[ClaimedDelivery, AttemptRecord]] = []
        while True:
            claimed = await self._claim(self._settings.webhook_concurrency, busy=())
            if not claimed:
                return results
            done = await asyncio.gather(*(self._deliver(d) for d in claimed))
            results.extend(zip(claimed, done, strict=True))

    async def purge_expired(self, stop: asyncio.Event | None = None) -> Purged:
        """Delete what is past ``webhook_retention_days`` (by the clock), batch by batch.

        Each batch deletes at most ``purge_batch`` rows per table in one short transaction;
        batches follow each other after ``PURGE_PAUSE`` until one leaves nothing behind or
        ``stop`` is set. Returns the rows deleted in all.
        """
        before = self._clock.now() - timedelta(days=self._settings.webhook_retention_days)
        total = Purged()
        while True:
            done = await self._store.purge_batch(before=before, limit=self._purge_batch)
            total += done
            if done.most() < self._purge_batch or (stop is not None and stop.is_set()):
                return total
            # Leave the database room for the deliveries and comments that matter now.
            await asyncio.sleep(PURGE_PAUSE)

    # the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then let attempts in flight finish for up to
        ``shutdown_timeout`` seconds and hand back the rest."""
        async with self:
            log.info("webhook deliverer %s started", self.worker_id)
            try:
                await self._consumer.run(stop)
            finally:
                log.info(
                    "webhook deliverer %s stopped after %d attempts (%d delivered)",
                    self.worker_id,
                    self.attempts,
                    self.delivered,
                )

    async def _fan_out_and_claim(self, free: int) -> list[ClaimedDelivery]:
        """The consumer's claim: fan out a batch of events (even when full, so the outbox
        keeps moving), then claim what there is room for."""
        fanned = await self._store.fan_out(
            limit=self._settings.webhook_batch_size, now=self._clock.now()
        )
        claimed = await self._claim_free(free)
        if fanned.events and not claimed:
            # More of the outbox may be waiting: fan it out now, not after the poll interval.
            self._consumer.wake()
        return claimed

    async def _purge(self, stop: asyncio.Event) -> None:
        """The hourly chore: ``purge_expired``, and a line in the log when it deleted rows."""
        purged = await self.purge_expired(stop)
        if purged.most():
            log.info(
                "deleted webhook rows older than %d days: %d deliveries, %d messages, "
                "%d outbox events",
                self._settings.webhook_retention_days,
                purged.deliveries,
                purged.messages,
                purged.events,
            )

    async def _claim_free(self, free: int) -> list[ClaimedDelivery]:
        if free <= 0:
            return []
        per_endpoint = self._settings.webhook_per_endpoint
        busy = [e for e, n in self._claimed_per_endpoint.items() if n >= per_endpoint]
        return await self._claim(min(free, self._settings.webhook_batch_size), busy=busy)

    async def _deliver_in_loop(self, delivery: ClaimedDelivery) -> None:
        """The consumer's process: one delivery; a bug in one never stops the others."""
        try:
            await self._deliver(delivery)
        except Exception:
            log.exception(
                "delivery %d failed unexpectedly (please report this); its lease runs out and "
                "it is attempted again",
                delivery.id,
            )

    async def _release(self, deliveries: Sequence[ClaimedDelivery]) -> None:
        """Hand back deliveries cut off at shutdown, so another deliverer takes them now."""
        await self._store.release(self.worker_id, [d.id for d in deliveries])

    async def _claim(self, limit: int, *, busy: Iterable[uuid.UUID]) -> list[ClaimedDelivery]:
        s = self._settings
        claimed = await self._store.claim(
            self.worker_id,
            limit=limit,
            per_endpoint=s.webhook_per_endpoint,
            busy=list(busy),
            lease_seconds=s.webhook_lease,
            now=self._clock.now(),
        )
        for delivery in claimed:
            count = self._claimed_per_endpoint.get(delivery.endpoint_id, 0)
            self._claimed_per_endpoint[delivery.endpoint_id] = count + 1
        return claimed

    def _release_slot(self, delivery: ClaimedDelivery) -> None:
        count = self._claimed_per_endpoint.get(delivery.endpoint_id, 1) - 1
        if count <= 0:
            self._claimed_per_endpoint.pop(delivery.endpoint_id, None)
        else:
            self._claimed_per_endpoint[delivery.endpoint_id] = count

    async def _deliver(self, delivery: ClaimedDelivery) -> AttemptRecord:
        """One attempt, then its record; the endpoint's slots bound concurrent attempts."""
        try:
            return await self._attempt_and_record(delivery)
        finally:
            self._release_slot(delivery)

    async def _attempt_and_record(self, delivery: ClaimedDelivery) -> AttemptRecord:
        slot = self._slots.get(delivery.endpoint_id)
        if slot is None:
            slot = self._slots[delivery.endpoint_id] = asyncio.Semaphore(
                self._settings.webhook_per_endpoint
            )
        async with slot:
            started_at = self._clock.now()
            started = time.monotonic()
            answer = await self.attempt(delivery)
            duration = time.monotonic() - started
        finished_at = started_at + timedelta(seconds=duration)
        attempts_done = delivery.attempts + 1
        state, delay, disable = judge(answer, attempts_done, self._rng)
        excerpt = answer.body.decode("utf-8", "replace") if answer.body else None
        record = AttemptRecord(
            state=state,
            started_at=started_at,
            finished_at=finished_at,
            duration_ms=round(duration * 1000),
            status_code=answer.status,
            error=answer.error,
            response=excerpt,
            next_attempt_at=None if delay is None else finished_at + timedelta(seconds=delay),
            disable_reason=disable,
        )
        self.attempts += 1
        if state == "delivered":
            self.delivered += 1
        else:
            log.info(
                "delivery %d (%s) attempt %d to %s: %s -> %s",
                delivery.id,
                delivery.event_type,
                attempts_done,
                delivery.url,
                answer.status if answer.status is not None else answer.error,
                state,
                extra={
                    "delivery_id": delivery.id,
                    "endpoint_id": delivery.endpoint_id,
                    "event_type": delivery.event_type,
                    "attempt": attempts_done,
                    "status": answer.status,
                    "error": answer.error,
                    "state": state,
                    "ms": record.duration_ms,
                },
            )
        try:
            disabled = await self._store.record(
                self.worker_id,
                delivery,
                record,
                disable_after=timedelta(seconds=self._settings.webhook_disable_after),
            )
        except Exception as error:
            if not is_unavailable(error):
                raise
            # The lease runs out and the delivery is attempted again: at least once.
            log.warning("could not record delivery %d (%s)", delivery.id, error)
            return record
        if disabled is not None:
            log.warning(
                "webhook endpoint %s disabled: %s",
                disabled.id,
                disabled.disabled_reason,
                extra={"endpoint_id": disabled.id},
            )
        return record

    async def attempt(self, delivery: ClaimedDelivery) -> Answer:
        """POST the message once, within every bound; never raises for the receiver's faults."""
        assert self._session is not None, "use the deliverer as an async context manager"
        body = delivery.body.encode("utf-8")
        message_id = str(delivery.message_id)
        # Real time, not the scheduling clock: receivers compare it with their own.
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(delivery.secrets, message_id, timestamp, body),
        }
        timeout = self._settings.webhook_timeout
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            # aiohttp hands IP-literal hosts to the socket without asking the resolver, so
            # the URL is checked here, on every attempt (a URL stored before a check was
            # tightened gets no pass), and the request goes to the very URL object checked.
            target = self._guard.check_url(delivery.url)
            async with asyncio.timeout_at(deadline):
                response = await self._session.post(
                    target.url, data=body, headers=headers, allow_redirects=False
                )
        except UrlLookupFailed as error:
            return Answer(error=str(error))
        except UrlRefused as error:
            return Answer(error=f"refused: {error}", final=True)
        except TimeoutError:
            return Answer(error=f"no answer within {timeout:g} s")
        except (aiohttp.ClientError, OSError) as error:
            return Answer(error=f"{type(error).__name__}: {error}"[:500])
        complete = False
        body_read = b""
        error_text = None
        try:
            async with asyncio.timeout_at(deadline):
                body_read, complete = await _read_capped(response.content, READ_LIMIT)
        except TimeoutError:
            error_text = f"the answer's body did not finish within {timeout:g} s"
        except (aiohttp.ClientError, OSError) as error:
            error_text = f"reading the answer: {type(error).__name__}: {error}"[:500]
        finally:
            if complete:
                response.release()
            else:
                # Never reuse a connection with an unread answer on it; drop the rest.
                response.close()
        return Answer(
            status=response.status,
            body=body_read,
            retry_after=response.headers.get("Retry-After"),
            error=error_text,
        )
