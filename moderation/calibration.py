"""Calibration: what a site's moderators did with the comments the model held, per label,
and the thresholds that would have matched them.

The truth is one bit per comment: a moderator rejected it, or approved it. For each label
the scores carry, the figures are how many decisions there are, the ROC-AUC of the label's
score against them, and a curve of precision and recall of "rejected" at cut points of the
score. From the curve come two suggestions:

- ``hold_at``: the lowest cut at or above which moderators rejected at least
  ``HOLD_REJECTED_SHARE`` (half) of the comments: a queue where every other comment needs
  removing is one worth a moderator's time.
- ``reject_at``: the lowest cut at or above which they rejected at least
  ``REJECT_REJECTED_SHARE`` (98%): automatic rejection must rarely remove what a moderator
  would have kept.

"Rejected at least" is asked of the decisions behind the cut with some confidence, not of
their raw share: the lower end of the share's 95% Wilson interval must reach it
(``lowest_share``). A raw share picks the lowest cut where chance happened to lift it over
the line, and new comments then fall short (``bench/calibration.py`` on ``olid_test.csv``
with the raw share, and the previous default model: 0.46 rejected where 0.5 was promised);
the bound keeps the promise. It also says how many
decisions are enough: 20 of 20 rejected reads as "at least 84%", so ``reject_at`` needs
about 190 decisions without an approval among them, or more with one. Besides, a cut needs
``MIN_DECISIONS_ABOVE`` decisions at or above it, and a label ``MIN_DECISIONS`` in all;
where no cut qualifies the answer says so (``note``), never a guess. A suggestion is always
a cut point, a multiple of ``STEP``, so a policy reads ``0.31``, not ``0.30871``. The
curve's cut points are the distinct scores rounded down to ``STEP`` (at most 101 points,
however long the history).

What the figures can and cannot see: only comments the model held reach a moderator, so
below the current ``hold_at`` the curve knows only comments held for other reasons
(pre-moderation, watched terms, links, an author's first comments). And the truth says
whether a comment was removed, not why: a label the site's rejections are seldom about
(threat, on most sites) still rises with everything offensive, so its suggestion answers
"how well would this label alone have matched the moderators". Apply one label at a time,
after the policy preview. Scores of different models sit on different scales, so only the
decisions scored by one model are calibrated together (``calibrate`` takes the model of the
most recent decision). The service gathers the decisions (``service.store.review``); this
module only counts, so ``bench/calibration.py`` runs the same function on labelled data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from moderation.domain import ModelInfo, label_order
from moderation.evaluation import at_thresholds, roc_auc
from moderation.policy import Thresholds

__all__ = [
    "CONFIDENCE_Z",
    "HOLD_REJECTED_SHARE",
    "MIN_DECISIONS",
    "MIN_DECISIONS_ABOVE",
    "REJECT_REJECTED_SHARE",
    "STEP",
    "Calibration",
    "CurvePoint",
    "LabelCalibration",
    "ModeratorDecision",
    "calibrate",
    "calibrate_label",
    "cut_points",
    "lowest_share",
]

#: Fewer decisions than this on a label and nothing is suggested for it: below thirty, each
#: decision moves a share by more than three points.
MIN_DECISIONS: Final = 30
#: A suggested threshold has at least this many decisions at or above it.
MIN_DECISIONS_ABOVE: Final = 20
#: The normal quantile of the Wilson interval ``lowest_share`` takes the lower end of (95%).
CONFIDENCE_Z: Final = 1.96
#: ``hold_at``: moderators rejected at least this share of what it would hold.
HOLD_REJECTED_SHARE: Final = 0.5
#: ``reject_at``: moderators rejected at least this share of what it would reject.
REJECT_REJECTED_SHARE: Final = 0.98
#: The curve's and the suggestions' resolution.
STEP: Final = 0.01


@dataclass(frozen=True, slots=True)
class ModeratorDecision:
    """A comment the model held, the scores it was held with, and the moderator's final word."""

    scores: Mapping[str, float]
    rejected: bool
    model: ModelInfo


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Of the ``count`` decisions scored at or above ``threshold``, the share rejected
    (``precision``); ``recall``: the share of all rejections they hold."""

    threshold: float
    precision: float
    recall: float
    count: int


@dataclass(frozen=True, slots=True)
class LabelCalibration:
    label: str
    decisions: int
    rejected: int
    #: None when the moderators did only one thing (all approved or all rejected).
    roc_auc: float | None
    #: None below ``MIN_DECISIONS``; either threshold None when no cut qualifies (``note``).
    suggested: Thresholds | None
    curve: list[CurvePoint]
    #: Why a suggestion is missing, in words; None when both are there.
    note: str | None


@dataclass(frozen=True, slots=True)
class Calibration:
    """Every label of one model's decisions; ``left_out``: decisions scored by other models."""

    model: ModelInfo | None
    decisions: int
    left_out: int
    labels: dict[str, LabelCalibration] = field(default_factory=dict)


