"""``replyguard promote``, ``rollback``, ``promotions`` and ``rescore`` run in-process through
``service.cli.main.main`` against this test's database: the same changes, audit and events as
the API, clear refusals, and a rescore that stores the live model's scores of past comments
and changes no decision."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.model_build import make_tiny_checkpoint
from service.cli.main import main
from service.queue.scoring import ScoringWorker
from service.settings import Settings
from tests.conftest import SiteFactory
from tests.db_rows import fetch_rows
from tests.fakes import FakeScorer

Capture = pytest.CaptureFixture[str]
Client = TestClient[Any, Any]


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The CLI pointed at this test's database, run from an empty folder."""
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REPLYGUARD_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    return settings


async def _cli(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    """Run the command on a thread of its own (it runs its own event loop)."""
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_cli_promote__promotes_rolls_back_and_lists_as_the_api_does(
    cli_env: Settings, make_site: SiteFactory, capsys: Capture, tmp_path: Path
) -> None:
    await make_site("daily")
    folder = tmp_path / "candidate"
    folder.mkdir()

    code, out, _ = await _cli(capsys, "promote", str(folder), "--site", "daily")
    assert code == 0
    assert f"promoted: site daily is scored by {folder}" in out
    assert "replyguard rollback --site daily" in out
    code, _, err = await _cli(capsys, "promote", str(folder), "--site", "daily")
    assert (code, err.strip()) == (
        1,
        f"error: {str(folder)!r} is already the model promoted for site 'daily'.",
    )
    code, out, _ = await _cli(capsys, "rollback", "--site", "daily")
    assert code == 0
    assert "rolled back: site daily is scored by the every-site model" in out
    code, out, _ = await _cli(capsys, "promotions")
    lines = out.strip().splitlines()
    assert [line.split()[3] for line in lines] == ["rollback", "promote"]
    assert all(line.endswith("by cli:" + line.rsplit("cli:", 1)[1]) for line in lines)

    rows = await fetch_rows(cli_env, "SELECT action, actor FROM model_promotions ORDER BY id")
    assert [r["action"] for r in rows] == ["promote", "rollback"]
    assert all(r["actor"].startswith("cli") for r in rows)
    events = await fetch_rows(cli_env, "SELECT payload FROM outbox ORDER BY seq")
    assert [json.loads(e["payload"])["action"] for e in events] == ["promote", "rollback"]


async def test_cli_promote__refuses_what_it_cannot_do_and_writes_nothing(
    cli_env: Settings, make_site: SiteFactory, capsys: Capture, tmp_path: Path
) -> None:
    await make_site("daily")
    code, _, err = await _cli(capsys, "promote", str(tmp_path / "nowhere"))
    assert code == 2
    assert "nor a checkpoint file or model folder" in err
    code, _, err = await _cli(capsys, "promote", "unbiased")
    assert code == 2
    assert "replyguard download-model unbiased" in err
    code, _, err = await _cli(capsys, "promote", "default", "--site", "weekly")
    assert code == 2
    assert "no site 'weekly'" in err
    code, _, err = await _cli(capsys, "rollback")
    assert code == 1
    assert "nothing to roll back" in err
    assert await fetch_rows(cli_env, "SELECT id FROM model_promotions") == []


async def test_cli_rescore__stores_the_live_models_scores_and_changes_no_decision(
    cli_env: Settings,
    client: Client,
    make_site: SiteFactory,
    engine: AsyncEngine,
    settings: Settings,
    capsys: Capture,
    tmp_path: Path,
) -> None:
    await make_site("daily")
    for n, body in enumerate(("what a fair point", "you are an idiot", "thanks for this")):
        response = await client.post(
            "/v1/sites/daily/articles/a1/comments",
            json={"body": body, "author_name": f"Reader {n}"},
        )
        assert response.status == 202
    assert await ScoringWorker(settings, engine, FakeScorer()).run_once() == 3
    before = await fetch_rows(
        cli_env, "SELECT id, status, status_changed_at, explanation FROM comments ORDER BY id"
    )
    checkpoint = make_tiny_checkpoint("bert", tmp_path / "tiny")
    code, _, _ = await _cli(capsys, "promote", str(checkpoint), "--site", "daily")
    assert code == 0

    code, out, err = await _cli(
        capsys, "rescore", "--site", "daily", "--since", "2000-01-01", "--batch-size", "2"
    )
    assert code == 0, err
    assert "rescoring 3 decided comments of site daily" in err
    assert "with tiny@" in err
    assert "rescored 3 comments; 3 scores stored" in out
    assert "published or not as now:" in out
    rows = await fetch_rows(
        cli_env, "SELECT model_name, verdict FROM comment_scores WHERE role = 'rescore'"
    )
    assert [r["model_name"] for r in rows] == ["tiny"] * 3
    assert {r["verdict"] for r in rows} <= {"approved", "held", "rejected"}
    after = await fetch_rows(
        cli_env, "SELECT id, status, status_changed_at, explanation FROM comments ORDER BY id"
    )
    assert [dict(r) for r in after] == [dict(r) for r in before]

    # Again: the scores are there already; nothing is written twice.
    code, out, _ = await _cli(capsys, "rescore", "--site", "daily", "--since", "2000-01-01")
    assert code == 0
    assert "rescored 3 comments; 0 scores stored" in out
    code, _, err = await _cli(
        capsys, "rescore", "--site", "daily", "--since", "2030-01-01", "--until", "2029-01-01"
    )
    assert (code, err.strip()) == (2, "error: --since must be before --until")
    code, _, err = await _cli(capsys, "rescore", "--site", "daily", "--since", "last week")
    assert code == 2
    assert "write a date (2026-11-01) or an ISO time" in err
