"""Staff leave over the API: admins list and revoke tokens, list, disable and enable users;
a revoked token or a disabled user is refused at once, and every change is audited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from service.store.tokens import TokenStore
from service.web.app import create_app
from tests.conftest import SiteFactory
from tests.pages_support import PASSWORD, Client, make_user, sign_in

ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def app_client(
    aiohttp_client: ClientFactory, psettings: Settings, engine: AsyncEngine
) -> Client:
    return await aiohttp_client(create_app(psettings, engine=engine))


@pytest.fixture
async def sites(app_client: Client, auth: dict[str, str]) -> None:
    for site in ("daily", "other"):
        response = await app_client.put(f"/v1/sites/{site}", json={"name": site}, headers=auth)
        assert response.status == 201, await response.text()


async def _audit(settings: Settings) -> list[tuple[str, str, str]]:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("SELECT action, target, actor FROM staff_audit ORDER BY id")
    finally:
        await conn.close()
    return [(r["action"], r["target"], r["actor"]) for r in rows]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- tokens -----------------------------------------------------------------------------------


async def test_tokens__an_admin_lists_them_without_their_secrets(
    app_client: Client, engine: AsyncEngine, auth: dict[str, str], sites: None
) -> None:
    secret = await TokenStore(engine).create("moderator", ["daily"], "ann")
    response = await app_client.get("/v1/tokens", headers=auth)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = await response.text()
    assert secret not in text and secret[3:] not in text
    assert auth["Authorization"][7:] not in text
    items = (await response.json())["items"]
    assert [(t["role"], t["sites"], t["label"]) for t in items] == [
        ("admin", None, "test-admin"),
        ("moderator", ["daily"], "ann"),
    ]
    assert set(items[1]) == {
        "id",
        "role",
        "sites",
        "label",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    # The admin token has just been used; the moderator's never has.
    assert items[0]["last_used_at"] is not None
    assert items[1]["last_used_at"] is None and items[1]["revoked_at"] is None


async def test_revoke_token__is_refused_from_the_next_request_and_audited(
    app_client: Client,
    engine: AsyncEngine,
    psettings: Settings,
    auth: dict[str, str],
    sites: None,
) -> None:
    secret = await TokenStore(engine).create("moderator", ["daily"], "ann")
    assert (await app_client.get("/v1/queue?site=daily", headers=_bearer(secret))).status == 200
    [ann] = [
        t
        for t in (await (await app_client.get("/v1/tokens", headers=auth)).json())["items"]
        if t["label"] == "ann"
    ]
    assert ann["last_used_at"] is not None

    revoked = await app_client.post(f"/v1/tokens/{ann['id']}/revoke", headers=auth)
    assert revoked.status == 200
    body = await revoked.json()
    assert body["changed"] is True and body["revoked_at"] is not None

    refused = await app_client.get("/v1/queue?site=daily", headers=_bearer(secret))
    assert refused.status == 401
    assert "revoked" in (await refused.json())["detail"]
    again = await app_client.post(f"/v1/tokens/{ann['id']}/revoke", headers=auth)
    assert (again.status, (await again.json())["changed"]) == (200, False)
    assert (await app_client.post("/v1/tokens/999999/revoke", headers=auth)).status == 404

    revocations = [row for row in await _audit(psettings) if row[0] == "token.revoked"]
    assert revocations == [("token.revoked", f"token:{ann['id']}", "test-admin")]


async def test_tokens__an_admin_of_one_site_sees_and_revokes_only_that_sites(
    app_client: Client, engine: AsyncEngine, sites: None
) -> None:
    tokens = TokenStore(engine)
    site_admin = await tokens.create("admin", ["daily"], "daily-admin")
    await tokens.create("moderator", ["daily"], "daily-mod")
    await tokens.create("moderator", ["other"], "other-mod")
    both = await tokens.create("moderator", ["daily", "other"], "both-mod")
    listed = await (await app_client.get("/v1/tokens", headers=_bearer(site_admin))).json()
    assert sorted(t["label"] for t in listed["items"]) == ["daily-admin", "daily-mod"]

    everyone = await (
        await app_client.get("/v1/tokens", headers=_bearer(await tokens.create("admin", None)))
    ).json()
    ids = {t["label"]: t["id"] for t in everyone["items"]}
    for label in ("other-mod", "both-mod", "test-admin"):
        out = await app_client.post(f"/v1/tokens/{ids[label]}/revoke", headers=_bearer(site_admin))
        assert out.status == 404, label
    assert (await app_client.get("/v1/queue?site=daily", headers=_bearer(both))).status == 200
    ok = await app_client.post(f"/v1/tokens/{ids['daily-mod']}/revoke", headers=_bearer(site_admin))
    assert ok.status == 200


async def test_tokens__a_moderator_may_neither_list_nor_revoke(
    app_client: Client, engine: AsyncEngine, sites: None
) -> None:
    moderator = await TokenStore(engine).create("moderator", ["daily"], "ann")
    assert (await app_client.get("/v1/tokens", headers=_bearer(moderator))).status == 403
    assert (await app_client.post("/v1/tokens/1/revoke", headers=_bearer(moderator))).status == 403
    admin = _bearer(await TokenStore(engine).create("admin", None))
    assert (await app_client.get("/v1/queue?site=daily", headers=admin)).status == 200


# --- users ------------------------------------------------------------------------------------


async def test_disable_user__ends_their_sessions_and_refuses_sign_in_at_once(
    app_client: Client,
    engine: AsyncEngine,
    psettings: Settings,
    auth: dict[str, str],
    sites: None,
) -> None:
    await make_user(engine, psettings, "ann")
    csrf = await sign_in(app_client, "ann")
    assert (await app_client.get("/v1/queue", headers={"X-CSRF-Token": csrf})).status == 200

    disabled = await app_client.post("/v1/users/Ann/disable", headers=auth)
    assert disabled.status == 200, await disabled.text()
    body = await disabled.json()
    assert (body["name"], body["changed"]) == ("ann", True)
    assert body["disabled_at"] is not None

    assert (await app_client.get("/v1/queue", headers={"X-CSRF-Token": csrf})).status == 401
    page = await app_client.get("/moderate", allow_redirects=False)
    assert page.status == 303
    form = await app_client.get("/moderate/sign-in")
    token = form.cookies["rg_sign_in"].value
    refused = await app_client.post(
        "/moderate/sign-in",
        data={"name": "ann", "password": PASSWORD, "csrf": token},
        allow_redirects=False,
    )
    assert refused.status == 401
    assert "rg_session" not in refused.cookies
    assert psettings.database_url is not None
    conn = await asyncpg.connect(psettings.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM user_sessions") == 0
    finally:
        await conn.close()

    again = await app_client.post("/v1/users/ann/disable", headers=auth)
    assert (await again.json())["changed"] is False
    enabled = await app_client.post("/v1/users/ann/enable", headers=auth)
    assert enabled.status == 200
    assert (await enabled.json())["disabled_at"] is None
    await sign_in(app_client, "ann")
    assert await _audit(psettings) == [
        ("token.created", "token:1", "cli"),
        ("user.created", "user:ann", "cli"),
        ("user.disabled", "user:ann", "test-admin"),
        ("user.enabled", "user:ann", "test-admin"),
    ]


async def test_users__an_admin_of_one_site_sees_and_disables_only_that_sites(
    app_client: Client, engine: AsyncEngine, psettings: Settings, sites: None
) -> None:
    await make_user(engine, psettings, "ann", sites=["daily"])
    await make_user(engine, psettings, "bob", sites=["other"])
    await make_user(engine, psettings, "chief", role="admin", sites=[])
    site_admin = _bearer(await TokenStore(engine).create("admin", ["daily"], "daily-admin"))
    listed = await (await app_client.get("/v1/users", headers=site_admin)).json()
    assert [u["name"] for u in listed["items"]] == ["ann"]
    for name in ("bob", "chief", "nobody"):
        out = await app_client.post(f"/v1/users/{name}/disable", headers=site_admin)
        assert out.status == 404, name
    assert (await app_client.post("/v1/users/ann/disable", headers=site_admin)).status == 200


async def test_disable_user__an_admin_signed_in_to_the_page_is_the_actor(
    app_client: Client, engine: AsyncEngine, psettings: Settings, sites: None
) -> None:
    await make_user(engine, psettings, "chief", role="admin", sites=[])
    await make_user(engine, psettings, "ann")
    csrf = await sign_in(app_client, "chief")
    users = await (await app_client.get("/v1/users", headers={"X-CSRF-Token": csrf})).json()
    assert [u["name"] for u in users["items"]] == ["ann", "chief"]
    out = await app_client.post("/v1/users/ann/disable", headers={"X-CSRF-Token": csrf})
    assert out.status == 200
    audit = await (await app_client.get("/v1/staff-audit", headers={"X-CSRF-Token": csrf})).json()
    assert audit["items"][0]["action"] == "user.disabled"
    assert (audit["items"][0]["target"], audit["items"][0]["actor"]) == ("user:ann", "chief")


async def test_staff_audit__a_site_admin_sees_only_changes_within_its_sites(
    app_client: Client, engine: AsyncEngine, make_site: SiteFactory, auth: dict[str, str]
) -> None:
    await make_site("daily")
    tokens = TokenStore(engine)
    await tokens.create("moderator", ["other"], "other-mod")
    site_admin = _bearer(await tokens.create("admin", ["daily"], "daily-admin"))
    mine = await (await app_client.get("/v1/staff-audit", headers=site_admin)).json()
    assert [(c["action"], c["sites"]) for c in mine["items"]] == [("token.created", ["daily"])]
    everything = await (await app_client.get("/v1/staff-audit?limit=2", headers=auth)).json()
    assert len(everything["items"]) == 2
    assert (await app_client.get("/v1/staff-audit?limit=0", headers=auth)).status == 422
