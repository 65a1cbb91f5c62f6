"""Rate limits as the stores count them: which keys, their caps, and the window, counted in
PostgreSQL (``rate_limit_hits``) inside the statement that writes what they limit. The web
layer (``service.web.ratelimit``) decides the keys; the stores run the counting SQL."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple


class Check(NamedTuple):
    """One key's cap. A hit is counted on one of ``shards`` rows of the key's bucket.

    With one row (exact), hits on the key wait for each other: right for a network or an
    author, whose hits rarely come at once. A site's every comment is a hit on its key,
    so it is spread over several rows that take hits side by side; each hit sees the other
    rows as they were when its statement began, so a site's cap can be passed by the hits
    in flight at that moment (at most the database connections of all replicas).
    """

    key: str
    cap: int
    shards: int = 1


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on hits per key over the last ``window`` seconds, all checked together.

    The counts live in PostgreSQL (``rate_limit_hits``), so every web replica shares them;
    the statement that writes what is limited also counts it, so a limit costs no round
    trip, and a refused or failed write rolls its counts back with it. A window is counted
    in buckets of ``bucket`` seconds: a key's hits in the current bucket and the
    ``window / bucket`` before it, so never more than the cap in any ``window`` seconds
    (a bucket is up to ``bucket`` seconds of history more than the window asks for).
    """

    #: A hit is allowed only if every key is under its cap.
    checks: tuple[Check, ...]
    window: int = 60
    bucket: int = 10

    @classmethod
    def per_minute(cls, checks: Iterable[Check]) -> Limits:
        return cls(tuple(checks), window=60, bucket=10)

    @classmethod
    def per_hour(cls, checks: Iterable[Check]) -> Limits:
        return cls(tuple(checks), window=3600, bucket=300)
