"""The public comment API and the moderators' API, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from service.queue.scoring import ScoringWorker
from service.settings import Settings
from tests.conftest import SiteFactory
from tests.fakes import FakeScorer

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/daily/articles/story-1/comments"


async def _count(settings: Settings, table: str) -> int:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def _score_all(settings: Settings, engine: Any, scorer: FakeScorer | None = None) -> None:
    worker = ScoringWorker(settings, engine, scorer or FakeScorer())
    while await worker.run_once():
        pass


async def test_post_comment__answers_202_pending_and_writes_comment_and_job(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    await make_site()
    response = await client.post(
        COMMENTS,
        json={
            "body": "A fair point about the budget.",
            "author_name": "Ann",
            "article_title": "Budget",
            "article_url": "https://news.example/budget",
        },
    )
    assert response.status == 202
    data = await response.json()
    assert data["status"] == "pending"
    assert data["author_token"].startswith("rga_")
    assert response.headers["Location"] == f"/v1/comments/{data['id']}"
    assert await _count(settings, "comments") == 1
    assert await _count(settings, "scoring_jobs") == 1


async def test_post_comment__bad_input_is_422_naming_each_field_and_writes_nothing(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    await make_site()
    response = await client.post(
        COMMENTS,
        json={"body": "  ", "author_email": "not-an-email", "colour": "red", "parent_id": "nope"},
    )
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"body", "author_name", "author_email", "colour", "parent_id"}
    assert await _count(settings, "comments") == 0


async def test_post_comment__wrong_content_type_malformed_json_and_oversize(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    await make_site()
    r = await client.post(COMMENTS, data="body=hi", headers={"Content-Type": "text/plain"})
    assert r.status == 415
    r = await client.post(COMMENTS, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert (await r.json())["errors"][0]["field"] == "body"
    r = await client.post(COMMENTS, json=["a", "list"])
    assert r.status == 400
    r = await client.post(
        COMMENTS, json={"body": "x" * (settings.max_body_chars + 1), "author_name": "Ann"}
    )
    assert r.status == 422
    r = await client.post(
        COMMENTS,
        data=b"{" + b" " * (settings.max_request_bytes + 10) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status == 413
    assert await _count(settings, "comments") == 0


async def test_post_comment__unknown_site_is_404(client: Client) -> None:
    response = await client.post(
        "/v1/sites/nowhere/articles/a/comments", json={"body": "hi", "author_name": "Ann"}
    )
    assert response.status == 404
    assert response.content_type == "application/problem+json"


async def test_post_comment__parent_from_another_article_is_refused(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    await make_site()
    first = await (await client.post(COMMENTS, json={"body": "Top", "author_name": "A"})).json()
    other = "/v1/sites/daily/articles/story-2/comments"
    response = await client.post(
        other, json={"body": "Reply", "author_name": "B", "parent_id": first["id"]}
    )
    assert response.status == 422
    assert (await response.json())["errors"] == [
        {"field": "parent_id", "problem": "is not a comment of this article"}
    ]
    assert await _count(settings, "comments") == 1
    # Nothing half-written: the article the refused reply would have created is not there.
    assert await _count(settings, "articles") == 1


async def test_pipeline__scores_decide_and_thread_nests_approved_replies(
    client: Client, make_site: SiteFactory, settings: Settings, engine: Any
) -> None:
    await make_site()
    top = await (
        await client.post(COMMENTS, json={"body": "Great story", "author_name": "A"})
    ).json()
    reply = await (
        await client.post(
            COMMENTS, json={"body": "Agreed", "author_name": "B", "parent_id": top["id"]}
        )
    ).json()
    rude = await (
        await client.post(
            COMMENTS, json={"body": "You idiot", "author_name": "C", "parent_id": top["id"]}
        )
    ).json()
    await _score_all(settings, engine)

    thread = await (await client.get(COMMENTS)).json()
    assert [i["id"] for i in thread["items"]] == [top["id"]]
    assert [r["id"] for r in thread["items"][0]["replies"]] == [reply["id"]]
    assert thread["next_cursor"] is None

    status = await client.get(
        f"/v1/comments/{rude['id']}", headers={"Authorization": f"Bearer {rude['author_token']}"}
    )
    assert (await status.json())["status"] == "rejected"
    # Someone else's token learns nothing, not even that the comment exists.
    other = await client.get(
        f"/v1/comments/{rude['id']}", headers={"Authorization": f"Bearer {top['author_token']}"}
    )
    assert other.status == 404


async def test_thread__paginates_top_level_comments(
    client: Client, make_site: SiteFactory, settings: Settings, engine: Any
) -> None:
    await make_site()
    ids = []
    for i in range(5):
        r = await client.post(COMMENTS, json={"body": f"comment {i}", "author_name": "A"})
        ids.append((await r.json())["id"])
    await _score_all(settings, engine)
    seen: list[str] = []
    cursor = None
    while True:
        url = COMMENTS + "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await client.get(url)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    bad = await client.get(COMMENTS + "?cursor=garbage")
    assert bad.status == 422


async def test_cors__answers_only_the_sites_allowed_origins(
    client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    ok = await client.options(
        COMMENTS,
        headers={"Origin": "https://news.example", "Access-Control-Request-Method": "POST"},
    )
    assert ok.headers["Access-Control-Allow-Origin"] == "https://news.example"
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    evil = await client.options(
        COMMENTS,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in evil.headers
    posted = await client.post(
        COMMENTS,
        json={"body": "hi", "author_name": "A"},
        headers={"Origin": "https://news.example"},
    )
    assert posted.headers["Access-Control-Allow-Origin"] == "https://news.example"


async def test_post_comment__after_the_database_drops_every_connection_one_post_fails_at_most(
    client: Client, make_site: SiteFactory, settings: Settings
) -> None:
    """The POST runs on the driver connection, which SQLAlchemy never sees fail: the pool
    must still be replaced at the first lost connection, not fail once per pooled one."""
    await make_site()

    async def post(i: int) -> int:
        response = await client.post(COMMENTS, json={"body": f"Point {i}.", "author_name": "A"})
        return response.status

    assert await asyncio.gather(*(post(i) for i in range(6))) == [202] * 6
    assert settings.database_url is not None
    admin = await asyncpg.connect(settings.database_url)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'replyguard'"
        )
    finally:
        await admin.close()
    assert killed >= 2  # the pool held several connections, all now dead
    statuses = [await post(10 + i) for i in range(6)]
    assert statuses.count(503) <= 1, statuses
    assert statuses[1:] == [202] * 5, statuses
    assert await _count(settings, "comments") == 6 + statuses.count(202)
