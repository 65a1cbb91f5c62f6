"""Reading and checking request input. Every check names the field and what is wrong.

Handlers read the body with ``read_json_object``, then pull fields with ``Fields``, which
collects every problem and raises once (``Fields.done``), so a client learns all its
mistakes in one answer. ``read_json_object`` is also the one screen for what JSON can say
but nothing downstream can hold (NUL, lone surrogates, numbers past float or Python's int
parsing limit); ``service.times.parse_time`` is the one reader of client-sent times.

It also holds every pattern and limit a request is checked against (the section below);
service.web.openapi states those same objects, so the document cannot drift from the checks.
``Fields`` stays hand-written: a pydantic model with the same checks measured no faster per
comment, and msgspec is faster only by dropping them (bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sys
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

from aiohttp import web

from moderation.errors import FieldError
from moderation.policy import Policy
from service.errors import (
    BadRequest,
    InvalidInput,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from service.store.values import QueueOrder
from service.times import TIME_FORMAT, parse_time
from service.web.keys import SETTINGS
from service.wording import plural

T = TypeVar("T")


# --- what a request may hold --------------------------------------------------------------
# The one source of the patterns and limits the handlers check input against:
# service.web.openapi states these same objects in /v1/openapi.json, so the two cannot
# drift. Limits that are settings (REPLYGUARD_MAX_BODY_CHARS...) are read from the app's
# Settings by both. Patterns are written in the syntax Python's re and JSON Schema
# (ECMA-262) read alike (\uXXXX escapes, ASCII classes).


def whole(pattern: str) -> re.Pattern[str]:
    """``pattern`` matching a whole string. Anchored with ``\\A`` and ``\\Z``: Python's ``$``
    also matches before a final newline, so ``^story$`` would let ``"story\\n"`` through."""
    return re.compile(rf"\A(?:{pattern})\Z")


def schema_pattern(regex: re.Pattern[str]) -> str:
    """The JSON Schema ``pattern`` of a ``whole`` regex: there ``^`` and ``$`` anchor the
    whole string (ECMA-262 has no ``\\A``)."""
    source = regex.pattern
    if not (source.startswith(r"\A(?:") and source.endswith(r")\Z")):
        raise ValueError(f"{source!r} was not made by whole()")
    return f"^{source[2:-2]}$"


#: The characters no text field may hold (a regex class body): C0 controls but tab and line
#: breaks, and DEL. Everywhere a reader's text goes (HTML, logs, webhooks) they do harm.
CONTROL_CHARS: Final = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f"
_CONTROL: Final = re.compile(f"[{CONTROL_CHARS}]")
#: White space as str.split and str.strip see it (str.isspace; Python's \s), spelled out:
#: JSON Schema's \s is ECMA-262's, which leaves out U+0085 and takes in U+FEFF.
WHITESPACE: Final = (
    r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
SLUG: Final = whole(r"[a-z0-9][a-z0-9_-]{0,62}")
SLUG_RULE: Final = "1-63 lowercase letters, digits, - or _, starting with a letter or digit"
ARTICLE_ID: Final = whole(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")
ARTICLE_ID_RULE: Final = "1-200 letters, digits or . _ : / - characters"
# Checked after Fields.text has refused control characters; naming them here as well lets
# the document say in one pattern what the two checks accept together.
_EMAIL_CHAR: Final = f"[^@{WHITESPACE}{CONTROL_CHARS}]"
EMAIL: Final = whole(rf"{_EMAIL_CHAR}{{1,64}}@{_EMAIL_CHAR}{{1,255}}\.{_EMAIL_CHAR}{{1,63}}")
IDEMPOTENCY_KEY: Final = whole(r"[!-~]{1,255}")
#: A bigint row id (a token, a delivery) in a path or a cursor: 18 digits always fit.
ROW_ID_DIGITS: Final = 18
ROW_ID: Final = whole(rf"[0-9]{{1,{ROW_ID_DIGITS}}}")
#: An author id is the hex of the author key (32 bytes today; older keys may differ).
AUTHOR_ID: Final = whole(r"(?:[0-9a-f]{2}){1,64}")

# Characters, after normalising (Fields.text), of the fields that are not settings.
MAX_EMAIL_CHARS: Final = 254
MAX_URL_CHARS: Final = 2000
MAX_TITLE_CHARS: Final = 300
MAX_REASON_CHARS: Final = 500
MAX_SITE_NAME_CHARS: Final = 200
MAX_DESCRIPTION_CHARS: Final = 500
#: Items in a list field.
MAX_ORIGINS: Final = 50
MAX_BULK_IDS: Final = 500
#: The most decided comments a policy preview re-runs.
PREVIEW_MAX: Final = 2000
#: The most recent decisions calibration reads (its ``last``): by default recent enough to
#: follow the moderators and plenty for a curve of 101 points.
CALIBRATION_DEFAULT: Final = 5000
CALIBRATION_MAX: Final = 50_000
#: What a moderator may do to a comment (``action``), and the queue's orders.
ACTIONS: Final = ("approve", "reject")
QUEUE_ORDERS: Final[tuple[QueueOrder, ...]] = ("oldest", "score")


@dataclass(frozen=True, slots=True)
class PageSize:
    """A listing's ``limit`` query parameter: 1 to ``most``, ``default`` when left out."""

    default: int
    most: int


