"""The threat lexicon the policy applies beside the model, measured on held-out sentences.

``tests/data/heldout_*.csv`` were written by hand and never used in training or to write the
patterns' training checks (``moderation/data/hand_train.csv`` was).
"""

from __future__ import annotations

import csv
from pathlib import Path

from moderation.domain import ModelInfo
from moderation.policy import Policy, decide
from moderation.threats import find_threat

DATA = Path(__file__).resolve().parents[1] / "data"


def _texts(name: str) -> list[str]:
    with (DATA / name).open(newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


def test_find_threat__violence_aimed_at_a_person() -> None:
    assert find_threat("I'm going to stab you.") == "first-person violence at a person"
    assert find_threat("The mayor should be shot.") == "wish for violence against someone"
    assert find_threat("We know where you live.") == "we know where you live"
    assert find_threat("I\u2019ll break your legs") is not None


def test_find_threat__violent_words_without_a_threat_do_not_match() -> None:
    for text in (
        "That last goal killed me.",
        "I'd kill for a coffee.",
        "The suspect was shot by police.",
        "I'm going to shoot some photos of the parade.",
        "We'll bury them in the next match.",
    ):
        assert find_threat(text) is None, text


def test_find_threat__held_out_sentences_caught_and_spared() -> None:
    threats = _texts("heldout_threats.csv")
    harmless = _texts("heldout_harmless.csv")

    caught = sum(1 for t in threats if find_threat(t))
    flagged = [t for t in harmless if find_threat(t)]
    assert (len(threats), len(harmless)) == (40, 55)
    assert caught >= 26  # measured: 26 of 40 (65%); the model card lists what it misses
    assert flagged == []


def test_decide__a_threat_phrase_is_held_unless_the_policy_turns_it_off() -> None:
    text = "I'm going to find you and break your legs."
    model = ModelInfo("m", "1")

    held = decide(Policy(), {"toxicity": 0.1}, text=text, links=0, model=model)
    off = decide(Policy(threat_patterns="off"), {"toxicity": 0.1}, text=text, links=0, model=model)

    assert (held.verdict, held.rule) == ("held", "threat_pattern")
    assert held.explanation["threat_pattern"] == "first-person violence at a person"
    assert (off.verdict, off.rule) == ("approved", "below_thresholds")
