"""The default model per label, beside a baseline model: thresholds, test figures, held-out sets.

Run from the repository root, with the shared data beside the repository::

    python bench/default_model.py --baseline /path/to/one-label/model --json /tmp/figures.json

1. Scores the validation files (``olid_val.csv``; HateXplain's validation split, hate speech as
   ``identity_attack``) and chooses each label's thresholds there (see ``choose``).
2. Reports, per test file (``olid_test.csv``, ``eval_wiki.csv``, HateXplain's test split) and
   label, ROC-AUC and precision/recall at those thresholds, for the model and the baseline.
3. Decides the hand-written held-out sentences (``tests/data/heldout_*.csv``) through the
   policy with those thresholds (its threat phrasings included): the share of threats held or
   rejected, and of harmless sentences (violent idioms, neutral mentions of groups) approved.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.detox import DEFAULT_MODEL_DIR, load_scorer  # noqa: E402
from moderation.evaluation import (  # noqa: E402
    LabeledData,
    best_f1_threshold,
    precision_recall_f1,
    roc_auc,
    score_in_chunks,
    threshold_for_precision,
)
from moderation.policy import DEFAULT_THRESHOLDS, Policy, Thresholds, decide  # noqa: E402
from moderation.scoring import Scorer  # noqa: E402
from moderation.text import count_links, normalise_for_scoring  # noqa: E402
from moderation.training import read_test_csv  # noqa: E402

#: Auto-reject must rarely be wrong: the lowest threshold with this validation precision.
REJECT_PRECISION = 0.95
#: Insult has no validation truth of its own: OLID's "offensive" stands in, and insult holds
#: from the threshold where this share of what it flags is offensive.
INSULT_HOLD_PRECISION = 0.8
#: Threat has no validation truth at all: hold from the score that flags this share of the
#: validation's harmless comments.
THREAT_HARMLESS_FLAGGED = 0.005


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--baseline", default=None, help="a model folder to compare with")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--limit", type=int, default=None, help="first N rows of each file")
    args = parser.parse_args()

    scorer = _load(args.model, args.threads)
    val = {
        "olid_val": _limited(read_test_csv(args.data / "olid_val.csv"), args.limit),
        "hatexplain_val": _limited(
            read_test_csv(args.data / "labels" / "hatexplain_val.csv"), args.limit
        ),
    }
    val_scores = {name: _score(scorer, data) for name, data in val.items()}
    chosen = choose(val, val_scores, scorer.labels, masked=_label_masks(Path(args.model)))
    print("thresholds chosen on validation:")
    for label, (limits, how) in chosen.items():
        print(f"  {label}: hold_at {limits.hold_at} reject_at {limits.reject_at}  ({how})")
    thresholds = {label: limits for label, (limits, _) in chosen.items()}

    tests = {
        name: _limited(read_test_csv(path), args.limit)
        for name, path in (
            ("olid_test.csv", args.data / "olid_test.csv"),
            ("eval_wiki.csv", args.data / "eval_wiki.csv"),
            ("hatexplain_test.csv", args.data / "labels" / "hatexplain_test.csv"),
        )
    }
    figures: dict[str, Any] = {
        "thresholds": {
            label: {"hold_at": t.hold_at, "reject_at": t.reject_at, "how": how}
            for label, (t, how) in chosen.items()
        },
        "validation": _label_figures(val, val_scores, thresholds),
        "test": _label_figures(tests, {n: _score(scorer, d) for n, d in tests.items()}, thresholds),
    }
    if args.baseline:
        baseline = _load(args.baseline, args.threads)
        base_scores = {n: _score(baseline, d) for n, d in tests.items()}
        figures["baseline_test"] = _label_figures(tests, base_scores, DEFAULT_THRESHOLDS)
    figures["held_out"] = held_out(scorer, thresholds)
    _print_tables(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


def _label_masks(model: Path) -> dict[str, list[str]]:
    """The sources the model was told not to learn each label from (its card's
    ``label_masks``; none for a model without a replyguard card)."""
    card = (model if model.is_dir() else model.parent) / "model_card.json"
    if not card.is_file():
        return {}
    settings = json.loads(card.read_text(encoding="utf-8")).get("settings", {})
    return {label: list(sources) for label, sources in settings.get("label_masks", [])}


def choose(
    val: dict[str, LabeledData],
    scores: dict[str, list[dict[str, float]]],
    labels: Sequence[str],
    *,
    masked: dict[str, list[str]] | None = None,
) -> dict[str, tuple[Thresholds, str]]:
    """Each label's thresholds from the validation scores, and how they were chosen.

    With validation truth (toxicity: both files pooled; identity_attack: HateXplain):
    ``hold_at`` is the best-F1 threshold, ``reject_at`` the lowest threshold whose precision
    reaches ``REJECT_PRECISION`` (none if no threshold does). A validation file of a source
    the model was told not to learn the label from (``masked``: label to sources; the file
    ``SOURCE_val``) does not choose that label's thresholds: the label means what the other
    sources taught it.
    """
    out: dict[str, tuple[Thresholds, str]] = {}
    for label in labels:
        left_out = set((masked or {}).get(label, []))
        files = [n for n in val if label in val[n].truth and n.removesuffix("_val") not in left_out]
        truth: list[int] = []
        values: list[float] = []
        for name in files:
            truth += val[name].truth[label]
            values += [s[label] for s in scores[name]]
        if truth:
            hold = _round(best_f1_threshold(truth, values).threshold)
            reject = threshold_for_precision(truth, values, REJECT_PRECISION)
            reject_at = None if reject is None else max(hold, _round_up(reject.threshold))
            skipped = [n for n in val if label in val[n].truth and n not in files]
            out[label] = (
                Thresholds(hold, reject_at),
                f"best F1 on {' + '.join(files)}; reject at precision {REJECT_PRECISION}"
                + (
                    f" ({', '.join(skipped)} left out: {label} not learnt from it)"
                    if skipped
                    else ""
                ),
            )
        elif label == "insult":
            proxy = val["olid_val"].truth["toxicity"]
            values = [s[label] for s in scores["olid_val"]]
            point = threshold_for_precision(proxy, values, INSULT_HOLD_PRECISION)
            insult_hold = None if point is None else _round_up(point.threshold)
            out[label] = (
                Thresholds(insult_hold, None),
                f"precision {INSULT_HOLD_PRECISION} against olid_val's offensive label; no reject",
            )
        else:
            harmless = sorted(
                (
                    s[label]
                    for name, data in val.items()
                    for s, t in zip(scores[name], data.truth["toxicity"], strict=True)
                    if not t
                ),
                reverse=True,
            )
            cut = harmless[max(0, math.ceil(len(harmless) * THREAT_HARMLESS_FLAGGED) - 1)]
            out[label] = (
                Thresholds(_round_up(cut), None),
                f"flags {THREAT_HARMLESS_FLAGGED:.1%} of validation's harmless comments; no reject",
            )
    return out


def held_out(scorer: Scorer, thresholds: dict[str, Thresholds]) -> dict[str, Any]:
    """Verdicts on the hand-written held-out sentences, through the policy."""
    policy = Policy(thresholds={**DEFAULT_THRESHOLDS, **thresholds})
    model_only = Policy(thresholds={**DEFAULT_THRESHOLDS, **thresholds}, threat_patterns="off")
    out: dict[str, Any] = {}
    for name in ("heldout_threats.csv", "heldout_harmless.csv"):
        with (ROOT / "tests" / "data" / name).open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        texts = [normalise_for_scoring(r["text"]) for r in rows]
        scores = scorer.score(texts)
        for row, text, score in zip(rows, texts, scores, strict=True):
            d = decide(policy, score, text=text, links=count_links(text), model=scorer.model)
            kind = row.get("kind") or "threat"
            entry = out.setdefault(
                kind,
                {"rows": 0, "verdicts": {}, "model_only_verdicts": {}, "rules": {}, "missed": []},
            )
            entry["rows"] += 1
            entry["verdicts"][d.verdict] = entry["verdicts"].get(d.verdict, 0) + 1
            alone = decide(model_only, score, text=text, links=0, model=scorer.model).verdict
            entry["model_only_verdicts"][alone] = entry["model_only_verdicts"].get(alone, 0) + 1
            entry["rules"][d.rule] = entry["rules"].get(d.rule, 0) + 1
            wrong = d.verdict == "approved" if kind == "threat" else d.verdict != "approved"
            if wrong:
                entry["missed"].append({"text": row["text"], "rule": d.rule, **_rounded(score)})
    return out


def _label_figures(
    files: dict[str, LabeledData],
    scores: dict[str, list[dict[str, float]]],
    thresholds: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, data in files.items():
        for label, truth in data.truth.items():
            if label not in scores[name][0]:
                continue
            values = [s[label] for s in scores[name]]
            limits = thresholds.get(label, Thresholds())
            row: dict[str, Any] = {
                "rows": len(truth),
                "positives": sum(truth),
                "roc_auc": round(roc_auc(truth, values), 4),
            }
            for which in ("hold_at", "reject_at"):
                at = getattr(limits, which)
                if at is not None:
                    point = precision_recall_f1(truth, values, at)
                    row[which] = {
                        "threshold": at,
                        "precision": round(point.precision, 3),
                        "recall": round(point.recall, 3),
                    }
            out.setdefault(name, {})[label] = row
    return out


def _print_tables(figures: dict[str, Any]) -> None:
    for section in ("validation", "test", "baseline_test"):
        if section not in figures:
            continue
        print(f"\n{section}:")
        print("| file | label | rows | pos | ROC-AUC | hold_at P / R | reject_at P / R |")
        print("| --- | --- | ---: | ---: | ---: | --- | --- |")
        for name, per_label in figures[section].items():
            for label, r in per_label.items():
                cells = [
                    f"{r[w]['threshold']}: {r[w]['precision']:.3f} / {r[w]['recall']:.3f}"
                    if w in r
                    else "-"
                    for w in ("hold_at", "reject_at")
                ]
                print(
                    f"| {name} | {label} | {r['rows']} | {r['positives']} | {r['roc_auc']:.4f} "
                    f"| {cells[0]} | {cells[1]} |"
                )
    print("\nheld-out hand-written sentences (policy with the chosen thresholds):")
    for kind, entry in figures["held_out"].items():
        print(
            f"  {kind}: {entry['rows']} rows, {entry['verdicts']}, rules {entry['rules']}; "
            f"model alone (no threat phrasings): {entry['model_only_verdicts']}"
        )


def _load(spec: str, threads: int) -> Scorer:
    path = Path(spec)
    return load_scorer(str(path), model_dir=path.parent, threads=threads)


def _score(scorer: Scorer, data: LabeledData) -> list[dict[str, float]]:
    return [s for part in score_in_chunks(scorer, data.texts) for s in part]


def _limited(data: LabeledData, limit: int | None) -> LabeledData:
    if limit is None:
        return data
    return LabeledData(data.texts[:limit], {k: v[:limit] for k, v in data.truth.items()})


def _rounded(score: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in score.items()}


def _round(value: float) -> float:
    return round(value, 2)


def _round_up(value: float) -> float:
    return math.ceil(value * 100) / 100


if __name__ == "__main__":
    raise SystemExit(main())
