"""The authorization matrix: every moderator and admin endpoint against every kind of caller.

A moderator of another site must learn nothing: where existence would leak the answer is
404, never 403.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.store.tokens import TokenStore
from tests.conftest import SiteFactory

Client = TestClient[Any, Any]
CALLERS = ("none", "bad", "other_site", "moderator", "admin")
NO_SUCH = "00000000-0000-4000-8000-000000000000"

# method, path, body, expected status per caller (in CALLERS order)
MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("GET", "/v1/queue?site=daily", None, (401, 401, 404, 200, 200)),
    ("GET", "/v1/comments/{id}", None, (401, 401, 404, 200, 200)),
    ("GET", "/v1/comments/{id}/audit", None, (401, 401, 404, 200, 200)),
    ("POST", "/v1/comments/{id}/decision", {"action": "approve"}, (401, 401, 404, 200, 200)),
    ("POST", "/v1/decisions", {"ids": ["{id}"], "action": "approve"}, (401, 401, 200, 200, 200)),
    ("GET", "/v1/sites/daily", None, (401, 401, 404, 200, 200)),
    ("PUT", "/v1/sites/daily", {"name": "Daily"}, (401, 401, 403, 403, 200)),
    (
        "PUT",
        "/v1/sites/daily/articles/a1/policy",
        {"policy_override": {"mode": "pre"}},
        (401, 401, 403, 403, 200),
    ),
    # The moderator's page API: the same site rules as the queue.
    ("GET", "/v1/queue/summary?site=daily", None, (401, 401, 404, 200, 200)),
    ("GET", "/v1/changes?site=daily", None, (401, 401, 404, 200, 200)),
    ("POST", "/v1/claims", {"comment_id": "{id}"}, (401, 401, 404, 200, 200)),
    ("POST", "/v1/decisions/reopen", {"ids": ["{id}"]}, (401, 401, 200, 200, 200)),
    (
        "POST",
        "/v1/sites/daily/policy/preview",
        {"policy": {"mode": "auto"}},
        (401, 401, 404, 403, 200),
    ),
    # Calibration: the site's moderators and admins; 403 to others, asked before the site
    # is looked up, so it says nothing about which sites exist.
    ("GET", "/v1/sites/daily/calibration", None, (401, 401, 403, 200, 200)),
    # Webhooks are for admins alone (an unknown endpoint id is 404 even to them, and a URL
    # on a private address is refused with 422: what matters here is who gets that far).
    ("GET", "/v1/webhooks", None, (401, 401, 403, 403, 200)),
    (
        "POST",
        "/v1/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["comment.held"]},
        (401, 401, 403, 403, 422),
    ),
    ("GET", f"/v1/webhooks/{NO_SUCH}", None, (401, 401, 403, 403, 404)),
    ("PATCH", f"/v1/webhooks/{NO_SUCH}", {"enabled": True}, (401, 401, 403, 403, 404)),
    ("DELETE", f"/v1/webhooks/{NO_SUCH}", None, (401, 401, 403, 403, 404)),
    ("GET", f"/v1/webhooks/{NO_SUCH}/deliveries", None, (401, 401, 403, 403, 404)),
    ("POST", f"/v1/webhooks/{NO_SUCH}/test", None, (401, 401, 403, 403, 404)),
    # Tokens, users and their audit are for admins alone (no token 999999 nor user nobody
    # exists, so an admin gets 404 there; test_staff.py covers admins of some sites).
    ("GET", "/v1/tokens", None, (401, 401, 403, 403, 200)),
    ("POST", "/v1/tokens/999999/revoke", None, (401, 401, 403, 403, 404)),
    ("GET", "/v1/users", None, (401, 401, 403, 403, 200)),
    ("POST", "/v1/users/nobody/disable", None, (401, 401, 403, 403, 404)),
    ("POST", "/v1/users/nobody/enable", None, (401, 401, 403, 403, 404)),
    ("GET", "/v1/staff-audit", None, (401, 401, 403, 403, 200)),
    # Authors on a site (issue 12): its moderators and admins; another site's moderator
    # learns nothing (404). The SSO secret is for the site's admins.
    ("GET", "/v1/sites/daily/authors/{author}", None, (401, 401, 404, 200, 200)),
    ("GET", "/v1/sites/daily/authors/{author}/comments", None, (401, 401, 404, 200, 200)),
    (
        "POST",
        "/v1/sites/daily/authors/{author}/sanctions",
        {"kind": "ban", "reason": "trolling"},
        (401, 401, 404, 201, 201),
    ),
    ("DELETE", "/v1/sites/daily/authors/{author}/sanctions", None, (401, 401, 404, 200, 200)),
    ("POST", "/v1/sites/daily/sso-secret", None, (401, 401, 404, 403, 201)),
    # Models, live and shadow (issue 13): a site's figures for its moderators and admins;
    # without a site, each caller gets the sites it covers (another site's moderator: none).
    ("GET", "/v1/models?site=daily", None, (401, 401, 404, 200, 200)),
    ("GET", "/v1/models", None, (401, 401, 200, 200, 200)),
    # Promotions: a site's for its admins, every site's for admins of every site; their
    # history for the staff of the sites it shows. Nothing was promoted: rollback is 409.
    (
        "POST",
        "/v1/models/promote",
        {"model": "default", "site": "daily"},
        (401, 401, 404, 403, 201),
    ),
    ("POST", "/v1/models/promote", {"model": "default"}, (401, 401, 403, 403, 201)),
    ("POST", "/v1/models/rollback", {"site": "daily"}, (401, 401, 404, 403, 409)),
    ("GET", "/v1/models/promotions?site=daily", None, (401, 401, 404, 200, 200)),
    ("GET", "/v1/models/promotions", None, (401, 401, 200, 200, 200)),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
async def test_authorization__matrix(
    client: Client,
    make_site: SiteFactory,
    engine: AsyncEngine,
    auth: dict[str, str],
    method: str,
    path: str,
    body: Any,
    expected: tuple[int, ...],
) -> None:
    await make_site("daily", policy={"mode": "pre"})
    await make_site("other")
    posted = await client.post(
        "/v1/sites/daily/articles/a1/comments", json={"body": "secret words", "author_name": "A"}
    )
    comment_id = (await posted.json())["id"]
    tokens = TokenStore(engine)
    headers = {
        "none": {},
        "bad": {"Authorization": "Bearer rg_not-a-real-token"},
        "other_site": {"Authorization": f"Bearer {await tokens.create('moderator', ['other'])}"},
        "moderator": {"Authorization": f"Bearer {await tokens.create('moderator', ['daily'])}"},
        "admin": auth,
    }
    seen = await client.get(f"/v1/comments/{comment_id}", headers=auth)
    author_id = (await seen.json())["author"]["id"]
    url = path.replace("{id}", comment_id).replace("{author}", author_id)
    payload = None
    if body is not None:
        payload = {
            k: [comment_id] if v == ["{id}"] else comment_id if v == "{id}" else v
            for k, v in body.items()
        }
    for caller, status in zip(CALLERS, expected, strict=True):
        response = await client.request(method, url, json=payload, headers=headers[caller])
        text = await response.text()
        assert response.status == status, (caller, text)
        if caller in ("none", "bad", "other_site"):
            assert "secret words" not in text
        if response.status in (200, 201):
            assert response.headers["Cache-Control"] == "no-store"
        if caller == "other_site" and url in ("/v1/decisions", "/v1/decisions/reopen"):
            assert (await response.json())["not_found"] == [comment_id]
