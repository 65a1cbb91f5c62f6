"""Which language a comment is written in, and which languages a model can read.

Detection uses py3langid (a maintained fork of langid.py; its model ships in the PyPI package,
so nothing is fetched at run time). Measured on the short English and Spanish comments in
``tests/data/language_comments.csv`` (``bench/languages.py``): py3langid 96% right at about
70 µs a comment on a quiet machine; lingua-language-detector 100% right but about 3.6 ms a
comment with every language loaded (and 11 s and much memory to load), 86% in its
low-accuracy mode at 1 ms.
fasttext-langdetect downloads its model on first use, which a worker without a network cannot
do. py3langid's mistakes fall on very short texts and come with low confidence, which is why a
guess counts as *sure* only with enough letters and a high normalised probability: a text that
is short, mixed or unclear is never held for its language alone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from moderation.domain import DEFAULT_MODEL_LANGUAGES, LanguageGuess
from moderation.scoring import Scorer

__all__ = [
    "CANDIDATE_LANGUAGES",
    "DEFAULT_MODEL_LANGUAGES",
    "MIN_CONFIDENCE",
    "MIN_LETTERS",
    "MULTILINGUAL_LANGUAGES",
    "LanguageGuess",
    "declared_languages",
    "detect_language",
    "detect_languages",
    "languages_for_model",
    "languages_of",
]

#: Detoxify's ``multilingual`` model (its README): English, French, Spanish, Italian,
#: Portuguese, Turkish and Russian.
MULTILINGUAL_LANGUAGES: Final[tuple[str, ...]] = ("en", "fr", "es", "it", "pt", "tr", "ru")
#: A guess is sure only past both: fewer letters than this, or a lower probability, and the
#: comment is scored as if its language were supported.
MIN_LETTERS: Final = 15
MIN_CONFIDENCE: Final = 0.9
#: The languages detection chooses among: the ones a news site's readers most likely write
#: in. Out of all 97 of py3langid's, short comments come out unsure far more often (9 of 25
#: Spanish comments sure, against 19 here, none wrongly in either case); a comment in a
#: language left out is given the nearest one listed (its explanation names that one).
CANDIDATE_LANGUAGES: Final[tuple[str, ...]] = (
    "en", "es", "fr", "de", "it", "pt", "nl", "ru", "tr", "pl", "ar", "zh",
    "ja", "ko", "hi", "sv", "ro", "uk", "el", "he", "ca", "id", "vi", "fa",
)  # fmt: skip

_LOCK = threading.Lock()
_identifier: Any = None


def detect_language(text: str) -> LanguageGuess:
    """Guess ``text``'s language; texts with too few letters are not guessed at all."""
    letters = sum(1 for c in text if c.isalpha())
    if letters == 0:
        return LanguageGuess(None, 0.0, sure=False)
    language, probability = _get_identifier().classify(text)
    confidence = float(probability)
    sure = letters >= MIN_LETTERS and confidence >= MIN_CONFIDENCE
    return LanguageGuess(str(language), confidence, sure=sure)


def detect_languages(texts: Iterable[str]) -> list[LanguageGuess]:
    """``detect_language`` for each text (the first call loads the model: about a second)."""
    return [detect_language(text) for text in texts]


def languages_for_model(name: str, declared: Sequence[str] | None = None) -> tuple[str, ...]:
    """The languages a model reads: what its folder declares, else known by its name."""
    if declared:
        return tuple(declared)
    if name in ("multilingual", "detoxify-multilingual"):
        return MULTILINGUAL_LANGUAGES
    return DEFAULT_MODEL_LANGUAGES


def declared_languages(model_folder: Path) -> tuple[str, ...] | None:
    """``languages`` from the folder's ``model_card.json``, if it has one that says so."""
    card = model_folder / "model_card.json"
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    languages = data.get("languages") if isinstance(data, dict) else None
    if isinstance(languages, list) and all(isinstance(x, str) for x in languages) and languages:
        return tuple(languages)
    return None


def languages_of(scorer: Scorer) -> tuple[str, ...]:
    """The languages a scorer's model reads; a scorer that does not say reads its name's."""
    declared = getattr(scorer, "languages", None)
    if isinstance(declared, tuple) and declared:
        return declared
    return languages_for_model(scorer.model.name)


def _get_identifier() -> Any:
    global _identifier
    with _LOCK:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(CANDIDATE_LANGUAGES))
            _identifier = identifier
        return _identifier
