"""Who is asking, and how often: client networks behind trusted proxies, and rate limits.

Limits are counted in PostgreSQL, in the transaction that writes what they limit (the
stores run the SQL, ``service.queries`` holds it), so they hold across any number of web
replicas at no extra round trip. This module names the keys and the windows.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from service.ssrf import IPNetwork

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

    #: ``(key, cap)`` pairs; a hit is allowed only if every key is under its cap.
    checks: tuple[tuple[str, int], ...]
    window: int = 60
    bucket: int = 10

    @classmethod
    def per_minute(cls, checks: Iterable[tuple[str, int]]) -> Limits:
        return cls(tuple(checks), window=60, bucket=10)

    @classmethod
    def per_hour(cls, checks: Iterable[tuple[str, int]]) -> Limits:
        return cls(tuple(checks), window=3600, bucket=300)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
