"""The OpenAPI document and the request checks agree: each pattern the handlers use, read by
Python's re, accepts exactly what the document's pattern, read as JSON Schema (ECMA-262, by
jsonschema_rs, schemathesis's own validator), accepts; and every place the document names a
site, an article or a limit, it names the one the handlers check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from service.settings import Settings
from service.web.openapi import SPEC, build_spec
from service.web.validation import (
    ARTICLE_ID,
    EMAIL,
    IDEMPOTENCY_KEY,
    ROW_ID,
    SLUG,
    Fields,
    schema_pattern,
    whole,
)

#: Each pattern with strings at and past its edges: lengths, first characters, a final
#: newline (Python's ``$`` matches before one; ECMA-262's does not), white space that
#: Python and ECMA-262 disagree on (U+0085, U+FEFF), digits that are not ASCII.
SAMPLES: dict[str, tuple[re.Pattern[str], list[str]]] = {
    "slug": (SLUG, ["daily", "a" * 63, "a" * 64, "a-b_c", "Daily", "-a", "daily\n", "", "é"]),
    "article": (
        ARTICLE_ID,
        ["story-1", "a/b:c.d", "x" * 200, "x" * 201, ".a", "story\n", "a b", "\nstory"],
    ),
    "email": (
        EMAIL,
        [
            "ann@example.org",
            f"{'a' * 64}@b.c",
            f"{'a' * 65}@b.c",
            "ann@example",
            "a@b@c.d",
            "a b@c.d",
            "a\u0085b@c.d",
            "a\ufeffb@c.d",
            "a\u3000b@c.d",
            "a\x01b@c.d",
            "ann@example.org\n",
        ],
    ),
    "idempotency key": (IDEMPOTENCY_KEY, ["k", "!" * 255, "~" * 256, "a b", "é", "k\n", ""]),
    "row id": (ROW_ID, ["0", "9" * 18, "9" * 19, "\u0661", "1\n", "-1", "1.0"]),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_patterns__document_accepts_what_validation_accepts(name: str) -> None:
    regex, samples = SAMPLES[name]
    schema = {"type": "string", "pattern": schema_pattern(regex)}
    for sample in samples:
        assert jsonschema_rs.is_valid(schema, sample) == bool(regex.match(sample)), sample


def test_whole__a_final_newline_is_not_the_end() -> None:
    assert whole("story").match("story")
    assert not whole("story").match("story\n")
    assert not whole("a|b").match("ab")


def test_schema_pattern__refuses_a_regex_not_made_by_whole() -> None:
    with pytest.raises(ValueError, match="whole"):
        schema_pattern(re.compile(r"^daily$"))


def _parameters(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in spec["paths"].values():
        yield from item.get("parameters", [])
        for operation in item.values():
            if isinstance(operation, dict):
                yield from operation.get("parameters", [])


def test_spec__every_site_and_article_parameter_has_the_handlers_pattern() -> None:
    """A route added with a pattern of its own would drift from the check it describes."""
    expected = {"site": schema_pattern(SLUG), "article": schema_pattern(ARTICLE_ID)}
    seen = {"site": 0, "article": 0}
    for parameter in _parameters(SPEC):
        pattern = parameter["schema"].get("pattern")
        if parameter["name"] in expected and pattern is not None:
            assert pattern == expected[parameter["name"]], parameter
            seen[parameter["name"]] += 1
    assert seen["site"] >= 5 and seen["article"] >= 3, seen


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("words", True), (" a ", True), ("\u0085", False), ("\ufeff", True), ("\u3000", False)],
)
def test_required_text__document_and_fields_agree_on_what_is_blank(
    text: str, accepted: bool
) -> None:
    """Fields.text strips white space as Python sees it; the document must say the same."""
    schema = SPEC["components"]["schemas"]["SitePut"]["properties"]["name"]
    fields = Fields({"name": text})
    fields.text("name", required=True, max_chars=200)
    assert (not fields.errors) == accepted
    assert jsonschema_rs.is_valid(schema, text) == accepted


def test_build_spec__limits_are_the_settings_given() -> None:
    settings = Settings(max_body_chars=123, max_body_bytes=456, max_name_chars=7)
    spec = build_spec(settings)
    fields = spec["components"]["schemas"]["NewComment"]["properties"]
    assert fields["body"]["maxLength"] == 123
    assert "REPLYGUARD_MAX_BODY_CHARS (123)" in fields["body"]["description"]
    assert "REPLYGUARD_MAX_BODY_BYTES (456)" in fields["body"]["description"]
    assert fields["author_name"]["maxLength"] == 7
    default = SPEC["components"]["schemas"]["NewComment"]["properties"]
    assert default["body"]["maxLength"] == Settings().max_body_chars
