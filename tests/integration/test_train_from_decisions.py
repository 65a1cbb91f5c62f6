"""``replyguard train --from-decisions``: a tiny model, a miniature shared data folder and a
site's moderator decisions in a real database; nothing is downloaded. The candidate loads
through the Detoxify loader, its card says what it learned from and how both models did on
the newest decisions, and the refusals say what was wrong."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from moderation.detox import load_scorer
from moderation.model_build import make_tiny_checkpoint
from service.cli.main import main
from service.settings import Settings
from service.store.db import create_engine
from service.store.decisions import DecisionStore
from tests.training_files import make_shared_data

Capture = pytest.CaptureFixture[str]
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
#: (to_status, actor_kind, minutes after START): a comment's moves, oldest first.
Moves = Sequence[tuple[str, str, float]]


def _at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


async def _seed(url: str, comments: Sequence[tuple[str, str, Moves]]) -> None:
    """Sites ``daily`` (toxicity hold_at 0.4), ``quiet`` and ``other``; each comment (site,
    body, moves) with its audit rows."""
    conn = await asyncpg.connect(url)
    try:
        policy = {"thresholds": {"toxicity": {"hold_at": 0.4, "reject_at": 0.9}}}
        await conn.execute(
            "INSERT INTO sites (id, name, policy) VALUES ('daily', 'The Daily', $1::jsonb), "
            "('quiet', 'Quiet', '{}'), ('other', 'Other', '{}')",
            json.dumps(policy),
        )
        await conn.execute(
            "INSERT INTO articles (site_id, id) VALUES ('daily', 'a'), ('quiet', 'a'), "
            "('other', 'a')"
        )
        for site, body, moves in comments:
            comment_id = await conn.fetchval(
                "INSERT INTO comments (site_id, article_id, body, author_name, "
                "author_token_hash, status) VALUES ($1, 'a', $2, 'Ann', '\\x00', $3) "
                "RETURNING id",
                site,
                body,
                moves[-1][0],
            )
            status = "pending"
            for to_status, actor_kind, minutes in moves:
                await conn.execute(
                    "INSERT INTO audit_log (comment_id, site_id, from_status, to_status, "
                    "actor_kind, actor, created_at) VALUES ($1, $2, $3, $4, $5, 'ed', $6)",
                    comment_id,
                    site,
                    status,
                    to_status,
                    actor_kind,
                    _at(minutes),
                )
                status = to_status
    finally:
        await conn.close()


def _history() -> list[tuple[str, str, Moves]]:
    """``daily``: 60 decisions a minute apart, half rejected, and moves that are not one;
    ``quiet``: 10 decisions."""
    plain: list[tuple[str, str, Moves]] = [
        (
            "daily",
            f"you worthless troll number {i}" if i % 2 == 0 else f"thanks for the report {i}",
            [("rejected" if i % 2 == 0 else "approved", "moderator", i)],
        )
        for i in range(58)
    ]
    odd_ones: list[tuple[str, str, Moves]] = [
        # A reversal: the moderator's latest word (rejected, minute 58) counts.
        (
            "daily",
            "shut up you clown",
            [("approved", "moderator", 10.5), ("rejected", "moderator", 58)],
        ),
        # Readers' reports held it again later: still the moderator's approval (minute 59).
        (
            "daily",
            "a fair point well made",
            [("approved", "moderator", 59), ("held", "system", 70)],
        ),
        # Not decisions: the model's alone, an undone one, an erased comment, another site.
        ("daily", "the model alone decided this", [("rejected", "model", 5)]),
        (
            "daily",
            "reopened after a reject",
            [("rejected", "moderator", 20), ("held", "moderator", 21)],
        ),
        ("daily", "", [("rejected", "moderator", 30)]),
        ("other", "another site's comment", [("rejected", "moderator", 40)]),
    ]
    quiet: list[tuple[str, str, Moves]] = [
        ("quiet", f"quiet comment {i}", [("rejected" if i % 2 else "approved", "moderator", i)])
        for i in range(10)
    ]
    return plain + odd_ones + quiet


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The CLI on this test's database with the history above, from an empty folder, with a
    tiny starting model as the configured one; returns the shared data folder."""
    assert settings.database_url is not None
    asyncio.run(_seed(settings.database_url, _history()))
    start = make_tiny_checkpoint("bert", tmp_path / "start", classes=("toxicity", "threat"))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REPLYGUARD_MODEL", str(start.parent))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return make_shared_data(tmp_path / "shared")


