"""Webhook receivers on 127.0.0.1 for tests: a well-behaved one with scripted answers, and
raw-socket ones that hang or trickle, plus a clock the tests move by hand."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook


class FakeClock:
    """``now()`` for the deliverer's schedule; only the test moves it.

    It starts a minute ahead of real time, so what the API queues "now" (a test event, a
    redelivery) is already due by it.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.t = start or datetime.now(UTC) + timedelta(minutes=1)

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self.t = max(self.t, when)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """An aiohttp app on 127.0.0.1 that records every POST.

    ``script[path]`` lists statuses to answer in turn (then 200). Special paths:
    ``/redirect`` answers 302 to ``/redirected``; ``/huge`` streams ``huge_bytes``;
    ``/slow`` waits ``slow_seconds``; a ``retry_after`` value is sent with 429 and 503.
    """

    script: dict[str, list[int]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    retry_after: str | None = None
    huge_bytes: int = 50 * 1024 * 1024
    huge_sent: int = 0
    slow_seconds: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    _runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/redirect":
            raise web.HTTPFound(self.url("/redirected"))
        if path == "/huge":
            response = web.StreamResponse(status=200)
            await response.prepare(request)
            chunk = b"x" * 65536
            with contextlib.suppress(ConnectionError, RuntimeError):
                while self.huge_sent < self.huge_bytes:
                    await response.write(chunk)
                    self.huge_sent += len(chunk)
            return response
        if path == "/slow":
            await asyncio.sleep(self.slow_seconds)
        queued = self.script.get(path)
        status = queued.pop(0) if queued else 200
        headers = {}
        if status in (429, 503) and self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        return web.Response(status=status, text=f"answer {status}", headers=headers)


class RawReceiver:
    """A socket server that misbehaves: ``hang`` never answers, ``trickle`` sends a header
    a byte at a time, for ever."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "trickle":
                writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not self._release.is_set():
                    writer.write(b"a")
                    await writer.drain()
                    await asyncio.sleep(0.05)
            else:
                await self._release.wait()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def verify(received: Received, secret: str) -> Any:
    """Check a delivery as a receiver would, with the standardwebhooks package."""
    return Webhook(secret).verify(received.body, received.headers)
