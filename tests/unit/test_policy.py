"""The policy: every rule, its precedence, overrides, validation and monotonicity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation.domain import DETOXIFY_LABELS, ModelInfo
from moderation.errors import InvalidPolicy
from moderation.policy import Policy, decide, find_terms

MODEL = ModelInfo("m", "1")


T = 0.1  # a harmless toxicity score


@pytest.mark.parametrize(
    ("policy", "text", "links", "toxicity", "expected"),
    [
        (Policy(), "hello", 0, T, ("approved", "below_thresholds")),
        (Policy(), "hello", 0, 0.6, ("held", "hold_threshold")),
        (Policy(), "hello", 0, 0.995, ("rejected", "reject_threshold")),
        (Policy(mode="pre"), "hello", 0, T, ("held", "pre_moderation")),
        (Policy(mode="pre"), "hello", 0, 0.99, ("rejected", "reject_threshold")),
        (Policy(mode="post"), "hello", 0, 0.8, ("approved", "post_moderation")),
        (Policy(mode="post"), "hello", 0, 0.99, ("rejected", "reject_threshold")),
        (Policy(blocked_terms=("spam",)), "buy SPAM now", 0, T, ("rejected", "blocked_term")),
        (Policy(watched_terms=("election",)), "Election day", 0, T, ("held", "watched_term")),
        (Policy(max_links=1), "hello", 2, T, ("held", "link_limit")),
        (Policy(max_links=None), "hello", 50, T, ("approved", "below_thresholds")),
    ],
)
def test_decide__each_rule(
    policy: Policy, text: str, links: int, toxicity: float, expected: tuple[str, str]
) -> None:
    d = decide(policy, {"toxicity": toxicity}, text=text, links=links, model=MODEL)
    assert (d.verdict, d.rule) == expected


def test_decide__explanation_records_every_label_against_its_thresholds() -> None:
    policy = Policy.from_json(
        {
            "thresholds": {
                "toxicity": {"hold_at": 0.5, "reject_at": 0.9},
                "threat": {"hold_at": 0.3},
            }
        },
        version=7,
    )
    d = decide(
        policy,
        {"toxicity": 0.7, "insult": 0.2},
        text="x",
        links=0,
        model=MODEL,
        policy_source="article",
    )
    e = d.explanation
    assert e["rule"] == "hold_threshold" and e["reason"] == "toxicity 0.70 >= hold_at 0.50"
    rows = {r["label"]: r for r in e["labels"]}
    assert rows["toxicity"] == {
        "label": "toxicity",
        "score": 0.7,
        "hold_at": 0.5,
        "reject_at": 0.9,
        "outcome": "hold",
    }
    assert rows["threat"]["outcome"] == "not_scored"
    assert rows["insult"] == {
        "label": "insult",
        "score": 0.2,
        "hold_at": None,
        "reject_at": None,
        "outcome": "pass",
    }
    assert e["model"] == {"name": "m", "version": "1"}
    assert (e["policy_version"], e["policy_source"]) == (7, "article")


def test_find_terms__whole_words_only_case_insensitive() -> None:
    assert find_terms("Scunthorpe United", ["cunt"]) == []
    assert find_terms("what a CLOWN show", ["clown", "show off"]) == ["clown"]
    assert find_terms("show   off", ["show off"]) == ["show off"]


def test_policy__from_json_lists_every_problem() -> None:
    with pytest.raises(InvalidPolicy) as caught:
        Policy.from_json(
            {
                "mode": 3,
                "thresholds": {"toxicity": {"hold_at": 2}},
                "blocked_terms": ["ok", ""],
                "max_links": True,
                "x": 1,
            }
        )
    assert {e.field for e in caught.value.errors} == {
        "policy.mode",
        "policy.thresholds.toxicity.hold_at",
        "policy.blocked_terms[1]",
        "policy.max_links",
        "policy.x",
    }


def test_policy__override_replaces_only_given_fields_and_round_trips() -> None:
    site = Policy.from_json({"blocked_terms": ["a"], "max_links": 3}, version=4)
    article = site.with_override({"mode": "pre"})
    assert (article.mode, article.blocked_terms, article.max_links, article.version) == (
        "pre",
        ("a",),
        3,
        4,
    )
    assert Policy.from_json(site.to_json(), version=4) == site


_scores = st.dictionaries(st.sampled_from(DETOXIFY_LABELS), st.floats(0, 1), min_size=1)
_RANK = {"approved": 0, "held": 1, "rejected": 2}


@given(
    scores=_scores,
    label=st.sampled_from(DETOXIFY_LABELS),
    bump=st.floats(0, 1),
    mode=st.sampled_from(["auto", "pre", "post"]),
)
def test_decide__raising_a_score_never_makes_a_decision_milder(
    scores: dict[str, float], label: str, bump: float, mode: str
) -> None:
    policy = Policy.from_json({"mode": mode})
    before = decide(policy, scores, text="t", links=0, model=MODEL).verdict
    raised = {**scores, label: min(1.0, scores.get(label, 0.0) + bump)}
    after = decide(policy, raised, text="t", links=0, model=MODEL).verdict
    assert not (before == "rejected" and after != "rejected")
    assert _RANK[after] >= _RANK[before]
