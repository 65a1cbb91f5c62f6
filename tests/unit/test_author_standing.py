"""The policy's author-standing step (issue 12): sanctions, trust, first comments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moderation.domain import AuthorStanding, ModelInfo
from moderation.errors import InvalidPolicy
from moderation.policy import Policy, decide

MODEL = ModelInfo("m", "1")
TRUSTED = AuthorStanding(earlier_comments=40, approved=40)
NEWCOMER = AuthorStanding()
BANNED = AuthorStanding(earlier_comments=3, approved=3, sanction="ban")
SUSPENDED = AuthorStanding(
    sanction="suspend", sanction_until=datetime(2030, 1, 1, tzinfo=UTC), approved=50
)
LAPSED = AuthorStanding(earlier_comments=41, approved=40, rejected_recently=1)
TRUST = Policy(trusted_after=10)
FIRST = Policy(first_comments_held=2)


@pytest.mark.parametrize(
    ("policy", "standing", "text", "toxicity", "expected"),
    [
        (TRUST, TRUSTED, "hello", 0.6, ("approved", "trusted_author")),
        (TRUST, NEWCOMER, "hello", 0.6, ("held", "hold_threshold")),
        (TRUST, LAPSED, "hello", 0.6, ("held", "hold_threshold")),
        # Trust never passes a reject, a blocked term, or a site's own pre-moderation.
        (TRUST, TRUSTED, "hello", 0.99, ("rejected", "reject_threshold")),
        (
            Policy(trusted_after=10, blocked_terms=("spam",)),
            TRUSTED,
            "spam",
            0.6,
            ("rejected", "blocked_term"),
        ),
        (Policy(trusted_after=10, mode="pre"), TRUSTED, "hi", 0.1, ("held", "pre_moderation")),
        (Policy(), TRUSTED, "hello", 0.6, ("held", "hold_threshold")),  # trust off
        (FIRST, NEWCOMER, "hello", 0.1, ("held", "first_comments")),
        (FIRST, AuthorStanding(earlier_comments=1), "hi", 0.1, ("held", "first_comments")),
        (FIRST, AuthorStanding(earlier_comments=2), "hi", 0.1, ("approved", "below_thresholds")),
        (FIRST, NEWCOMER, "hello", 0.99, ("rejected", "reject_threshold")),
        (Policy(), NEWCOMER, "hello", 0.1, ("approved", "below_thresholds")),  # rule off
        # Sanctions come before every rule, even a post-moderated site's.
        (Policy(mode="post"), BANNED, "hello", 0.1, ("rejected", "banned")),
        (TRUST, SUSPENDED, "hello", 0.1, ("rejected", "suspended")),
    ],
)
def test_decide__authors_standing(
    policy: Policy,
    standing: AuthorStanding,
    text: str,
    toxicity: float,
    expected: tuple[str, str],
) -> None:
    d = decide(policy, {"toxicity": toxicity}, text=text, links=0, model=MODEL, standing=standing)
    assert (d.verdict, d.rule) == expected
    assert (d.explanation["verdict"], d.explanation["rule"]) == expected
    assert d.explanation["author"]["approved"] == standing.approved


def test_decide__a_sanctioned_author_is_decided_without_scores() -> None:
    d = decide(Policy(), {}, text="hello", links=0, model=MODEL, standing=SUSPENDED)
    assert (d.verdict, d.rule) == ("rejected", "suspended")
    assert "2030-01-01" in d.explanation["reason"]


def test_decide__without_standing_is_as_before() -> None:
    d = decide(FIRST, {"toxicity": 0.1}, text="hello", links=0, model=MODEL)
    assert (d.verdict, d.rule) == ("approved", "below_thresholds")
    assert "author" not in d.explanation


def test_policy__reads_and_checks_the_trust_fields() -> None:
    policy = Policy.from_json({"first_comments_held": 3, "trusted_after": 20})
    assert (policy.first_comments_held, policy.trusted_after) == (3, 20)
    assert Policy.from_json(policy.to_json()) == policy
    with pytest.raises(InvalidPolicy) as error:
        Policy.from_json({"first_comments_held": -1, "trusted_after": "ten"})
    fields = sorted(e.field for e in error.value.errors)
    assert fields == ["policy.first_comments_held", "policy.trusted_after"]
    override = Policy(trusted_after=5).with_override({"first_comments_held": 1})
    assert (override.first_comments_held, override.trusted_after) == (1, 5)
