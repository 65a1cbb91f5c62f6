"""End to end through ``replyguard serve`` on a fresh folder: embedded PostgreSQL, real model."""

from __future__ import annotations

import json
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
from typing import Any

import pytest

REPO = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(
    base: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        payload = error.read()
        error.close()
        return error.code, json.loads(payload)


def _cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    port, ops_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        REPLYGUARD_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(REPO),
        REPLYGUARD_POLL_INTERVAL="0.5",
    )
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--port",
            str(port),
            "--ops-port",
            str(ops_port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if _call(f"http://127.0.0.1:{ops_port}", "GET", "/readyz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.3)
        else:
            pytest.fail("serve never became ready:\n" + (tmp_path / "serve.log").read_text())
        yield base, env, tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()


@pytest.mark.slow
def test_serve__fresh_folder_to_moderated_thread(served: tuple[str, dict[str, str], Path]) -> None:
    base, env, cwd = served
    assert "create-token --role admin" in (cwd / "serve.log").read_text()
    admin = _cli(env, cwd, "create-token", "--role", "admin").strip().splitlines()[-1]
    status, site = _call(
        base,
        "PUT",
        "/v1/sites/daily",
        {
            "name": "The Daily",
            "allowed_origins": ["https://daily.example"],
            "policy": {"watched_terms": ["scum"], "thresholds": {"toxicity": {"hold_at": 0.99}}},
        },
        admin,
    )
    assert status == 201, site
    moderator = _cli(env, cwd, "create-token", "--role", "moderator", "--site", "daily")
    moderator = moderator.strip().splitlines()[-1]

    path = "/v1/sites/daily/articles/budget-2026/comments"
    status, benign = _call(
        base, "POST", path, {"body": "Thanks for the clear explainer.", "author_name": "Ann"}
    )
    assert (status, benign["status"]) == (202, "pending")
    status, abusive = _call(
        base, "POST", path, {"body": "You are scum, you stupid idiot.", "author_name": "Troll"}
    )
    assert status == 202

    deadline = time.monotonic() + 60
    decided: dict[str, Any] = {}
    while time.monotonic() < deadline and len(decided) < 2:
        for c in (benign, abusive):
            _, view = _call(base, "GET", f"/v1/comments/{c['id']}", token=c["author_token"])
            if view["status"] != "pending":
                decided[c["id"]] = view
        time.sleep(0.3)
    assert len(decided) == 2, "both comments must reach a decision"
    assert decided[benign["id"]]["status"] == "approved"
    assert decided[abusive["id"]]["status"] == "held"

    _, queue = _call(base, "GET", "/v1/queue?site=daily", token=moderator)
    [item] = queue["items"]
    assert item["id"] == abusive["id"]
    assert item["explanation"]["model"]["name"] == "replyguard-minilm"
    assert set(item["scores"]) == {"toxicity", "insult", "identity_attack", "threat"}
    # The shipped model, not an untrained head: abuse scores far above a polite remark.
    _, polite = _call(base, "GET", f"/v1/comments/{benign['id']}", token=moderator)
    assert item["scores"]["toxicity"] > 0.8 > 0.2 > polite["scores"]["toxicity"]
    status, _ = _call(
        base,
        "POST",
        f"/v1/comments/{item['id']}/decision",
        {"action": "approve", "reason": "robust but fair"},
        moderator,
    )
    assert status == 200

    _, thread = _call(base, "GET", path)
    assert [c["id"] for c in thread["items"]] == [benign["id"], abusive["id"]]

    # The moderator leaves: revoke-token, run beside the live server, takes effect at once.
    token_id = _cli(env, cwd, "list-tokens").splitlines()[-1].split()[0]
    assert "Revoked token" in _cli(env, cwd, "revoke-token", token_id)
    assert _call(base, "GET", "/v1/queue?site=daily", token=moderator)[0] == 401


@pytest.mark.slow
def test_serve__a_model_that_cannot_load_stops_serve_with_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        REPLYGUARD_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(REPO),
        REPLYGUARD_MODEL=str(tmp_path / "missing" / "model.ckpt"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--port", str(_free_port()), "--ops-port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 78, done.stderr[-2000:]
    assert "cannot load the model" in done.stderr
    assert "missing" in done.stderr
