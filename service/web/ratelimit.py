"""Who is asking, and how often: client networks behind trusted proxies, and rate limits.

Limits are counted in PostgreSQL, in the transaction that writes what they limit (the
stores run the SQL, ``service.store.queries`` holds it), so they hold across any number of web
replicas at no extra round trip. Each web process also counts them in memory, to refuse a
flood before it reaches the database (``LocalLimits``).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from service.netaddr import IPNetwork
from service.store.limits import Limits

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> IPAddress | None:
    """The client's address: the peer, or, when the peer is a trusted proxy, the last
    address in ``X-Forwarded-For`` that is not itself a trusted proxy."""
    try:
        address: IPAddress | None = ipaddress.ip_address(peer) if peer else None
    except ValueError:
        return None
    if address is None or not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        try:
            candidate = ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed header: trust what we saw ourselves
        if not _trusted(candidate, trusted):
            return candidate
        address = candidate
    return address


def _trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == n.version and address in n for n in trusted)


def client_network(address: IPAddress | None) -> str:
    """One key per household or phone carrier block: IPv4 /24, IPv6 /64."""
    if address is None:
        return "unknown"
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class SlidingWindow:
    """Counts events per key over the last ``window`` seconds, in this process."""

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._checks = 0

    def hit(self, checks: Iterable[tuple[str, int]]) -> float | None:
        """Record one event for each ``(key, limit)`` if all are under their limit.

        Returns None when allowed, or the seconds until the tightest limit frees a slot.
        Nothing is recorded for a refused event, so a flood does not extend its own ban.
        """
        now = self._clock()
        checks = list(checks)
        wait = 0.0
        for key, limit in checks:
            events = self._trim(key, now)
            if len(events) >= limit:
                wait = max(wait, events[len(events) - limit] + self._window - now)
        if wait > 0:
            return wait
        for key, _ in checks:
            self._events.setdefault(key, deque()).append(now)
        self._checks += 1
        if self._checks % 1000 == 0:
            self._sweep(now)
        return None

    def give_back(self, keys: Iterable[str]) -> None:
        """Forget the latest event of each key (one that turned out not to count)."""
        for key in keys:
            events = self._events.get(key)
            if events:
                events.pop()

    def _trim(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - self._window:
            events.popleft()
        return events

    def _sweep(self, now: float) -> None:
        for key in [k for k, v in self._events.items() if not v or v[-1] <= now - self._window]:
            del self._events[key]


class LocalLimits:
    """The same limits counted in this process alone, in front of the shared count.

    Not the limit itself (PostgreSQL's count is): a cheap first refusal, so a flood from one
    network is answered 429 from memory, not with a statement that queues on its count's
    row and holds a pooled connection. (Measured on 2 shared cores, 32 clients flooding
    from one network: answered at about 165/s through the database alone, 2,900/s with
    this in front, and other readers' comments waited less than half as long.)
    It counts every request it lets through but those the database did not count either
    (given back), so one replica never sends the database much more than a cap's worth of
    hits per key and window.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[int, SlidingWindow] = {}

    def hit(self, limits: Limits) -> float | None:
        """None when this process has room for the hit, else the seconds to wait."""
        window = self._windows.get(limits.window)
        if window is None:
            window = self._windows[limits.window] = SlidingWindow(limits.window, self._clock)
        return window.hit((c.key, c.cap) for c in limits.checks)

    def give_back(self, limits: Limits) -> None:
        """Uncount a hit the database did not count either (a repost, a repeated report)."""
        window = self._windows.get(limits.window)
        if window is not None:
            window.give_back(c.key for c in limits.checks)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
