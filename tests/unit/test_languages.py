"""Language detection, the languages a model reads, and the ``unsupported_language`` rule."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from moderation.detox import load_scorer
from moderation.domain import ModelInfo
from moderation.errors import InvalidPolicy
from moderation.languages import (
    MULTILINGUAL_LANGUAGES,
    LanguageGuess,
    declared_languages,
    detect_language,
    languages_for_model,
)
from moderation.model_build import make_tiny_checkpoint
from moderation.policy import Policy, decide

MODEL = ModelInfo("m", "1")
COMMENTS = Path(__file__).resolve().parents[1] / "data" / "language_comments.csv"
SPANISH_INSULT = "Eres un imbécil y no tienes ni idea de lo que dices, vete de aquí."


def test_detect_language__spanish_and_english_comments_are_sure() -> None:
    spanish = detect_language(SPANISH_INSULT)
    english = detect_language("You have no idea what you are talking about, go away.")

    assert (spanish.language, spanish.sure) == ("es", True)
    assert (english.language, english.sure) == ("en", True)


def test_detect_language__short_or_empty_text_is_never_sure() -> None:
    assert not detect_language("Bien dicho.").sure
    assert not detect_language("lol").sure
    assert detect_language("123 !!! :)") == LanguageGuess(None, 0.0, sure=False)


def test_detect_language__own_short_comments_mostly_right_and_never_surely_wrong() -> None:
    with COMMENTS.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    guesses = [(detect_language(r["text"]), r["lang"]) for r in rows]

    right = sum(1 for guess, lang in guesses if guess.language == lang)
    surely_wrong = [g for g, lang in guesses if g.sure and g.language != lang]
    assert len(rows) == 50
    assert right / len(rows) >= 0.95  # measured: 48 of 50
    assert surely_wrong == []  # a wrong guess is never sure: no comment is held by mistake


def test_languages_for_model__declared_then_by_name(tmp_path: Path) -> None:
    (tmp_path / "model_card.json").write_text(json.dumps({"languages": ["en", "es"]}))

    assert declared_languages(tmp_path) == ("en", "es")
    assert declared_languages(tmp_path / "missing") is None
    assert languages_for_model("detoxify-multilingual") == MULTILINGUAL_LANGUAGES
    assert languages_for_model("replyguard-minilm") == ("en",)
    assert languages_for_model("x", declared_languages(tmp_path)) == ("en", "es")


def test_scorer__reports_the_languages_its_model_card_declares(tmp_path: Path) -> None:
    checkpoint = make_tiny_checkpoint("bert", tmp_path / "tiny")
    (checkpoint.parent / "model_card.json").write_text(json.dumps({"languages": ["en", "es"]}))

    scorer = load_scorer(str(checkpoint), model_dir=tmp_path, threads=1)

    assert getattr(scorer, "languages", None) == ("en", "es")


def _decide(policy: Policy, text: str, languages: tuple[str, ...] = ("en",)) -> tuple[str, str]:
    d = decide(
        policy,
        {"toxicity": 0.1},
        text=text,
        links=0,
        model=MODEL,
        language=detect_language(text),
        model_languages=languages,
    )
    return d.verdict, d.rule


def test_decide__a_sure_unsupported_language_is_held_with_its_guess_explained() -> None:
    d = decide(
        Policy(),
        {"toxicity": 0.05},
        text=SPANISH_INSULT,
        links=0,
        model=MODEL,
        language=detect_language(SPANISH_INSULT),
        model_languages=("en",),
    )

    assert (d.verdict, d.rule) == ("held", "unsupported_language")
    language = d.explanation["language"]
    assert language["detected"] == "es" and language["confidence"] >= 0.9
    assert language["model_languages"] == ["en"] and language["rule"] == "hold"
    assert "written in es" in d.explanation["reason"]


def test_decide__language_rule_spares_supported_unsure_and_score_policies() -> None:
    assert _decide(Policy(), SPANISH_INSULT, MULTILINGUAL_LANGUAGES) == (
        "approved",
        "below_thresholds",
    )
    assert _decide(Policy(unsupported_language="score"), SPANISH_INSULT) == (
        "approved",
        "below_thresholds",
    )
    assert _decide(Policy(), "Bien dicho.") == ("approved", "below_thresholds")
    assert _decide(Policy(), "I enjoyed this article about the new library.") == (
        "approved",
        "below_thresholds",
    )


def test_policy__language_and_threat_rules_parse_override_and_round_trip() -> None:
    site = Policy.from_json({"unsupported_language": "score"}, version=2)
    article = site.with_override({"unsupported_language": "hold", "threat_patterns": "off"})

    assert (site.unsupported_language, site.threat_patterns) == ("score", "hold")
    assert (article.unsupported_language, article.threat_patterns) == ("hold", "off")
    assert Policy.from_json(article.to_json(), version=2) == article
    with pytest.raises(InvalidPolicy) as caught:
        Policy.from_json({"unsupported_language": "reject", "threat_patterns": True})
    assert {e.field for e in caught.value.errors} == {
        "policy.unsupported_language",
        "policy.threat_patterns",
    }
