"""Author tokens as a site's backend makes them (an HS256 JWT, what PyJWT's encode gives),
for the tests of replyguard's SSO (service.accounts.sso)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


def make_token(secret: str, claims: dict[str, Any], alg: str = "HS256") -> str:
    """An HS256 JWT as a site's backend makes one (what PyJWT's encode gives)."""

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    signing = (
        part(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        + "."
        + part(json.dumps(claims).encode())
    )
    signature = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{part(signature)}"
