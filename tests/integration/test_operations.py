"""What operators and hostile clients meet at the listeners: /readyz and /metrics only on
the operations listener, stalled headers and bodies cut off, a taken port refused in one
line, and a test run without PostgreSQL told how to get one."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from service.web import serving
from service.web.app import create_app
from tests.ports import free_port

Client = TestClient[Any, Any]
REPO = Path(__file__).parents[2]
#: Small in tests, so a stalled connection must be gone within a couple of seconds.
STALL_TIMEOUT = 0.5


# --- the operations listener ---------------------------------------------------------------


async def test_operations__readyz_and_metrics_only_on_the_operations_listener(
    client: Client, ops_client: Client
) -> None:
    for path in ("/readyz", "/metrics"):
        assert (await client.get(path)).status == 404, path
    assert (await ops_client.get("/readyz")).status == 503  # no scorer yet: not ready
    assert "replyguard_database_up 1" in await (await ops_client.get("/metrics")).text()
    for listener in (client, ops_client):
        assert (await listener.get("/healthz")).status == 200


async def test_readyz__names_the_failing_check_while_starting(ops_client: Client) -> None:
    r = await ops_client.get("/readyz")
    assert r.status == 503
    body = await r.json()
    assert body["status"] == "not ready"
    assert list(body["failing"]) == ["scorers"]
    assert "loading its model" in body["failing"]["scorers"]
    assert "60 seconds" in body["failing"]["scorers"]


# --- stalled clients, against a real listening server ------------------------------------


@pytest.fixture
async def listening(settings: Settings, engine: AsyncEngine) -> AsyncIterator[int]:
    """The web process's listeners on free ports, with short header and body timeouts."""
    settings = replace(settings, header_timeout=STALL_TIMEOUT, body_timeout=STALL_TIMEOUT)
    public = serving.Address("127.0.0.1", free_port(), "--port")
    ops = serving.Address("127.0.0.1", free_port(), "--ops-port")
    runners = await serving.start(settings, public, ops, app=create_app(settings, engine=engine))
    try:
        yield public.port
    finally:
        await serving.stop(runners)


async def _until_closed(port: int, sent: bytes) -> tuple[bytes, float]:
    """Send ``sent``, then read until the server closes: what came back, and how long."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(sent)
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=STALL_TIMEOUT * 10)
    finally:
        writer.close()
    return answer, time.monotonic() - started


async def test_slow_request__stalled_headers_are_closed(listening: int) -> None:
    answer, took = await _until_closed(
        listening, b"POST /v1/sites/daily/articles/a/comments HTTP/1.1\r\nHost: x\r\n"
    )
    assert answer == b""
    assert took < STALL_TIMEOUT * 4


async def test_slow_request__a_connection_that_sends_nothing_is_closed(listening: int) -> None:
    answer, took = await _until_closed(listening, b"")
    assert (answer, took < STALL_TIMEOUT * 4) == (b"", True)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/sites/daily/articles/a/comments", "application/json"),
        ("/moderate/sign-in", "application/x-www-form-urlencoded"),
    ],
)
async def test_slow_request__stalled_body_is_408_and_closed(
    listening: int, path: str, content_type: str
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        "Content-Length: 100\r\n\r\n"
    )
    answer, took = await _until_closed(listening, head.encode() + b'{"body": "')
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"did not arrive within 0.5 seconds" in answer
    assert took < STALL_TIMEOUT * 4


async def test_slow_request__a_prompt_request_is_answered(listening: int) -> None:
    answer, _ = await _until_closed(
        listening, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 ")


# --- a taken port ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("taken", "option"),
    [("--port", "--port (REPLYGUARD_PORT)"), ("--ops-port", "--ops-port (REPLYGUARD_OPS_PORT)")],
)
def test_serve__a_taken_port_stops_at_once_with_one_line(
    tmp_path: Path, taken: str, option: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        ports = {"--port": free_port(), "--ops-port": free_port(), taken: busy}
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(REPLYGUARD_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO))
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "service", "serve", *(str(a) for p in ports.items() for a in p)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    # Stopped before the embedded database started: fast, and nothing under the data folder.
    assert time.monotonic() - started < 15
    assert not (tmp_path / "data").exists()
    assert done.returncode == 78
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: cannot listen on port {busy} (127.0.0.1): it is in use; "
        f"stop what holds it or choose another port with {option}"
    ]


# --- the test suite without its PostgreSQL -----------------------------------------------


def test_conftest__without_a_server_says_how_to_get_one(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "REPLYGUARD_TEST_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/test",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_readyz__names_the_failing_check_while_starting",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "cannot reach the tests' PostgreSQL at postgresql://postgres@127.0.0.1:" in out
    for hint in ("REPLYGUARD_TEST_DATABASE_URL=", "createdb", "trust auth"):
        assert hint in out
    assert "Traceback" not in out
