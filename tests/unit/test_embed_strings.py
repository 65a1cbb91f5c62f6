"""The widget's words (the STRINGS table in embed.js): every language says what English says,
with the same placeholders, so a newsroom's new entry cannot leave a label blank or drop the
number from a message."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

EMBED = Path(__file__).parents[2] / "service/web/static/embed.js"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
PLURAL_FORMS = {"zero", "one", "two", "few", "many", "other"}  # Intl.PluralRules' names


def strings(source: str) -> dict[str, dict[str, Any]]:
    """The table, read as the JSON it is written in."""
    match = re.search(r"^  const STRINGS = (\{.*?^  \});$", source, re.DOTALL | re.MULTILINE)
    assert match is not None, "embed.js has no `  const STRINGS = {...};` table"
    table: dict[str, dict[str, Any]] = json.loads(match.group(1))
    return table


def _forms(phrase: Any) -> dict[str, Any]:
    """A phrase as its plural forms; a plain phrase is its own "other"."""
    return phrase if isinstance(phrase, dict) else {"other": phrase}


def _phrase_problems(language: str, key: str, phrase: Any, english: Any) -> list[str]:
    forms, english_forms = _forms(phrase), _forms(english)
    if isinstance(phrase, dict) != isinstance(english, dict):
        kind = "plural forms" if isinstance(english, dict) else "one phrase"
        return [f"{language}.{key}: must be {kind}, as in English"]
    wanted = set(PLACEHOLDER.findall(english_forms["other"]))
    found: list[str] = []
    if "other" not in forms or not forms.keys() <= PLURAL_FORMS:
        found.append(f"{language}.{key}: plural forms must be among {sorted(PLURAL_FORMS)}")
    for form, text in forms.items():
        if not isinstance(text, str) or not text.strip():
            found.append(f"{language}.{key}.{form}: must be text")
            continue
        # Another language's "one" may spell the number out; "other" must show it.
        named = set(PLACEHOLDER.findall(text))
        if named - wanted or (form == "other" and named != wanted):
            found.append(
                f"{language}.{key}.{form}: placeholders {sorted(named)}, not {sorted(wanted)}"
            )
    return found


def problems(table: dict[str, dict[str, Any]]) -> list[str]:
    """What each language lacks or adds, compared with English."""
    english = table["en"]
    found: list[str] = []
    for language, phrases in table.items():
        found += [f"{language}: no {key!r}" for key in english.keys() - phrases.keys()]
        found += [f"{language}: unknown {key!r}" for key in phrases.keys() - english.keys()]
        for key in phrases.keys() & english.keys():
            found += _phrase_problems(language, key, phrases[key], english[key])
    return sorted(found)


def test_strings__every_language_says_what_english_says() -> None:
    table = strings(EMBED.read_text())
    assert {"en", "es"} <= table.keys()
    assert problems(table) == []


def test_strings__a_language_missing_a_key_or_a_placeholder_is_reported() -> None:
    table: dict[str, dict[str, Any]] = {
        "en": {
            "post": "Post comment",
            "replyTo": "Reply to {name}",
            "wait": {"one": "Wait {count} second.", "other": "Wait {count} seconds."},
        },
        "xx": {
            "replyTo": "Reply",
            "wait": {"one": "Wait a second.", "other": "Wait {seconds}.", "lots": "Wait."},
            "extra": "Extra",
        },
        "yy": {"post": " ", "replyTo": "To {name}", "wait": "Wait {count}."},
    }
    assert problems(table) == [
        "xx.replyTo.other: placeholders [], not ['name']",
        "xx.wait.other: placeholders ['seconds'], not ['count']",
        "xx.wait: plural forms must be among ['few', 'many', 'one', 'other', 'two', 'zero']",
        "xx: no 'post'",
        "xx: unknown 'extra'",
        "yy.post.other: must be text",
        "yy.wait: must be plural forms, as in English",
    ]
