"""``serve`` runs one web process per core (REPLYGUARD_WEB_PROCESSES), all on one port.

The web processes are started exactly as ``serve`` starts them (``_serve_specs``), against a
test database; both must bind the public and the operations port (SO_REUSEPORT), answer on
them, and keep answering when either one stops.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.cli.main import _serve_specs
from service.settings import load_settings

REPO = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)
    except (urllib.error.URLError, ConnectionError):
        return None


def test_serve_specs__one_web_process_per_core_by_default() -> None:
    listen = ["--port", "8080", "--ops-port", "8081"]
    default = _serve_specs(load_settings({}), listen)
    cores = os.cpu_count() or 1
    assert [role for role, _ in default] == ["web"] * cores + ["worker"]
    if cores > 1:
        assert all("--reuse-port" in extra for role, extra in default if role == "web")

    settings = load_settings({"REPLYGUARD_WEB_PROCESSES": "3", "REPLYGUARD_WORKERS": "2"})
    specs = _serve_specs(settings, listen)
    assert specs == [("web", [*listen, "--reuse-port"])] * 3 + [("worker", [])] * 2
    one = _serve_specs(load_settings({"REPLYGUARD_WEB_PROCESSES": "1"}), listen)
    assert one[0] == ("web", listen), "a single web process needs no shared port"


@pytest.fixture
def two_webs(
    database_url: str, tmp_path: Path
) -> Iterator[tuple[list[subprocess.Popen[bytes]], int, int]]:
    port, ops_port = _free_port(), _free_port()
    settings = load_settings({"REPLYGUARD_WEB_PROCESSES": "2"})
    listen = ["--host", "127.0.0.1", "--port", str(port), "--ops-host", "127.0.0.1"]
    webs = [
        extra
        for role, extra in _serve_specs(settings, [*listen, "--ops-port", str(ops_port)])
        if role == "web"
    ]
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    procs = []
    logs = [(tmp_path / f"web{i}.log").open("w") for i in range(len(webs))]
    for log, extra in zip(logs, webs, strict=True):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "service", "web", *extra],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        yield procs, port, ops_port
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        for log in logs:
            log.close()


def _logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob("web*.log")))


@pytest.mark.slow
def test_serve__two_web_processes_share_one_port(
    two_webs: tuple[list[subprocess.Popen[bytes]], int, int], tmp_path: Path
) -> None:
    procs, port, ops_port = two_webs
    deadline = time.monotonic() + 60
    while _logs(tmp_path).count("web listening on") < 2:
        assert all(p.poll() is None for p in procs), _logs(tmp_path)
        assert time.monotonic() < deadline, "the web processes did not start:\n" + _logs(tmp_path)
        time.sleep(0.2)

    for proc in procs:
        assert _status(f"http://127.0.0.1:{port}/healthz") == 200
        assert _status(f"http://127.0.0.1:{ops_port}/healthz") == 200
        # Either one alone still answers on both ports.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, _logs(tmp_path)
        if proc is not procs[-1]:
            assert _status(f"http://127.0.0.1:{port}/healthz") == 200
            assert _status(f"http://127.0.0.1:{ops_port}/healthz") == 200
