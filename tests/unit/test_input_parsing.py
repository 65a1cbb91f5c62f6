"""The readers of client-sent times and cursors: what they accept is safe to hand to asyncpg
and to step a few seconds from; anything else is a named ``InvalidInput``/``ValueError``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.cursors import (
    MAX_CURSOR_CHARS,
    decode_score_cursor,
    decode_time_cursor,
    encode_cursor,
)
from service.errors import InvalidInput
from service.times import EARLIEST_TIME, LATEST_TIME, parse_time

ID = UUID("8c1f2b7e-5d7a-4a53-9e64-2f1d7f2c9a10")

offsets = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
#: Any time Python can write, in any offset, with the years at both ends drawn often.
any_time = st.builds(
    lambda when, tz: when.replace(tzinfo=tz).isoformat(),
    st.one_of(
        st.datetimes(max_value=datetime(1, 1, 4)),
        st.datetimes(min_value=datetime(9999, 12, 28)),
        st.datetimes(),
    ),
    offsets,
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T23:59:59Z"],
)
def test_parse_time__edge_of_pythons_range_is_refused_naming_the_range(text: str) -> None:
    with pytest.raises(ValueError, match="from 0001-01-02 to 9999-12-30 in UTC"):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "says"),
    [("2026-06-01T12:00:00", "no offset"), ("yesterday", "ISO 8601"), (5, "ISO 8601")],
)
def test_parse_time__not_a_time_with_an_offset_is_refused(text: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_time(text)


def test_parse_time__keeps_the_offset_given() -> None:
    parsed = parse_time("2026-06-01T12:00:00+02:00")
    assert parsed == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(hours=2)


@settings(max_examples=300)
@given(any_time)
def test_parse_time__what_it_accepts_converts_to_utc_and_steps_a_day(text: str) -> None:
    try:
        parsed = parse_time(text)
    except ValueError:
        return
    in_utc = parsed.astimezone(UTC)  # what asyncpg does before sending it
    assert EARLIEST_TIME <= in_utc <= LATEST_TIME
    assert in_utc - timedelta(days=1) < in_utc + timedelta(days=1)


def test_cursors__round_trip_what_the_stores_issue() -> None:
    when = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert decode_time_cursor(encode_cursor(when.isoformat(), str(ID))) == (when, ID)
    assert decode_score_cursor(encode_cursor(0.9731, str(ID))) == (0.9731, ID)
    assert decode_score_cursor(encode_cursor(0, str(ID))) == (0.0, ID)


def test_cursors__issued_ones_fit_well_inside_the_size_bound() -> None:
    latest = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-14)))
    longest = encode_cursor(latest.isoformat(), str(uuid4()))
    assert len(longest) < MAX_CURSOR_CHARS / 2
    assert len(encode_cursor(-1.2345678901234567e-300, str(uuid4()))) < MAX_CURSOR_CHARS / 2


@pytest.mark.parametrize(
    "key",
    ["1" + "0" * 400, "1e400", "-1e400", "NaN", "Infinity", "true", "null", '"0.5"', "[1]"],
)
def test_score_cursor__key_that_is_not_a_finite_number_is_refused(key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_score_cursor(_b64(f'[{key}, "{ID}"]'.encode()))
    assert [e.field for e in caught.value.errors] == ["cursor"]


@pytest.mark.parametrize(
    "cursor",
    [
        _b64(b"[" * 2000 + b"]" * 2000),
        _b64(b"[" * 150 + b"]" * 150),
        _b64(f'["2026-06-01T12:00:00+00:00", "{ID}", 3]'.encode()),
        _b64(f'[1767225600, "{ID}"]'.encode()),
        _b64(b'["2026-06-01T12:00:00+00:00", 12]'),
        _b64(b"\xff\xfe\xfd"),
        "caf\u00e9",
        "\udcff",
        "a=b",
        "",
    ],
)
def test_time_cursor__anything_not_issued_here_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        decode_time_cursor(cursor)


json_text = st.recursive(
    st.one_of(
        st.integers().map(str),
        st.integers(300, 5000).map(lambda n: "9" * n),
        st.sampled_from(["NaN", "-Infinity", "1e999", "true", "null"]),
        st.one_of(st.text(), any_time).map(json.dumps),
    ),
    lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
    max_leaves=6,
)


@settings(max_examples=300)
@given(st.one_of(json_text.map(lambda t: _b64(t.encode())), st.text(max_size=300)))
def test_cursors__any_text_is_either_read_or_refused_as_the_cursor_field(cursor: str) -> None:
    for decode in (decode_time_cursor, decode_score_cursor):
        try:
            decode(cursor)
        except InvalidInput as error:
            assert [e.field for e in error.errors] == ["cursor"]