THREAD_PAGE: Final = PageSize(default=20, most=100)
QUEUE_PAGE: Final = PageSize(default=50, most=200)
DELIVERIES_PAGE: Final = PageSize(default=50, most=200)
STAFF_AUDIT_PAGE: Final = PageSize(default=100, most=1000)
AUTHOR_COMMENTS_PAGE: Final = PageSize(default=20, most=100)
PROMOTIONS_PAGE: Final = PageSize(default=50, most=500)

# JSON's \uXXXX escapes can name half of a surrogate pair alone; Python keeps it in the str,
# and UTF-8 (PostgreSQL, hashing, the log) cannot encode it.
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class _Unreadable(ValueError):
    """JSON text that parses but holds a value nothing downstream can keep; says which."""


async def read_json_object(request: web.Request, max_bytes: int) -> Mapping[str, Any]:
    """The body as a JSON object, or 413/415/400 saying exactly why not."""
    content_type = request.content_type
    if content_type != "application/json":
        raise UnsupportedMediaType(
            f"Send the body as application/json (got {content_type or 'no content type'})."
        )
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
    async with body_deadline(request):
        raw = await _read_at_most(request, max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
    data = _parse_json(raw)
    if not isinstance(data, dict):
        raise BadRequest([FieldError("body", "must be a JSON object")], "Expected a JSON object.")
    unstorable = _unstorable_text(data)
    if unstorable is not None:
        raise BadRequest([FieldError("body", unstorable)], f"The body {unstorable}.")
    return data


@contextlib.asynccontextmanager
async def body_deadline(request: web.Request) -> AsyncIterator[None]:
    """Bound the time spent waiting for the body: a client that sends its headers and then
    stalls would otherwise hold the connection (and a handler) for as long as it likes.
    Past ``REPLYGUARD_BODY_TIMEOUT`` the answer is 408 and the connection closes."""
    seconds = request.app[SETTINGS].body_timeout
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise RequestTimeout(
            f"The request body did not arrive within {plural(seconds, 'second')}. "
            "Send the whole body right after the headers."
        ) from None


def _parse_json(raw: bytes) -> Any:
    """Parsed JSON, or a 400 naming what is wrong with the text."""
    try:
        return json.loads(
            raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError:
        raise _bad_body("is not UTF-8") from None
    except RecursionError:
        raise _bad_body("is nested too deeply") from None
    except json.JSONDecodeError as error:
        where = f"at line {error.lineno} column {error.colno}"
        raise _bad_body(f"is not valid JSON: {error.msg} {where}") from None
    except _Unreadable as error:
        raise _bad_body(str(error)) from None
    except ValueError:
        # The one other ValueError json.loads raises: an integer past Python's digit limit.
        limit = sys.get_int_max_str_digits()
        raise _bad_body(f"holds a number with more than {limit} digits") from None


def _bad_body(problem: str) -> BadRequest:
    return BadRequest([FieldError("body", problem)], f"The body {problem}.")


def _refuse_constant(name: str) -> float:
    raise _Unreadable(f"is not valid JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Unreadable(f"holds a number too large for a float: {text[:20]}")
    return value


@web.middleware
async def refuse_undecodable_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A 400 for a header that is not UTF-8. aiohttp keeps such bytes as lone surrogates
    (``surrogateescape``), which hashing a token or a cookie, or storing a header, cannot
    encode; no browser sends them."""
    for name, value in request.headers.items():
        if _LONE_SURROGATE.search(value):
            problem = "is not UTF-8 text; send it as ASCII"
            raise BadRequest([FieldError(name, problem)], f"The {name} header {problem}.")
    return await handler(request)


async def _read_at_most(request: web.Request, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body. One ``read(n)`` returns only what has arrived so
    far, so a body that comes in several packets (a slow phone) is read in a loop."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await request.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _unstorable_text(data: object) -> str | None:
    """What no store can keep in any key or string anywhere in parsed JSON, said as the
    problem, or None (no recursion: the nesting depth is the client's choice)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                # PostgreSQL's text and jsonb cannot hold U+0000.
                return "must not contain NUL characters (\\u0000)"
            if _LONE_SURROGATE.search(value):
                return (
                    "must not contain a lone surrogate escape (\\ud800-\\udfff): send "
                    "the character itself, or both halves of its surrogate pair"
                )
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


class Fields:
    """Pulls typed fields from a JSON object, collecting problems instead of stopping."""

    def __init__(self, data: Mapping[str, Any], *, prefix: str = "") -> None:
        self._data = data
        self._prefix = prefix
        self.errors: list[FieldError] = []

    def _name(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def problem(self, key: str, message: str) -> None:
        self.errors.append(FieldError(self._name(key), message))

    def only(self, allowed: Sequence[str]) -> None:
        """Unknown fields are refused: a typo must not be silently ignored."""
        for key in self._data:
            if key not in allowed:
                self.problem(key, f"unknown field; allowed: {', '.join(allowed)}")

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        max_chars: int,
        max_bytes: int | None = None,
        multiline: bool = False,
    ) -> str | None:
        value = self._data.get(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        if not isinstance(value, str):
            self.problem(key, "must be a string")
            return None
        # Before any normalising: split() and strip() would quietly turn some control
        # characters (\x0b, \x1c-\x1f) into spaces or drop them.
        if _CONTROL.search(value):
            self.problem(key, "must not contain control characters")
            return None
        value = unicodedata.normalize("NFC", value).strip()
        if not multiline:
            value = " ".join(value.split())
        if required and not value:
            self.problem(key, "must not be empty")
            return None
        if len(value) > max_chars:
            self.problem(key, f"must be at most {max_chars} characters (got {len(value)})")
            return None
        if max_bytes is not None and len(value.encode("utf-8")) > max_bytes:
            self.problem(key, f"must be at most {max_bytes} bytes in UTF-8")
            return None
        return value or None

    def email(self, key: str) -> str | None:
        value = self.text(key, max_chars=MAX_EMAIL_CHARS)
        if value is not None and not EMAIL.match(value):
            self.problem(key, "must be an email address")
            return None
        return value

    def url(self, key: str, *, max_chars: int = MAX_URL_CHARS) -> str | None:
        value = self.text(key, max_chars=max_chars)
        if value is not None and not is_http_url(value):
            self.problem(key, "must be an http or https URL")
            return None
        return value

    def uuid(self, key: str, *, required: bool = False) -> UUID | None:
        value = self._data.get(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        parsed = parse_uuid(value)
        if parsed is None:
            self.problem(key, "must be a comment id (a UUID)")
        return parsed

    def choice(self, key: str, options: Sequence[T], *, required: bool = False) -> T | None:
        value = self._data.get(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        for option in options:
            if value == option:
                return option
        self.problem(key, f"must be one of {', '.join(map(str, options))}")
        return None

    def policy(self, key: str) -> Policy:
        """A policy object; left out or null means the default policy. Anything else (even
        ``false`` or ``""``) must be a valid policy, its problems named under ``key``."""
        value = self._data.get(key)
        try:
            return Policy.from_json({} if value is None else value, prefix=self._name(key))
        except InvalidInput as error:
            self.errors.extend(error.errors)
            return Policy()

    def time(self, key: str, *, required: bool = False) -> datetime | None:
        """An ISO 8601 time with a UTC offset (see ``parse_time``); null when not required."""
        value = self._data.get(key)
        if value is None:
            if required:
                self.problem(key, f"is required: {TIME_FORMAT}")
            return None
        try:
            return parse_time(value)
        except ValueError as error:
            self.problem(key, str(error))
            return None

    def raw(self, key: str) -> Any:
        return self._data.get(key)

    def done(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors)


def parse_uuid(value: object) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed "[" where an IPv6 address would be
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def is_origin(value: str) -> bool:
    """``scheme://host[:port]`` with nothing after it, as browsers send in ``Origin``."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and not parts.username
    )


def url_origin(value: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased, to compare with a site's
    ``allowed_origins``; None for anything else. A user name or password (``user@``) stays
    in the host part, so such a URL matches no origin, as in ``replyguard_article_link``."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def query_int(request: web.Request, key: str, *, default: int, low: int, high: int) -> int:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput([FieldError(key, "must be a whole number")]) from None
    if not low <= value <= high:
        raise InvalidInput([FieldError(key, f"must be from {low} to {high}")])
    return value


def query_limit(request: web.Request, page: PageSize) -> int:
    """The ``limit`` query parameter of a listing (see ``PageSize``)."""
    return query_int(request, "limit", default=page.default, low=1, high=page.most)


def query_time(request: web.Request, key: str) -> datetime | None:
    """The query parameter as a time (see ``parse_time``), None when absent or empty."""
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw)
    except ValueError as error:
        raise InvalidInput([FieldError(key, str(error))]) from None


def query_choice(
    request: web.Request, key: str, options: Sequence[str], default: str | None
) -> str | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    if raw not in options:
        raise InvalidInput([FieldError(key, f"must be one of {', '.join(options)}")])
    return raw
