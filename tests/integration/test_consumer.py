"""The queue-consumer loop on its own: waking, backing off, capacity, chores and the drain.

The units are strings from a fake queue (the loop is beside the point of any real store);
the LISTEN/NOTIFY is real PostgreSQL, each test on its own database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import asyncpg
import pytest

from service.queue.consumer import Chore, QueueConsumer

CHANNEL = "replyguard_test_consumer"
#: Longer than any test waits: a test that passes was woken, not polled.
NEVER = 60.0


class FakeQueue:
    """Units to claim, and a record of what the consumer did with them."""

    def __init__(
        self,
        units: Sequence[str] = (),
        *,
        work_seconds: float = 0.0,
        claim_errors: Sequence[Exception] = (),
        work_errors: dict[str, Exception] | None = None,
    ) -> None:
        self.waiting = list(units)
        self.work_seconds = work_seconds
        self.claim_errors = list(claim_errors)
        self.work_errors = dict(work_errors or {})
        self.claimed_at: list[float] = []
        self.started: list[str] = []
        self.finished: list[str] = []
        self.cancelled: list[str] = []
        self.released: list[str] = []
        self.running = 0
        self.most_running = 0

    async def claim(self, free: int) -> list[str]:
        self.claimed_at.append(time.monotonic())
        if self.claim_errors:
            raise self.claim_errors.pop(0)
        taken, self.waiting = self.waiting[:free], self.waiting[free:]
        return taken

    async def process(self, unit: str) -> None:
        self.started.append(unit)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if unit in self.work_errors:
                raise self.work_errors[unit]
            await asyncio.sleep(self.work_seconds)
        except asyncio.CancelledError:
            self.cancelled.append(unit)
            raise
        finally:
            self.running -= 1
        self.finished.append(unit)

    async def release(self, units: Sequence[str]) -> None:
        self.released.extend(units)


def _consumer(
    queue: FakeQueue,
    database_url: str,
    *,
    capacity: int = 1,
    shutdown_timeout: float = 5.0,
    chores: Sequence[Chore] = (),
) -> QueueConsumer[str]:
    return QueueConsumer(
        name="test consumer",
        units="units",
        database_url=database_url,
        channel=CHANNEL,
        claim=queue.claim,
        process=queue.process,
        release=queue.release,
        capacity=capacity,
        poll_interval=NEVER,
        listen_retry=NEVER,
        shutdown_timeout=shutdown_timeout,
        chores=chores,
    )


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not so within {within} s"
        await asyncio.sleep(0.01)


async def _notify(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    finally:
        await conn.close()


async def test_consumer__stop_while_idle_returns_at_once(database_url: str) -> None:
    queue = FakeQueue()
    stop = asyncio.Event()
    running = asyncio.create_task(_consumer(queue, database_url).run(stop))
    await _until(lambda: len(queue.claimed_at) >= 1)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(running, 5)
    assert time.monotonic() - started < 1.0
    assert queue.released == []


async def test_consumer__a_notification_wakes_it_before_the_poll_interval(
    database_url: str,
) -> None:
    queue = FakeQueue()
    stop = asyncio.Event()
    running = asyncio.create_task(_consumer(queue, database_url).run(stop))
    try:
        # The second look is the listener's, once it is connected: now a NOTIFY is heard.
        await _until(lambda: len(queue.claimed_at) >= 2)
        queue.waiting.append("new")
        await _notify(database_url)
        await _until(lambda: queue.finished == ["new"])
    finally:
        stop.set()
        await running


async def test_consumer__stop_during_work_lets_it_finish_within_the_bound(
    database_url: str,
) -> None:
    queue = FakeQueue(["a"], work_seconds=0.3)
    stop = asyncio.Event()
    running = asyncio.create_task(_consumer(queue, database_url).run(stop))
    await _until(lambda: queue.started == ["a"])
    stop.set()
    await asyncio.wait_for(running, 5)
    assert queue.finished == ["a"]
    assert queue.released == []


async def test_consumer__stop_past_the_bound_cancels_and_hands_back(database_url: str) -> None:
    queue = FakeQueue(["a", "b", "c"], work_seconds=NEVER)
    stop = asyncio.Event()
    consumer = _consumer(queue, database_url, capacity=2, shutdown_timeout=0.2)
    running = asyncio.create_task(consumer.run(stop))
    await _until(lambda: len(queue.started) == 2)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(running, 5)
    assert time.monotonic() - started < 1.5
    assert sorted(queue.cancelled) == sorted(queue.released) == ["a", "b"]
    assert queue.waiting == ["c"], "nothing is claimed after stop"
    assert consumer.in_flight == 0


async def test_consumer__an_outage_backs_off_then_carries_on(database_url: str) -> None:
    queue = FakeQueue(["a"], claim_errors=[ConnectionRefusedError("the database is down")])
    stop = asyncio.Event()
    running = asyncio.create_task(_consumer(queue, database_url).run(stop))
    try:
        await _until(lambda: queue.finished == ["a"])
    finally:
        stop.set()
        await running
    first, second = queue.claimed_at[:2]
    assert second - first >= 0.9, "the first back-off is a second"


async def test_consumer__an_outage_in_a_unit_backs_off_too(database_url: str) -> None:
    queue = FakeQueue(["a", "b"], work_errors={"a": ConnectionResetError("lost")})
    stop = asyncio.Event()
    running = asyncio.create_task(_consumer(queue, database_url).run(stop))
    try:
        await _until(lambda: queue.finished == ["b"])
    finally:
        stop.set()
        await running
    assert queue.claimed_at[-1] - queue.claimed_at[0] >= 0.9


@pytest.mark.parametrize("where", ["claim", "unit"])
async def test_consumer__an_error_that_is_no_outage_ends_the_run(
    database_url: str, where: str
) -> None:
    queue = FakeQueue()
    running = asyncio.create_task(_consumer(queue, database_url).run(asyncio.Event()))
    # Once the listener is connected (its first look), so the bug is what ends the run.
    await _until(lambda: len(queue.claimed_at) >= 2)
    bug = RuntimeError("a bug")
    if where == "claim":
        queue.claim_errors.append(bug)
    else:
        queue.waiting.append("a")
        queue.work_errors["a"] = bug
    await _notify(database_url)
    with pytest.raises(RuntimeError, match="a bug"):
        await asyncio.wait_for(running, 5)


async def test_consumer__keeps_capacity_units_in_flight_and_refills_at_once(
    database_url: str,
) -> None:
    units = [f"u{i}" for i in range(7)]
    queue = FakeQueue(units, work_seconds=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(_consumer(queue, database_url, capacity=3).run(stop))
    try:
        # Well within the poll interval: each finished unit wakes the loop to claim another.
        await _until(lambda: sorted(queue.finished) == units)
    finally:
        stop.set()
        await running
    assert queue.most_running == 3


async def test_consumer__a_failing_chore_is_tried_again_and_the_work_goes_on(
    database_url: str,
) -> None:
    turns: list[float] = []

    async def flaky(stop: asyncio.Event) -> None:
        turns.append(time.monotonic())
        if len(turns) == 1:
            raise RuntimeError("the chore fell over")

    queue = FakeQueue(["a"])
    stop = asyncio.Event()
    consumer = _consumer(queue, database_url, chores=[Chore("do a chore", 0.1, flaky)])
    running = asyncio.create_task(consumer.run(stop))
    try:
        await _until(lambda: len(turns) >= 3 and queue.finished == ["a"])
    finally:
        stop.set()
        await running
