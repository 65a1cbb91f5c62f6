"""A small lexicon of threat phrasings, applied by the policy beside the model.

No public data here labels threats (OLID's ``TIN`` mixes insults and threats), so the default
model learns ``threat`` from a few hundred hand-written sentences only. This lexicon is the
backstop: a comment that matches one of its patterns is held for a moderator (never rejected
by it alone: a pattern cannot tell a joke or a quotation from a threat). What it catches and
misses on hand-written held-out sentences is in the default model's card.

The patterns look for violence aimed at a person: a first-person future or a wish ("I'll
stab you", "he should be shot", "someone needs to shoot them"), or a known veiled form
("we know where you live", "watch your back"). A violent word alone ("that goal killed me",
"I'd kill for a coffee") is not enough, nor is violence reported in the third person
("the suspect was shot").
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["THREAT_PATTERNS", "find_threat"]

_VERB = (
    r"(?:kill|murder|shoot|shot|stab|strangle|choke|hang|lynch|burn|beat|hurt|gut|slit|smash|"
    r"bash|break|cut|execute|drown|torch|knife|slaughter|butcher|snap|end|finish|punch|kick|"
    r"run\s+(?:you|u|him|her|them)\s+over|blow\s+up|set\s+fire\s+to|put\s+(?:a\s+)?bullet)"
)
_PERSON = (
    r"(?:author|editor|reporter|writer|journalist|mayor|judge|senator|councillor|politician|"
    r"referee|ref|teacher|officer|cop|landlord|neighbou?r|protester|clown|idiot|moron|bitch|"
    r"bastard|man|woman|guy|family|wife|husband|kids|children|son|daughter|mother|lot|one)s?"
)
_TARGET = (
    rf"(?:you|u|ya|him|her|them|your|his|their|ur|yourself|y'all|everyone|everybody|"
    rf"(?:the|that|this|every|whole|those|these)\s+(?:\w+\s+){{0,2}}?{_PERSON})"
)
_FUTURE = (
    r"(?:'ll|ll|\s+will|\s+shall|\s+would|\s+am\s+going\s+to|'m\s+going\s+to|m\s+going\s+to|"
    r"'m\s+gonna|m\s+gonna|\s+gonna|\s+are\s+going\s+to|'re\s+going\s+to|\s+are\s+coming\s+to|"
    r"'m\s+coming\s+to|\s+am\s+coming\s+to|\s+can't\s+wait\s+to|\s+want\s+to|\s+wanna|"
    r"\s+hope\s+(?:someone|somebody)|\s+swear)"
)
#: What follows a first-person future to make a threat: violence with a person as its object.
_ACTION = (
    rf"(?:{_VERB}\w*\s+(?:\w+\s+)?{_TARGET}\b|"
    rf"(?:make|leave)\s+{_TARGET}\s+(?:\w+\s+)?(?:bleed|suffer|beg)|"
    rf"put\s+{_TARGET}\s+(?:\w+\s+)?in\s+(?:the\s+ground|a\s+coffin|a\s+body\s+bag|"
    rf"(?:the\s+)?hospital|a\s+wheelchair)|"
    rf"set\s+{_TARGET}\s+(?:\w+\s+)?on\s+fire|"
    rf"(?:blow|bash|smash|kick|cave)\s+(?:\w+\s+){{0,4}}?(?:brains|head|skull|face|teeth)\b)"
)
_PASSIVE = (
    r"(?:shot|hanged|hung|killed|executed|lynched|stabbed|beaten|strung\s+up|burned|burnt|"
    r"gassed|put\s+down|taken\s+out|dragged\s+out|lined\s+up|murdered|slaughtered|exterminated|"
    r"wiped\s+out|eliminated|put\s+against\s+a\s+wall)"
)

#: Each pattern with a name that says which kind of phrasing it caught.
THREAT_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "first-person violence at a person",
            rf"\b(?:i|we){_FUTURE}\s+(?:\w+\s+){{0,5}}?{_ACTION}",
        ),
        (
            "wish for violence against someone",
            rf"\b(?:should|deserves?\s+to|needs?\s+to|ought\s+to|must|has\s+to|have\s+to)\s+"
            rf"(?:all\s+)?(?:be|get)\s+{_PASSIVE}",
        ),
        (
            "call for someone to do violence",
            rf"\b(?:someone|somebody|anyone|some\s+one|we)\s+(?:should|needs?\s+to|ought\s+to|"
            rf"has\s+to|must|will|is\s+going\s+to|gotta)\s+(?:\w+\s+)?{_VERB}\w*\s+"
            rf"(?:\w+\s+){{0,3}}?{_TARGET}\b",
        ),
        (
            "deserves a bullet or a rope",
            r"\b(?:deserves?|needs?)\s+(?:a|the)\s+(?:bullet|rope|noose|beating)",
        ),
        (
            "give me a reason not to",
            rf"\bgive\s+me\s+(?:one|a)\s+(?:good\s+)?reason\s+not\s+to\s+(?:\w+\s+){{0,3}}?"
            rf"{_ACTION}",
        ),
        (
            "we know where you live",
            r"\b(?:i|we)\s+know\s+(?:where\s+(?:you|u|your)\b|your\s+(?:address|kids|children)|"
            r"what\s+car\s+you)",
        ),
        (
            "veiled threat",
            r"\b(?:watch\s+your\s+back|you(?:'re|\s+are|r)\s+next\b|sleep\s+with\s+one\s+eye|"
            r"your\s+days\s+are\s+numbered|(?:you(?:'re|\s+are)|ur)\s+dead\s+(?:meat|man)|"
            r"with\s+your\s+name\s+on\s+it|six\s+feet\s+under|you(?:'ll|\s+will)\s+(?:bleed|die)\b|"
            r"before\s+(?:we|i)\s+put\s+you\s+in|nobody\s+will\s+find\s+the\s+body|"
            r"(?:at|outside)\s+your\s+(?:door|house|home|office|work|school)\s+with\s+a)",
        ),
    )
)


def find_threat(text: str) -> str | None:
    """The name of the first threat pattern ``text`` matches, or None."""
    folded = " ".join(text.replace("\u2019", "'").split())
    for name, pattern in THREAT_PATTERNS:
        if pattern.search(folded):
            return name
    return None
