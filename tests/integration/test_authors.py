"""An author's access and erasure requests through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from service.settings import Settings
from tests.conftest import SiteFactory

Client = TestClient[Any, Any]
REPO = Path(__file__).parents[2]


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    assert settings.database_url is not None
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )


async def test_export_and_erase_author__by_email_keeps_the_audit_trail(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    await make_site()
    path = "/v1/sites/daily/articles/a1/comments"
    mine = [
        (
            await (
                await client.post(
                    path,
                    json={
                        "body": f"My view {i}",
                        "author_name": "Ann",
                        "author_email": "Ann@Example.org",
                    },
                )
            ).json()
        )["id"]
        for i in range(2)
    ]
    other = await client.post(
        path, json={"body": "Other", "author_name": "Bob", "author_email": "bob@example.org"}
    )
    assert other.status == 202

    exported = _cli(settings, "export-author", "--email", "ann@example.org")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert [c["id"] for c in data["comments"]] == mine
    assert data["comments"][0]["body"] == "My view 0"
    author_id = data["comments"][0]["author_id"]

    by_id = json.loads(_cli(settings, "export-author", "--author-id", author_id).stdout)
    assert [c["id"] for c in by_id["comments"]] == mine

    erased = _cli(settings, "erase-author", "--email", "ann@example.org")
    assert erased.returncode == 0, erased.stderr
    assert "erased 2 comments" in erased.stdout
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT body, author_name, author_email, status FROM comments "
            "WHERE id = ANY($1::uuid[]) ORDER BY created_at",
            mine,
        )
        audit = await conn.fetch(
            "SELECT reason FROM audit_log WHERE comment_id = $1::uuid ORDER BY id", mine[0]
        )
        bob = await conn.fetchval("SELECT body FROM comments WHERE author_name = 'Bob'")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [("", "[erased]", None, "rejected")] * 2
    assert [a["reason"] for a in audit] == ["submitted", "erased at the author's request"]
    assert bob == "Other"
    after = json.loads(_cli(settings, "export-author", "--email", "ann@example.org").stdout)
    assert after["comments"] == []

    assert _cli(settings, "erase-author").returncode == 2
    assert _cli(settings, "export-author", "--author-id", "zz").returncode == 2
