"""Calibration on histories whose answer is known by hand: the curve, ROC-AUC, the
suggested thresholds, and "not enough decisions yet" wherever a suggestion would be a guess."""

from __future__ import annotations

import random

import pytest

from moderation.calibration import (
    MIN_DECISIONS,
    MIN_DECISIONS_ABOVE,
    ModeratorDecision,
    calibrate,
    calibrate_label,
    cut_points,
    lowest_share,
)
from moderation.domain import ModelInfo
from moderation.evaluation import at_thresholds, precision_recall_f1
from moderation.policy import Thresholds

MODEL = ModelInfo("m", "1")

#: (score, decisions, of which rejected), chosen so that the answer can be worked out (the
#: share a cut vouches for is the lower end of its 95% Wilson interval):
#:   at/above 0.90: 200 of 200 rejected -> 1.00, vouches for 0.981 (>= 0.98): reject_at 0.9
#:   at/above 0.60: 230 of 240          -> 0.96 (< 0.98)
#:   at/above 0.30: 246 of 280          -> 0.88, vouches for 0.83 (>= 0.5): hold_at 0.3
#:   at/above 0.10: 248 of 580          -> 0.43 (< 0.5)
HISTORY = [(0.10, 300, 2), (0.30, 40, 16), (0.60, 40, 30), (0.90, 200, 200)]


def _truth_and_scores(
    history: list[tuple[float, int, int]],
) -> tuple[list[int], list[float]]:
    truth: list[int] = []
    scores: list[float] = []
    for score, count, rejected in history:
        truth += [1] * rejected + [0] * (count - rejected)
        scores += [score] * count
    return truth, scores


def _by_pairs(truth: list[int], scores: list[float]) -> float:
    """ROC-AUC by its definition: the chance a rejected comment outscores an approved one."""
    pos = [s for t, s in zip(truth, scores, strict=True) if t]
    neg = [s for t, s in zip(truth, scores, strict=True) if not t]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_calibrate_label__a_known_history_gives_the_worked_answer() -> None:
    truth, scores = _truth_and_scores(HISTORY)
    found = calibrate_label("toxicity", truth, scores)
    assert (found.decisions, found.rejected) == (580, 248)
    assert found.suggested == Thresholds(hold_at=0.3, reject_at=0.9)
    assert found.note is None
    assert found.roc_auc == pytest.approx(_by_pairs(truth, scores))
    assert [(p.threshold, p.count) for p in found.curve] == [
        (0.1, 580),
        (0.3, 280),
        (0.6, 240),
        (0.9, 200),
    ]
    assert [round(p.precision, 4) for p in found.curve] == [0.4276, 0.8786, 0.9583, 1.0]
    assert [round(p.recall, 4) for p in found.curve] == [1.0, 0.9919, 0.9274, 0.8065]


def test_calibrate_label__below_the_minimum_nothing_is_suggested() -> None:
    # The same shape of history, cut to one short of the minimum: the curve is still drawn.
    truth, scores = _truth_and_scores([(0.1, 9, 0), (0.5, 10, 5), (0.9, MIN_DECISIONS - 20, 9)])
    assert len(scores) == MIN_DECISIONS - 1
    found = calibrate_label("toxicity", truth, scores)
    assert found.suggested is None
    assert found.note == f"not enough decisions yet: {MIN_DECISIONS - 1} of the 30 needed"
    assert len(found.curve) == 3


def test_calibrate_label__twenty_of_twenty_rejected_is_not_yet_98_percent() -> None:
    """A raw share of 1.0 from 20 decisions vouches for 0.84; from 189, for 0.98."""
    assert lowest_share(20, 20) == pytest.approx(0.8389, abs=1e-4)
    assert lowest_share(189, 189) >= 0.98 > lowest_share(188, 188)
    assert lowest_share(0, 0) == lowest_share(0, 10) == 0.0
    truth, scores = _truth_and_scores([(0.2, 40, 2), (0.9, 20, 20)])
    assert calibrate_label("toxicity", truth, scores).suggested == Thresholds(0.9, None)
    truth, scores = _truth_and_scores([(0.2, 40, 2), (0.9, 189, 189)])
    assert calibrate_label("toxicity", truth, scores).suggested == Thresholds(0.2, 0.9)


def test_calibrate_label__reject_at_needs_enough_decisions_above_it() -> None:
    # Everything at 0.95 was rejected, but those are one too few to stand on; below them
    # the share falls under 98%: hold_at is suggested, reject_at is not (and says why).
    few = MIN_DECISIONS_ABOVE - 1
    truth, scores = _truth_and_scores([(0.2, 40, 4), (0.7, 20, 15), (0.95, few, few)])
    found = calibrate_label("insult", truth, scores)
    assert found.suggested == Thresholds(hold_at=0.7, reject_at=None)
    assert found.note is not None
    assert found.note.startswith("reject_at: not enough decisions yet")


def test_calibrate_label__moderators_who_approved_everything_give_no_hold_at() -> None:
    truth, scores = _truth_and_scores([(0.2, 30, 0), (0.8, 30, 0)])
    found = calibrate_label("threat", truth, scores)
    assert found.roc_auc is None
    assert found.suggested == Thresholds(hold_at=None, reject_at=None)
    assert found.note is not None and "hold_at" in found.note and "reject_at" in found.note


def test_calibrate__one_model_at_a_time_and_only_the_labels_scored() -> None:
    older = ModelInfo("m", "0")
    truth, scores = _truth_and_scores(HISTORY)
    decisions = [
        ModeratorDecision({"toxicity": s, "insult": 1 - s}, bool(t), MODEL)
        for t, s in zip(truth, scores, strict=True)
    ]
    decisions += [ModeratorDecision({"toxicity": 0.5, "threat": 0.5}, True, older)] * 7
    found = calibrate(decisions)
    assert found.model == MODEL
    assert (found.decisions, found.left_out) == (580, 7)
    assert list(found.labels) == ["toxicity", "insult"]  # Detoxify's order; no threat
    assert found.labels["toxicity"].suggested == Thresholds(hold_at=0.3, reject_at=0.9)
    # insult runs against the moderators: no cut holds mostly rejections.
    insult = found.labels["insult"]
    toxicity_auc = found.labels["toxicity"].roc_auc
    assert toxicity_auc is not None and insult.roc_auc == pytest.approx(1 - toxicity_auc)
    assert insult.suggested == Thresholds(hold_at=None, reject_at=None)


def test_calibrate__no_decisions_no_labels() -> None:
    found = calibrate([])
    assert (found.model, found.decisions, found.labels) == (None, 0, {})


def test_cut_points__scores_rounded_down_to_the_step() -> None:
    assert cut_points([0.29, 0.3, 0.999, 0.0, 1.0, 0.2951]) == [0.0, 0.29, 0.3, 0.99, 1.0]
    rng = random.Random(1)
    many = [rng.random() for _ in range(5000)]
    assert len(cut_points(many)) <= 101


def test_at_thresholds__the_same_as_one_threshold_at_a_time() -> None:
    rng = random.Random(7)
    scores = [round(rng.random(), 3) for _ in range(500)]
    truth = [int(rng.random() < s) for s in scores]
    cuts = [0.5, 0.0, 0.25, 0.999, 1.0, 0.25]
    assert at_thresholds(truth, scores, cuts) == [
        precision_recall_f1(truth, scores, c) for c in cuts
    ]
