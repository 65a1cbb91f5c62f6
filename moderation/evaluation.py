"""Measuring a scorer on labeled data: ROC-AUC, precision/recall/F1 at thresholds, and more.

A labeled CSV has a ``text`` column and one column per label (``0``/``1``); a CSV whose only
label column is ``label`` measures the model's main label, ``toxicity``. Other columns that
are not labels (``src``, ``id``) are ignored. Texts are normalised as the worker normalises
them before scoring. No numpy or scikit-learn: the metrics are a few lines each.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from moderation.domain import MAIN_LABEL
from moderation.policy import DEFAULT_THRESHOLDS, Thresholds
from moderation.scoring import Scorer
from moderation.text import normalise_for_scoring

__all__ = [
    "AtThreshold",
    "LabelReport",
    "LabeledData",
    "at_thresholds",
    "best_f1_threshold",
    "evaluate",
    "precision_recall_f1",
    "read_labeled_csv",
    "report_json",
    "report_text",
    "roc_auc",
    "score_in_chunks",
    "threshold_for_precision",
]

#: HateXplain's word labels as (toxicity, identity_attack).
_HATEXPLAIN: Final = {"normal": (0, 0), "offensive": (1, 0), "hatespeech": (1, 1)}
_NOT_LABELS = frozenset({"text", "src", "source", "id", "comment_id", "kind"})


@dataclass(frozen=True, slots=True)
class LabeledData:
    """Texts and, per label, a 0/1 truth for each text."""

    texts: list[str]
    truth: dict[str, list[int]]


@dataclass(frozen=True, slots=True)
class AtThreshold:
    threshold: float
    precision: float
    recall: float
    f1: float
    flagged: int


@dataclass(frozen=True, slots=True)
class LabelReport:
    """One label's figures."""

    label: str
    rows: int
    positives: int
    roc_auc: float
    hold_at: AtThreshold | None
    reject_at: AtThreshold | None
    best_f1: AtThreshold
    precision_target: float
    threshold_for_precision: float | None
    recall_at_precision_target: float | None


def read_labeled_csv(path: Path, *, limit: int | None = None) -> LabeledData:
    """Read ``text`` and the label columns; a lone ``label`` column becomes ``toxicity``.

    A lone ``label`` column of HateXplain's words (``hatespeech``, ``offensive``, ``normal``)
    becomes ``toxicity`` (either of the first two) and ``identity_attack`` (hate speech).
    """
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        if "text" not in fields:
            raise ValueError(f"{path}: no 'text' column (columns: {', '.join(fields)})")
        columns = [c for c in fields if c not in _NOT_LABELS]
        if not columns:
            raise ValueError(f"{path}: no label column besides 'text'")
        names = {c: (MAIN_LABEL if c == "label" and len(columns) == 1 else c) for c in columns}
        rows = list(reader)
    if limit is not None:
        rows = rows[:limit]
    texts = [row["text"] or "" for row in rows]
    if columns == ["label"] and rows and all(row["label"] in _HATEXPLAIN for row in rows):
        pairs = [_HATEXPLAIN[row["label"]] for row in rows]
        return LabeledData(
            texts, {"toxicity": [p[0] for p in pairs], "identity_attack": [p[1] for p in pairs]}
        )
    truth: dict[str, list[int]] = {names[c]: [] for c in columns}
    for line, row in enumerate(rows, start=2):
        for column in columns:
            truth[names[column]].append(_as_label(row[column], path, line, column))
    return LabeledData(texts, truth)


def score_in_chunks(
    scorer: Scorer, texts: Sequence[str], *, chunk: int = 256, normalise: bool = True
) -> Iterator[list[dict[str, float]]]:
    """Score ``texts`` a chunk at a time (so a caller can show progress), in order."""
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        yield scorer.score([normalise_for_scoring(t) for t in part] if normalise else part)


def evaluate(
    scorer: Scorer,
    data: LabeledData,
    *,
    thresholds: Mapping[str, Thresholds] | None = None,
    precision_target: float = 0.9,
    progress: Callable[[int], object] | None = None,
) -> dict[str, LabelReport]:
    """Score the texts and measure each label the data and the model share.

    ``thresholds`` default to the policy's defaults (``moderation.policy.DEFAULT_THRESHOLDS``).
    ``progress`` is told how many texts each chunk scored (the CLI draws a bar with it).
    """
    scores: list[dict[str, float]] = []
    for part in score_in_chunks(scorer, data.texts):
        scores.extend(part)
        if progress is not None:
            progress(len(part))
    measured = [label for label in data.truth if label in scorer.labels]
    if not measured:
        raise ValueError(
            f"the data's labels ({', '.join(data.truth)}) and the model's "
            f"({', '.join(scorer.labels)}) have nothing in common"
        )
    limits = DEFAULT_THRESHOLDS if thresholds is None else thresholds
    return {
        label: label_report(
            label,
            data.truth[label],
            [s[label] for s in scores],
            limits.get(label, Thresholds()),
            precision_target,
        )
        for label in measured
    }


