"""The SSRF guard: which webhook URLs are refused, and why, without touching the network."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from yarl import URL

from service.netaddr import parse_networks
from service.webhooks.ssrf import (
    UrlGuard,
    UrlLookupFailed,
    UrlRefused,
    refusal_reason,
)

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class FakeLookup:
    """A resolver answering from a table; records each host it is asked for."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


NAMES = {
    "example.com": [PUBLIC_V4, PUBLIC_V6],
    "localhost": ["127.0.0.1", "::1"],
    "metadata.internal": ["169.254.169.254"],
    "half.example": [PUBLIC_V4, "10.1.2.3"],
}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1", "loopback"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::1]", "loopback"),
        ("http://[::ffff:127.0.0.1]", "loopback address inside an IPv6"),
        ("http://[::ffff:7f00:1]/x", "loopback address inside an IPv6"),
        ("http://0.0.0.0", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://2130706433", "127.0.0.1 written as a number"),
        ("http://0177.0.0.1/", "127.0.0.1 written as a number"),
        ("http://0x7f.1/", "127.0.0.1 written as a number"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::ffff:169.254.169.254]", "link-local"),
        ("http://10.0.0.1", "private"),
        ("http://172.16.5.4", "private"),
        ("http://192.168.1.1", "private"),
        ("http://100.64.0.1", "carrier-grade NAT"),
        ("http://224.0.0.1", "multicast"),
        ("http://[ff02::1]", "multicast"),
        ("http://240.0.0.1", "reserved"),
        ("http://255.255.255.255", "reserved"),
        ("http://192.0.2.10", "documentation"),
        ("http://[fd00::1]", "unique local"),
        ("http://[fe80::1]", "link-local"),
        ("http://[64:ff9b::7f00:1]", "loopback address inside an IPv6"),
        ("http://[2002:7f00:1::1]", "loopback address inside an IPv6"),
        ("http://[2001::1]", "IETF"),
        ("http://user@127.0.0.1", "user name or password"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http://example.com@127.0.0.1/", "user name or password"),
        ("ftp://example.com/hook", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("gopher://example.com", "Only http and https"),
        ("javascript:alert(1)", "Only http and https"),
        ("example.com/hook", "Only http and https"),
        ("http:///hook", "no host"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com\\@127.0.0.1/", "backslashes"),
        ("http://example.com/#frag", "fragment"),
        ("http://example.com:99999/", "cannot be read"),
        ("http://localhost:8080/", "resolves to 127.0.0.1"),
        ("http://metadata.internal/", "link-local"),
        ("http://half.example/", "resolves to 10.1.2.3"),
        ("http://nowhere.invalid/", "does not resolve"),
    ],
)
async def test_check__refuses_with_a_reason(url: str, why: str) -> None:
    guard = UrlGuard(lookup=FakeLookup(NAMES))
    with pytest.raises(UrlRefused) as refused:
        await guard.check(url)
    assert why in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks/replyguard",
        "http://example.com:8443/x?token=abc",
        f"http://{PUBLIC_V4}/hook",
        f"https://[{PUBLIC_V6}]/hook",
        "HTTPS://EXAMPLE.COM/",
    ],
)
async def test_check__accepts_public_http_and_https(url: str) -> None:
    guard = UrlGuard(lookup=FakeLookup(NAMES))
    target = await guard.check(url)
    assert target.scheme in ("http", "https")


async def test_check__allowed_networks_let_chosen_private_addresses_through() -> None:
    guard = UrlGuard(parse_networks("127.0.0.1/32, fd00::/8"), lookup=FakeLookup(NAMES))
    await guard.check("http://127.0.0.1:8080/hook")
    await guard.check("http://[fd00::5]/hook")
    await guard.check("http://[::ffff:127.0.0.1]/hook")
    with pytest.raises(UrlRefused, match="loopback"):
        await guard.check("http://127.0.0.2/")
    with pytest.raises(UrlRefused, match="private"):
        await guard.check("http://10.0.0.1/")
    # localhost also answers ::1, which is not allowed: the whole name is refused.
    with pytest.raises(UrlRefused, match="::1"):
        await guard.check("http://localhost/")


async def test_pinned_resolver__a_name_that_rebinds_to_loopback_is_refused_at_delivery() -> None:
    answers = iter([[PUBLIC_V4], ["127.0.0.1"]])
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    guard = UrlGuard(lookup=rebinding)
    await guard.check("http://rebind.example/hook")  # registration: public, accepted
    with pytest.raises(UrlRefused, match=r"resolves to 127\.0\.0\.1"):
        await guard.resolver().resolve("rebind.example", 80, socket.AF_UNSPEC)
    assert lookups == ["rebind.example", "rebind.example"]


