"""A site's decisions as training data: the newest fifth held out by decision time, the
refusals that say how many decisions there are and how many are needed, the decisions'
weight. The whole command, with a tiny model and a database, is tested in
``tests/integration/test_train_from_decisions.py``.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from moderation.domain import CommentId, ModeratorDecision
from moderation.site_training import (
    MAX_DECISION_WEIGHT,
    MIN_DECISIONS,
    TooFewDecisions,
    decision_weight,
    split_decisions,
)

START = datetime(2026, 3, 1, tzinfo=UTC)


def _decisions(count: int, *, rejected_every: int = 2) -> list[ModeratorDecision]:
    return [
        ModeratorDecision(
            comment_id=CommentId(uuid.uuid4()),
            body=f"comment {i}",
            verdict="rejected" if i % rejected_every == 0 else "approved",
            decided_at=START + timedelta(minutes=i),
        )
        for i in range(count)
    ]


def test_split_decisions__holds_out_the_newest_fifth_by_decision_time() -> None:
    decisions = _decisions(61)
    shuffled = random.Random(1).sample(decisions, len(decisions))

    split = split_decisions("daily", shuffled)

    assert len(split.held_out) == 13  # a fifth of 61, rounded up
    assert split.held_out == decisions[-13:]
    assert split.train == decisions[:-13]


def test_split_decisions__too_few_says_how_many_there_are_and_are_needed() -> None:
    with pytest.raises(TooFewDecisions) as raised:
        split_decisions("daily", _decisions(12))

    message = str(raised.value)
    assert "site 'daily' has 12 moderator decisions (6 rejected, 6 approved)" in message
    assert f"needs at least {MIN_DECISIONS}" in message


def test_split_decisions__a_part_with_one_kind_only_is_refused() -> None:
    decisions = _decisions(MIN_DECISIONS, rejected_every=1)  # all rejected

    with pytest.raises(TooFewDecisions, match=r"the oldest 40 \(40 rejected, 0 approved\)"):
        split_decisions("daily", decisions)


def test_decision_weight__about_a_quarter_of_the_rows_within_bounds() -> None:
    assert decision_weight(200, 3_000) == 5  # 1,000 decision rows beside 3,000 shared
    assert decision_weight(40, 3_000) == MAX_DECISION_WEIGHT
    assert decision_weight(5_000, 3_000) == 1
    assert decision_weight(200, None) == 1  # all the shared rows
