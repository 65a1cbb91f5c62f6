"""Calibrated thresholds against the defaults, on moderator decisions the thresholds never saw.

Run from the repository root, with the shared data beside the repository::

    python bench/calibration.py     # --file olid_test.csv; --seeds N; --json F; --scores F

``olid_val.csv`` stands in for a pre-moderated site's moderators: every row a comment the
model held, ``label`` 1 a rejection, 0 an approval. The default model scores every row (as
the worker does), the rows are split by their order into an older half (the history a site
would have) and a newer half (what comes next), and ``moderation.calibration.calibrate`` (the
function behind ``GET /v1/sites/{site}/calibration``) suggests thresholds from the older half
alone. On the newer half, each label's suggested ``hold_at`` and ``reject_at`` are measured
beside the default model's own (``model_card.json``): precision, recall and F1 of the comments
they would hold (or reject) against the moderators' rejections, and the share held. Then the
whole policy: a comment is held when any label reaches its ``hold_at``, for the defaults, for
every label calibrated, and for toxicity alone calibrated. ``--seeds`` repeats the comparison
over random halves and prints the mean.

The defaults are not strangers to this file: the default model's thresholds were chosen on
``olid_val.csv`` itself (with HateXplain's validation split; see ``bench/default_model.py``),
newer half included, so they start with an advantage calibration does not have.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest import cpu_model  # noqa: E402

from moderation.calibration import ModeratorDecision, calibrate  # noqa: E402
from moderation.detox import DEFAULT_MODEL_DIR, load_scorer  # noqa: E402
from moderation.domain import ModelInfo  # noqa: E402
from moderation.evaluation import (  # noqa: E402
    precision_recall_f1,
    read_labeled_csv,
    roc_auc,
    score_in_chunks,
)
from moderation.policy import Thresholds  # noqa: E402

Scores = list[dict[str, float]]


@dataclass(frozen=True, slots=True)
class Measured:
    """Flagging the comments at or above a threshold (or several), on the newer half."""

    threshold: str
    precision: float
    recall: float
    f1: float
    share: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--file", default="olid_val.csv", help="the moderators' decisions, in --data"
    )
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5, help="random splits besides row order")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--scores",
        type=Path,
        default=None,
        help="keep the scores in this file and reuse them while the model and rows are the same",
    )
    args = parser.parse_args()

    data = read_labeled_csv(args.data / args.file)
    truth = data.truth["toxicity"]
    model_path = Path(args.model)
    scorer = load_scorer(str(model_path), model_dir=model_path.parent, threads=args.threads)
    model = scorer.model
    key = {"model": [model.name, model.version], "file": args.file, "rows": len(truth)}
    kept = json.loads(args.scores.read_text()) if args.scores and args.scores.exists() else {}
    if kept.get("key") == key:
        scores, how = kept["scores"], f"scores read from {args.scores}"
    else:
        started = time.perf_counter()
        scores = [s for part in score_in_chunks(scorer, data.texts) for s in part]
        how = f"scored in {time.perf_counter() - started:.0f} s"
        if args.scores:
            args.scores.write_text(json.dumps({"key": key, "scores": scores}), encoding="utf-8")
    defaults = _card_thresholds(model_path / "model_card.json")
    labels = [label for label in scorer.labels if label in defaults]
    print(
        f"calibration benchmark: {cpu_model()}; {len(truth)} rows of {args.file} "
        f"({sum(truth)} rejected), {model.name}@{model.version}, {how}"
    )

    half = len(truth) // 2
    older = list(range(half))
    newer = list(range(half, len(truth)))
    figures = compare(truth, scores, older, newer, labels, defaults, model)
    print(f"\nrow order: calibrated on rows 1-{half}, measured on rows {half + 1}-{len(truth)}")
    _print(figures)
    seeded = []
    for seed in range(args.seeds):
        order = list(range(len(truth)))
        random.Random(seed).shuffle(order)
        seeded.append(compare(truth, scores, order[:half], order[half:], labels, defaults, model))
    if seeded:
        print(f"\n{args.seeds} random halves (seeds 0-{args.seeds - 1}): mean F1 on the other half")
        _print_means(seeded)
    if args.json:
        result = {"row_order": figures, "seeded": seeded, "cpu": cpu_model()}
        text = json.dumps(result, indent=2, default=asdict)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


def compare(
    truth: Sequence[int],
    scores: Scores,
    older: Sequence[int],
    newer: Sequence[int],
    labels: Sequence[str],
    defaults: Mapping[str, Thresholds],
    model: ModelInfo,
) -> dict[str, Any]:
    """Suggestions from the ``older`` rows, measured with the defaults on the ``newer``."""
    history = [ModeratorDecision(scores[i], bool(truth[i]), model) for i in reversed(older)]
    found = calibrate(history)
    suggested = {label: found.labels[label].suggested or Thresholds() for label in labels}
    notes = {label: found.labels[label].note for label in labels}
    new_truth = [truth[i] for i in newer]
    new_scores = [scores[i] for i in newer]
    per_label = {}
    for label in labels:
        values = [s[label] for s in new_scores]
        per_label[label] = {
            "roc_auc": round(roc_auc(new_truth, values), 3),
            "note": notes[label],
            **{
                f"{kind}_{which}": _measure(new_truth, values, getattr(limits[label], kind))
                for which, limits in (("default", defaults), ("calibrated", suggested))
                for kind in ("hold_at", "reject_at")
            },
        }
    toxicity_only = {**defaults, "toxicity": suggested["toxicity"]}
    policies = {
        "defaults": defaults,
        "every label calibrated": suggested,
        "toxicity calibrated, the rest default": toxicity_only,
    }
    return {
        "labels": per_label,
        "policy": {
            name: _measure_policy(new_truth, new_scores, limits, labels)
            for name, limits in policies.items()
        },
    }


def _measure(
    truth: Sequence[int], values: Sequence[float], threshold: float | None
) -> Measured | None:
    if threshold is None:
        return None
    at = precision_recall_f1(truth, values, threshold)
    return Measured(f"{threshold:g}", at.precision, at.recall, at.f1, at.flagged / len(truth))


def _measure_policy(
    truth: Sequence[int], scores: Scores, limits: Mapping[str, Thresholds], labels: Sequence[str]
) -> Measured:
    """Held: any label at or above its hold_at (or its reject_at, which removes it too)."""
    flagged = [int(any(_reaches(s[label], limits.get(label)) for label in labels)) for s in scores]
    at = precision_recall_f1(truth, flagged, 1)
    return Measured("", at.precision, at.recall, at.f1, at.flagged / len(truth))


def _reaches(score: float, limits: Thresholds | None) -> bool:
    if limits is None:
        return False
    return any(t is not None and score >= t for t in (limits.hold_at, limits.reject_at))


def _card_thresholds(path: Path) -> dict[str, Thresholds]:
    card = json.loads(path.read_text(encoding="utf-8"))
    return {
        label: Thresholds(hold_at=t["hold_at"], reject_at=t["reject_at"])
        for label, t in card["thresholds"].items()
    }


def _cell(m: Measured | None) -> str:
    if m is None:
        return f"{'(none)':>7} {'':>29}"
    return f"{m.threshold:>7} {m.precision:7.3f} {m.recall:7.3f} {m.f1:7.3f} {m.share:6.3f}"


def _print(figures: dict[str, Any]) -> None:
    head = f"{'':7} {'P':>7} {'R':>7} {'F1':>7} {'share':>6}"
    print(f"{'label':16} {'AUC':>5}  {'':4} default {head[8:]}   calibrated {head[8:]}")
    for label, row in figures["labels"].items():
        for kind in ("hold_at", "reject_at"):
            name = label if kind == "hold_at" else ""
            auc = f"{row['roc_auc']:.3f}" if kind == "hold_at" else ""
            print(
                f"{name:16} {auc:>5}  {kind[:4]:4} {_cell(row[f'{kind}_default'])}   "
                f"{_cell(row[f'{kind}_calibrated'])}"
            )
        if row["note"]:
            print(f"{'':24}calibration: {row['note']}")
    print("\nthe policy as a whole (held: any label at or above its hold_at or reject_at)")
    for name, m in figures["policy"].items():
        print(
            f"  {name:38} precision {m.precision:.3f}  recall {m.recall:.3f}  F1 {m.f1:.3f}  "
            f"held {m.share:.3f}"
        )


def _print_means(seeded: list[dict[str, Any]]) -> None:
    def mean(values: list[float]) -> str:
        return f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f}"

    for label in seeded[0]["labels"]:
        cells = []
        for which in ("default", "calibrated"):
            f1s = [s["labels"][label][f"hold_at_{which}"] for s in seeded]
            cells.append(mean([m.f1 if m else 0.0 for m in f1s]))
        print(f"  {label:16} hold_at  default {cells[0]}   calibrated {cells[1]}")
    for name in seeded[0]["policy"]:
        f1 = mean([s["policy"][name].f1 for s in seeded])
        print(f"  policy: {name:38} F1 {f1}")


if __name__ == "__main__":
    sys.exit(main())
