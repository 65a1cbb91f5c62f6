"""This process's pre-check of the rate limits (service.web.ratelimit.LocalLimits)."""

from __future__ import annotations

from ipaddress import ip_address

from service.store.limits import Check, Limits
from service.web.ratelimit import LocalLimits, client_network


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_local_limits__refuses_past_the_cap_until_the_window_moves_on() -> None:
    clock = Clock()
    local = LocalLimits(clock)
    limits = Limits.per_minute([Check("net:a", 2), Check("site:a", 100, shards=16)])
    assert local.hit(limits) is None
    clock.now += 10
    assert local.hit(limits) is None
    assert local.hit(limits) == 50.0  # the first hit leaves the window a minute after it
    clock.now += 50
    assert local.hit(limits) is None


def test_local_limits__a_hit_given_back_frees_its_slot_and_windows_are_apart() -> None:
    local = LocalLimits(Clock())
    minute = Limits.per_minute([Check("k", 1)])
    hour = Limits.per_hour([Check("k", 1)])
    assert local.hit(minute) is None
    assert local.hit(hour) is None  # same key, another window: its own count
    assert local.hit(minute) is not None
    local.give_back(minute)
    assert local.hit(minute) is None
    assert local.hit(hour) == 3600.0


def test_client_network__ipv4_slash_24_and_ipv6_slash_64() -> None:
    assert client_network(ip_address("203.0.113.77")) == "203.0.113.0/24"
    assert client_network(ip_address("2001:db8:1:2:abcd::1")) == "2001:db8:1:2::/64"
    assert client_network(None) == "unknown"
