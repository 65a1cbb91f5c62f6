"""Page cursors: the opaque tokens the API hands out for "the next page", and the one place
a cursor sent back is read.

A cursor is the URL-safe base64 of a short JSON array: the last row's sort key and id. A
client may send anything in its place, so reading one is bounded before it is decoded (a
few hundred characters cannot nest deeply or hold a huge number) and every part is checked
for its type and range before it reaches a query. Whatever fails is the caller's error,
named as the ``cursor`` field.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from moderation.errors import FieldError
from service.errors import InvalidInput
from service.times import parse_time

#: Ours are about 100 characters (a time or a float, and a UUID); this leaves room and no more.
MAX_CURSOR_CHARS: Final = 256
_BASE64URL: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def encode_cursor(*parts: Any) -> str:
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_time_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The (time, id) of an ``oldest first`` page's last row."""
    when, ident = _parts(cursor)
    try:
        return parse_time(when), _uuid(ident)
    except ValueError:
        raise _not_ours() from None


def decode_score_cursor(cursor: str) -> tuple[float, UUID]:
    """The (score, id) of a ``highest score first`` page's last row; the score is finite,
    as every float8 a query compares it with is."""
    key, ident = _parts(cursor)
    # bool is an int to Python, and json.loads gives ints of any size: float() may overflow.
    if isinstance(key, bool) or not isinstance(key, int | float):
        raise _not_ours()
    try:
        score = float(key)
        if not math.isfinite(score):
            raise ValueError
        return score, _uuid(ident)
    except (OverflowError, ValueError):
        raise _not_ours() from None


def _parts(cursor: str) -> tuple[Any, Any]:
    if len(cursor) > MAX_CURSOR_CHARS or not _BASE64URL.match(cursor):
        raise _not_ours()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError included
        raise _not_ours() from None
    if not isinstance(parts, list) or len(parts) != 2:
        raise _not_ours()
    return parts[0], parts[1]


def _uuid(value: Any) -> UUID:
    if not isinstance(value, str):
        raise ValueError("not a UUID")
    return UUID(value)


def _not_ours() -> InvalidInput:
    return InvalidInput(
        [FieldError("cursor", "is not a cursor this API issued; ask for the first page again")]
    )
