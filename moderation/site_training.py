"""A candidate model learned from one site's moderator decisions.

``replyguard train --from-decisions --site S`` reads the site's decisions (the service does;
this module sees plain ``ModeratorDecision`` values) and hands them here:

1. They are ordered by when they were decided and the newest fifth is held out: the candidate
   never trains on it, and it is what the starting model and the candidate are measured on,
   so the report says how each would have done on decisions made after the training ones.
2. The rest become training rows: a rejected comment is ``toxicity`` 1, an approved one 0.
   Every other label is masked (a verdict does not say which label it was for).
3. The starting model (the site's current default) is fine-tuned on them plus a seeded sample
   of the shared training data (``moderation.training_data``), so a few hundred decisions add
   to what it knew rather than replace it: the decisions are repeated (``decision_weight``) to
   make about a quarter of the rows, and the best step is chosen on the shared validation
   sets, never on the held-out decisions.
4. Both models score the held-out decisions: ROC-AUC, and precision and recall at the site's
   ``hold_at`` for ``toxicity``. The candidate's model card records it all
   (``site_decisions``), and the folder loads as any model spec (``REPLYGUARD_MODEL``, a
   shadow model).
"""

from __future__ import annotations

import csv
import math
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO

from moderation.detox import load_scorer
from moderation.domain import MAIN_LABEL, ModeratorDecision
from moderation.errors import ReplyguardError
from moderation.evaluation import AtThreshold, LabeledData, LabelReport, evaluate
from moderation.languages import languages_of
from moderation.policy import Thresholds
from moderation.scoring import Scorer
from moderation.training import TrainSettings, remake_command, train, write_model_card

__all__ = [
    "HELD_OUT_SHARE",
    "MIN_DECISIONS",
    "DecisionSplit",
    "TooFewDecisions",
    "decision_weight",
    "split_decisions",
    "train_from_decisions",
]

#: Fewer decisions than this make a report of a handful of comments and a model that learned
#: little: the command refuses.
MIN_DECISIONS: Final = 50
#: The newest share of the decisions, kept out of training and reported on.
HELD_OUT_SHARE: Final = 0.2
#: The most times a decision is repeated: more would have the model learn the few by heart.
MAX_DECISION_WEIGHT: Final = 10


class TooFewDecisions(ReplyguardError):
    """A site's decisions cannot make a candidate: too few, or all of one kind in a part."""


@dataclass(frozen=True, slots=True)
class DecisionSplit:
    """The decisions by time: the older ones to train on, the newest ``HELD_OUT_SHARE``."""

    train: list[ModeratorDecision]
    held_out: list[ModeratorDecision]


def split_decisions(site_id: str, decisions: Sequence[ModeratorDecision]) -> DecisionSplit:
    """Hold out the newest ``HELD_OUT_SHARE`` by decision time; ``TooFewDecisions`` when
    there are fewer than ``MIN_DECISIONS``, or a part lacks approvals or rejections (the
    model learns nothing from one kind, and ROC-AUC needs both)."""
    ordered = sorted(decisions, key=lambda d: (d.decided_at, str(d.comment_id)))
    if len(ordered) < MIN_DECISIONS:
        raise TooFewDecisions(
            f"site {site_id!r} has {len(ordered)} moderator decisions ({_kinds(ordered)}); a "
            f"candidate model needs at least {MIN_DECISIONS}. Approve or reject more comments "
            "in the moderators' queue, then run this again."
        )
    held = math.ceil(len(ordered) * HELD_OUT_SHARE)
    split = DecisionSplit(train=ordered[:-held], held_out=ordered[-held:])
    for part, what in ((split.train, "oldest"), (split.held_out, "newest")):
        verdicts = {d.verdict for d in part}
        if verdicts != {"approved", "rejected"}:
            raise TooFewDecisions(
                f"site {site_id!r} has {len(ordered)} moderator decisions, but the {what} "
                f"{len(part)} ({_kinds(part)}) hold only one kind; training and the report "
                "need approvals and rejections in both the oldest 80% and the newest 20%. "
                "Decide more comments, then run this again."
            )
    return split


def decision_weight(train_decisions: int, shared_rows: int | None) -> int:
    """Times each training decision is used: enough for the decisions to make about a quarter
    of the training rows beside ``shared_rows`` shared ones (one third of their number),
    between 1 and ``MAX_DECISION_WEIGHT``. All shared rows (None): 1."""
    if shared_rows is None or train_decisions == 0:
        return 1
    return max(1, min(MAX_DECISION_WEIGHT, round(shared_rows / (3 * train_decisions))))


