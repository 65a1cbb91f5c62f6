"""Text normalisation before scoring, and link counting for the policy.

Abuse is often disguised so that a model trained on plain text misses it: full-width or
mathematical letters, zero-width characters inside a word, Cyrillic or Greek letters that look
like Latin ones, digits and symbols in place of letters ("1d10t", "sh!t"), letters spaced out
("i d i o t"). ``normalise_for_scoring`` undoes these, conservatively: it changes a word only
where the disguise is unambiguous, so genuine Cyrillic or Greek text, numbers, model names like
"mp3" and mentions like "@user" pass through unchanged. The result is only ever fed to the
model; the stored and displayed body is the author's text.

Pure standard library, no heavy imports: the web process may import it.
"""

# The look-alike tables below hold confusable letters on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
import unicodedata

__all__ = ["count_links", "normalise_for_scoring"]

# Zero-width characters, soft hyphen, word joiners, BOM, and the bidirectional controls that
# reorder display (U+202A-202E, U+2066-2069, LRM/RLM, ALM).
_INVISIBLE = dict.fromkeys(
    [
        0x00AD,  # soft hyphen
        0x034F,  # combining grapheme joiner
        0x061C,  # arabic letter mark
        0x115F,  # hangul choseong filler
        0x1160,  # hangul jungseong filler
        0x17B4,  # khmer vowel inherent aq
        0x17B5,  # khmer vowel inherent aa
        0x180E,  # mongolian vowel separator
        0x200B,  # zero width space
        0x200C,  # zero width non-joiner
        0x200D,  # zero width joiner
        0x200E,  # left-to-right mark
        0x200F,  # right-to-left mark
        *range(0x202A, 0x202F),  # embeddings and overrides
        *range(0x2060, 0x2065),  # word joiner, invisible operators
        *range(0x2066, 0x206A),  # isolates
        0x3164,  # hangul filler
        0xFEFF,  # byte order mark / zero width no-break space
        0xFFA0,  # halfwidth hangul filler
    ]
)

# Letters of other scripts that render like Latin letters. Applied only inside words that
# are written in Latin (see _fold_homoglyphs), never to genuine Cyrillic or Greek text.
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic lower case
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "һ": "h",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "ӏ": "l",
        "ѵ": "v",
        "ɡ": "g",
        # Cyrillic upper case
        "А": "A",
        "В": "B",
        "Е": "E",
        "К": "K",
        "М": "M",
        "Н": "H",
        "О": "O",
        "Р": "P",
        "С": "C",
        "Т": "T",
        "У": "Y",
        "Х": "X",
        "І": "I",
        "Ј": "J",
        "Ѕ": "S",
        "Ԁ": "D",
        "Ԛ": "Q",
        "Ԝ": "W",
        "Ӏ": "I",
        # Greek
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "Α": "A",
        "Β": "B",
        "Ε": "E",
        "Ζ": "Z",
        "Η": "H",
        "Ι": "I",
        "Κ": "K",
        "Μ": "M",
        "Ν": "N",
        "Ο": "O",
        "Ρ": "P",
        "Τ": "T",
        "Υ": "Y",
        "Χ": "X",
        "ı": "i",
    }
)
_CONFUSABLE = frozenset(chr(c) for c in _HOMOGLYPHS)

# Latin small capitals and IPA letters that NFKC leaves alone. No language writes words in
# them, so they are folded everywhere.
_SMALL_CAPS = str.maketrans(
    {
        "ɑ": "a",
        "ɩ": "i",
        "ʟ": "l",
        "ᴀ": "a",
        "ʙ": "b",
        "ᴄ": "c",
        "ᴅ": "d",
        "ᴇ": "e",
        "ɢ": "g",
        "ʜ": "h",
        "ɪ": "i",
        "ᴊ": "j",
        "ᴋ": "k",
        "ᴍ": "m",
        "ɴ": "n",
        "ᴏ": "o",
        "ᴘ": "p",
        "ʀ": "r",
        "ꜱ": "s",
        "ᴛ": "t",
        "ᴜ": "u",
        "ᴠ": "v",
        "ᴡ": "w",
        "ʏ": "y",
        "ᴢ": "z",
    }
)

# Digits and symbols standing for letters. Only folded inside a word (see _fold_leet).
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_LEET_CHARS = frozenset("013457@$!")
_LEET_EDGE_OK = frozenset("01345$")  # may be folded at a word's edge once the word is disguised

