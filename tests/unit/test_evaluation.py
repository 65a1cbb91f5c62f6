"""Evaluation: the metrics by hand, CSV reading, and ``replyguard evaluate --json``."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from moderation.domain import ModelInfo
from moderation.evaluation import (
    best_f1_threshold,
    evaluate,
    precision_recall_f1,
    read_labeled_csv,
    report_json,
    report_text,
    roc_auc,
    threshold_for_precision,
)
from moderation.model_build import make_tiny_checkpoint
from moderation.policy import Thresholds
from service.cli.model import add_model_commands
from service.settings import load_settings


class WordScorer:
    """Scores by the words it was told: enough to check the arithmetic around a model."""

    def __init__(self, scores: dict[str, float]) -> None:
        self._scores = scores

    @property
    def model(self) -> ModelInfo:
        return ModelInfo("word-scorer", "1")

    @property
    def labels(self) -> tuple[str, ...]:
        return ("toxicity", "insult")

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [
            {"toxicity": self._scores.get(t, 0.0), "insult": self._scores.get(t, 0.0) / 2}
            for t in texts
        ]


def test_roc_auc__perfect_reversed_and_ties() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_roc_auc__by_hand() -> None:
    # Pairs (positive, negative): positives 0.8 and 0.4, negatives 0.6, 0.4 and 0.1.
    # 0.8 beats all three; 0.4 beats 0.1, ties 0.4 (half), loses to 0.6: (3 + 1.5) / 6.
    assert roc_auc([1, 0, 1, 0, 0], [0.8, 0.6, 0.4, 0.4, 0.1]) == pytest.approx(0.75)


def test_roc_auc__one_class_is_nan() -> None:
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_precision_recall_f1__at_threshold() -> None:
    point = precision_recall_f1([1, 1, 0, 0, 1], [0.9, 0.6, 0.7, 0.1, 0.2], 0.5)

    assert point.precision == pytest.approx(2 / 3)
    assert point.recall == pytest.approx(2 / 3)
    assert point.f1 == pytest.approx(2 / 3)
    assert point.flagged == 3


def test_threshold_for_precision__most_recall_at_target() -> None:
    truth = [1, 1, 0, 1, 0, 0]
    scores = [0.95, 0.9, 0.8, 0.7, 0.3, 0.1]

    point = threshold_for_precision(truth, scores, 0.75)

    assert point is not None
    assert point.threshold == 0.7
    assert point.recall == 1.0
    assert threshold_for_precision([0, 0, 1], [0.9, 0.8, 0.1], 0.9) is None


def test_best_f1_threshold__picks_the_best_cut() -> None:
    point = best_f1_threshold([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.2])

    assert point.threshold == 0.8
    assert point.f1 == 1.0


def test_read_labeled_csv__lone_label_is_toxicity(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('text,label,src\n"a, b",1,x\nc,0,y\n', encoding="utf-8")

    data = read_labeled_csv(path)

    assert data.texts == ["a, b", "c"]
    assert data.truth == {"toxicity": [1, 0]}


def test_read_labeled_csv__several_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,toxicity,insult\nx,0.8,0\ny,0.1,1\n", encoding="utf-8")

    assert read_labeled_csv(path).truth == {"toxicity": [1, 0], "insult": [0, 1]}


def test_read_labeled_csv__hatexplain_words_are_toxicity_and_identity_attack(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hatexplain_test.csv"
    path.write_text("text,label\na,hatespeech\nb,offensive\nc,normal\n", encoding="utf-8")

    assert read_labeled_csv(path).truth == {
        "toxicity": [1, 1, 0],
        "identity_attack": [1, 0, 0],
    }


def test_read_labeled_csv__bad_label_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\nx,yes\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"d\.csv:2"):
        read_labeled_csv(path)


def test_evaluate__per_label_report(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,toxicity,insult\nbad,1,1\nworse,1,0\nfine,0,0\nok,0,1\n")
    scorer = WordScorer({"bad": 0.9, "worse": 0.97, "fine": 0.1, "ok": 0.2})

    reports = evaluate(
        scorer,
        read_labeled_csv(path),
        thresholds={"toxicity": Thresholds(hold_at=0.5, reject_at=0.95)},
    )
    payload = report_json(reports)

    assert set(payload) == {"toxicity", "insult"}
    assert payload["toxicity"]["roc_auc"] == 1.0
    assert payload["toxicity"]["hold_at"]["recall"] == 1.0
    assert payload["toxicity"]["reject_at"]["flagged"] == 1
    assert payload["insult"]["hold_at"] is None
    assert json.loads(json.dumps(payload)) == payload
    assert "ROC-AUC 1.0000" in report_text(reports)


def test_evaluate__no_shared_label(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,threat\nx,1\ny,0\n")

    with pytest.raises(ValueError, match="nothing in common"):
        evaluate(WordScorer({}), read_labeled_csv(path))


def _cli(argv: list[str], env: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="replyguard")
    add_model_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.settings = load_settings(env)
    return args


def test_cli_evaluate__json_is_one_object_per_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = make_tiny_checkpoint("bert", tmp_path / "tiny")
    data = tmp_path / "d.csv"
    data.write_text("text,label\nyou idiot,1\nnice day,0\nshut up,1\nthanks,0\n")
    env = {"REPLYGUARD_MODEL": str(checkpoint), "REPLYGUARD_DATA_DIR": str(tmp_path)}

    args = _cli(["evaluate", "--data", str(data), "--json"], env)
    code = args.func(args)

    out = capsys.readouterr().out
    payload = json.loads(out)
    assert code == 0
    assert list(payload) == ["toxicity"]
    assert 0.0 <= payload["toxicity"]["roc_auc"] <= 1.0
    assert payload["toxicity"]["model"]["name"] == "tiny"


def test_cli_evaluate__missing_model_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\nx,1\ny,0\n")
    env = {"REPLYGUARD_MODEL": "unbiased", "REPLYGUARD_MODEL_DIR": str(tmp_path / "m")}

    args = _cli(["evaluate", "--data", str(data)], env)

    assert args.func(args) == 1
    assert "replyguard download-model unbiased" in capsys.readouterr().err


def test_cli_download_model__offline_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    def unreachable(url: str, dst: str, progress: bool = True) -> None:
        raise OSError("Name or service not known")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    args = _cli(["download-model", "original"], {"REPLYGUARD_MODEL_DIR": str(tmp_path / "m")})

    assert args.func(args) == 1
    assert "needs network access" in capsys.readouterr().err
    assert list((tmp_path / "m").iterdir()) == []