def train_from_decisions(
    site_id: str,
    decisions: Sequence[ModeratorDecision],
    settings: TrainSettings,
    *,
    hold_at: float | None,
    weight: int | None = None,
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Train the site's candidate from ``settings.init_from`` (the starting model's folder)
    into ``settings.out_dir`` and report both models on the held-out decisions.

    ``settings`` are the shared data and training options; the decisions are added as the
    first extra CSV, repeated ``weight`` times (default ``decision_weight``), and the held-out
    texts excluded. The candidate keeps the starting model's labels. ``hold_at``: the site's
    toxicity threshold. Returns the model card's content.
    """
    if settings.init_from is None:
        raise ValueError("a candidate starts from a model folder: give init_from")
    split = split_decisions(site_id, decisions)
    weight = weight or decision_weight(len(split.train), settings.rows)
    held_out = LabeledData(
        [d.body for d in split.held_out], {MAIN_LABEL: [_target(d) for d in split.held_out]}
    )
    thresholds = {MAIN_LABEL: Thresholds(hold_at=hold_at)}
    start = load_scorer(
        str(settings.init_from), model_dir=settings.init_from.parent, threads=settings.threads
    )
    if MAIN_LABEL not in start.labels:
        raise ValueError(f"the starting model {start.model.name} has no {MAIN_LABEL} label")
    before = evaluate(start, held_out, thresholds=thresholds)[MAIN_LABEL]
    with tempfile.TemporaryDirectory(prefix="replyguard-decisions-") as folder:
        decisions_csv = _write_decisions(Path(folder) / f"{site_id}_decisions.csv", split.train)
        held_out_csv = _write_decisions(Path(folder) / f"{site_id}_held_out.csv", split.held_out)
        card = train(
            replace(
                settings,
                extra_csvs=(decisions_csv, *settings.extra_csvs),
                extra_repeats=(weight,),
                exclude_csvs=(*settings.exclude_csvs, held_out_csv),
                labels=start.labels,
            ),
            out=out,
        )
    candidate = load_scorer(
        str(settings.out_dir), model_dir=settings.out_dir.parent, threads=settings.threads
    )
    after = evaluate(candidate, held_out, thresholds=thresholds)[MAIN_LABEL]
    summary = _summary(site_id, split, weight, hold_at, (start, before), (candidate, after))
    counts = card["train_label_counts"]
    summary["labels_never_positive"] = [
        label for label in start.labels if not counts.get(label, {}).get("positive")
    ]
    used = card["settings"]
    remake = _remake(used, site_id, weight)
    # The decisions' files were temporary: the card names what they held instead.
    used["extra_csvs"][0] = f"{site_id}'s older decisions"
    used["exclude_csvs"][-1] = f"{site_id}'s newest decisions"
    card.update(
        name=settings.out_dir.name,
        title=f"a candidate learned from {site_id}'s moderators",
        base=f"{start.model.name} version {start.model.version} (the starting model)",
        languages=list(languages_of(start)),
        site_decisions=summary,
        remake=remake,
        sections=[*card.get("sections", []), _card_section(summary)],
    )
    write_model_card(settings.out_dir, card)
    print(_report_text(summary), file=out, flush=True)
    return card


def _target(decision: ModeratorDecision) -> int:
    return 1 if decision.verdict == "rejected" else 0


def _kinds(decisions: Sequence[ModeratorDecision]) -> str:
    rejected = sum(_target(d) for d in decisions)
    return f"{rejected} rejected, {len(decisions) - rejected} approved"


def _write_decisions(path: Path, decisions: Sequence[ModeratorDecision]) -> Path:
    """A training CSV: the comment's text and its ``toxicity``; no column for other labels,
    so they are masked."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", MAIN_LABEL])
        writer.writerows([d.body, _target(d)] for d in decisions)
    return path


def _summary(
    site_id: str,
    split: DecisionSplit,
    weight: int,
    hold_at: float | None,
    start: tuple[Scorer, LabelReport],
    candidate: tuple[Scorer, LabelReport],
) -> dict[str, Any]:
    everything = [*split.train, *split.held_out]
    return {
        "site": site_id,
        "source": "per comment, a moderator's latest action when it approved or rejected it; "
        "erased comments left out",
        "target": f"rejected: {MAIN_LABEL} 1, approved: {MAIN_LABEL} 0; other labels masked",
        "decisions": _counts(everything),
        "trained_on": {**_counts(split.train), "weight": weight},
        "held_out": {**_counts(split.held_out), "share": HELD_OUT_SHARE},
        "hold_at": hold_at,
        "report": {"start": _measured(*start), "candidate": _measured(*candidate)},
    }


