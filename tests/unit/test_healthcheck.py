"""The container's health check: which URL it asks for each role, and its exit status."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from service.cli.healthcheck import health_url, main

SCRIPT = ["/usr/local/bin/python3.11", "/usr/local/bin/replyguard"]


@pytest.mark.parametrize(
    ("args", "environ", "url"),
    [
        ([], {}, "http://127.0.0.1:8080/healthz"),  # the image's default command: serve
        (["serve"], {"REPLYGUARD_HOST": "0.0.0.0"}, "http://127.0.0.1:8080/healthz"),
        (["web", "--port", "9000"], {"REPLYGUARD_PORT": "7000"}, "http://127.0.0.1:9000/healthz"),
        (["web"], {"REPLYGUARD_PORT": "7000"}, "http://127.0.0.1:7000/healthz"),
        (["web", "--host=10.0.0.5", "--port=81"], {}, "http://10.0.0.5:81/healthz"),
        (["web", "--host", "::1"], {}, "http://[::1]:8080/healthz"),
        (["worker"], {}, None),
        (["deliver"], {}, None),
    ],
)
def test_health_url__follows_the_role_and_its_listener(
    args: list[str], environ: dict[str, str], url: str | None
) -> None:
    assert health_url([*SCRIPT, *args], environ) == url


class _Healthz(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def healthz_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _cmdline(tmp_path: Path, *args: str) -> Path:
    path = tmp_path / "cmdline"
    path.write_bytes("\0".join([*SCRIPT, *args]).encode() + b"\0")
    return path


def test_main__healthy_when_healthz_answers_unhealthy_when_nothing_listens(
    tmp_path: Path, healthz_port: int
) -> None:
    assert main(_cmdline(tmp_path, "web", "--port", str(healthz_port))) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert main(_cmdline(tmp_path, "web", "--port", str(closed)), timeout=2) == 1
    assert main(_cmdline(tmp_path, "worker")) == 0
