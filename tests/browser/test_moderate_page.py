"""The moderator's page in a real browser: sign-in, CSRF, the keyboard, bulk decisions,
live updates, claims, hostile text, and the policy editor."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from tests.browser.conftest import ServerFactory, host_page_app, new_page, screenshot, sign_in
from tests.pages_support import make_user, score_all

HOSTILE = (
    '<script>window.__pwned = "script"</script> '
    "<img src=x onerror=\"window.__pwned = 'img'\"> "
    "<a href=\"javascript:window.__pwned='link'\">read more</a> you idiot"
)


async def _site(server: TestServer, admin: dict[str, str], **policy: Any) -> None:
    async with server.app is not None and __import__("aiohttp").ClientSession() as http:
        r = await http.put(
            str(server.make_url("/v1/sites/daily")),
            json={"name": "The Daily", "allowed_origins": [], "policy": policy},
            headers=admin,
        )
        assert r.status in (200, 201), await r.text()


async def _post(server: TestServer, body: str, author: str, **extra: Any) -> str:
    import aiohttp

    article = extra.pop("article", "budget-2026")
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            str(server.make_url(f"/v1/sites/daily/articles/{article}/comments")),
            json={
                "body": body,
                "author_name": author,
                "article_title": extra.pop("title", "Budget 2026: what changes for you"),
                "article_url": f"https://news.example/{article}",
                **extra,
            },
        )
        assert r.status == 202, await r.text()
        return str((await r.json())["id"])


async def _seed(
    server: TestServer, psettings: Settings, engine: AsyncEngine, comments: list[tuple[str, str]]
) -> list[str]:
    ids = [await _post(server, body, author) for author, body in comments]
    await score_all(psettings, engine)
    return ids


async def _statuses(psettings: Settings, ids: list[str]) -> dict[str, str]:
    assert psettings.database_url is not None
    conn = await asyncpg.connect(psettings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT id::text, status FROM comments WHERE id = ANY($1::uuid[])",
            [uuid.UUID(i) for i in ids],
        )
    finally:
        await conn.close()
    return {r["id"]: r["status"] for r in rows}


async def _wait_statuses(psettings: Settings, expected: dict[str, str]) -> None:
    for _ in range(50):
        if await _statuses(psettings, list(expected)) == expected:
            return
        await asyncio.sleep(0.1)
    assert await _statuses(psettings, list(expected)) == expected


def _item(page: Page, comment_id: str) -> Any:
    return page.locator(f'#queue > li[data-id="{comment_id}"]')


THREE = [
    ("Ann", "You idiot, the budget was leaked a week ago."),
    ("Bo", "What a moron take on the tax bands."),
    ("Cy", "This is garbage reporting, check the figures."),
]


async def test_sign_in_page__signs_in_shows_the_queue_and_signs_out(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin)
    await _seed(server, psettings, engine, THREE)
    await make_user(engine, psettings, "ann")
    base = str(server.make_url("")).rstrip("/")
    context, page, seen = await new_page(browser)
    await page.goto(f"{base}/moderate")
    assert "/moderate/sign-in" in page.url
    await page.get_by_label("Name").fill("ann")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("do not match")

    await sign_in(page, base, "ann")
    await expect(page.locator("#queue > li")).to_have_count(3)
    await expect(page.locator(".count-held")).to_have_text("3")
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["rg_session"]["httpOnly"] is True
    assert cookies["rg_session"]["sameSite"] == "Lax"
    assert await page.evaluate("document.cookie") == ""  # the session is out of scripts' reach

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_contain_text("You are signed out")
    await page.goto(f"{base}/moderate")
    assert "/moderate/sign-in" in page.url
    assert seen.dialogs == [] and seen.errors == []
    await context.close()


async def test_csrf__requests_without_the_pages_token_are_refused(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin)
    ids = await _seed(server, psettings, engine, THREE[:1])
    await make_user(engine, psettings, "ann")
    base = str(server.make_url("")).rstrip("/")
    other = await aiohttp_server(host_page_app(base, article="x"), host="127.0.0.1")
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "ann")
    await expect(page.locator("#queue > li")).to_have_count(1)

    # From the page itself, without the token: the cookie alone decides nothing.
    status = await page.evaluate(
        """async (id) => (await fetch(`/v1/comments/${id}/decision`, {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({action: "approve"})})).status""",
        ids[0],
    )
    assert status == 403
    wrong = await page.evaluate(
        """async (id) => (await fetch(`/v1/comments/${id}/decision`, {method: "POST",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": "guessed"},
            body: JSON.stringify({action: "approve"})})).status""",
        ids[0],
    )
    assert wrong == 403

    # From another origin (same site, so the Lax cookie goes along): a forged fetch and a
    # forged sign-out form.
    forged = await context.new_page()
    response_statuses: list[int] = []
    forged.on("response", lambda r: response_statuses.append(r.status) if base in r.url else None)
    await forged.goto(str(other.make_url("/forged")))
    await forged.wait_for_url(f"{base}/moderate/sign-out")
    await expect(forged.get_by_role("alert")).to_contain_text("CSRF token")
    assert response_statuses.count(403) == 2
    await forged.close()

    await page.reload()
    await expect(page.locator("#queue > li")).to_have_count(1)  # still signed in
    assert await _statuses(psettings, ids) == {ids[0]: "held"}
    assert seen.errors == []
    await context.close()


async def test_queue__reviews_with_the_keyboard(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin)
    a, b, c = await _seed(server, psettings, engine, THREE)
    await make_user(engine, psettings, "ann")
    base = str(server.make_url("")).rstrip("/")
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "ann")
    await expect(page.locator("#queue > li")).to_have_count(3)

    await page.keyboard.press("?")
    await expect(page.locator("#help")).to_be_visible()
    await expect(page.locator("#help")).to_contain_text("approve the current comment")
    await page.keyboard.press("Escape")
    await expect(page.locator("#help")).to_be_hidden()

    await page.keyboard.press("j")  # the first comment is current already; j moves on
    await expect(_item(page, b)).to_have_class("item current")
    await page.keyboard.press("k")
    await expect(_item(page, a)).to_be_focused()
    await page.keyboard.press("a")
    await expect(_item(page, a)).to_have_count(0)
    await expect(page.locator("#toast")).to_contain_text("Approved 1 comment")
    await expect(_item(page, b)).to_have_class("item current")
    await page.keyboard.press("r")
    await expect(_item(page, b)).to_have_count(0)
    await _wait_statuses(psettings, {a: "approved", b: "rejected", c: "held"})

    await page.keyboard.press("u")  # undo the rejection
    await expect(_item(page, b)).to_have_count(1)
    await _wait_statuses(psettings, {a: "approved", b: "held", c: "held"})

    await page.keyboard.press("x")
    await expect(_item(page, b).locator(".select")).to_be_checked()
    await expect(page.locator("#selected-count")).to_have_text("1 selected")
    await page.keyboard.press("h")
    await expect(page.locator("#history-list > li")).to_have_count(4)
    await expect(page.locator("#history-list")).to_contain_text("moderator ann: rejected → held")
    await page.keyboard.press("Escape")
    assert seen.errors == []
    await context.close()


async def test_queue__bulk_rejects_the_selection_and_undoes_it(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin, watched_terms=["leaked"])
    ids = await _seed(
        server,
        psettings,
        engine,
        [*THREE, ("Dee", "I will destroy you in the comments, idiot.")],
    )
    reply = await _post(server, "Moron, the figures are on page 4.", "Eve", parent_id=ids[0])
    await score_all(psettings, engine)
    await make_user(engine, psettings, "ann")
    base = str(server.make_url("")).rstrip("/")
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "ann")
    await expect(page.locator("#queue > li")).to_have_count(5)
    first = _item(page, ids[0])
    await expect(first.locator("mark.term")).to_have_text("leaked")
    await expect(first.locator(".rule")).to_contain_text("watched term")
    await expect(first.locator(".bar")).to_have_count(3)
    await expect(_item(page, reply).locator(".parent")).to_contain_text("In reply to Ann")
    await expect(first.locator(".waited")).to_contain_text("waited")
    await expect(page.locator(".count-held")).to_have_text("5")
    await screenshot(page, "queue", full_page=True)

    await page.get_by_label("Select all").check()
    await expect(page.locator("#selected-count")).to_have_text("5 selected")
    await page.get_by_label("Reason").fill("spam wave")
    await page.get_by_role("button", name="Reject selected").click()
    await expect(page.locator("#queue > li")).to_have_count(0)
    await expect(page.locator("#toast")).to_contain_text("Rejected 5 comments")
    everything = [*ids, reply]
    await _wait_statuses(psettings, dict.fromkeys(everything, "rejected"))
    await expect(page.locator(".count-held")).to_have_text("0")

    await page.get_by_role("button", name="Undo").click()
    await expect(page.locator("#queue > li")).to_have_count(5)
    await _wait_statuses(psettings, dict.fromkeys(everything, "held"))
    assert seen.errors == []
    await context.close()


async def test_queue__updates_live_and_shows_claims_between_two_moderators(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin)
    a, b, c = await _seed(server, psettings, engine, THREE)
    await make_user(engine, psettings, "ann")
    await make_user(engine, psettings, "bo")
    base = str(server.make_url("")).rstrip("/")
    ann_context, ann, _ = await new_page(browser)
    bo_context, bo, _ = await new_page(browser)
    await sign_in(ann, base, "ann")
    await sign_in(bo, base, "bo")
    await expect(ann.locator("#queue > li")).to_have_count(3)
    await expect(bo.locator("#queue > li")).to_have_count(3)

    # Ann opens the second comment: Bo sees that she has it, and "select all" leaves it.
    await ann.keyboard.press("j")
    await expect(bo.locator(f'#queue > li[data-id="{b}"] .claim')).to_have_text("ann is reviewing")
    await bo.get_by_label("Select all").check()
    await expect(bo.locator("#selected-count")).to_have_text("2 selected")
    await expect(_item(bo, b).locator(".select")).not_to_be_checked()
    await bo.get_by_label("Select all").uncheck()

    # Bo rejects the first: it leaves Ann's queue without a reload.
    await bo.keyboard.press("r")
    await expect(_item(ann, a)).to_have_count(0)
    await expect(ann.locator("#live-note")).to_contain_text("bo rejected a comment by Ann")
    await expect(ann.locator(".count-held")).to_have_text("2")

    # A new comment arrives and is scored: it appears for both.
    d = await _post(server, "Idiot budget, idiot government.", "Dan")
    await score_all(psettings, engine)
    await expect(_item(ann, d)).to_have_count(1)
    await expect(_item(bo, d)).to_have_count(1)
    await expect(ann.locator(".count-held")).to_have_text("3")
    assert await _statuses(psettings, [a, b, c, d]) == {
        a: "rejected",
        b: "held",
        c: "held",
        d: "held",
    }
    await ann_context.close()
    await bo_context.close()


async def test_queue__renders_hostile_text_inert(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin)
    evil_id = await _post(
        server,
        HOSTILE,
        "<img src=x onerror=\"window.__pwned='name'\">",
        title='<script>window.__pwned="title"</script>',
    )
    await score_all(psettings, engine)
    await make_user(engine, psettings, "ann")
    base = str(server.make_url("")).rstrip("/")
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "ann")
    item = _item(page, evil_id)
    await expect(item.locator(".body")).to_contain_text(
        '<script>window.__pwned = "script"</script>'
    )
    await expect(item.locator(".author")).to_have_text(
        "<img src=x onerror=\"window.__pwned='name'\">"
    )
    await expect(item.locator(".article")).to_have_text("budget-2026")
    await expect(item.locator(".article-title")).to_have_text(
        '“<script>window.__pwned="title"</script>” (title sent by a reader\'s page)'
    )
    assert await item.locator("img, script, a[href^='javascript']").count() == 0
    await item.locator(".body").click()
    await asyncio.sleep(0.3)
    assert await page.evaluate("window.__pwned") is None
    assert seen.dialogs == [] and seen.errors == []
    await screenshot(page, "queue-hostile")
    await context.close()


async def test_policy__an_admin_previews_the_effect_then_saves(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    # Rules the form does not show must survive a save from the page.
    unseen = {"report_threshold": 7, "trusted_after": 5, "unsupported_language": "score"}
    # Thresholds of the test's own, so that raising toxicity's hold_at alone frees "garbage"
    # (0.55 toxicity, 0.30 insult) whatever the defaults are.
    thresholds = {
        "toxicity": {"hold_at": 0.5, "reject_at": 0.95},
        "insult": {"hold_at": 0.6, "reject_at": None},
        "threat": {"hold_at": 0.4, "reject_at": 0.9},
    }
    await _site(server, admin, thresholds=thresholds, **unseen)
    await _seed(
        server,
        psettings,
        engine,
        [*THREE, ("Dee", "Thanks, very clear."), ("Eve", "Good explainer on the bands.")],
    )
    await make_user(engine, psettings, "root", role="admin", sites=[])
    base = str(server.make_url("")).rstrip("/")
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "root")
    await page.goto(f"{base}/moderate/sites/daily")
    await expect(page.get_by_role("heading", name="Policy", exact=True)).to_be_visible()
    await page.get_by_label("toxicity: hold at", exact=True).fill("0.6")
    await page.get_by_label("toxicity: reject at", exact=True).fill("0.8")
    await page.get_by_label("Watched terms, one per line").fill("leaked\nscam")
    await page.get_by_role("button", name="Preview effect").click()
    result = page.locator("#policy-result")
    await expect(result).to_contain_text(
        "2 of the last 5 decided comments would be decided differently."
    )
    await expect(result).to_contain_text("held → approved: 1")
    await expect(result).to_contain_text("held → rejected: 1")
    await screenshot(page, "policy", full_page=True)
    await page.get_by_role("button", name="Save policy").click()
    await expect(result).to_contain_text("Saved. Policy version 2.")
    await page.reload()
    await expect(page.locator(".policy")).to_contain_text("leaked, scam")
    assert seen.errors == []
    await context.close()
    import aiohttp

    async with aiohttp.ClientSession() as http:
        saved = await (
            await http.get(str(server.make_url("/v1/sites/daily")), headers=admin)
        ).json()
    assert {k: saved["policy"][k] for k in unseen} == unseen
    assert saved["policy"]["watched_terms"] == ["leaked", "scam"]


async def test_queue__filters_by_article_and_orders_by_score(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    await _site(server, admin)
    on_budget = await _seed(server, psettings, engine, THREE)
    other = await _post(
        server, "Idiot council, idiot plan.", "Fay", article="cycle-lanes", title="Cycle lanes"
    )
    await score_all(psettings, engine)
    await make_user(engine, psettings, "ann")
    base = str(server.make_url("")).rstrip("/")
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "ann")
    await expect(page.locator("#queue > li")).to_have_count(4)
    await expect(page.locator("#articles option")).to_have_count(2)
    await page.get_by_label("Article").fill("cycle-lanes")
    await page.get_by_role("button", name="Apply").click()  # the site comes from the choices
    await expect(page.locator("#queue > li")).to_have_count(1)
    await expect(_item(page, other)).to_have_count(1)
    assert "site=daily" in page.url and "article=cycle-lanes" in page.url
    await expect(page.locator(".count-held")).to_have_text("1")

    await page.goto(f"{base}/moderate?order=score")
    await expect(page.locator("#queue > li")).to_have_count(4)
    # toxicity 0.81 (Ann, Fay), 0.66 (Bo), 0.55 (Cy): highest first
    order = await page.locator("#queue > li").evaluate_all("nodes => nodes.map(n => n.dataset.id)")
    assert order[2:] == [on_budget[1], on_budget[2]]
    assert seen.errors == []
    await context.close()
