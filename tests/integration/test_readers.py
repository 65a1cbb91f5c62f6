"""What readers can make moderators see, and what readers and authors are shown: the
article's link and title, replies to comments that are not published, reposts."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.queue.scoring import ScoringWorker
from service.settings import Settings
from service.store.schema import migrate
from tests.conftest import SiteFactory
from tests.fakes import FakeScorer

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/daily/articles/story-1/comments"


async def _sql(settings: Settings, statement: str, *args: Any) -> None:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def _score_all(settings: Settings, engine: AsyncEngine) -> None:
    worker = ScoringWorker(settings, engine, FakeScorer())
    while await worker.run_once():
        pass


async def _post(client: Client, body: str, parent: str | None = None, **extra: Any) -> Any:
    payload = {"body": body, "author_name": body.split()[0], **extra}
    if parent is not None:
        payload["parent_id"] = parent
    response = await client.post(COMMENTS, json=payload)
    assert response.status == 202, await response.text()
    return await response.json()


async def _decide(client: Client, auth: dict[str, str], comment_id: str, action: str) -> None:
    response = await client.post(
        f"/v1/comments/{comment_id}/decision", json={"action": action}, headers=auth
    )
    assert response.status == 200, await response.text()


async def _article(client: Client, auth: dict[str, str], comment_id: str) -> Any:
    response = await client.get(f"/v1/comments/{comment_id}", headers=auth)
    return (await response.json())["article"]


async def _mine(client: Client, posted: Any) -> Any:
    response = await client.get(
        f"/v1/comments/{posted['id']}",
        headers={"Authorization": f"Bearer {posted['author_token']}"},
    )
    assert response.status == 200
    return await response.json()


def _shape(items: list[Any]) -> list[Any]:
    """The thread as (id, removed, replies) tuples, for comparing whole trees."""
    return [(i["id"], i["removed"], _shape(i["replies"])) for i in items]


# --- the article's link and title ------------------------------------------------------


async def test_article__a_link_off_the_sites_origins_never_reaches_moderators(
    client: Client, make_site: SiteFactory, auth: dict[str, str]
) -> None:
    await make_site()
    phish = "https://evil.example/moderators/sign-in"
    first = await _post(client, "First!", article_url=phish, article_title="Budget 2026")
    article = await _article(client, auth, first["id"])
    assert article["url"] is None
    assert article["title"] == "Budget 2026"

    # A user name before the host is a link to evil.example, whatever it looks like.
    await _post(client, "Second", article_url="https://news.example@evil.example/x")
    assert (await _article(client, auth, first["id"]))["url"] is None

    # The first link on the site's own origin fills the gap; later ones do not replace it.
    real = "https://news.example/2026/budget"
    await _post(client, "Third", article_url=real, article_title="Something else")
    await _post(client, "Fourth", article_url="https://news.example/elsewhere")
    assert await _article(client, auth, first["id"]) == {
        "id": "story-1",
        "title": "Budget 2026",
        "url": real,
    }


async def test_article__a_link_stored_before_the_check_or_on_a_dropped_origin_is_hidden(
    client: Client, make_site: SiteFactory, auth: dict[str, str], settings: Settings
) -> None:
    await make_site()
    posted = await _post(client, "Hello", article_url="https://news.example/story-1")
    assert (await _article(client, auth, posted["id"]))["url"] == "https://news.example/story-1"

    await make_site(allowed_origins=["https://daily.example"])
    assert (await _article(client, auth, posted["id"]))["url"] is None

    await _sql(settings, "UPDATE articles SET url = 'https://evil.example/login'")
    queue = await client.get("/v1/queue?status=pending", headers=auth)
    assert [i["article"]["url"] for i in (await queue.json())["items"]] == [None]


# --- replies to comments that are not published ---------------------------------------


async def test_thread__a_reply_waits_while_its_parent_is_held_and_its_author_is_told(
    client: Client,
    make_site: SiteFactory,
    auth: dict[str, str],
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    await make_site(policy={"watched_terms": ["scam"]})
    parent = await _post(client, "Sounds like a scam to me.")
    reply = await _post(client, "Agreed, and here is why.", parent=parent["id"])
    assert (await _mine(client, reply))["waiting_for"] == "moderation"
    await _score_all(settings, engine)

    assert (await (await client.get(COMMENTS)).json())["items"] == []
    mine = await _mine(client, reply)
    assert (mine["status"], mine["visible"], mine["waiting_for"]) == ("approved", False, "parent")
    held = await _mine(client, parent)
    assert (held["status"], held["visible"], held["waiting_for"]) == ("held", False, "moderation")

    await _decide(client, auth, parent["id"], "approve")
    thread = await (await client.get(COMMENTS)).json()
    assert _shape(thread["items"]) == [(parent["id"], False, [(reply["id"], False, [])])]
    mine = await _mine(client, reply)
    assert (mine["status"], mine["visible"], mine["waiting_for"]) == ("approved", True, None)


async def test_thread__a_rejected_parent_shows_as_removed_above_its_approved_replies(
    client: Client,
    make_site: SiteFactory,
    auth: dict[str, str],
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    await make_site()
    parent = await _post(client, "Fine at first, then edited into abuse.")
    reply = await _post(client, "Replying in good faith.", parent=parent["id"])
    deeper = await _post(client, "Nested answer.", parent=reply["id"])
    lone = await _post(client, "Rejected with nothing below it.")
    await _score_all(settings, engine)
    await _decide(client, auth, parent["id"], "reject")
    await _decide(client, auth, lone["id"], "reject")

    thread = await (await client.get(COMMENTS)).json()
    assert _shape(thread["items"]) == [
        (parent["id"], True, [(reply["id"], False, [(deeper["id"], False, [])])])
    ]
    removed = thread["items"][0]
    assert (removed["author_name"], removed["body"]) == (None, None)
    assert "abuse" not in str(thread)
    mine = await _mine(client, reply)
    assert (mine["visible"], mine["waiting_for"]) == (True, None)

    # A removed reply in the middle keeps the approved one below it in place too.
    await _decide(client, auth, parent["id"], "approve")
    await _decide(client, auth, reply["id"], "reject")
    thread = await (await client.get(COMMENTS)).json()
    assert _shape(thread["items"]) == [
        (parent["id"], False, [(reply["id"], True, [(deeper["id"], False, [])])])
    ]


async def test_thread__pages_through_removed_top_level_comments_in_order(
    client: Client,
    make_site: SiteFactory,
    auth: dict[str, str],
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    await make_site()
    a1 = await _post(client, "a1 approved")
    r1 = await _post(client, "r1 rejected, answered")
    r1_reply = await _post(client, "answer to r1", parent=r1["id"])
    a2 = await _post(client, "a2 approved")
    r2 = await _post(client, "r2 rejected, unanswered")
    r3 = await _post(client, "r3 rejected, answered by a rejected reply only")
    r3_reply = await _post(client, "rejected answer to r3", parent=r3["id"])
    a3 = await _post(client, "a3 approved")
    await _score_all(settings, engine)
    for rejected in (r1, r2, r3, r3_reply):
        await _decide(client, auth, rejected["id"], "reject")

    seen: list[Any] = []
    cursor = None
    while True:
        url = COMMENTS + "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await client.get(url)).json()
        assert len(page["items"]) <= 2
        seen += _shape(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [
        (a1["id"], False, []),
        (r1["id"], True, [(r1_reply["id"], False, [])]),
        (a2["id"], False, []),
        (a3["id"], False, []),
    ]


async def test_migration_0004__marks_the_comments_answered_before_it_kept_count(
    client: Client,
    make_site: SiteFactory,
    auth: dict[str, str],
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    await make_site()
    parent = await _post(client, "Answered before the upgrade.")
    reply = await _post(client, "The answer.", parent=parent["id"])
    await _score_all(settings, engine)
    await _decide(client, auth, parent["id"], "reject")
    # A database from before migration 0004: no comment marked answered.
    await _sql(settings, "UPDATE comments SET answered = false")
    await _sql(settings, "DELETE FROM schema_migrations WHERE version = 4")
    assert (await (await client.get(COMMENTS)).json())["items"] == []

    assert settings.database_url is not None
    await migrate(settings.database_url)
    thread = await (await client.get(COMMENTS)).json()
    assert _shape(thread["items"]) == [(parent["id"], True, [(reply["id"], False, [])])]


# --- reposts ---------------------------------------------------------------------------


async def test_duplicates__the_refusal_says_what_became_of_the_first_post(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    body = {"body": "Well said.", "author_name": "Ann", "author_email": "ann@x.example"}
    assert (await client.post(COMMENTS, json=body)).status == 202
    waiting = await client.post(COMMENTS, json=body)
    assert waiting.status == 409
    assert "waiting for moderation" in (await waiting.json())["detail"]

    await _score_all(settings, engine)
    published = await client.post(COMMENTS, json=body)
    assert published.status == 409
    detail = (await published.json())["detail"]
    assert "already published" in detail
    assert "waiting" not in detail
