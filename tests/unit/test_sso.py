"""Author tokens from a site's sign-in: the HS256 verifier (service.accounts.sso)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest

from service.accounts.sso import author_key, verify_author_token
from service.errors import Unauthenticated
from tests.author_tokens import make_token

SECRET = "rgsso_test-secret"
NOW = 1_800_000_000.0


def _verify(token: str, **kw: Any) -> Any:
    return verify_author_token(token, secret=SECRET, site_id="daily", now=NOW, **kw)


def test_verify__reads_the_claims_of_a_good_token() -> None:
    token = make_token(
        SECRET,
        {"sub": "u1", "name": " Ann  Lee ", "email": "a@x.org", "exp": NOW + 60, "aud": ["daily"]},
    )
    claims = _verify(token)
    assert (claims.sub, claims.name, claims.email) == ("u1", "Ann Lee", "a@x.org")


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ({"sub": "u1", "exp": NOW - 31}, "expired"),
        ({"sub": "u1"}, "no exp"),
        ({"sub": "u1", "exp": "soon"}, "exp must be a number"),
        ({"sub": "u1", "exp": NOW + 60, "nbf": NOW + 600}, "not valid yet"),
        ({"sub": "u1", "exp": NOW + 60, "iat": NOW + 600}, "issued in the future"),
        ({"sub": "u1", "exp": NOW + 60, "aud": "other"}, "another site"),
        ({"sub": "", "exp": NOW + 60}, "sub"),
        ({"exp": NOW + 60}, "sub"),
        ({"sub": "u1", "exp": NOW + 60, "email": "nope"}, "email"),
        ({"sub": "u1", "exp": NOW + 60, "name": 7}, "name"),
    ],
)
def test_verify__refuses_bad_claims_saying_which(claims: dict[str, Any], says: str) -> None:
    with pytest.raises(Unauthenticated, match=says):
        _verify(make_token(SECRET, claims))


def test_verify__allows_half_a_minute_of_clock_difference() -> None:
    assert _verify(make_token(SECRET, {"sub": "u1", "exp": NOW - 29})).sub == "u1"


def test_verify__refuses_forgeries_and_malformed_tokens() -> None:
    good = make_token(SECRET, {"sub": "u1", "exp": NOW + 60})
    header, claims, signature = good.split(".")
    tampered = make_token(SECRET, {"sub": "admin", "exp": NOW + 60}).split(".")[1]
    for token, says in [
        (make_token("other", {"sub": "u1", "exp": NOW + 60}), "signature"),
        (f"{header}.{tampered}.{signature}", "signature"),
        (make_token(SECRET, {"sub": "u1", "exp": NOW + 60}, alg="none"), "HS256"),
        (make_token(SECRET, {"sub": "u1", "exp": NOW + 60}, alg="HS512"), "HS256"),
        (f"{header}.{claims}", "not a JWT"),
        (f"{header}.{claims}.{signature}!", "not a JWT"),
        ("a" * 5000, "longer than"),
        ("e30.e30.", "HS256"),
    ]:
        with pytest.raises(Unauthenticated, match=says):
            _verify(token)
    with pytest.raises(Unauthenticated, match="no SSO secret"):
        verify_author_token(good, secret=None, site_id="daily", now=NOW)


def test_verify__uses_the_clock_when_not_told() -> None:
    token = make_token(SECRET, {"sub": "u1", "exp": time.time() + 60})
    assert verify_author_token(token, secret=SECRET, site_id="daily").sub == "u1"


def test_author_key__is_the_sites_user_id_within_the_site() -> None:
    assert author_key("daily", "u1") == hashlib.sha256(b"sso\0daily\0u1").digest()
    assert author_key("daily", "u1") != author_key("other", "u1")
