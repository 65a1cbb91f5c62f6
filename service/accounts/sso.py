"""Author tokens from a site's own sign-in (SSO): HS256 JWTs the site's backend signs with
the secret replyguard gave it, checked here with nothing but the standard library.

A token is ``base64url(header).base64url(claims).base64url(signature)``: the header must
say ``alg: HS256`` (nothing else is accepted, ``none`` least of all), the signature is
HMAC-SHA256 of the first two parts under the site's secret, compared in constant time.
Claims: ``sub`` (the site's user id) and ``exp`` (not past) are required; ``name``,
``email``, ``iat``, ``nbf`` optional; ``aud``, when present, must name the site. Every
failure is an ``Unauthenticated`` (401) saying what was wrong: a bad token is never
silently treated as no token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from service.errors import Unauthenticated

#: Seconds of clock difference allowed between the site's backend and replyguard.
LEEWAY_SECONDS: Final = 30
MAX_TOKEN_CHARS: Final = 4096
MAX_SUB_CHARS: Final = 255
_PART: Final = re.compile(r"^[A-Za-z0-9_-]*$")
_EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


@dataclass(frozen=True, slots=True)
class AuthorClaims:
    """Who the site says the author is."""

    sub: str
    name: str | None
    email: str | None


def author_key(site_id: str, sub: str) -> bytes:
    """A verified author's key: their site user id, within the site; never an email's hash."""
    return hashlib.sha256(b"sso\0" + site_id.encode() + b"\0" + sub.encode()).digest()


def verify_author_token(
    token: str, *, secret: str | None, site_id: str, now: float | None = None
) -> AuthorClaims:
    """The claims of a valid token for ``site_id`` signed with ``secret``; else
    ``Unauthenticated`` saying what was wrong and what to do."""
    if secret is None:
        _refuse(f"site {site_id!r} has no SSO secret, so it accepts no X-Author-Token")
    if len(token) > MAX_TOKEN_CHARS:
        _refuse(f"the token is longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(_PART.match(p) for p in parts):
        _refuse("the token is not a JWT (three base64url parts joined by dots)")
    header = _json_part(parts[0], "header")
    if header.get("alg") != "HS256":
        _refuse("the token's alg must be HS256")
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), "sha256").digest()
    if not hmac.compare_digest(expected, _decode(parts[2], "signature")):
        _refuse(f"the token's signature does not match site {site_id!r}'s SSO secret")
    claims = _json_part(parts[1], "claims")
    _check_times(claims, time.time() if now is None else now)
    _check_audience(claims.get("aud"), site_id)
    return AuthorClaims(sub=_sub(claims), name=_name(claims), email=_email(claims))


def _refuse(what: str) -> NoReturn:
    raise Unauthenticated(
        f"X-Author-Token refused: {what}. Ask the site to sign you in again for a fresh token."
    )


def _decode(part: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        _refuse(f"the token's {what} is not base64url")


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode(part, what))
    except (UnicodeDecodeError, ValueError):
        value = None
    if not isinstance(value, dict):
        _refuse(f"the token's {what} is not a JSON object")
    return value


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        _refuse(f"the token's {name} must be a number (seconds since 1970)")
    return float(value)


def _check_times(claims: dict[str, Any], now: float) -> None:
    exp = _number(claims, "exp")
    if exp is None:
        _refuse("the token has no exp (expiry); tokens must be short-lived")
    elif now > exp + LEEWAY_SECONDS:
        _refuse("the token has expired")
    nbf = _number(claims, "nbf")
    if nbf is not None and now < nbf - LEEWAY_SECONDS:
        _refuse("the token is not valid yet (nbf is in the future)")
    iat = _number(claims, "iat")
    if iat is not None and now < iat - LEEWAY_SECONDS:
        _refuse("the token was issued in the future (iat); check the site's clock")


def _check_audience(aud: object, site_id: str) -> None:
    if aud is None:
        return
    audiences = aud if isinstance(aud, list) else [aud]
    if site_id not in audiences:
        _refuse(f"the token is for another site (aud), not {site_id!r}")


def _sub(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_CHARS:
        _refuse(f"the token's sub (the user id) must be text of 1-{MAX_SUB_CHARS} characters")
    return str(sub)


def _name(claims: dict[str, Any]) -> str | None:
    name = claims.get("name")
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        _refuse("the token's name must be text of 1-100 characters")
    return " ".join(str(name).split())


def _email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    if email is None:
        return None
    if not isinstance(email, str) or not _EMAIL.match(email):
        _refuse("the token's email is not an email address")
    return str(email)
