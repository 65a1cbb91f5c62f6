"""The widget for a site with its own sign-in: the reader's signed token goes with each
comment as X-Author-Token, and a refused token is said to the reader, not worked around."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, Request, Route, expect

from service.settings import Settings
from tests.author_tokens import make_token
from tests.browser.conftest import ServerFactory, host_page_app, new_page

ARTICLE = "budget-2026"


async def _host(
    server: TestServer, aiohttp_server: ServerFactory, admin: dict[str, str], token: str = ""
) -> TestServer:
    base = str(server.make_url("")).rstrip("/")
    host = await aiohttp_server(
        host_page_app(base, article=ARTICLE, auth_token=token), host="127.0.0.1"
    )
    async with aiohttp.ClientSession() as http:
        r = await http.put(
            f"{base}/v1/sites/daily",
            json={"name": "The Daily", "allowed_origins": [str(host.make_url("")).rstrip("/")]},
            headers=admin,
        )
        assert r.status == 201, await r.text()
    return host


async def _refuse_posts(page: Page, server: TestServer, sent: list[str | None]) -> None:
    """Answers the widget's comment POST as the service does a refused token, noting the
    X-Author-Token it carried; everything else goes through."""
    thread = str(server.make_url(f"/v1/sites/daily/articles/{ARTICLE}/comments"))

    async def answer(route: Route, request: Request) -> None:
        if request.method != "POST":
            await route.continue_()
            return
        sent.append(await request.header_value("x-author-token"))
        await route.fulfill(
            status=401,
            content_type="application/problem+json",
            headers={"Access-Control-Allow-Origin": "*"},
            body=json.dumps({"status": 401, "title": "Unauthorized", "detail": "Token expired."}),
        )

    await page.route(thread, answer)


async def _post_comment(page: Page, text: str) -> None:
    await page.get_by_label("Your comment").fill(text)
    await page.get_by_role("button", name="Post comment").click()


async def test_widget__sends_the_tags_token_and_shows_why_it_was_refused(
    browser: Browser, server: TestServer, aiohttp_server: ServerFactory, admin: dict[str, str]
) -> None:
    token = make_token("not the site's secret", {"sub": "u1", "name": "Ann Verified"})
    host = await _host(server, aiohttp_server, admin, token)
    context, page, seen = await new_page(browser)
    sent: list[str | None] = []
    await _refuse_posts(page, server, sent)
    await page.goto(str(host.make_url("/")))
    await expect(page.get_by_text("Commenting as Ann Verified")).to_be_visible()
    await expect(page.get_by_label("Your name")).to_be_hidden()

    await _post_comment(page, "A fair point.")
    await expect(page.locator(".form-status.error")).to_have_text(
        "Token expired. Sign in again to comment."
    )
    assert sent == [token]
    await expect(page.locator("li.comment.own")).to_have_count(0)
    assert seen.errors == []
    await context.close()


async def test_widget__set_auth_token_signs_in_and_out(
    browser: Browser, server: TestServer, aiohttp_server: ServerFactory, admin: dict[str, str]
) -> None:
    host = await _host(server, aiohttp_server, admin)
    context, page, seen = await new_page(browser)
    sent: list[str | None] = []
    await _refuse_posts(page, server, sent)
    await page.goto(str(host.make_url("/")))
    await expect(page.get_by_label("Your name")).to_be_visible()

    token = make_token("s", {"sub": "u2", "name": "Bo"})
    await page.evaluate("t => window.ReplyGuard.setAuthToken(t)", token)
    await expect(page.get_by_text("Commenting as Bo")).to_be_visible()
    await _post_comment(page, "First try.")
    await expect(page.locator(".form-status.error")).to_contain_text("Sign in again")

    await page.evaluate("() => window.ReplyGuard.setAuthToken(null)")
    await expect(page.get_by_label("Your name")).to_be_visible()
    await page.get_by_label("Your name").fill("Bo")
    await _post_comment(page, "Second try.")
    for _ in range(50):
        if len(sent) == 2:
            break
        await asyncio.sleep(0.1)
    assert sent == [token, None]
    assert seen.errors == []
    await context.close()


async def _sso_secret(server: TestServer, admin: dict[str, str]) -> str:
    async with aiohttp.ClientSession() as http:
        r = await http.post(str(server.make_url("/v1/sites/daily/sso-secret")), headers=admin)
        assert r.status == 201, await r.text()
        return str((await r.json())["secret"])


async def test_widget__a_signed_in_reader_posts_as_the_verified_author(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    psettings: Settings,
) -> None:
    host = await _host(server, aiohttp_server, admin)
    secret = await _sso_secret(server, admin)
    claims = {"sub": "reader-7", "name": "Cy Verified", "exp": int(time.time()) + 600}
    context, page, seen = await new_page(browser)
    await page.goto(str(host.make_url("/")))
    await page.evaluate("t => window.ReplyGuard.setAuthToken(t)", make_token(secret, claims))
    await _post_comment(page, "Signed in and commenting.")
    await expect(page.locator("li.comment.own")).to_contain_text("Cy Verified")

    assert psettings.database_url is not None
    conn = await asyncpg.connect(psettings.database_url)
    try:
        row = await conn.fetchrow("SELECT author_name, author_verified FROM comments")
    finally:
        await conn.close()
    assert row is not None
    assert (row["author_name"], row["author_verified"]) == ("Cy Verified", True)

    expired = make_token(secret, {**claims, "exp": int(time.time()) - 60})
    await page.evaluate("t => window.ReplyGuard.setAuthToken(t)", expired)
    await _post_comment(page, "Again, with an old token.")
    await expect(page.locator(".form-status.error")).to_contain_text("Sign in again to comment.")
    await expect(page.locator("li.comment.own")).to_have_count(1)
    assert seen.errors == []
    await context.close()
