"""A site's moderation history with a known calibration, for the API, page and browser tests.

``seed_history`` posts comments whose text carries their score, has the model hold them
(the site pre-moderates), and has a moderator decide them, so that the moderators' decisions
on held comments are exactly ``HISTORY``, plus a few that must not count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.domain import ModelInfo
from service.queue.scoring import ScoringWorker
from service.settings import Settings

#: (score, comments held at it, of which moderators rejected). At or above 0.4: 26 of 30,
#: which vouches for 0.70 of rejections, and at or above 0.1: 27 of 60, 0.45: hold_at 0.4.
#: At or above 0.9: 20 of 20, which vouches for 0.84, short of 0.98: no reject_at yet.
HISTORY: list[tuple[float, int, int]] = [(0.1, 30, 1), (0.4, 10, 6), (0.9, 20, 20)]
DECISIONS = 60
REJECTED = 27
#: Rejected comments outscoring approved ones, over every pair (ties count half), by hand:
#: (20 * 33 + 6 * 29 + 6 * 4 / 2 + 1 * 29 / 2) / (27 * 33).
ROC_AUC = 0.9658
#: The policy the history is made under: everything held but a blocked term; toxicity's
#: current thresholds are the page's "current" marks.
POLICY: dict[str, Any] = {
    "mode": "pre",
    "thresholds": {"toxicity": {"hold_at": 0.5, "reject_at": None}},
    "blocked_terms": ["spam"],
}


class ScoreInText:
    """Scores read from the comment: ``score=0.4`` gives toxicity 0.4 and insult half that."""

    @property
    def model(self) -> ModelInfo:
        return ModelInfo("score-in-text", "1")

    @property
    def labels(self) -> tuple[str, ...]:
        return ("toxicity", "insult")

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        out = []
        for text in texts:
            found = re.search(r"score=([0-9.]+)", text)
            value = float(found[1]) if found else 0.0
            out.append({"toxicity": value, "insult": value / 2})
        return out


async def seed_history(
    http: Any, settings: Settings, engine: AsyncEngine, moderator: dict[str, str]
) -> None:
    """``HISTORY`` on site ``daily`` (which must exist with ``POLICY``), decided by the
    ``moderator``'s token; ``http`` is a test client or a session with a base URL. Besides:
    a rejection reversed to an approval (counts as approved), an approval reopened (counts
    as nothing), a comment the model rejected that a moderator approved (not held: nothing),
    and a held comment nobody has decided yet (nothing)."""
    rejected: list[str] = []
    approved: list[str] = []
    for score, count, rejections in HISTORY:
        for i in range(count):
            comment = await _post(http, f"Comment {i} score={score}")
            (rejected if i < rejections else approved).append(comment)
    reopened = await _post(http, "Reopened score=0.9")
    model_rejected = await _post(http, "Total spam score=0.9")
    await _post(http, "Waiting score=0.1")
    worker = ScoringWorker(settings, engine, ScoreInText())
    while await worker.run_once():
        pass
    reversed_ = approved[-1]
    await _decide(http, moderator, "/v1/decisions", [*rejected, reversed_], "reject")
    await _decide(
        http, moderator, "/v1/decisions", [*approved, reopened, model_rejected], "approve"
    )
    await _decide(http, moderator, "/v1/decisions/reopen", [reopened], None)


async def _post(http: Any, body: str) -> str:
    response = await http.post(
        "/v1/sites/daily/articles/budget/comments", json={"body": body, "author_name": body}
    )
    assert response.status == 202, await response.text()
    return str((await response.json())["id"])


async def _decide(
    http: Any, headers: dict[str, str], path: str, ids: list[str], action: str | None
) -> None:
    body: dict[str, Any] = {"ids": ids} if action is None else {"ids": ids, "action": action}
    response = await http.post(path, json=body, headers=headers)
    assert response.status == 200, await response.text()
