"""The site page's calibration charts, as numbers a template draws as SVG.

One small chart per label: precision (the share of decisions at or above a score that
moderators rejected) and recall (the share of all rejections at or above it) against the
score, with the label's current and suggested thresholds as vertical marks. The server draws
it, so the page needs no chart library and no script to show it, and the page's
Content-Security-Policy stays as strict as it is (SVG attributes, no inline style).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from moderation.calibration import (
    HOLD_REJECTED_SHARE,
    MIN_DECISIONS,
    MIN_DECISIONS_ABOVE,
    REJECT_REJECTED_SHARE,
    Calibration,
    CurvePoint,
    LabelCalibration,
)
from moderation.policy import Policy, Thresholds

#: The SVG's coordinate box and the plot area inside it (room for the axes' numbers).
WIDTH: Final = 360
HEIGHT: Final = 180
LEFT: Final = 34
RIGHT: Final = 10
TOP: Final = 10
BOTTOM: Final = 26
TICKS: Final = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True, slots=True)
class Mark:
    """A threshold drawn as a vertical line; ``kind`` is its CSS class."""

    kind: str
    text: str
    x: float


@dataclass(frozen=True, slots=True)
class Tick:
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class Chart:
    """One label's chart and the words beside it; ``proposed``: the thresholds applying
    the suggestion would set (a threshold with no suggestion keeps its current value),
    None when there is nothing to apply."""

    label: str
    name: str
    decisions: int
    rejected: int
    roc_auc: str
    current: str
    suggested: str
    note: str | None
    precision: str
    recall: str
    marks: list[Mark]
    proposed: Thresholds | None
    #: The figures as a sentence, for screen readers (the SVG's title).
    summary: str


@dataclass(frozen=True, slots=True)
class Axes:
    """The plot's frame, the same for every chart."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]


AXES: Final = Axes(
    width=WIDTH,
    height=HEIGHT,
    left=LEFT,
    right=WIDTH - RIGHT,
    top=TOP,
    bottom=HEIGHT - BOTTOM,
    x_ticks=[Tick(f"{t:g}", LEFT + t * (WIDTH - LEFT - RIGHT)) for t in TICKS],
    y_ticks=[Tick(f"{t:g}", TOP + (1 - t) * (HEIGHT - TOP - BOTTOM)) for t in TICKS],
)


@dataclass(frozen=True, slots=True)
class Rules:
    """What a suggestion needs, as the page words it (shares in percent)."""

    hold: int
    reject: int
    above: int
    least: int


RULES: Final = Rules(
    hold=round(HOLD_REJECTED_SHARE * 100),
    reject=round(REJECT_REJECTED_SHARE * 100),
    above=MIN_DECISIONS_ABOVE,
    least=MIN_DECISIONS,
)


def charts(found: Calibration, policy: Policy) -> list[Chart]:
    """A chart per label of the calibration, in its order."""
    return [
        _chart(figures, policy.thresholds.get(label)) for label, figures in found.labels.items()
    ]


def _chart(found: LabelCalibration, current: Thresholds | None) -> Chart:
    now = current or Thresholds()
    suggested = found.suggested
    advice = suggested or Thresholds()
    marks = [
        Mark(kind, f"{text} {value:g}", _x(value))
        for kind, text, value in (
            ("current-hold", "hold at (now)", now.hold_at),
            ("current-reject", "reject at (now)", now.reject_at),
            ("suggested-hold", "suggested hold at", advice.hold_at),
            ("suggested-reject", "suggested reject at", advice.reject_at),
        )
        if value is not None
    ]
    auc = "—" if found.roc_auc is None else f"{found.roc_auc:.3f}"
    name = found.label.replace("_", " ")
    return Chart(
        label=found.label,
        name=name,
        decisions=found.decisions,
        rejected=found.rejected,
        roc_auc=auc,
        current=_pair(now),
        suggested="none yet" if suggested is None else _pair(suggested),
        note=found.note,
        precision=_points(found.curve, lambda p: p.precision),
        recall=_points(found.curve, lambda p: p.recall),
        marks=marks,
        proposed=_proposed(now, suggested),
        summary=f"{name}: {found.decisions} decisions, {found.rejected} rejected, ROC-AUC {auc}; "
        + "; ".join(m.text for m in marks),
    )


def _proposed(current: Thresholds, suggested: Thresholds | None) -> Thresholds | None:
    if suggested is None or (suggested.hold_at is None and suggested.reject_at is None):
        return None
    proposed = Thresholds(
        hold_at=current.hold_at if suggested.hold_at is None else suggested.hold_at,
        reject_at=current.reject_at if suggested.reject_at is None else suggested.reject_at,
    )
    return None if proposed == current else proposed


def _pair(limits: Thresholds) -> str:
    hold = "—" if limits.hold_at is None else f"{limits.hold_at:g}"
    reject = "—" if limits.reject_at is None else f"{limits.reject_at:g}"
    return f"hold at {hold}, reject at {reject}"


def _x(score: float) -> float:
    return round(AXES.left + score * (AXES.right - AXES.left), 1)


def _y(share: float) -> float:
    return round(AXES.bottom - share * (AXES.bottom - AXES.top), 1)


def _points(curve: list[CurvePoint], value: Callable[[CurvePoint], float]) -> str:
    """An SVG polyline's points: one per cut point, left to right."""
    return " ".join(f"{_x(p.threshold)},{_y(value(p))}" for p in curve)
