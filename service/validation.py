"""Reading and checking request input. Every check names the field and what is wrong.

Handlers read the body with ``read_json_object``, then pull fields with ``Fields``, which
collects every problem and raises once (``Fields.done``), so a client learns all its
mistakes in one answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import unicodedata
from collections.abc import AsyncIterator, Mapping, Sequence
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
from service.keys import SETTINGS
from service.wording import plural

T = TypeVar("T")

SLUG: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ARTICLE_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")
EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
# Control characters other than tab and newlines have no place in a comment.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest([FieldError("body", "is not UTF-8")], "The body is not UTF-8.") from None
    except RecursionError:
        raise BadRequest(
            [FieldError("body", "is nested too deeply")], "The body is nested too deeply."
        ) from None
    except json.JSONDecodeError as error:
        raise BadRequest(
            [
                FieldError(
                    "body",
                    f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
                )
            ],
            "The body is not valid JSON.",
        ) from None
    if not isinstance(data, dict):
        raise BadRequest([FieldError("body", "must be a JSON object")], "Expected a JSON object.")
    if _holds_nul(data):
        # PostgreSQL's text and jsonb cannot hold U+0000: refuse it here, for every field.
        raise BadRequest(
            [FieldError("body", "must not contain NUL characters (\\u0000)")],
            "The body contains a NUL character.",
        )
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


def _holds_nul(data: object) -> bool:
    """Whether any key or string anywhere in parsed JSON contains U+0000 (no recursion:
    the nesting depth is the client's choice)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


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
        value = self.text(key, max_chars=254)
        if value is not None and not EMAIL.match(value):
            self.problem(key, "must be an email address")
            return None
        return value

    def url(self, key: str, *, max_chars: int = 2000) -> str | None:
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


def query_choice(
    request: web.Request, key: str, options: Sequence[str], default: str | None
) -> str | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    if raw not in options:
        raise InvalidInput([FieldError(key, f"must be one of {', '.join(options)}")])
    return raw
