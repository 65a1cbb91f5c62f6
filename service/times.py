"""Times on the wire: the one format replyguard writes (``iso``) and the one reader of
client-sent times (``parse_time``).

Every time replyguard sends (the API, webhook bodies, exports) is UTC in RFC 3339 with a
``Z``, e.g. ``2026-06-01T12:00:00.123456Z``, so clients compare them as text and never see
two spellings of one instant.

A client may send any ISO 8601 text; PostgreSQL (through asyncpg) stores times only inside
a range, and converting a time near year 1 or 9999 to UTC overflows in Python. Everything
that reads a time from a request or a cursor goes through ``parse_time``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, overload

#: The times a client may send, in UTC: what both Python and PostgreSQL hold, a day inside
#: Python's limits so converting an offset or stepping back a few seconds cannot overflow.
EARLIEST_TIME: Final = datetime(1, 1, 2, tzinfo=UTC)
LATEST_TIME: Final = datetime(9999, 12, 30, tzinfo=UTC)

TIME_FORMAT: Final = "an ISO 8601 time with a UTC offset, e.g. 2026-06-01T12:00:00+00:00"
#: Longer text is refused unparsed: 2026-06-01T12:00:00.000000+00:00 is 32 characters.
MAX_TIME_CHARS: Final = 40


def parse_time(value: object) -> datetime:
    """A client's time as an aware datetime from ``EARLIEST_TIME`` to ``LATEST_TIME``, or
    ValueError saying, for the caller to put under the field's name, what is wrong.

    Python parses times from year 1 to 9999 in their own offset; converting one near either
    end to UTC (as asyncpg does before sending it) overflows, so the range is checked in UTC.
    """
    if not isinstance(value, str) or len(value) > MAX_TIME_CHARS:
        raise ValueError(f"must be {TIME_FORMAT}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be {TIME_FORMAT}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"must be {TIME_FORMAT} (this one has no offset)")
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST_TIME <= in_utc <= LATEST_TIME:
        earliest, latest = EARLIEST_TIME.date(), LATEST_TIME.date()
        raise ValueError(f"must be a time from {earliest} to {latest} in UTC")
    return parsed


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
def iso(value: datetime | None) -> str | None:
    """``value`` as replyguard writes times: UTC, RFC 3339, ``Z``; None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