_WORD = re.compile(r"[^\W_]+")
_LEET_TOKEN = re.compile(r"[A-Za-z0-9@$!]+")
# Four or more single letters split by one repeated separator: "i d i o t", "f.u.c.k".
_SPACED = re.compile(r"(?<![^\W_])[^\W\d_](?:([ .\-_*])[^\W\d_]){3,}(?![^\W_])")
_SPACE = re.compile(r"\s+")
# URLs and e-mail addresses: left as they are (their "@" or digits are not disguise).
_LINKISH = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\S+", re.IGNORECASE)

_LINK = re.compile(r"\bhttps?://[^\s<>\"']+|(?<![\w/.@])www\.[^\s<>\"']+", re.IGNORECASE)


def normalise_for_scoring(text: str) -> str:
    """Undo common disguises so the model sees the words a reader sees.

    NFKC (full-width, mathematical and circled letters become plain ones), zero-width and
    bidirectional control characters removed, combining marks stacked on Latin letters dropped,
    Cyrillic/Greek look-alikes folded inside Latin words, leetspeak folded where digits or
    symbols sit between letters, spaced-out letters joined, whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).translate(_SMALL_CAPS)
    text = _strip_marks_on_latin(text)
    latin_majority = _latin_majority(text)
    out: list[str] = []
    last = 0
    for link in _LINKISH.finditer(text):
        out.append(_fold_words(text[last : link.start()], latin_majority))
        out.append(link.group())
        last = link.end()
    out.append(_fold_words(text[last:], latin_majority))
    return _SPACE.sub(" ", "".join(out)).strip()


def count_links(text: str) -> int:
    """How many links the text carries: ``http(s)://`` URLs and bare ``www.`` addresses."""
    return len(_LINK.findall(unicodedata.normalize("NFKC", text).translate(_INVISIBLE)))


def _fold_words(text: str, latin_majority: bool) -> str:
    text = _WORD.sub(lambda m: _fold_homoglyphs(m.group(), latin_majority), text)
    text = _LEET_TOKEN.sub(lambda m: _fold_leet(m.group()), text)
    return _SPACED.sub(lambda m: m.group()[::2], text)


def _strip_marks_on_latin(text: str) -> str:
    """Drop combining marks stacked on Latin letters ("Zalgo" text, overlays, strikes).

    A single mark that forms a precomposed letter (an ordinary accent: é, ü, ñ) is kept; marks
    on other scripts are left alone, since many scripts write vowels and tones with them.
    """
    if not any(unicodedata.combining(c) for c in text):
        return text
    out: list[str] = []
    base = ""
    marks: list[str] = []

    def flush() -> None:
        if base and _is_latin(base) and marks:
            composed = unicodedata.normalize("NFC", base + marks[0])
            out.append(composed if len(marks) == 1 and len(composed) == 1 else base)
        else:
            out.append(base + "".join(marks))

    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char):
            marks.append(char)
            continue
        flush()
        base, marks = char, []
    flush()
    return unicodedata.normalize("NFC", "".join(out))


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _latin_majority(text: str) -> bool:
    latin = sum(1 for c in text if _is_latin(c))
    other = sum(1 for c in text if c.isalpha() and not c.isascii())
    return latin > other


def _fold_homoglyphs(word: str, latin_majority: bool) -> str:
    """Fold look-alikes in a word that mixes Latin with them, or is all look-alikes in Latin text.

    A genuine Russian or Greek word nearly always holds a letter with no Latin twin ("привет"
    has п, и, в), so it is left alone.
    """
    if not any(c in _CONFUSABLE for c in word):
        return word
    has_latin = any(_is_latin(c) for c in word)
    others = [c for c in word if c.isalpha() and not c.isascii()]
    if all(c in _CONFUSABLE for c in others) and (has_latin or latin_majority):
        return word.translate(_HOMOGLYPHS)
    return word


def _fold_leet(token: str) -> str:
    """Fold digits and symbols that sit between letters: "1d10t" -> "idiot", "sh!t" -> "shit".

    Left alone: tokens where no such character sits between two letters ("mp3", "covid19",
    "10am", "@user", "wow!!").
    """
    letters = [i for i, c in enumerate(token) if c.isalpha()]
    if len(letters) < 2:
        return token
    first, last = letters[0], letters[-1]
    if not any(token[i] in _LEET_CHARS for i in range(first + 1, last)):
        return token
    chars = list(token)
    for i, c in enumerate(chars):
        if c in _LEET_CHARS and (first < i < last or c in _LEET_EDGE_OK):
            chars[i] = c.translate(_LEET)
    return "".join(chars)
