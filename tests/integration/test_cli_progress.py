"""The long CLI runs draw a progress bar on a terminal's stderr, and none into a pipe or
with ``--quiet``: ``erase-author`` (one comment at a time) and ``migrate`` (one step at a
time). Each command runs as an operator runs it, with stderr on a pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from service.settings import Settings
from service.store.schema import load_migrations
from tests.conftest import SiteFactory

Client = TestClient[Any, Any]
REPO = Path(__file__).parents[2]


def _on_a_terminal(url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``replyguard ARGS`` with stderr on a 100-column pseudo-terminal; its result
    (stdout captured) and what it drew on the terminal."""
    screen, stderr = pty.openpty()
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "service", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(stderr)
    drawn = b""
    try:
        while chunk := os.read(screen, 65536):
            drawn += chunk
    except OSError:  # EIO: the terminal's other end is closed and everything was read
        pass
    finally:
        os.close(screen)
    return done, drawn.decode("utf-8", "replace")


async def _comments_by_ann(client: Client, count: int) -> None:
    for i in range(count):
        posted = await client.post(
            "/v1/sites/daily/articles/a1/comments",
            json={"body": f"My view {i}", "author_name": "Ann", "author_email": "ann@example.org"},
        )
        assert posted.status == 202, await posted.text()


async def test_erase_author__bar_on_a_terminal_none_with_quiet(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    await make_site()
    await _comments_by_ann(client, 3)
    assert settings.database_url is not None

    done, drawn = _on_a_terminal(
        settings.database_url, "erase-author", "--email", "ann@example.org"
    )
    assert done.returncode == 0, drawn
    assert "erased 3 comments" in done.stdout
    assert "erasing" in drawn
    assert "3/3" in drawn

    await _comments_by_ann(client, 1)
    quiet, drawn = _on_a_terminal(
        settings.database_url, "erase-author", "--email", "ann@example.org", "--quiet"
    )
    assert "erased 1 comments" in quiet.stdout
    assert "erasing" not in drawn


async def test_migrate__bar_names_the_steps_on_a_terminal_none_into_a_pipe(
    make_database: Callable[[], Awaitable[str]],
) -> None:
    steps = load_migrations()
    url = await make_database()
    done, drawn = _on_a_terminal(url, "migrate")
    assert done.returncode == 0, drawn
    assert "migrating" in drawn
    assert f"{len(steps)}/{len(steps)}" in drawn
    assert steps[-1].label in drawn
    # Log lines go above the bar, not glued to its end ("...steps/s, 0001_initial]2026-...").
    assert not re.search(r"\]\d{4}-\d\d-\d\d ", drawn), drawn
    assert "applied migration 0001_initial" in drawn

    piped = subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        env={**os.environ, "DATABASE_URL": await make_database(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert "migrating" not in piped.stderr
