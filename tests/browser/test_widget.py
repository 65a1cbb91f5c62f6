"""The article page's widget in a real browser, on a page served from another origin."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, Request, Route, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from tests.browser.conftest import ServerFactory, host_page_app, new_page, screenshot
from tests.browser.test_moderate_page import HOSTILE, _post, _wait_statuses
from tests.pages_support import score_all

ARTICLE = "budget-2026"


async def _setup(
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    *,
    page_lang: str = "en",
    widget_lang: str = "",
) -> tuple[str, TestServer]:
    """The service's site "daily" and an article page in page_lang on another origin."""
    base = str(server.make_url("")).rstrip("/")
    article = host_page_app(base, article=ARTICLE, page_lang=page_lang, widget_lang=widget_lang)
    host = await aiohttp_server(article, host="127.0.0.1")
    host_origin = str(host.make_url("")).rstrip("/")
    assert host_origin != base
    async with aiohttp.ClientSession() as http:
        r = await http.put(
            f"{base}/v1/sites/daily",
            json={"name": "The Daily", "allowed_origins": [host_origin]},
            headers=admin,
        )
        assert r.status == 201, await r.text()
    return base, host


async def _decide(base: str, admin: dict[str, str], comment_id: str, action: str) -> None:
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            f"{base}/v1/comments/{comment_id}/decision", json={"action": action}, headers=admin
        )
        assert r.status == 200, await r.text()


async def _open_article(page: Page, host: TestServer, heading: str = "Comments") -> None:
    await page.goto(str(host.make_url("/")))
    await expect(page.get_by_role("heading", name=heading)).to_be_visible()


