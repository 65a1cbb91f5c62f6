"""Schemathesis against ``/v1/openapi.json``: every operation, with inputs it generates from
the description (valid ones and deliberately invalid ones), under all of its checks: no 5xx,
every status code, content type, header and body as described, valid input accepted and
invalid input refused, authentication not ignored (each secured call is repeated with no
token and with a made-up one). The number of examples is bounded so the run takes seconds.

It runs schemathesis's own command line (``st run``, as a developer would) in a child
process against the app served on a real port by the ``client`` fixture, with an admin
token, so the secured operations are exercised with valid credentials too. Where a check
is switched off for one operation, ``schemathesis.toml`` beside this file says why.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.settings import Settings
from tests.conftest import SiteFactory

CONFIG = Path(__file__).with_name("schemathesis.toml")
#: Examples per operation and phase: enough to find what is wrong, few enough for CI.
MAX_EXAMPLES = 12
SEED = 20260601


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every generated request comes from 127.0.0.1: rate limits would answer most of them
    # 429 and hide what the handlers do with the input.
    return replace(settings, rate_per_network=10**6, rate_per_author=10**6, rate_per_site=10**6)


async def test_openapi__schemathesis_finds_no_failure(
    client: TestClient[Any, Any],
    auth: dict[str, str],
    make_site: SiteFactory,
    tmp_path: Path,
) -> None:
    await make_site("daily")
    base = str(client.make_url("")).rstrip("/")
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base}/v1/openapi.json",
        "--header",
        f"Authorization: {auth['Authorization']}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-shrink",
    ]
    # The child makes blocking requests; the server runs on this test's event loop, which
    # keeps serving while the child runs.
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=170)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    report = output.decode(errors="replace")
    assert proc.returncode == 0, report[-30000:]
    assert "Tested:" in report, report[-5000:]
