"""Every Detoxify model family loads through Detoxify's own code with no network.

Tiny randomly initialised checkpoints of each architecture (BERT = ``original``, RoBERTa =
``unbiased``, XLM-RoBERTa = ``multilingual``), with real tokenizer files, are made in a
temporary folder; loading them must not open a single socket.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
import torch

from moderation.detox import (
    DetoxifyScorer,
    ModelUnavailableError,
    PrecisionUnavailableError,
    load_detoxify,
    load_scorer,
    resolve_model_folder,
)
from moderation.domain import DETOXIFY_LABELS, ModelInfo
from moderation.model_build import (
    CONFIG_DIR_NAME,
    ORIGINAL_CLASSES,
    UNBIASED_CLASSES,
    TinyFamily,
    make_tiny_checkpoint,
)
from moderation.policy import Policy, decide

TEXTS = [
    "you are an idiot",
    "thanks for the thoughtful article",
    "el gobierno anunció nuevas medidas",
    "",
    "shut up nobody cares what you think about the weather in the city today",
]

#: family, classes stored in the checkpoint, head size, the names Detoxify reports.
FAMILIES: list[tuple[TinyFamily, tuple[str, ...], int, tuple[str, ...]]] = [
    ("bert", ORIGINAL_CLASSES, 6, DETOXIFY_LABELS[:6]),
    (
        "roberta",
        UNBIASED_CLASSES,
        16,
        (
            "toxicity",
            "severe_toxicity",
            "obscene",
            "identity_attack",
            "insult",
            "threat",
            "sexual_explicit",
        ),
    ),
    ("xlm-roberta", UNBIASED_CLASSES, 16, tuple(UNBIASED_CLASSES)),
]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline as a worker is: hub variables set, and any connection attempt fails loudly."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(("family", "classes", "outputs", "names"), FAMILIES)
def test_load_scorer__tiny_family_loads_offline_with_detoxify_names(
    tmp_path: Path,
    no_network: None,
    family: TinyFamily,
    classes: tuple[str, ...],
    outputs: int,
    names: tuple[str, ...],
) -> None:
    checkpoint = make_tiny_checkpoint(
        family, tmp_path / family, classes=classes, num_classes=outputs
    )

    scorer = load_scorer(str(checkpoint), model_dir=tmp_path / "models", threads=1)

    assert scorer.labels == names
    assert set(names) <= set(DETOXIFY_LABELS)
    results = scorer.score(TEXTS)
    assert len(results) == len(TEXTS)
    for result in results:
        assert tuple(result) == names
        assert all(0.0 <= value <= 1.0 for value in result.values())


@pytest.mark.parametrize(("family", "classes", "outputs", "names"), FAMILIES)
def test_detoxify_scorer__matches_detoxify_predict(
    tmp_path: Path,
    no_network: None,
    family: TinyFamily,
    classes: tuple[str, ...],
    outputs: int,
    names: tuple[str, ...],
) -> None:
    make_tiny_checkpoint(family, tmp_path / family, classes=classes, num_classes=outputs)
    folder = resolve_model_folder(str(tmp_path / family), model_dir=tmp_path)
    stock = load_detoxify(folder)
    scorer = DetoxifyScorer(load_detoxify(folder), model=ModelInfo("tiny", "1"))

    expected = stock.predict(TEXTS)
    got = scorer.score(TEXTS)

    assert list(expected) == list(names)
    for i, result in enumerate(got):
        for label in names:
            assert result[label] == pytest.approx(expected[label][i], abs=1e-5)


def test_load_scorer__scores_reach_the_policy_with_their_names(
    tmp_path: Path, no_network: None
) -> None:
    checkpoint = make_tiny_checkpoint(
        "roberta", tmp_path / "m", classes=UNBIASED_CLASSES, num_classes=16
    )
    scorer = load_scorer(str(checkpoint), model_dir=tmp_path, threads=1)
    scores = scorer.score(["some text"])[0]

    decision = decide(Policy(), scores, text="some text", links=0, model=scorer.model)

    reported = json.dumps(decision.explanation)
    for label in scorer.labels:
        assert f'"{label}"' in reported
    assert scorer.model.name in reported


def test_make_tiny_checkpoint__stores_no_machine_path(tmp_path: Path, no_network: None) -> None:
    checkpoint = make_tiny_checkpoint("bert", tmp_path / "made")
    moved = tmp_path / "elsewhere" / "model"
    moved.parent.mkdir()
    shutil.move(str(checkpoint.parent), moved)

    stored = torch.load(moved / checkpoint.name, weights_only=False)
    scorer = load_scorer(str(moved), model_dir=tmp_path, threads=1)

    assert stored["config"]["arch"]["args"]["model_type"] == CONFIG_DIR_NAME
    assert str(tmp_path) not in json.dumps(stored["config"])
    assert scorer.labels == DETOXIFY_LABELS[:6]


def test_load_scorer__config_without_label_count_still_loads(
    tmp_path: Path, no_network: None
) -> None:
    checkpoint = make_tiny_checkpoint("bert", tmp_path / "m")
    config_path = checkpoint.parent / CONFIG_DIR_NAME / "config.json"
    config = json.loads(config_path.read_text())
    del config["id2label"], config["label2id"]
    config_path.write_text(json.dumps(config))

    scorer = load_scorer(str(checkpoint), model_dir=tmp_path, threads=1)

    assert len(scorer.score(["hello"])[0]) == 6


def test_load_scorer__version_follows_the_checkpoint(tmp_path: Path, no_network: None) -> None:
    first = make_tiny_checkpoint("bert", tmp_path / "a", seed=1)
    second = make_tiny_checkpoint("bert", tmp_path / "b", seed=2)

    version_a = load_scorer(str(first), model_dir=tmp_path, threads=1).model.version
    version_b = load_scorer(str(second), model_dir=tmp_path, threads=1).model.version

    assert version_a != version_b
    assert len(version_a) == 12


@pytest.mark.parametrize("name", ["original", "unbiased", "multilingual"])
def test_load_scorer__named_model_missing_says_how_to_get_it(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelUnavailableError, match=f"replyguard download-model {name}"):
        load_scorer(name, model_dir=tmp_path, threads=1)


def test_load_scorer__named_model_from_model_dir(tmp_path: Path, no_network: None) -> None:
    make_tiny_checkpoint("xlm-roberta", tmp_path / "multilingual", classes=UNBIASED_CLASSES)

    scorer = load_scorer("multilingual", model_dir=tmp_path, threads=1)

    assert scorer.model.name == "detoxify-multilingual"
    assert scorer.labels == UNBIASED_CLASSES


def test_load_scorer__unknown_spec(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="neither default"):
        load_scorer(str(tmp_path / "nope.ckpt"), model_dir=tmp_path, threads=1)


def test_load_scorer__unknown_precision(tmp_path: Path) -> None:
    with pytest.raises(PrecisionUnavailableError, match="fp32"):
        load_scorer("default", model_dir=tmp_path, threads=1, precision="fp8")