def _counts(decisions: Sequence[ModeratorDecision]) -> dict[str, Any]:
    rejected = sum(_target(d) for d in decisions)
    return {
        "rows": len(decisions),
        "rejected": rejected,
        "approved": len(decisions) - rejected,
        "first_decided_at": _when(decisions[0].decided_at),
        "last_decided_at": _when(decisions[-1].decided_at),
    }


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _measured(scorer: Scorer, report: LabelReport) -> dict[str, Any]:
    return {
        "model": scorer.model.name,
        "version": scorer.model.version,
        "roc_auc": round(report.roc_auc, 4),
        "at_hold_at": _point(report.hold_at),
    }


def _point(point: AtThreshold | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {
        "precision": round(point.precision, 4),
        "recall": round(point.recall, 4),
        "flagged": point.flagged,
    }


def _remake(settings: dict[str, Any], site_id: str, weight: int) -> str:
    """The command again: the user's own extra and held-out CSVs, not the decisions' files
    (made afresh from the database, as it then stands)."""
    own = dict(
        settings,
        extra_csvs=settings["extra_csvs"][1:],
        exclude_csvs=settings["exclude_csvs"][:-1],
    )
    return remake_command(own).replace(
        "replyguard train",
        f"replyguard train --from-decisions --site {site_id} --decision-weight {weight}",
        1,
    )


def _figures(entry: dict[str, Any]) -> tuple[str, str]:
    """ROC-AUC, and precision / recall at hold_at, as text."""
    at = entry["at_hold_at"]
    point = "(no hold_at)" if at is None else f"{at['precision']:.3f} / {at['recall']:.3f}"
    return f"{entry['roc_auc']:.4f}", point


def _report_text(summary: dict[str, Any]) -> str:
    held = summary["held_out"]
    lines = [
        f"held-out decisions of {summary['site']} (the newest {held['rows']}: "
        f"{held['rejected']} rejected, {held['approved']} approved, decided "
        f"{held['first_decided_at']} to {held['last_decided_at']}), "
        f"toxicity hold_at {summary['hold_at']}:"
    ]
    for role, entry in summary["report"].items():
        auc, point = _figures(entry)
        lines.append(
            f"  {role:<9} {entry['model']} {entry['version']}: ROC-AUC {auc}; "
            f"precision / recall at hold_at {point}"
        )
    warning = _never_positive(summary)
    return "\n".join([*lines, f"warning: {warning}"] if warning else lines)


def _never_positive(summary: dict[str, Any]) -> str:
    """A warning for labels no training row called 1: the candidate may stop flagging them."""
    labels = summary["labels_never_positive"]
    if not labels:
        return ""
    return (
        f"No training row says {', '.join(labels)} is 1, so the candidate may unlearn "
        f"{'it' if len(labels) == 1 else 'them'}: give rows that do (the default model learned "
        "threat from `--extra moderation/data/hand_train.csv --extra-repeat 3`)."
    )


def _card_section(summary: dict[str, Any]) -> str:
    every, trained, held = summary["decisions"], summary["trained_on"], summary["held_out"]
    rows = "\n".join(
        f"| {role} | {entry['model']} {entry['version']} | " + " | ".join(_figures(entry)) + " |"
        for role, entry in summary["report"].items()
    )
    return f"""## Learned from {summary["site"]}'s moderators

- Decisions: {every["rows"]} ({every["rejected"]} rejected, {every["approved"]} approved),
  decided {every["first_decided_at"]} to {every["last_decided_at"]}; {summary["source"]}.
- Trained on the oldest {trained["rows"]} ({trained["rejected"]} rejected,
  {trained["approved"]} approved), each used {trained["weight"]} times beside the shared rows.
  Target: {summary["target"]}. A moderator may reject for what no label names (spam, off
  topic): the candidate learns the site's line, not only toxicity.
- Held out: the newest {held["rows"]} ({held["share"]:.0%}; {held["rejected"]} rejected,
  {held["approved"]} approved), decided {held["first_decided_at"]} to
  {held["last_decided_at"]}; never trained on, and not used to choose the best step.

| model | name and version | ROC-AUC | at hold_at {summary["hold_at"]}: precision / recall |
| --- | --- | ---: | --- |
{rows}

{_never_positive(summary)}

The command below reads the site's decisions as they stand when it runs: later decisions
change the result.
"""
