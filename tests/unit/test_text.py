"""Text normalisation: disguises undone, ordinary text left alone, disguised abuse scored alike."""

# The disguised strings below hold look-alike letters on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.scoring import Scorer
from moderation.text import count_links, normalise_for_scoring


@pytest.mark.parametrize(
    ("disguised", "plain"),
    [
        ("ｙｏｕ ａｒｅ ａｎ ｉｄｉｏｔ", "you are an idiot"),  # full-width
        ("𝐲𝐨𝐮 𝐢𝐝𝐢𝐨𝐭", "you idiot"),  # mathematical bold
        ("ⓘⓓⓘⓞⓣ", "idiot"),  # circled
        ("id\u200biot", "idiot"),  # zero-width space
        ("st\u200du\u2060pid", "stupid"),  # joiner, word joiner
        ("\u202eidiot\u202c", "idiot"),  # bidi override
        ("\u2066you\u2069 \u200fidiot", "you idiot"),  # isolates, RLM
        ("ѕtupіd", "stupid"),  # Cyrillic dze and i in a Latin word
        ("іdіоt", "idiot"),  # all Cyrillic look-alikes, in Latin text
        ("you are a mοrοn", "you are a moron"),  # Greek omicron
        ("ʏᴏᴜ ɪᴅɪᴏᴛ", "you idiot"),  # small capitals
        ("1d10t", "idiot"),
        ("sh!t", "shit"),
        ("$h1t!", "shit!"),
        ("l0s3r", "loser"),
        ("a$$hole", "asshole"),
        ("i d i o t", "idiot"),
        ("f.u.c.k you", "fuck you"),
        ("i̸̢d̷i̶o̴t̸", "idiot"),  # stacked combining marks
    ],
)
def test_normalise_for_scoring__undoes_disguise(disguised: str, plain: str) -> None:
    assert normalise_for_scoring(disguised) == plain


@pytest.mark.parametrize(
    "text",
    [
        "привет мир, это просто текст",  # genuine Russian
        "καλημέρα κόσμε",  # genuine Greek
        "café, naïve, señor, Straße",  # accents kept
        "mp3 players and covid19 at 10am",
        "@user thanks!! see you at 3pm",
        "I paid $100 for 2 tickets",
        "mail bob@example.com or see https://example.com/a1b2?q=l33t",
        "नमस्ते दुनिया",
        "good day to you",
    ],
)
def test_normalise_for_scoring__leaves_ordinary_text_alone(text: str) -> None:
    assert normalise_for_scoring(text) == text


def test_normalise_for_scoring__collapses_whitespace() -> None:
    assert normalise_for_scoring("  a\tb \n\n c\u00a0d  ") == "a b c d"


def test_normalise_for_scoring__empty() -> None:
    assert normalise_for_scoring("") == ""
    assert normalise_for_scoring("\u200b\u200b ") == ""


def test_normalise_for_scoring__is_idempotent() -> None:
    text = "Ｙou аre аn 1d10t\u200b, f.u.c.k off"
    once = normalise_for_scoring(text)
    assert normalise_for_scoring(once) == once


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("no links here", 0),
        ("see http://a.example and https://b.example/x?y=1", 2),
        ("www.example.org is a site", 1),
        ("https://www.example.org counts once", 1),
        ("ｈｔｔｐｓ://example.com full-width", 1),
        ("email me at bob@www.example.com", 0),
    ],
)
def test_count_links__http_and_www(text: str, links: int) -> None:
    assert count_links(text) == links


DISGUISED_ABUSE = [
    ("You are a stupid idiot", "Ｙｏｕ ａｒｅ ａ ѕtupіd 1d10t"),
    ("shut up, you pathetic loser", "ѕhut up, you pathetic l0s3r"),
    ("what a worthless moron", "what a w\u200borthless m\u200dοrοn"),
]


@pytest.fixture(scope="module")
def default_scorer(tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    from moderation.detox import load_scorer

    model_dir: Path = tmp_path_factory.mktemp("models")
    return load_scorer("default", model_dir=model_dir, threads=2)


@pytest.mark.parametrize(("plain", "disguised"), DISGUISED_ABUSE)
def test_normalise_for_scoring__disguised_abuse_scores_like_plain(
    default_scorer: Scorer, plain: str, disguised: str
) -> None:
    plain_score, disguised_score = default_scorer.score(
        [normalise_for_scoring(plain), normalise_for_scoring(disguised)]
    )
    for label in default_scorer.labels:
        assert abs(plain_score[label] - disguised_score[label]) <= 0.05
    assert normalise_for_scoring(disguised) != disguised
