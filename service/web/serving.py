"""Listening: the public listener and the operations listener of one web process.

The public listener serves the API, the pages and ``/healthz``. The operations listener
(``REPLYGUARD_OPS_HOST``:``REPLYGUARD_OPS_PORT``, loopback by default) serves ``/healthz``,
``/readyz`` and ``/metrics``, which name sites and queue internals, so only operators reach
them. Both close connections that stall: aiohttp's ``keepalive_timeout`` is the deadline for
a request's headers, counted from when the connection opens or from its last answer, and
body reads are bounded in ``service.web.validation.body_deadline`` (a 408, after which
``service.web.problems`` closes the connection at once).

A port that cannot be taken (in use, or not allowed) is ``CannotListen``, whose message is
the one line the CLI prints.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from service.settings import Settings
from service.waiting import stop_on_signals
from service.web.app import create_app, create_ops_app

log = logging.getLogger(__name__)


class CannotListen(Exception):
    """A listener's address cannot be bound; the message says which and what to change."""


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int
    #: What changes it, for the message when it is taken: "--port (REPLYGUARD_PORT)".
    option: str

    def cannot_listen(self, error: OSError) -> CannotListen:
        reason = "it is in use" if error.errno == errno.EADDRINUSE else error.strerror
        return CannotListen(
            f"cannot listen on port {self.port} ({self.host}): {reason}; "
            f"stop what holds it or choose another port with {self.option}"
        )


def addresses(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    ops_host: str | None = None,
    ops_port: int | None = None,
) -> tuple[Address, Address]:
    """The public and operations addresses: command-line values win over the settings."""
    public = Address(
        host or settings.host,
        settings.port if port is None else port,
        "--port (REPLYGUARD_PORT)",
    )
    ops = Address(
        ops_host or settings.ops_host,
        settings.ops_port if ops_port is None else ops_port,
        "--ops-port (REPLYGUARD_OPS_PORT)",
    )
    if public.port == ops.port and public.port != 0:
        raise CannotListen(
            f"the public and operations listeners both ask for port {public.port}; "
            f"give the operations listener another with {ops.option}"
        )
    return public, ops


def check_free(address: Address) -> None:
    """Raise ``CannotListen`` if the address cannot be bound right now: a quick look before
    ``serve`` starts anything, so a taken port costs one line, not a crash loop."""
    if address.port == 0:
        return
    infos = socket.getaddrinfo(
        address.host or None, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    for family, kind, proto, _name, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            # As asyncio's server does: TIME_WAIT leftovers do not count as taken.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(sockaddr)
            except OSError as error:
                raise address.cannot_listen(error) from None


def server_options(settings: Settings) -> dict[str, Any]:
    """What every listener's aiohttp server is given: the header deadline and shutdown."""
    return {
        "keepalive_timeout": settings.header_timeout,
        "shutdown_timeout": settings.shutdown_timeout,
        "access_log": logging.getLogger("aiohttp.access"),
    }


async def _listen(runner: web.AppRunner, address: Address, reuse_port: bool) -> None:
    site = web.TCPSite(runner, address.host, address.port, reuse_port=reuse_port)
    try:
        await site.start()
    except OSError as error:
        raise address.cannot_listen(error) from None


async def start(
    settings: Settings,
    public: Address,
    ops: Address,
    *,
    app: web.Application | None = None,
    reuse_port: bool = False,
) -> list[web.AppRunner]:
    """Start both listeners (the public app's resources first; the operations app reads
    them). Returns the runners to clean up, last first; on failure nothing is left open."""
    public_app = app if app is not None else create_app(settings)
    runners = [
        web.AppRunner(public_app, **server_options(settings)),
        web.AppRunner(create_ops_app(public_app), **server_options(settings)),
    ]
    started: list[web.AppRunner] = []
    try:
        for runner, address in zip(runners, (public, ops), strict=True):
            await runner.setup()
            started.append(runner)
            await _listen(runner, address, reuse_port)
    except BaseException:
        await stop(started)
        raise
    return started


async def stop(runners: list[web.AppRunner]) -> None:
    """Stop accepting, let requests in flight finish (up to the shutdown timeout), close."""
    for runner in reversed(runners):
        await runner.cleanup()


def _where(runner: web.AppRunner) -> str:
    """The URL a runner listens on, with the port the system chose where 0 was asked."""
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


async def run(settings: Settings, public: Address, ops: Address, *, reuse_port: bool) -> None:
    """Serve until SIGTERM or SIGINT, then finish what is in flight and stop."""
    stopping = stop_on_signals()
    runners = await start(settings, public, ops, reuse_port=reuse_port)
    public_at, ops_at = (_where(runner) for runner in runners)
    log.info(
        "web listening on %s (/readyz and /metrics on %s; database: %s)",
        public_at,
        ops_at,
        settings.database_display,
    )
    try:
        await stopping.wait()
    finally:
        await stop(runners)