async def test_pinned_resolver__hands_the_connector_exactly_the_checked_addresses() -> None:
    guard = UrlGuard(lookup=FakeLookup(NAMES))
    results = await guard.resolver().resolve("example.com", 443, socket.AF_UNSPEC)
    assert [(r["host"], r["port"], r["family"]) for r in results] == [
        (PUBLIC_V4, 443, socket.AF_INET),
        (PUBLIC_V6, 443, socket.AF_INET6),
    ]
    only_v4 = await guard.resolver().resolve("example.com", 443, socket.AF_INET)
    assert [r["host"] for r in only_v4] == [PUBLIC_V4]


async def test_pinned_resolver__lookup_failure_is_retryable_not_refused() -> None:
    guard = UrlGuard(lookup=FakeLookup({}))
    with pytest.raises(UrlLookupFailed):
        await guard.resolver().resolve("gone.example", 80, socket.AF_UNSPEC)


# Hosts that aiohttp (yarl, IDNA UTS 46) reads as ASCII: full-width digits (U+FF10-FF19),
# full-width and ideographic dots (U+FF0E, U+3002, U+FF61), segmented digits
# (U+1FBF0-U+1FBF9), full-width letters, and mixtures with plain ASCII.
FW = {str(d): chr(0xFF10 + d) for d in range(10)}
SEG = {str(d): chr(0x1FBF0 + d) for d in range(10)}


def _spell(text: str, digits: dict[str, str], dot: str = ".") -> str:
    return "".join(digits.get(c, dot if c == "." else c) for c in text)


LOOK_ALIKE_HOSTS = [
    _spell("127.0.0.1", FW, "\uff0e"),
    _spell("127.0.0.1", FW),
    "127\uff0e0\uff0e0\uff0e1",
    "127\u30020\u30020\u30021",
    "127\uff610\uff610\uff611",
    _spell("127.0.0.1", SEG),
    _spell("169.254.169.254", SEG, "\u3002"),
    _spell("10.0.0.1", FW, "\uff61"),
    FW["1"] + "27.0.0." + SEG["1"],
    SEG["1"] + FW["2"] + "7\u30020.0\uff0e1",
    _spell("127.1", FW),
    "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",  # full-width localhost
]


@pytest.mark.parametrize("host", LOOK_ALIKE_HOSTS)
async def test_check_url__look_alike_characters_in_the_host_are_refused(host: str) -> None:
    # 127.0.0.1 is allowed, so only the spelling can be what refuses these.
    guard = UrlGuard(parse_networks("127.0.0.1/32, 10.0.0.0/8"), lookup=FakeLookup(NAMES))
    with pytest.raises(UrlRefused, match="plain ASCII") as refused:
        await guard.check(f"http://{host}:8080/hook")
    assert repr(host) in str(refused.value)


@pytest.mark.parametrize("host", LOOK_ALIKE_HOSTS[:-2])
def test_look_alike_hosts__are_private_address_literals_to_aiohttp(host: str) -> None:
    # Why the spelling matters: aiohttp connects to a literal without asking any resolver.
    raw = URL(f"http://{host}/hook").raw_host  # what aiohttp's ClientSession connects to
    assert raw is not None
    assert refusal_reason(ipaddress.ip_address(raw)) is not None


async def test_check_url__international_names_are_judged_by_their_ascii_form() -> None:
    lookup = FakeLookup({"xn--exmple-cua.com": [PUBLIC_V4], "xn--exmple-cua.net": ["10.0.0.1"]})
    guard = UrlGuard(lookup=lookup)
    target = await guard.check("https://EXÄMPLE.com/hook")
    assert target.host == "xn--exmple-cua.com"
    assert str(target.url) == "https://xn--exmple-cua.com/hook"
    with pytest.raises(UrlRefused, match="private"):
        await guard.check("https://exämple.net/hook")
    assert lookup.calls == ["xn--exmple-cua.com", "xn--exmple-cua.net"]


@pytest.mark.parametrize(
    "url", ["http://%31%32%37.0.0.1/", "http://a..b/", "http://exa%00mple.com/"]
)
def test_check_url__hosts_that_are_not_names_as_sent_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused, match="not a valid domain name"):
        UrlGuard().check_url(url)


def test_refusal_reason__public_addresses_pass_and_embedded_ones_are_unwrapped() -> None:
    assert refusal_reason(ipaddress.ip_address(PUBLIC_V4)) is None
    assert refusal_reason(ipaddress.ip_address(PUBLIC_V6)) is None
    assert refusal_reason(ipaddress.ip_address(f"::ffff:{PUBLIC_V4}")) is None
    why = refusal_reason(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert why is not None and "private" in why


def test_parse_networks__names_the_bad_entry() -> None:
    assert parse_networks("") == ()
    assert len(parse_networks("127.0.0.1/32,::1/128")) == 2
    with pytest.raises(ValueError, match="'nope'"):
        parse_networks("127.0.0.1/32, nope")
