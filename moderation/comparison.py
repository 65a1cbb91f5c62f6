"""How a shadow model's judgements compare with the moderators', beside the live model's on
the same comments: the figures GET /v1/models shows for each shadow model on each site.

A moderator's last approval or rejection of a comment is the truth here. Agreement reads a
verdict as "publish" (approved) or "not" (held or rejected), since a moderator's answer is
one or the other; ROC-AUC ranks the comments by their highest label score (the queue's
"highest score first") against "a moderator rejected it". Moderators mostly decide the
comments the live model held, so these comments lean towards the hard cases: the figures
compare models with each other more fairly than they measure either one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moderation.domain import Verdict
from moderation.evaluation import roc_auc

__all__ = ["ModeratedComment", "against_moderators", "share"]


@dataclass(frozen=True, slots=True)
class ModeratedComment:
    """A comment a moderator approved or rejected, as a shadow model and the live one judged it."""

    #: The moderators' last word: True when it was a rejection.
    rejected: bool
    shadow_verdict: Verdict
    #: The shadow model's highest label score.
    shadow_score: float
    #: None when a moderator decided it before the live model did.
    live_verdict: Verdict | None
    live_score: float | None


def share(part: int, whole: int) -> float | None:
    """``part / whole`` to four places; None when there is no whole to share."""
    return round(part / whole, 4) if whole else None


def against_moderators(comments: Sequence[ModeratedComment]) -> dict[str, Any]:
    """The shadow model's agreement with the moderators and its ROC-AUC, and the live
    model's on those of the same comments it decided (``live``). A ROC-AUC is None until
    the moderators have both approved and rejected some of the comments."""
    live = [
        (c.live_verdict, c.live_score, c.rejected)
        for c in comments
        if c.live_verdict is not None and c.live_score is not None
    ]
    shadow_agreeing = sum(_agrees(c.shadow_verdict, c.rejected) for c in comments)
    live_agreeing = sum(_agrees(verdict, rejected) for verdict, _, rejected in live)
    return {
        "decided": len(comments),
        "rejected": sum(c.rejected for c in comments),
        "agreeing": shadow_agreeing,
        "agreement": share(shadow_agreeing, len(comments)),
        "roc_auc": _auc([c.rejected for c in comments], [c.shadow_score for c in comments]),
        "live": {
            "compared": len(live),
            "agreeing": live_agreeing,
            "agreement": share(live_agreeing, len(live)),
            "roc_auc": _auc([rejected for *_, rejected in live], [score for _, score, _ in live]),
        },
    }


def _agrees(verdict: Verdict, rejected: bool) -> bool:
    return (verdict != "approved") == rejected


def _auc(rejected: Sequence[bool], scores: Sequence[float]) -> float | None:
    area = roc_auc([int(r) for r in rejected], scores)
    return None if math.isnan(area) else round(area, 4)