async def test_widget__reply_from_another_origin_waits_then_is_published(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    _, host = await _setup(server, aiohttp_server, admin)
    first = await _post(server, "Clear explainer, thank you.", "Ann", article=ARTICLE)
    await _post(server, "Agreed, the table helps.", "Bo", article=ARTICLE, parent_id=first)
    await score_all(psettings, engine)  # both low: approved
    context, page, seen = await new_page(browser)
    await _open_article(page, host)
    thread = page.locator("li.comment")
    await expect(thread).to_have_count(2)
    await expect(page.locator(f'li[data-id="{first}"] .replies li.comment')).to_contain_text(
        "Agreed, the table helps."
    )
    # The host page hides every button and input it can reach; the widget's still show.
    reply = page.get_by_role("button", name="Reply to Ann")
    await expect(reply).to_be_visible()
    text = page.locator(f'li[data-id="{first}"] .text').first
    assert await text.evaluate("e => getComputedStyle(e).color") == "rgb(29, 35, 48)"
    assert await text.evaluate("e => getComputedStyle(e).letterSpacing") == "normal"
    await reply.press("Enter")
    await expect(page.get_by_label("Your comment")).to_be_focused()
    await expect(page.get_by_text("Replying to Ann")).to_be_visible()
    await page.get_by_label("Your name").fill("Cy")
    await page.get_by_label("Your comment").fill("And the pension changes too, <b>surely</b>?")
    await page.get_by_role("button", name="Post comment").click()
    await expect(page.get_by_role("status").filter(has_text="awaiting moderation")).to_be_visible()
    own = page.locator("li.comment.own")
    await expect(own).to_contain_text("Awaiting moderation")
    await expect(own).to_contain_text("<b>surely</b>")
    await expect(page.locator(f'li[data-id="{first}"] .replies li.own')).to_have_count(1)
    mine = await own.get_attribute("data-id")
    assert mine is not None

    await page.reload()  # the status token is kept in this browser
    await expect(page.locator("li.comment.own")).to_contain_text("Awaiting moderation")
    await screenshot(page, "widget", full_page=True)

    await score_all(psettings, engine)  # scored low: the model approves it...
    await expect(page.locator(f'li[data-id="{mine}"] .badge')).to_have_text("Published")
    # After a reload it is there, from the thread or, while a cached copy of the thread
    # lacks it, from this browser's memory: never gone.
    await page.reload()
    await expect(page.locator(f'li[data-id="{mine}"]')).to_contain_text("pension changes")
    await expect(page.locator("li.comment")).to_have_count(3)
    assert seen.errors == []
    await context.close()


async def test_widget__held_comment_is_published_after_a_moderator_approves_it(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    base, host = await _setup(server, aiohttp_server, admin)
    context, page, seen = await new_page(browser)
    await _open_article(page, host)
    await expect(page.get_by_text("No comments yet")).to_be_visible()
    await page.get_by_label("Your name").fill("Dee")
    await page.get_by_label("Your comment").fill("The minister is an idiot about this.")
    await page.get_by_role("button", name="Post comment").click()
    own = page.locator("li.comment.own")
    await expect(own).to_contain_text("Awaiting moderation")
    comment_id = await own.get_attribute("data-id")
    assert comment_id is not None
    await score_all(psettings, engine)  # held for a human
    await _wait_statuses(psettings, {comment_id: "held"})
    await asyncio.sleep(0.5)
    await expect(own.locator(".badge")).to_have_text("Awaiting moderation")
    await _decide(base, admin, comment_id, "approve")
    await expect(own.locator(".badge")).to_have_text("Published")

    # A rejected one tells its author, and only them.
    await page.get_by_label("Your comment").fill("Idiot idiot idiot.")
    await page.get_by_role("button", name="Post comment").click()
    second = page.locator("li.comment.own").filter(has_text="Idiot idiot idiot.")
    second_id = await second.get_attribute("data-id")
    assert second_id is not None
    await _decide(base, admin, second_id, "reject")
    await expect(second).to_contain_text("was not published")
    await second.get_by_role("button", name="Dismiss").click()
    await expect(second).to_have_count(0)
    assert seen.errors == []
    await context.close()


async def test_widget__shows_the_services_refusal_reason(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
) -> None:
    _, host = await _setup(server, aiohttp_server, admin)
    context, page, seen = await new_page(browser)
    await _open_article(page, host)
    await page.get_by_label("Your name").fill("Ann\u0007")
    await page.get_by_label("Your comment").fill("A fair point.")
    await page.get_by_role("button", name="Post comment").click()
    await expect(page.locator(".form-status.error")).to_contain_text("control characters")
    assert seen.errors == []
    await context.close()


async def test_widget__renders_hostile_text_inert(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    base, host = await _setup(server, aiohttp_server, admin)
    evil = await _post(
        server, HOSTILE, "<img src=x onerror=\"window.__pwned='name'\">", article=ARTICLE
    )
    await score_all(psettings, engine)
    await _decide(base, admin, evil, "approve")
    context, page, seen = await new_page(browser)
    await _open_article(page, host)
    item = page.locator(f'li[data-id="{evil}"]')
    await expect(item.locator(".text")).to_contain_text(
        '<script>window.__pwned = "script"</script>'
    )
    await expect(item.locator(".name")).to_have_text(
        "<img src=x onerror=\"window.__pwned='name'\">"
    )
    assert await item.locator("img, script, a").count() == 0
    await item.locator(".text").click()
    await asyncio.sleep(0.3)
    assert await page.evaluate("window.__pwned") is None
    assert seen.dialogs == [] and seen.errors == []
    await context.close()


async def test_demo__serves_an_article_with_the_widget(
    browser: Browser, server: TestServer, admin: dict[str, str]
) -> None:
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        await http.put(f"{base}/v1/sites/demo", json={"name": "Demo"}, headers=admin)
    context, page, seen = await new_page(browser)
    await page.goto(f"{base}/demo")
    await expect(page.get_by_role("heading", name="Comments")).to_be_visible()
    await page.get_by_label("Your name").fill("Ann")
    await page.get_by_label("Your comment").fill("Trying the demo.")
    await page.get_by_role("button", name="Post comment").click()
    await expect(page.locator("li.comment.own")).to_contain_text("Awaiting moderation")
    assert seen.errors == []
    await screenshot(page, "demo", full_page=True)
    await context.close()


async def test_widget__loads_more_of_a_long_thread(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    _, host = await _setup(server, aiohttp_server, admin)
    for i in range(23):
        await _post(server, f"Comment number {i}.", f"Reader {i}", article=ARTICLE)
    await score_all(psettings, engine)
    context, page, seen = await new_page(browser)
    await _open_article(page, host)
    await expect(page.locator("li.comment")).to_have_count(20)
    more = page.get_by_role("button", name="Load more comments")
    await more.click()
    await expect(page.locator("li.comment")).to_have_count(23)
    await expect(more).to_be_hidden()
    await expect(page.locator("li.comment").last).to_contain_text("Comment number 22.")
    assert seen.errors == []
    await context.close()


async def test_widget__no_empty_note_above_the_readers_own_waiting_comment(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
) -> None:
    _, host = await _setup(server, aiohttp_server, admin)
    context, page, seen = await new_page(browser)
    await _open_article(page, host)
    empty = page.get_by_text("No comments yet")
    await expect(empty).to_be_visible()
    await page.get_by_label("Your name").fill("Ann")
    await page.get_by_label("Your comment").fill("First to say it: a clear explainer.")
    await page.get_by_role("button", name="Post comment").click()
    await expect(page.locator("li.comment.own")).to_contain_text("Awaiting moderation")
    await expect(empty).to_have_count(0)
    await page.reload()  # the thread is still empty; the reader's comment is not
    await expect(page.locator("li.comment.own")).to_contain_text("Awaiting moderation")
    await expect(empty).to_have_count(0)
    assert seen.errors == []
    await context.close()


async def test_widget__a_rejected_comment_shows_as_removed_above_its_approved_replies(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    base, host = await _setup(server, aiohttp_server, admin)
    parent = await _post(server, "Seemed fine, was not.", "Ann", article=ARTICLE)
    reply = await _post(server, "A calm answer.", "Bo", article=ARTICLE, parent_id=parent)
    await score_all(psettings, engine)
    await _decide(base, admin, parent, "reject")
    context, page, seen = await new_page(browser)
    await _open_article(page, host)
    removed = page.locator(f'li.comment.removed[data-id="{parent}"]')
    await expect(removed.locator(":scope > article")).to_have_text("This comment was removed.")
    await expect(removed.locator(f'.replies li[data-id="{reply}"]')).to_contain_text(
        "A calm answer."
    )
    assert await removed.locator(":scope > article button").count() == 0
    await expect(page.get_by_text("Seemed fine")).to_have_count(0)
    await expect(page.get_by_role("button", name="Reply to Bo")).to_be_visible()
    assert seen.errors == []
    await context.close()


async def test_widget__an_approved_reply_to_a_held_comment_says_it_waits_for_it(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    base, host = await _setup(server, aiohttp_server, admin)
    parent = await _post(server, "The figures on page two are wrong.", "Ann", article=ARTICLE)
    await score_all(psettings, engine)
    context, page, seen = await new_page(browser)
    await _open_article(page, host)
    await page.get_by_role("button", name="Reply to Ann").click()
    await page.get_by_label("Your name").fill("Cy")
    await page.get_by_label("Your comment").fill("They are right, see the annex.")
    await page.get_by_role("button", name="Post comment").click()
    own = page.locator("li.comment.own")
    await expect(own.locator(".badge")).to_have_text("Awaiting moderation")
    # Readers report the parent back to the queue; then the reply is approved.
    async with aiohttp.ClientSession() as http:
        r = await http.post(f"{base}/v1/decisions/reopen", json={"ids": [parent]}, headers=admin)
        assert r.status == 200, await r.text()
    await score_all(psettings, engine)
    await expect(own.locator(".badge")).to_have_text(
        "Approved: it appears once the comment it answers is moderated"
    )
    await _decide(base, admin, parent, "approve")
    await expect(own.locator(".badge")).to_have_text("Published")
    assert seen.errors == []
    await context.close()


# --- the page's language ---------------------------------------------------------------------


async def test_widget__speaks_spanish_on_a_spanish_page(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    base, host = await _setup(server, aiohttp_server, admin, page_lang="es")
    first = await _post(server, "Muy claro, gracias.", "Ana", article=ARTICLE)
    await score_all(psettings, engine)  # approved
    context, page, seen = await new_page(browser)
    await _open_article(page, host, "Comentarios")
    assert await page.locator("section.rg").get_attribute("lang") == "es"
    await expect(page.get_by_role("heading", name="Participe en la conversación")).to_be_visible()
    # Dates in Spanish, not in the browser's own (English) locale.
    posted = page.locator(f'li[data-id="{first}"] time')
    spanish, english = await posted.evaluate(
        """t => ["es", "en"].map(l => new Date(t.dateTime).toLocaleString(l,
            {dateStyle: "medium", timeStyle: "short"}))"""
    )
    assert spanish != english
    await expect(posted).to_have_text(spanish)

    await page.get_by_role("button", name="Responder a Ana").click()
    await expect(page.get_by_text("En respuesta a Ana")).to_be_visible()
    await page.get_by_label("Su nombre").fill("Beto")
    await page.get_by_role("button", name="Publicar comentario").click()
    await expect(page.locator(".form-status.error")).to_have_text("Escriba un comentario.")
    await page.get_by_label("Su comentario").fill("Coincido, y la tabla ayuda.")
    await page.get_by_role("button", name="Publicar comentario").click()
    await expect(
        page.get_by_role("status").filter(has_text="pendiente de moderación")
    ).to_have_text("Gracias. Su comentario está pendiente de moderación.")
    own = page.locator(f'li[data-id="{first}"] .replies li.own')
    await expect(own.locator(".badge")).to_have_text("Pendiente de moderación")
    mine = await own.get_attribute("data-id")
    assert mine is not None
    await score_all(psettings, engine)  # the model reads no Spanish: held for a human
    await _wait_statuses(psettings, {mine: "held"})
    await expect(own.locator(".badge")).to_have_text("Pendiente de moderación")
    await _decide(base, admin, mine, "approve")
    await expect(own.locator(".badge")).to_have_text("Publicado")
    await screenshot(page, "widget-es", full_page=True)
    assert seen.errors == []
    await context.close()


@pytest.mark.parametrize(
    ("page_lang", "widget_lang", "heading", "button", "lang"),
    [
        ("es", "en", "Comments", "Post comment", "en"),  # the tag's data-lang wins
        ("en-GB", "es-MX", "Comentarios", "Publicar comentario", "es-MX"),
        ("fr-CA", "", "Comments", "Post comment", "en"),  # no French: English
    ],
)
async def test_widget__the_tags_language_wins_over_the_pages(
    browser: Browser,
    server: TestServer,
    aiohttp_server: ServerFactory,
    admin: dict[str, str],
    page_lang: str,
    widget_lang: str,
    heading: str,
    button: str,
    lang: str,
) -> None:
    _, host = await _setup(
        server, aiohttp_server, admin, page_lang=page_lang, widget_lang=widget_lang
    )
    context, page, seen = await new_page(browser)
    await _open_article(page, host, heading)
    await expect(page.get_by_role("button", name=button)).to_be_visible()
    assert await page.locator("section.rg").get_attribute("lang") == lang
    assert seen.errors == []
    await context.close()


async def test_widget__says_why_a_comment_was_not_sent_in_spanish(
    browser: Browser, server: TestServer, aiohttp_server: ServerFactory, admin: dict[str, str]
) -> None:
    _, host = await _setup(server, aiohttp_server, admin, page_lang="es-MX")
    context, page, seen = await new_page(browser)
    await _open_article(page, host, "Comentarios")
    error = page.locator(".form-status.error")
    post = page.get_by_role("button", name="Publicar comentario")
    await page.get_by_label("Su comentario").fill("Un buen punto.")
    await post.click()
    await expect(error).to_have_text("Indique su nombre.")
    # The service's own reason stays as it wrote it; the field is named in Spanish.
    await page.get_by_label("Su nombre").fill("Ana\u0007")
    await post.click()
    await expect(error).to_have_text("Su nombre: must not contain control characters")

    cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"}
    answers: list[dict[str, Any] | None] = [
        {"status": 429, "headers": {**cors, "Retry-After": "30"}},
        {"status": 503, "headers": {**cors, "Retry-After": "1"}},
        {"status": 409, "headers": cors, "json": {"status": 409, "detail": "Already posted."}},
        None,  # the network fails
    ]

    async def answer(route: Route, request: Request) -> None:
        if request.method != "POST":
            await route.continue_()
            return
        reply = answers.pop(0)
        await (route.abort() if reply is None else route.fulfill(**reply))

    await page.route(str(server.make_url(f"/v1/sites/daily/articles/{ARTICLE}/comments")), answer)
    await page.get_by_label("Su nombre").fill("Ana")
    for said in [
        "Demasiados comentarios; inténtelo de nuevo en 30 segundos.",
        "El servicio de comentarios está ocupado y no se guardó nada. "
        "Inténtelo de nuevo en 1 segundo.",
        "No se pudo enviar su comentario: Already posted.",
        "No se puede conectar con el servicio de comentarios. Inténtelo de nuevo.",
    ]:
        await post.click()
        await expect(error).to_have_text(said)
    assert answers == []
    await expect(page.locator("li.comment.own")).to_have_count(0)
    assert seen.errors == []
    await context.close()
