"""The Detoxify scorer: length batching keeps order and Detoxify's scores; precision modes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.detox import (
    DetoxifyScorer,
    PrecisionUnavailableError,
    cpu_supports_bf16,
    length_batches,
    load_detoxify,
    load_scorer,
    resolve_model_folder,
)
from moderation.domain import ModelInfo

_PIECES = [
    "I think the council made the right call here",
    "you are a complete idiot",
    "thanks for writing this",
    "what a stupid thing to say, shut up",
    "the bridge has been closed since Tuesday because of the storm",
    "nobody asked for your opinion, loser",
    "great reporting",
    "I disagree, but the article is fair to both sides and well sourced",
]


def _texts(n: int, seed: int = 0) -> list[str]:
    """Comments of very different lengths, in no particular order."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(_PIECES, k=rng.choice([1, 1, 2, 3, 6, 12]))) for _ in range(n)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def scorer(model_dir: Path) -> DetoxifyScorer:
    loaded = load_scorer("default", model_dir=model_dir, threads=2)
    assert isinstance(loaded, DetoxifyScorer)
    return loaded


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=300), max_size=200),
    max_batch=st.integers(min_value=1, max_value=64),
    max_padding=st.floats(min_value=0.0, max_value=0.5),
)
def test_length_batches__every_index_once_within_limits(
    lengths: list[int], max_batch: int, max_padding: float
) -> None:
    batches = list(
        length_batches(lengths, max_batch=max_batch, max_tokens=2048, max_padding=max_padding)
    )

    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        width = max(lengths[i] for i in batch)
        assert lengths[batch[0]] == width
        assert len(batch) <= max_batch
        if len(batch) > 1:
            padded = width * len(batch)
            assert padded <= 2048
            assert padded - sum(lengths[i] for i in batch) <= max_padding * padded + 1e-9


def test_detoxify_scorer__keeps_input_order(scorer: DetoxifyScorer) -> None:
    texts = _texts(60)

    together = scorer.score(texts)
    alone = [scorer.score([t])[0] for t in texts[:12]]

    assert len(together) == len(texts)
    for batched, single in zip(together, alone, strict=False):
        for label in scorer.labels:
            assert batched[label] == pytest.approx(single[label], abs=1e-4)
    reversed_scores = scorer.score(texts[::-1])[::-1]
    for a, b in zip(together, reversed_scores, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_detoxify_scorer__matches_plain_detoxify_predict(
    scorer: DetoxifyScorer, model_dir: Path
) -> None:
    stock = load_detoxify(resolve_model_folder("default", model_dir=model_dir))
    texts = _texts(64, seed=1)

    expected: dict[str, list[float]] = {label: [] for label in scorer.labels}
    for start in range(0, len(texts), 32):
        for label, values in stock.predict(texts[start : start + 32]).items():
            expected[label].extend(values)
    got = scorer.score(texts)

    for i, result in enumerate(got):
        for label in scorer.labels:
            assert result[label] == pytest.approx(expected[label][i], abs=1e-4)


def test_detoxify_scorer__pads_little(scorer: DetoxifyScorer) -> None:
    scorer.score(_texts(128, seed=2))
    real, run = scorer.last_tokens

    assert (run - real) / run <= 0.1


def test_detoxify_scorer__empty_batch(scorer: DetoxifyScorer) -> None:
    assert scorer.score([]) == []


def test_load_scorer__sets_thread_count(model_dir: Path) -> None:
    before = torch.get_num_threads()
    try:
        load_scorer("default", model_dir=model_dir, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_load_scorer__int8_is_refused_with_the_reason(model_dir: Path) -> None:
    with pytest.raises(PrecisionUnavailableError, match=r"int8 is not offered.*0\.02"):
        load_scorer("default", model_dir=model_dir, threads=2, precision="int8")


def test_detoxify_scorer__int8_runs_for_measurement(
    scorer: DetoxifyScorer, model_dir: Path
) -> None:
    folder = resolve_model_folder("default", model_dir=model_dir)
    int8 = DetoxifyScorer(load_detoxify(folder), model=ModelInfo("m", "1"), precision="int8")
    texts = _texts(16, seed=3)

    scores = int8.score(texts)

    assert int8.module is not scorer.module
    assert all(0.0 <= s["toxicity"] <= 1.0 for s in scores)


def test_load_scorer__bf16_within_0_02_of_fp32_or_refused(
    scorer: DetoxifyScorer, model_dir: Path
) -> None:
    if not cpu_supports_bf16():
        with pytest.raises(PrecisionUnavailableError, match="bf16"):
            load_scorer("default", model_dir=model_dir, threads=2, precision="bf16")
        return
    bf16 = load_scorer("default", model_dir=model_dir, threads=2, precision="bf16")
    texts = _texts(96, seed=4)

    reference = scorer.score(texts)
    low = bf16.score(texts)

    worst = max(
        abs(a[label] - b[label])
        for a, b in zip(reference, low, strict=True)
        for label in scorer.labels
    )
    assert worst <= 0.02


def test_detoxify_scorer__reports_model(scorer: DetoxifyScorer) -> None:
    assert isinstance(scorer.model, ModelInfo)
    assert scorer.model.name.startswith("replyguard-minilm")
    assert scorer.labels == ("toxicity", "insult", "identity_attack", "threat")
    assert scorer.languages == ("en",)


def test_load_scorer__auto_picks_bf16_where_offered(model_dir: Path) -> None:
    auto = load_scorer("default", model_dir=model_dir, threads=2, precision="auto")

    assert isinstance(auto, DetoxifyScorer)
    assert auto.precision == ("bf16" if cpu_supports_bf16() else "fp32")