def label_report(
    label: str,
    truth: Sequence[int],
    scores: Sequence[float],
    thresholds: Thresholds,
    precision_target: float,
) -> LabelReport:
    """The figures for one label from its truth and scores."""
    target = threshold_for_precision(truth, scores, precision_target)
    return LabelReport(
        label=label,
        rows=len(truth),
        positives=sum(truth),
        roc_auc=roc_auc(truth, scores),
        hold_at=_maybe_at(truth, scores, thresholds.hold_at),
        reject_at=_maybe_at(truth, scores, thresholds.reject_at),
        best_f1=best_f1_threshold(truth, scores),
        precision_target=precision_target,
        threshold_for_precision=None if target is None else target.threshold,
        recall_at_precision_target=None if target is None else target.recall,
    )


def roc_auc(truth: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U), ties sharing their mean rank.

    NaN when the truth holds only one class.
    """
    if len(truth) != len(scores):
        raise ValueError("truth and scores differ in length")
    positives = sum(1 for t in truth if t)
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    order = sorted(range(len(scores)), key=scores.__getitem__)
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        rank_sum += mean_rank * sum(1 for k in order[i : j + 1] if truth[k])
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def precision_recall_f1(
    truth: Sequence[int], scores: Sequence[float], threshold: float
) -> AtThreshold:
    """Flagging every score ``>= threshold``: precision, recall, F1 (precision 1.0 if none)."""
    tp = fp = fn = 0
    for t, s in zip(truth, scores, strict=True):
        if s >= threshold:
            if t:
                tp += 1
            else:
                fp += 1
        elif t:
            fn += 1
    return _at(threshold, tp, fp, fn)


def at_thresholds(
    truth: Sequence[int], scores: Sequence[float], thresholds: Sequence[float]
) -> list[AtThreshold]:
    """``precision_recall_f1`` at each of ``thresholds`` (in their order), from one sort:
    a curve of a hundred points over many thousand scores costs one pass, not a hundred."""
    if len(truth) != len(scores):
        raise ValueError("truth and scores differ in length")
    positives = sum(1 for t in truth if t)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    found: dict[float, AtThreshold] = {}
    tp = fp = i = 0
    for threshold in sorted(set(thresholds), reverse=True):
        while i < len(order) and scores[order[i]] >= threshold:
            if truth[order[i]]:
                tp += 1
            else:
                fp += 1
            i += 1
        found[threshold] = _at(threshold, tp, fp, positives - tp)
    return [found[t] for t in thresholds]


def threshold_for_precision(
    truth: Sequence[int], scores: Sequence[float], target: float
) -> AtThreshold | None:
    """The lowest threshold whose precision reaches ``target`` (most recall); None if none does."""
    best: AtThreshold | None = None
    for point in _sweep(truth, scores):
        if point.precision >= target and (best is None or point.recall > best.recall):
            best = point
    return best


def best_f1_threshold(truth: Sequence[int], scores: Sequence[float]) -> AtThreshold:
    """The threshold with the highest F1."""
    return max(_sweep(truth, scores), key=lambda p: (p.f1, p.threshold))


def report_json(reports: Mapping[str, LabelReport]) -> dict[str, Any]:
    """``{"<label>": {"roc_auc": ..., ...}, ...}``: plain JSON types only (NaN becomes null)."""
    return {label: _clean(asdict(report)) for label, report in reports.items()}


def report_text(reports: Mapping[str, LabelReport], *, title: str = "") -> str:
    """A table for a terminal: one block per label."""
    lines = [title] if title else []
    for r in reports.values():
        lines.append(f"{r.label}: {r.rows} rows, {r.positives} positive, ROC-AUC {r.roc_auc:.4f}")
        points = (("hold_at", r.hold_at), ("reject_at", r.reject_at), ("best F1", r.best_f1))
        for name, point in points:
            if point is None:
                lines.append(f"  {name:<10} (not set)")
                continue
            lines.append(
                f"  {name:<10} {point.threshold:.3f}: precision {point.precision:.3f}  "
                f"recall {point.recall:.3f}  F1 {point.f1:.3f}  flagged {point.flagged}"
            )
        if r.threshold_for_precision is None:
            lines.append(f"  no threshold reaches precision {r.precision_target:.2f}")
        else:
            lines.append(
                f"  precision >= {r.precision_target:.2f} from threshold "
                f"{r.threshold_for_precision:.3f} (recall {r.recall_at_precision_target:.3f})"
            )
    return "\n".join(lines)


def _maybe_at(
    truth: Sequence[int], scores: Sequence[float], threshold: float | None
) -> AtThreshold | None:
    return None if threshold is None else precision_recall_f1(truth, scores, threshold)


def _sweep(truth: Sequence[int], scores: Sequence[float]) -> Iterator[AtThreshold]:
    """Every distinct score as a threshold, from the highest down, in one pass."""
    positives = sum(1 for t in truth if t)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    tp = fp = 0
    i = 0
    while i < len(order):
        threshold = scores[order[i]]
        while i < len(order) and scores[order[i]] == threshold:
            if truth[order[i]]:
                tp += 1
            else:
                fp += 1
            i += 1
        yield _at(threshold, tp, fp, positives - tp)


def _at(threshold: float, tp: int, fp: int, fn: int) -> AtThreshold:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return AtThreshold(threshold, precision, recall, f1, tp + fp)


def _as_label(value: str | None, path: Path, line: int, column: str) -> int:
    text = (value or "").strip()
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{path}:{line}: column {column!r} is {text!r}, not 0 or 1") from None
    return 1 if number >= 0.5 else 0


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value
