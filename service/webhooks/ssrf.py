"""The SSRF guard: which URLs may receive webhooks, and a resolver that pins what it checked.

A webhook URL is typed by a staff member, so it must never become a way into the network
replyguard runs in. Three checks, all here:

* the URL itself (``UrlGuard.check_url``): http or https only, no user name or password,
  no control characters, a host written plainly (``http://2130706433`` is 127.0.0.1
  in disguise and is refused as such). The host judged is the one the HTTP client
  connects to: the URL is read with ``yarl``, as aiohttp reads it. Its IDNA (UTS 46)
  mapping turns full-width or segmented digits and full-width dots into ASCII, so
  127.0.0.1 spelt in full-width characters is the address 127.0.0.1 to aiohttp; a host
  spelt in such look-alike characters is refused. A real international name (one that
  becomes ``xn--`` labels) is judged by its ASCII form. Deliveries are sent to the very
  URL object that was checked;
* every address the host resolves to (``refusal_reason``): loopback, private, link-local
  (cloud metadata lives there), CGNAT, multicast, reserved, documentation, IPv6 unique
  local and link-local, and IPv4 hidden inside IPv6 (mapped, NAT64, 6to4) are refused,
  unless an address falls in an explicitly allowed network
  (``REPLYGUARD_WEBHOOK_ALLOWED_NETWORKS``);
* at delivery, ``PinnedResolver`` is the aiohttp connector's only resolver: it resolves
  once, checks every answer and hands the connector exactly those addresses, so a DNS
  answer that changes between the check and the connect (rebinding) cannot slip through.

A refused URL raises ``UrlRefused`` with a sentence a person can act on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from service.netaddr import IPAddress, IPNetwork, parse_networks

#: Resolve a host name to the IP addresses (as text) it answers with, all of them.
Lookup = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_CHARS: Final = 2000

# IANA's special-purpose registries, most specific first, each with why it is refused.
_BLOCKED: Final[tuple[tuple[IPNetwork, str], ...]] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address (where cloud metadata services live)"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved relay address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "an IPv4-compatible (deprecated) address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001::/23", "an IETF protocol address (Teredo and others)"),
        ("2001:db8::/32", "a documentation address"),
        ("fc00::/7", "an IPv6 unique local address"),
        ("fe80::/10", "an IPv6 link-local address"),
        ("fec0::/10", "an IPv6 site-local (deprecated) address"),
        ("ff00::/8", "a multicast address"),
    )
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
# Looks like a number, not a name: digits, dots and hex, e.g. 2130706433, 0x7f.1, 0177.0.0.1.
_NUMERIC_HOST: Final = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)(\.(0[xX][0-9a-fA-F]*|[0-9]+))*\.?$")
_FORBIDDEN_CHARS: Final = re.compile(r"[\x00-\x20\x7f\\]")
# A host name as sent (after IDNA): ASCII letters, digits, hyphens, underscores, dots.
_NAME_HOST: Final = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


class UrlRefused(ValueError):
    """A URL that may not receive webhooks; the message says why, for the person who typed it."""


class UrlLookupFailed(UrlRefused):
    """The host does not resolve right now: refused at registration, retried at delivery."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), which is what gets reached."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def refusal_reason(address: IPAddress, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why ``address`` may not be reached (None: it may). Allowed networks win over the rest."""
    inner = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    for candidate in (address, inner):
        if candidate is not None and any(
            candidate.version == net.version and candidate in net for net in allowed
        ):
            return None
    if inner is not None:
        # What gets reached is the IPv4 address, so that is what is judged.
        why = refusal_reason(inner)
        return None if why is None else f"{why} inside an IPv6 address"
    for network, why in _BLOCKED:
        if address.version == network.version and address in network:
            return why
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global or address.is_reserved:
        return "an address that is not publicly routable"
    return None


async def system_lookup(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``, in its order, without repeats."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the static checks: what will be connected to, before resolving."""

    #: The URL as the HTTP client reads it; deliveries are sent to exactly this.
    url: URL
    scheme: str
    host: str
    port: int
    #: Set when the host is an IP address written out; no lookup then.
    address: IPAddress | None


def _refuse_look_alikes(written: str, parsed: URL) -> None:
    """Refuse a host written in characters that IDNA maps onto other ones.

    Full-width digits and dots, segmented digits (U+1FBF0-U+1FBF9), full-width letters:
    aiohttp reads 127.0.0.1 spelt in full-width characters as the address 127.0.0.1, and
    never asks a resolver about an address.
    A host in plain ASCII, or a real international name written as it is meant (its
    IDNA form is ``xn--`` labels, which decode back to it), passes.
    """
    if written.isascii() or written == (parsed.host or "").rstrip("."):
        return
    raw = (parsed.raw_host or "").rstrip(".")
    raise UrlRefused(
        f"The host {written!r} is written in characters that HTTP clients read as {raw!r}; "
        f"write the host in plain ASCII ({raw!r} if that is what you mean)."
    )


def _check_name(host: str) -> None:
    """A host name (not an address) as sent: ASCII, and labels IDNA accepts."""
    if not _NAME_HOST.match(host):
        raise UrlRefused(f"The host {host!r} is not a valid domain name.")
    try:
        host.encode("idna")
    except UnicodeError:
        raise UrlRefused(f"The host {host!r} is not a valid domain name.") from None


class UrlGuard:
    """Decides whether a URL may receive webhooks; one per process, shared by web and worker."""

    def __init__(self, allowed: Iterable[IPNetwork] = (), lookup: Lookup = system_lookup) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(allowed)
        self._lookup = lookup

    @classmethod
    def from_setting(cls, raw: str, lookup: Lookup = system_lookup) -> UrlGuard:
        return cls(parse_networks(raw), lookup)

    def check_url(self, url: str) -> Target:
        """The checks that need no network: scheme, credentials, host form, literal addresses.

        The host checked is ``Target.url``'s, which is what aiohttp connects to.
        """
        if len(url) > MAX_URL_CHARS:
            raise UrlRefused(f"The URL is longer than {MAX_URL_CHARS} characters.")
        if _FORBIDDEN_CHARS.search(url):
            raise UrlRefused("The URL contains spaces, control characters or backslashes.")
        try:
            parts = urlsplit(url)
            # Exactly how aiohttp's ClientSession reads a URL given as text.
            parsed = URL(url)
            port = parsed.port
        except ValueError as error:
            raise UrlRefused(f"The URL cannot be read: {error}.") from None
        scheme = parsed.scheme
        if scheme not in ("http", "https"):
            raise UrlRefused(
                f"Only http and https URLs can receive webhooks (got {parts.scheme or 'none'!r})."
            )
        if "@" in parts.netloc or parsed.raw_user is not None:
            raise UrlRefused("The URL must not contain a user name or password.")
        if parts.fragment or parsed.raw_fragment:
            raise UrlRefused("The URL must not have a #fragment: it is never sent.")
        host = (parsed.raw_host or "").rstrip(".")
        if not host:
            raise UrlRefused("The URL has no host.")
        _refuse_look_alikes((parts.hostname or "").rstrip("."), parsed)
        address = self._literal(host)
        if address is None:
            _check_name(host)
        return Target(parsed, scheme, host, port or (443 if scheme == "https" else 80), address)

    def _literal(self, host: str) -> IPAddress | None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if not _NUMERIC_HOST.match(host):
                return None
            # A number in another form (2130706433, 0x7f.1, 0177.0.0.1): the C library reads
            # it as an IPv4 address, so say which one, and ask for the plain form.
            try:
                meant = ipaddress.IPv4Address(socket.inet_aton(host))
            except OSError:
                raise UrlRefused(f"The host {host!r} is neither a name nor an address.") from None
            why = self.refusal(meant)
            detail = f", {why}" if why else ""
            raise UrlRefused(
                f"The host {host!r} is the address {meant} written as a number{detail}; "
                "write addresses in dotted form."
            ) from None
        why = self.refusal(address)
        if why is not None:
            raise UrlRefused(f"The host {host} is {why}; webhooks cannot be sent there.")
        return address

    def refusal(self, address: IPAddress) -> str | None:
        return refusal_reason(address, self.allowed)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` once and check every answer; any refused answer refuses the host.

        Refusing on one bad answer (rather than using the good ones) means a name that
        points partly inside the network is reported, not half-used.
        """
        try:
            answers = await self._lookup(host, port)
        except OSError as error:
            raise UrlLookupFailed(f"The host {host!r} does not resolve ({error}).") from None
        addresses: list[IPAddress] = []
        for answer in answers:
            address = ipaddress.ip_address(answer.split("%", 1)[0])
            why = self.refusal(address)
            if why is not None:
                raise UrlRefused(
                    f"The host {host!r} resolves to {address}, {why}; "
                    "webhooks cannot be sent there."
                )
            addresses.append(address)
        if not addresses:
            raise UrlLookupFailed(f"The host {host!r} resolves to no address.")
        return addresses

    async def check(self, url: str) -> Target:
        """Every check, resolving the host: what registration runs."""
        target = self.check_url(url)
        if target.address is None:
            await self.resolve(target.host, target.port)
        return target

    def resolver(self) -> PinnedResolver:
        """The resolver an aiohttp ``TCPConnector`` must use for deliveries."""
        return PinnedResolver(self)


class PinnedResolver(AbstractResolver):
    """aiohttp's resolver for deliveries: the connector connects to exactly what was checked.

    aiohttp passes IP-literal hosts straight to the socket without asking a resolver, so
    the deliverer also runs ``UrlGuard.check_url`` before every request.
    """

    def __init__(self, guard: UrlGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._guard.resolve(host, port)
        if family != socket.AF_UNSPEC:
            wanted = 4 if family == socket.AF_INET else 6
            addresses = [a for a in addresses if a.version == wanted]
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET if address.version == 4 else socket.AF_INET6,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None