def calibrate(decisions: Sequence[ModeratorDecision]) -> Calibration:
    """The labels of the decisions scored by the model of the first one (the caller passes
    the most recent first), in Detoxify's order; labels no decision carries are left out."""
    if not decisions:
        return Calibration(model=None, decisions=0, left_out=0)
    model = decisions[0].model
    same = [d for d in decisions if d.model == model]
    present = {label for d in same for label in d.scores}
    order = sorted(present, key=label_order)
    labels = {}
    for label in order:
        scored = [d for d in same if label in d.scores]
        labels[label] = calibrate_label(
            label, [int(d.rejected) for d in scored], [d.scores[label] for d in scored]
        )
    return Calibration(model, len(same), len(decisions) - len(same), labels)


def calibrate_label(
    label: str, rejected: Sequence[int], scores: Sequence[float]
) -> LabelCalibration:
    """One label's figures and suggestions from its scores and the moderators' 0/1 truth."""
    cuts = cut_points(scores)
    points = at_thresholds(rejected, scores, cuts)
    curve = [CurvePoint(p.threshold, p.precision, p.recall, p.flagged) for p in points]
    auc = roc_auc(rejected, scores) if scores else math.nan
    decided = len(scores)
    suggested: Thresholds | None = None
    note: str | None
    if decided < MIN_DECISIONS:
        note = f"not enough decisions yet: {decided} of the {MIN_DECISIONS} needed"
    else:
        hold_at = _lowest_cut(curve, HOLD_REJECTED_SHARE)
        reject_at = _lowest_cut(curve, REJECT_REJECTED_SHARE)
        suggested = Thresholds(hold_at=hold_at, reject_at=reject_at)
        missing = [
            f"{name}: not enough decisions yet: no score above which {MIN_DECISIONS_ABOVE} or "
            f"more decisions show, with 95% confidence, that moderators reject {share:.0%}"
            for name, value, share in (
                ("hold_at", hold_at, HOLD_REJECTED_SHARE),
                ("reject_at", reject_at, REJECT_REJECTED_SHARE),
            )
            if value is None
        ]
        note = "; ".join(missing) or None
    return LabelCalibration(
        label=label,
        decisions=decided,
        rejected=sum(1 for r in rejected if r),
        roc_auc=None if math.isnan(auc) else auc,
        suggested=suggested,
        curve=curve,
        note=note,
    )


def cut_points(scores: Sequence[float]) -> list[float]:
    """The distinct scores rounded down to ``STEP``, lowest first."""
    # round() first: 0.29 / 0.01 is 28.999999999999996 in floating point.
    steps = {math.floor(round(s / STEP, 6)) for s in scores}
    return [round(k * STEP, 6) for k in sorted(steps)]


def lowest_share(rejected: int, decisions: int) -> float:
    """The lower end of the 95% Wilson score interval of ``rejected / decisions``: the share
    the moderators' decisions vouch for (0 for no decisions)."""
    if decisions == 0:
        return 0.0
    z2 = CONFIDENCE_Z * CONFIDENCE_Z
    share = rejected / decisions
    centre = share + z2 / (2 * decisions)
    spread = CONFIDENCE_Z * math.sqrt(share * (1 - share) / decisions + z2 / (4 * decisions**2))
    return max(0.0, (centre - spread) / (1 + z2 / decisions))


def _lowest_cut(curve: Sequence[CurvePoint], share: float) -> float | None:
    for point in curve:
        rejected = round(point.precision * point.count)
        if point.count >= MIN_DECISIONS_ABOVE and lowest_share(rejected, point.count) >= share:
            return point.threshold
    return None
