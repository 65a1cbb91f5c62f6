"""A web node without the scoring extra: ``migrate``, ``create-token``, ``web`` and
``deliver`` run and take comments with torch, transformers and Detoxify absent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from tests.no_scoring import env_without_scoring
from tests.ports import free_port


def _call(url: str, body: Any = None, token: str | None = None, method: str = "GET") -> Any:
    """(status, JSON body) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def _until_answers(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            _call(url)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise AssertionError(f"{url} never answered:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_web_node__runs_without_the_scoring_extra(
    tmp_path: Path, make_database: Callable[[], Awaitable[str]]
) -> None:
    env = {**env_without_scoring(tmp_path), "DATABASE_URL": await make_database()}

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "service", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path, IO[bytes]]:
        log = tmp_path / f"{name}.log"
        out = log.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", name, *args],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        return proc, log, out

    cli("migrate")
    token = cli("create-token", "--role", "admin").splitlines()[-1]
    port, ops_port = free_port(), free_port()
    web, web_log, web_out = start("web", "--port", str(port), "--ops-port", str(ops_port))
    deliver, deliver_log, deliver_out = start("deliver")
    try:
        base = f"http://127.0.0.1:{port}"
        _until_answers(f"{base}/healthz", web, web_log)
        assert _call(f"{base}/healthz") == (200, {"status": "ok"})
        # Ready but for a scoring worker, which this node does not run.
        status, ready = _call(f"http://127.0.0.1:{ops_port}/readyz")
        assert status == 503
        assert list(ready["failing"]) == ["scorers"]
        site = {"name": "Daily", "allowed_origins": ["https://news.example"]}
        assert _call(f"{base}/v1/sites/daily", site, token, "PUT")[0] == 201
        comment = {"body": "Clear explainer, thanks.", "author_name": "Ann"}
        status, accepted = _call(
            f"{base}/v1/sites/daily/articles/a1/comments", comment, None, "POST"
        )
        assert (status, accepted["status"]) == (202, "pending")
        assert deliver.poll() is None, deliver_log.read_text()
    finally:
        _stop(web, web_log)
        _stop(deliver, deliver_log)
        web_out.close()
        deliver_out.close()
    for log in (web_log, deliver_log):
        assert "Traceback" not in log.read_text()
