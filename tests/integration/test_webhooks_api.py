"""The webhook endpoints' API: who may do what, what is refused and how it is said."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from service.store.tokens import TokenStore
from service.web.openapi import SPEC
from tests.conftest import SiteFactory

Client = TestClient[Any, Any]
URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, webhook_allowed_networks="127.0.0.1/32")


async def _create(client: Client, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {"url": URL, "events": ["comment.held"], **body}
    response = await client.post("/v1/webhooks", json=payload, headers=auth)
    assert response.status == 201, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def _token(engine: AsyncEngine, role: str, sites: list[str] | None) -> dict[str, str]:
    token = await TokenStore(engine).create(
        "admin" if role == "admin" else "moderator", sites, role
    )
    return {"Authorization": f"Bearer {token}"}


async def test_create_webhook__answers_201_with_the_secret_once(
    client: Client, auth: dict[str, str], make_site: SiteFactory
) -> None:
    await make_site("daily")
    created = await _create(
        client, auth, site="daily", description="Slack #moderation", events=["comment.held"]
    )
    assert created["secret"].startswith("whsec_")
    assert created["site_id"] == "daily"
    assert created["enabled"] is True and created["disabled"] is None
    r = await client.get(f"/v1/webhooks/{created['id']}", headers=auth)
    assert r.status == 200
    shown = await r.json()
    assert "secret" not in shown
    assert shown["description"] == "Slack #moderation"
    r = await client.get("/v1/webhooks", headers=auth)
    assert [e["id"] for e in (await r.json())["items"]] == [created["id"]]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.0.0.1/hook", "private"),
        ("http://169.254.169.254/", "link-local"),
        ("http://[::ffff:127.0.0.1]:9/", None),  # allowed: 127.0.0.1/32 is allow-listed
        ("http://2130706433/", "written as a number"),
        ("http://user@127.0.0.1/", "user name or password"),
        ("ftp://127.0.0.1/", "Only http and https"),
        # aiohttp would read these as 127.0.0.1 (allowed here): the spelling is refused.
        ("http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11:9/", "plain ASCII"),
        ("http://\U0001fbf1\U0001fbf2\U0001fbf7\u30020\uff610.1:9/", "plain ASCII"),
    ],
)
async def test_create_webhook__refused_urls_are_422_on_the_url_field(
    client: Client, auth: dict[str, str], url: str, why: str | None
) -> None:
    r = await client.post(
        "/v1/webhooks", json={"url": url, "events": ["comment.held"]}, headers=auth
    )
    if why is None:
        assert r.status == 201
        return
    assert r.status == 422
    assert r.content_type == "application/problem+json"
    (error,) = (await r.json())["errors"]
    assert error["field"] == "url"
    assert why in error["problem"]


async def test_create_webhook__every_field_problem_at_once(
    client: Client, auth: dict[str, str]
) -> None:
    r = await client.post(
        "/v1/webhooks",
        json={"events": ["comment.held", "comment.eaten"], "site": "Not A Site", "colour": 1},
        headers=auth,
    )
    assert r.status == 422
    fields = {e["field"] for e in (await r.json())["errors"]}
    assert fields == {"url", "events[1]", "site", "colour"}
    r = await client.post("/v1/webhooks", json={"url": URL, "events": []}, headers=auth)
    assert {e["field"] for e in (await r.json())["errors"]} == {"events"}
    r = await client.post(
        "/v1/webhooks", json={"url": URL, "events": ["comment.held"], "site": "nope"}, headers=auth
    )
    assert r.status == 422
    assert (await r.json())["errors"][0]["field"] == "site"


async def test_webhooks__need_an_admin_of_the_site(
    client: Client, auth: dict[str, str], make_site: SiteFactory, engine: AsyncEngine
) -> None:
    await make_site("daily")
    await make_site("weekly")
    everywhere = await _create(client, auth)
    weekly = await _create(client, auth, site="weekly")
    daily_admin = await _token(engine, "admin", ["daily"])
    moderator = await _token(engine, "moderator", ["daily"])

    r = await client.get("/v1/webhooks")
    assert r.status == 401
    r = await client.get("/v1/webhooks", headers=moderator)
    assert r.status == 403
    r = await client.post(
        "/v1/webhooks", json={"url": URL, "events": ["comment.held"]}, headers=daily_admin
    )
    assert r.status == 403  # only an all-sites admin may listen to every site
    r = await client.post(
        "/v1/webhooks",
        json={"url": URL, "events": ["comment.held"], "site": "weekly"},
        headers=daily_admin,
    )
    assert r.status == 403
    own = await _create(client, daily_admin, site="daily")
    r = await client.get("/v1/webhooks", headers=daily_admin)
    assert [e["id"] for e in (await r.json())["items"]] == [own["id"]]
    for other in (everywhere, weekly):
        r = await client.get(f"/v1/webhooks/{other['id']}", headers=daily_admin)
        assert r.status == 404
        r = await client.delete(f"/v1/webhooks/{other['id']}", headers=daily_admin)
        assert r.status == 404


async def test_patch_webhook__changes_disables_enables_and_rotates(
    client: Client, auth: dict[str, str]
) -> None:
    created = await _create(client, auth)
    path = f"/v1/webhooks/{created['id']}"

    r = await client.patch(
        path,
        json={"events": ["comment.held", "comment.reported"], "description": "on call"},
        headers=auth,
    )
    data = await r.json()
    assert data["events"] == ["comment.held", "comment.reported"]
    assert data["description"] == "on call"
    assert "secret" not in data
    r = await client.patch(path, json={"enabled": False}, headers=auth)
    data = await r.json()
    assert data["enabled"] is False
    assert data["disabled"]["by"] == "test-admin"
    r = await client.post(f"{path}/test", headers=auth)
    assert r.status == 409
    r = await client.patch(path, json={"enabled": True}, headers=auth)
    assert (await r.json())["disabled"] is None
    r = await client.patch(path, json={"rotate_secret": True}, headers=auth)
    rotated = await r.json()
    assert rotated["secret"] != created["secret"]
    r = await client.patch(path, json={"url": "http://10.1.1.1/"}, headers=auth)
    assert r.status == 422
    r = await client.patch(path, json={}, headers=auth)
    assert r.status == 422
    r = await client.patch(path, json={"enabled": "yes"}, headers=auth)
    assert (await r.json())["errors"][0]["field"] == "enabled"


async def test_delete_webhook__removes_it(client: Client, auth: dict[str, str]) -> None:
    created = await _create(client, auth)
    r = await client.delete(f"/v1/webhooks/{created['id']}", headers=auth)
    assert r.status == 204
    r = await client.get(f"/v1/webhooks/{created['id']}", headers=auth)
    assert r.status == 404
    r = await client.get("/v1/webhooks/not-a-uuid", headers=auth)
    assert r.status == 404


async def test_deliveries__bad_queries_are_named(client: Client, auth: dict[str, str]) -> None:
    created = await _create(client, auth)
    base = f"/v1/webhooks/{created['id']}"
    r = await client.get(f"{base}/deliveries?status=lost", headers=auth)
    assert r.status == 422
    r = await client.get(f"{base}/deliveries?cursor=abc", headers=auth)
    assert r.status == 422
    r = await client.get(f"{base}/deliveries/12345", headers=auth)
    assert r.status == 404
    r = await client.post(f"{base}/redeliver", json={"since": "yesterday"}, headers=auth)
    assert (await r.json())["errors"][0]["field"] == "since"
    r = await client.post(f"{base}/redeliver", json={}, headers=auth)
    assert r.status == 422


def test_openapi__documents_every_webhook_route(client: Client) -> None:
    app = client.app
    assert app is not None
    documented = SPEC["paths"]
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path is None or not str(path).startswith("/v1/webhooks") or route.method == "HEAD":
            continue
        assert path in documented, path
        assert route.method.lower() in documented[path], (route.method, path)
