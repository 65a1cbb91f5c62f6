"""Browser tests: headless Debian Chromium driven by Playwright for Python, against the
real app on 127.0.0.1 and real PostgreSQL. No browser is downloaded: Chromium comes from
the system (``apt-get install chromium``). Without it they are skipped on a developer's
machine, and fail in CI (``CI`` set), where a skip must not pass for a green run."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from service.store.tokens import TokenStore
from service.web.app import create_app
from tests.pages_support import PASSWORD

CHROMIUM = os.environ.get("REPLYGUARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
#: Where the tests save screenshots (git-ignored); see the README.
SCREENSHOTS = Path(
    os.environ.get(
        "REPLYGUARD_SCREENSHOTS", Path(__file__).parents[2] / "test-artifacts" / "screenshots"
    )
)

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def server(
    aiohttp_server: ServerFactory, psettings: Settings, engine: AsyncEngine
) -> TestServer:
    """The service, on 127.0.0.1 and a free port."""
    return await aiohttp_server(create_app(psettings, engine=engine), host="127.0.0.1")


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    token = await TokenStore(engine).create("admin", None, "setup")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Seen:
    """What a page did that a test must check did not happen: dialogs, script errors."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def new_page(browser: Browser) -> tuple[BrowserContext, Page, Seen]:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(8000)
    page = await context.new_page()
    seen = Seen()
    page.on("dialog", lambda d: seen.dialogs.append(d.message))
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    return context, page, seen


async def sign_in(page: Page, base: str, name: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/moderate")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/moderate*")


async def screenshot(page: Page, name: str, **options: Any) -> Path:
    await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), **options)
    return path


def host_page_app(
    service_origin: str,
    *,
    article: str,
    poll_seconds: float = 0.3,
    auth_token: str = "",
    page_lang: str = "en",
    widget_lang: str = "",
) -> web.Application:
    """An article page on another origin that includes the widget, with CSS that would
    wreck anything it could reach; with auth_token, its tag passes a signed-in reader's
    token as data-auth-token; page_lang is the page's <html lang>, widget_lang the tag's
    data-lang."""
    token = f' data-auth-token="{auth_token}"' if auth_token else ""
    lang = f' data-lang="{widget_lang}"' if widget_lang else ""
    html = f"""<!doctype html><html lang="{page_lang}"><head><meta charset="utf-8">
<title>Budget 2026: what changes for you</title>
<style>
  body {{ font-family: Georgia, serif; max-width: 46em; margin: 2em auto; color: #222; }}
  * {{ color: #c00 !important; letter-spacing: 0.3em; }}
  button, textarea, input {{ display: none !important; }}
  h2 {{ font-size: 60px; }}
</style></head>
<body><article><h1>Budget 2026: what changes for you</h1>
<p>The chancellor set out the budget on Wednesday. Here is what it means for households.</p>
</article>
<script src="{service_origin}/embed.js" data-site="daily" data-article="{article}"
  data-poll-seconds="{poll_seconds}"{token}{lang} async></script>
</body></html>"""

    async def article_page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    async def forged(request: web.Request) -> web.Response:
        """A page on another site that tries to act with the moderator's cookie."""
        return web.Response(
            content_type="text/html",
            text=f"""<!doctype html><html><body>
<form id="f" method="post" action="{service_origin}/moderate/sign-out">
<input name="csrf" value="guess"></form>
<script>
fetch("{service_origin}/v1/decisions", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{ids: [], action: "reject"}})}})
  .finally(() => document.getElementById("f").submit());
</script></body></html>""",
        )

    app = web.Application()
    app.router.add_get("/", article_page)
    app.router.add_get("/forged", forged)
    return app
