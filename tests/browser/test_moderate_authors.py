"""The moderator's page and the comments' authors, in a real browser: each item's author
and record, the author's panel, Reject and ban from the keyboard, and lifting the ban."""

from __future__ import annotations

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from tests.browser.conftest import new_page, screenshot, sign_in
from tests.browser.test_moderate_page import _item, _post, _site, _wait_statuses
from tests.pages_support import make_user, score_all


async def _explanation_rule(psettings: Settings, comment_id: str) -> str:
    assert psettings.database_url is not None
    conn = await asyncpg.connect(psettings.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT status, explanation->>'rule' AS rule FROM comments WHERE id = $1::uuid",
            comment_id,
        )
    finally:
        await conn.close()
    assert row is not None
    return f"{row['status']} by {row['rule']}"


async def _author(server: TestServer, admin: dict[str, str], comment_id: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as http:
        r = await http.get(str(server.make_url(f"/v1/comments/{comment_id}")), headers=admin)
        assert r.status == 200, await r.text()
        author_id = (await r.json())["author"]["id"]
        r = await http.get(
            str(server.make_url(f"/v1/sites/daily/authors/{author_id}")), headers=admin
        )
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def test_queue__a_moderator_rejects_and_bans_and_the_next_comment_is_rejected(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin)
    fine = await _post(server, "Thanks, a clear explainer.", "Troll")
    await score_all(psettings, engine)  # approved: the troll's record starts clean
    first = await _post(server, "You idiot, the budget was leaked a week ago.", "Troll")
    second = await _post(server, "What a moron take on the tax bands.", "Troll")
    other = await _post(server, "This is garbage reporting, check the figures.", "Ann")
    await score_all(psettings, engine)
    await make_user(engine, psettings, "mo")
    base = str(server.make_url("")).rstrip("/")
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "mo")
    await expect(page.locator("#queue > li")).to_have_count(3)
    troll = _item(page, first)
    await expect(troll.locator(".author")).to_have_text("Troll")
    await expect(troll.locator(".author-counts")).to_have_text("1 approved · 0 rejected · 2 held")
    await expect(troll.locator(".verified")).to_be_hidden()

    # The author's panel: their record and their comments, newest first.
    await troll.get_by_role("button", name="About Troll").click()
    panel = page.locator("#author")
    await expect(panel).to_be_visible()
    await expect(panel.locator(".history-approved")).to_have_text("1 approved")
    await expect(panel.locator(".history-held")).to_have_text("2 held")
    await expect(panel.locator("#author-sanction-text")).to_have_text("No sanction.")
    await expect(panel.locator("#author-comments > li")).to_have_count(3)
    await expect(panel.locator("#author-comments > li").last).to_contain_text("a clear explainer")
    await screenshot(page, "author-panel")
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()

    # Reject and ban, from the keyboard.
    await troll.click()
    await page.keyboard.press("b")
    dialog = page.locator("#ban")
    await expect(dialog).to_be_visible()
    await expect(page.get_by_label("Why they are banned")).to_be_focused()
    await page.keyboard.press("Enter")  # no reason: refused by the form, nothing sent
    await expect(dialog).to_be_visible()
    await page.keyboard.type("insults, again and again")
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(troll).to_have_count(0)
    await expect(page.locator("#toast")).to_contain_text("Rejected the comment and banned Troll")
    await expect(_item(page, second).locator(".sanction-badge")).to_have_text("banned")
    await expect(_item(page, other).locator(".sanction-badge")).to_be_hidden()
    await _wait_statuses(psettings, {fine: "approved", first: "rejected", second: "held"})
    author = await _author(server, admin, second)
    sanction = author["sanction"]
    assert isinstance(sanction, dict)
    assert (sanction["kind"], sanction["reason"]) == ("ban", "insults, again and again")

    # The troll's next comment, however polite, is rejected at once.
    after = await _post(server, "Another thought on the tax bands.", "Troll")
    await score_all(psettings, engine)
    assert await _explanation_rule(psettings, after) == "rejected by banned"

    # The panel shows the ban; lifting it is one button.
    await _item(page, second).click()
    await page.keyboard.press("p")
    await expect(panel.locator("#author-sanction-text")).to_contain_text("Banned by mo")
    await expect(panel.locator("#author-sanction-text")).to_contain_text("insults, again")
    await expect(panel.locator(".history-rejected")).to_have_text("2 rejected")
    await panel.get_by_role("button", name="Lift the ban on Troll").click()
    await expect(panel.locator("#author-sanction-text")).to_have_text("No sanction.")
    await expect(page.locator("#toast")).to_contain_text("Lifted the sanction on Troll")
    await expect(_item(page, second).locator(".sanction-badge")).to_be_hidden()
    assert (await _author(server, admin, second))["sanction"] is None
    assert seen.dialogs == []
    assert seen.errors == []
    await context.close()


async def test_queue__undo_after_reject_and_ban_lifts_the_ban(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin)
    first = await _post(server, "You idiot, the budget was leaked a week ago.", "Troll")
    await score_all(psettings, engine)
    await make_user(engine, psettings, "mo")
    base = str(server.make_url("")).rstrip("/")
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "mo")
    troll = _item(page, first)
    await troll.get_by_role("button", name="Reject the comment by Troll and ban its author").click()
    await page.get_by_label("Why they are banned").fill("insults")
    await page.get_by_role("button", name="Reject and ban", exact=True).click()
    await expect(troll).to_have_count(0)
    await expect(page.locator("#toast")).to_contain_text("banned Troll")
    await page.keyboard.press("u")
    await expect(troll).to_have_count(1)
    await expect(page.locator("#toast")).to_contain_text("The ban is lifted.")
    await _wait_statuses(psettings, {first: "held"})
    assert (await _author(server, admin, first))["sanction"] is None
    assert seen.errors == []
    await context.close()


async def test_author_panel__bans_and_a_rejected_comment_offers_only_the_ban(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin)
    first = await _post(server, "You idiot, the budget was leaked a week ago.", "Troll")
    await score_all(psettings, engine)
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            str(server.make_url(f"/v1/comments/{first}/decision")),
            json={"action": "reject"},
            headers=admin,
        )
        assert r.status == 200, await r.text()
    await make_user(engine, psettings, "mo")
    base = str(server.make_url("")).rstrip("/")
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "mo")
    await page.goto(f"{base}/moderate?status=rejected")
    troll = _item(page, first)
    button = troll.get_by_role("button", name="Ban Troll, the author of this comment")
    await expect(button).to_have_text("Ban author b")
    await troll.get_by_role("button", name="About Troll").click()
    panel = page.locator("#author")
    await expect(panel.locator(".history-rejected")).to_have_text("1 rejected")
    await panel.get_by_role("button", name="Ban", exact=True).click()
    await expect(page.locator("#ban-title")).to_have_text("Ban")
    await page.get_by_label("Why they are banned").fill("threats")
    await page.locator("#ban-confirm").click()
    await expect(panel.locator("#author-sanction-text")).to_contain_text("Banned by mo")
    await expect(panel.get_by_role("button", name="Lift the ban on Troll")).to_be_visible()
    await expect(troll.locator(".sanction-badge")).to_have_text("banned")
    await _wait_statuses(psettings, {first: "rejected"})
    sanction = (await _author(server, admin, first))["sanction"]
    assert isinstance(sanction, dict)
    assert (sanction["kind"], sanction["reason"]) == ("ban", "threats")
    assert seen.errors == []
    await context.close()