def _train(capsys: Capture, data_dir: Path, *more: str) -> tuple[int, str, str]:
    code = main(
        [
            "train",
            "--from-decisions",
            "--data-dir",
            str(data_dir),
            "--rows",
            "300",
            "--max-length",
            "32",
            "--batch-size",
            "16",
            "--eval-every",
            "4",
            "--threads",
            "1",
            *more,
        ]
    )
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_site_decisions__the_moderators_latest_approvals_and_rejections(
    settings: Settings,
) -> None:
    assert settings.database_url is not None
    await _seed(settings.database_url, _history())
    engine = create_engine(settings, pool_size=1)
    try:
        decisions = await DecisionStore(engine).site_decisions("daily", 1000)
        newest = await DecisionStore(engine).site_decisions("daily", 3)
    finally:
        await engine.dispose()

    assert len(decisions) == 60
    assert [d.decided_at for d in decisions] == sorted(d.decided_at for d in decisions)
    by_body = {d.body: d for d in decisions}
    assert by_body["shut up you clown"].verdict == "rejected"
    assert by_body["shut up you clown"].decided_at == _at(58)
    assert by_body["a fair point well made"].verdict == "approved"
    assert not {"the model alone decided this", "reopened after a reject", ""} & set(by_body)
    assert [d.body for d in newest] == [
        "thanks for the report 57",
        "shut up you clown",
        "a fair point well made",
    ]


def test_train_from_decisions__a_candidate_with_its_card_and_report(
    cli_env: Path, tmp_path: Path, capsys: Capture
) -> None:
    code, out, err = _train(capsys, cli_env, "--site", "daily")

    assert code == 0, err
    folder = tmp_path / "replyguard-data" / "models" / "candidate-daily"
    scorer = load_scorer(str(folder), model_dir=tmp_path / "models", threads=1)
    assert scorer.model.name == "candidate-daily"
    assert scorer.labels == ("toxicity", "threat")  # the starting model's
    assert len(scorer.score(["you worthless troll", "thanks"])) == 2

    card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    site = card["site_decisions"]
    assert site["site"] == "daily"
    assert "other labels masked" in site["target"]
    assert site["decisions"]["rows"] == 60
    assert (site["decisions"]["rejected"], site["decisions"]["approved"]) == (30, 30)
    trained, held = site["trained_on"], site["held_out"]
    assert (trained["rows"], held["rows"], held["share"]) == (48, 12, 0.2)
    assert (held["rejected"], held["approved"]) == (6, 6)
    assert datetime.fromisoformat(trained["last_decided_at"]) == _at(47)
    assert datetime.fromisoformat(held["first_decided_at"]) == _at(48)
    assert datetime.fromisoformat(held["last_decided_at"]) == _at(59)
    # 300 shared rows asked for: each of the 48 decisions is used twice, none held out.
    assert trained["weight"] == 2
    assert card["train_sources"]["hand:daily_decisions"] == 96
    assert site["hold_at"] == 0.4
    # The miniature shared data has no threat: the candidate may unlearn it, and says so.
    assert site["labels_never_positive"] == ["threat"]
    for role, name in (("start", "start"), ("candidate", "candidate-daily")):
        figures = site["report"][role]
        assert figures["model"] == name
        assert 0.0 <= figures["roc_auc"] <= 1.0
        assert set(figures["at_hold_at"]) == {"precision", "recall", "flagged"}

    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert text.startswith("# candidate-daily: a candidate learned from daily's moderators")
    assert "## Learned from daily's moderators" in text
    assert "replyguard train --from-decisions --site daily --decision-weight 2" in text
    assert "held-out decisions of daily (the newest 12: 6 rejected, 6 approved" in out
    assert "  start     start " in out and "  candidate candidate-daily " in out
    assert "warning: No training row says threat is 1" in out
    assert f"REPLYGUARD_MODEL={folder.resolve()}" in out


def test_train_from_decisions__unknown_site(cli_env: Path, capsys: Capture) -> None:
    code, _, err = _train(capsys, cli_env, "--site", "nosuch")

    assert code == 2
    assert "error: no site 'nosuch'" in err


def test_train_from_decisions__too_few_decisions_says_how_many(
    cli_env: Path, capsys: Capture
) -> None:
    code, _, err = _train(capsys, cli_env, "--site", "quiet")

    assert code == 1
    assert "site 'quiet' has 10 moderator decisions (5 rejected, 5 approved)" in err
    assert "needs at least 50" in err


def test_train_from_decisions__no_database(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.delenv("DATABASE_URL")

    code, _, err = _train(capsys, cli_env, "--site", "daily")

    assert code == 2
    assert "error: no replyguard database found" in err


def test_train_from_decisions__needs_a_site_and_shared_data(capsys: Capture) -> None:
    code = main(["train", "--from-decisions", "--site", "daily"])

    assert code == 2
    assert "--from-decisions needs --site SITE" in capsys.readouterr().err
