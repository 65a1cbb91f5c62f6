"""The moderator's page over HTTP, without a browser: sign-in, sessions, CSRF, claims,
live changes, undo, the policy preview, the widget's CORS and the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from service.store.tokens import TokenStore
from service.web.app import create_app
from tests.pages_support import (
    PASSWORD,
    Client,
    make_user,
    post_comment,
    score_all,
    sign_in,
)

REPO = Path(__file__).parents[2]
ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def app_client(
    aiohttp_client: ClientFactory, psettings: Settings, engine: AsyncEngine
) -> Client:
    return await aiohttp_client(create_app(psettings, engine=engine))


@pytest.fixture
async def site(app_client: Client, engine: AsyncEngine) -> str:
    token = await TokenStore(engine).create("admin", None, "setup")
    response = await app_client.put(
        "/v1/sites/daily",
        json={
            "name": "The Daily",
            "allowed_origins": ["https://news.example"],
            "policy": {"watched_terms": ["scam"]},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 201
    return "daily"


async def _sql(settings: Settings, statement: str, *args: Any) -> list[asyncpg.Record]:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def _held(
    app_client: Client, psettings: Settings, engine: AsyncEngine, *bodies: str
) -> list[str]:
    ids = [(await post_comment(app_client, b, author=f"R{i}"))["id"] for i, b in enumerate(bodies)]
    await score_all(psettings, engine)
    return ids


# --- sign-in, sessions, sign-out ------------------------------------------------------------


async def test_sign_in__sets_an_httponly_samesite_cookie_and_opens_the_queue(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    first = await app_client.get("/moderate", allow_redirects=False)
    assert first.status == 303
    assert first.headers["Location"] == "/moderate/sign-in?next=/moderate"
    form = await app_client.get("/moderate/sign-in")
    token = form.cookies["rg_sign_in"].value
    done = await app_client.post(
        "/moderate/sign-in?next=/moderate?status=pending",
        data={"name": "Ann", "password": PASSWORD, "csrf": token},
        allow_redirects=False,
    )
    assert done.status == 303
    assert done.headers["Location"] == "/moderate?status=pending"
    cookie = done.cookies["rg_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # plain http here; https gets Secure
    page = await app_client.get("/moderate")
    assert page.status == 200
    assert "ann · moderator" in await page.text()


async def test_sign_in__over_https_marks_the_cookie_secure(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    token = (await app_client.get("/moderate/sign-in")).cookies["rg_sign_in"].value
    done = await app_client.post(
        "/moderate/sign-in",
        data={"name": "ann", "password": PASSWORD, "csrf": token},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    assert done.cookies["rg_session"]["secure"] is True


async def test_sign_in__redirects_only_within_the_moderator_page(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    token = (await app_client.get("/moderate/sign-in")).cookies["rg_sign_in"].value
    done = await app_client.post(
        "/moderate/sign-in?next=//evil.example/moderate",
        data={"name": "ann", "password": PASSWORD, "csrf": token},
        allow_redirects=False,
    )
    assert done.headers["Location"] == "/moderate"


async def test_sign_in__without_the_form_cookie_is_refused(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    done = await app_client.post(
        "/moderate/sign-in",
        data={"name": "ann", "password": PASSWORD, "csrf": "forged"},
        allow_redirects=False,
    )
    assert done.status == 403
    assert "rg_session" not in done.cookies


async def test_sign_in__failures_slow_down_then_block_even_the_right_password(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    token = (await app_client.get("/moderate/sign-in")).cookies["rg_sign_in"].value
    statuses = []
    for _ in range(4):
        r = await app_client.post(
            "/moderate/sign-in", data={"name": "ann", "password": "wrong guess!", "csrf": token}
        )
        statuses.append(r.status)
    # Three failures cost nothing extra; the fourth blocks the name for a second.
    assert statuses == [401, 401, 401, 429]
    blocked = await app_client.post(
        "/moderate/sign-in",
        data={"name": "ann", "password": PASSWORD, "csrf": token},
        allow_redirects=False,
    )
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins. Wait 1 second and try again." in await blocked.text()
    await asyncio.sleep(1.1)
    ok = await app_client.post(
        "/moderate/sign-in",
        data={"name": "ann", "password": PASSWORD, "csrf": token},
        allow_redirects=False,
    )
    assert ok.status == 303
    rows = await _sql(psettings, "SELECT key FROM sign_in_failures")
    assert [r["key"] for r in rows] == ["addr:127.0.0.1"]


async def test_sign_in__unknown_name_costs_a_hash_like_a_known_one(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    token = (await app_client.get("/moderate/sign-in")).cookies["rg_sign_in"].value
    loop = asyncio.get_running_loop()
    timings = {}
    for name in ("ann", "nobody"):
        started = loop.time()
        r = await app_client.post(
            "/moderate/sign-in", data={"name": name, "password": "wrong guess!", "csrf": token}
        )
        timings[name] = loop.time() - started
        assert r.status == 401
    assert timings["nobody"] > 0.4 * timings["ann"]


async def test_session__ends_when_idle_and_at_its_absolute_end(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    csrf = await sign_in(app_client, "ann")
    headers = {"X-CSRF-Token": csrf}
    assert (await app_client.get("/v1/queue", headers=headers)).status == 200

    await _sql(psettings, "UPDATE user_sessions SET last_seen_at = now() - interval '31 minutes'")
    assert (await app_client.get("/v1/queue", headers=headers)).status == 401
    page = await app_client.get("/moderate", allow_redirects=False)
    assert page.status == 303 and "note=ended" in page.headers["Location"]

    csrf = await sign_in(app_client, "ann")
    await _sql(psettings, "UPDATE user_sessions SET expires_at = now() - interval '1 second'")
    assert (await app_client.get("/v1/queue", headers={"X-CSRF-Token": csrf})).status == 401


async def test_session__background_polls_do_not_keep_it_alive(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    csrf = await sign_in(app_client, "ann")
    await _sql(psettings, "UPDATE user_sessions SET last_seen_at = now() - interval '10 minutes'")
    poll = {"X-CSRF-Token": csrf, "X-Replyguard-Background": "1"}
    assert (await app_client.get("/v1/changes", headers=poll)).status == 200
    [row] = await _sql(psettings, "SELECT now() - last_seen_at AS idle FROM user_sessions")
    assert row["idle"].total_seconds() > 500
    assert (await app_client.get("/v1/queue", headers={"X-CSRF-Token": csrf})).status == 200
    [row] = await _sql(psettings, "SELECT now() - last_seen_at AS idle FROM user_sessions")
    assert row["idle"].total_seconds() < 5


async def test_sign_out__needs_the_csrf_token_and_ends_the_session(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    csrf = await sign_in(app_client, "ann")
    refused = await app_client.post("/moderate/sign-out", data={"csrf": "nope"})
    assert refused.status == 403
    assert (await app_client.get("/moderate", allow_redirects=False)).status == 200
    done = await app_client.post("/moderate/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert done.status == 303
    assert await _sql(psettings, "SELECT 1 FROM user_sessions") == []
    assert (await app_client.get("/moderate", allow_redirects=False)).status == 303


async def test_create_user__resetting_a_password_ends_their_sessions(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    csrf = await sign_in(app_client, "ann")
    await make_user(engine, psettings, "ann", password="a brand new password")
    assert (await app_client.get("/v1/queue", headers={"X-CSRF-Token": csrf})).status == 401


# --- the API through the page's session -----------------------------------------------------


async def test_api__a_session_acts_as_its_user_with_the_csrf_token(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    [cid] = await _held(app_client, psettings, engine, "You idiot, read the budget first.")
    await make_user(engine, psettings, "ann")
    csrf = await sign_in(app_client, "ann")
    url = f"/v1/comments/{cid}/decision"
    no_token = await app_client.post(url, json={"action": "approve"})
    assert no_token.status == 403
    wrong = await app_client.post(url, json={"action": "approve"}, headers={"X-CSRF-Token": "x"})
    assert wrong.status == 403
    assert "CSRF" in (await wrong.json())["detail"]
    ok = await app_client.post(url, json={"action": "approve"}, headers={"X-CSRF-Token": csrf})
    assert ok.status == 200
    audit = await (await app_client.get(f"{url[:-9]}/audit", headers={"X-CSRF-Token": csrf})).json()
    assert audit["items"][-1]["actor"] == {"kind": "moderator", "name": "ann"}


async def test_api__a_session_reads_without_the_csrf_token_but_changes_need_it(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    [cid] = await _held(app_client, psettings, engine, "You idiot, read the budget first.")
    await make_user(engine, psettings, "ann")
    await sign_in(app_client, "ann")
    queue = await app_client.get("/v1/queue")
    assert queue.status == 200
    assert [i["id"] for i in (await queue.json())["items"]] == [cid]
    assert (await app_client.get(f"/v1/comments/{cid}/audit")).status == 200
    change = await app_client.post(f"/v1/comments/{cid}/decision", json={"action": "approve"})
    assert change.status == 403
    assert "X-CSRF-Token" in (await change.json())["detail"]
    # An ended session reads as no session at all: the API asks for credentials.
    await _sql(psettings, "UPDATE user_sessions SET expires_at = now() - interval '1 second'")
    assert (await app_client.get("/v1/queue")).status == 401


async def test_api__a_moderator_session_covers_only_its_sites(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    [cid] = await _held(app_client, psettings, engine, "You idiot.")
    await make_user(engine, psettings, "bo", sites=["other"])
    csrf = await sign_in(app_client, "bo")
    headers = {"X-CSRF-Token": csrf}
    assert (await (await app_client.get("/v1/queue", headers=headers)).json())["items"] == []
    r = await app_client.post(
        f"/v1/comments/{cid}/decision", json={"action": "reject"}, headers=headers
    )
    assert r.status == 404
    assert (
        await app_client.put("/v1/sites/daily", json={"name": "x"}, headers=headers)
    ).status == 403


async def test_api__the_in_process_token_means_nothing_without_a_session(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    from service.web import keys

    bridge = app_client.app[keys.AUTH].bridge_token
    r = await app_client.get("/v1/queue", headers={"Authorization": f"Bearer {bridge}"})
    assert r.status == 401


async def test_api__a_reader_signed_in_as_moderator_can_still_comment(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    await sign_in(app_client, "ann")
    await post_comment(app_client, "Posting from the demo page while signed in.")


async def test_pages__send_csp_and_security_headers(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann", role="admin", sites=[])
    await sign_in(app_client, "ann")
    for path in ("/moderate/sign-in", "/moderate", "/moderate/sites/daily", "/demo"):
        r = await app_client.get(path)
        assert r.status == 200, path
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Cache-Control"] == "no-store"
        assert "<script>" not in await r.text()  # nothing inline


async def test_pages__escape_every_value_they_render(
    app_client: Client, psettings: Settings, engine: AsyncEngine
) -> None:
    token = await TokenStore(engine).create("admin", None, "setup")
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    r = await app_client.put(
        "/v1/sites/daily",
        json={"name": evil, "policy": {"watched_terms": [evil]}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status == 201
    await make_user(engine, psettings, "ann", role="admin", sites=[])
    await sign_in(app_client, "ann")
    for path in ("/moderate", "/moderate/sites/daily"):
        html = await (await app_client.get(path)).text()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- claims, changes, counts, undo, preview -------------------------------------------------


async def test_claims__a_second_moderator_learns_who_holds_the_comment(
    aiohttp_client: ClientFactory,
    psettings: Settings,
    engine: AsyncEngine,
    app_client: Client,
    site: str,
) -> None:
    first, second = await _held(app_client, psettings, engine, "You idiot.", "Moron.")
    await make_user(engine, psettings, "ann")
    await make_user(engine, psettings, "bo")
    other = await aiohttp_client(app_client.server)
    ann = {"X-CSRF-Token": await sign_in(app_client, "ann")}
    bo = {"X-CSRF-Token": await sign_in(other, "bo")}
    mine = await (
        await app_client.post("/v1/claims", json={"comment_id": first}, headers=ann)
    ).json()
    assert mine["mine"] is True and mine["holder"] == "ann"
    theirs = await (await other.post("/v1/claims", json={"comment_id": first}, headers=bo)).json()
    assert theirs["mine"] is False and theirs["holder"] == "ann"
    # Moving on releases the first claim.
    await app_client.post("/v1/claims", json={"comment_id": second}, headers=ann)
    now_bo = await (await other.post("/v1/claims", json={"comment_id": first}, headers=bo)).json()
    assert now_bo["mine"] is True
    changes = await (await other.get("/v1/changes", headers=bo)).json()
    assert {(c["comment_id"], c["holder"]) for c in changes["claims"]} == {
        (first, "bo"),
        (second, "ann"),
    }
    # A lapsed claim is anyone's.
    await _sql(psettings, "UPDATE review_claims SET expires_at = now() - interval '1 second'")
    again = await (
        await app_client.post("/v1/claims", json={"comment_id": first}, headers=ann)
    ).json()
    assert again["mine"] is True


async def test_changes__report_what_others_decided_since_the_last_poll(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    [cid] = await _held(app_client, psettings, engine, "You idiot.")
    await make_user(engine, psettings, "ann")
    headers = {"X-CSRF-Token": await sign_in(app_client, "ann")}
    first = await (await app_client.get("/v1/changes", headers=headers)).json()
    assert first["items"] == []
    token = await TokenStore(engine).create("moderator", ["daily"], "bo")
    await app_client.post(
        f"/v1/comments/{cid}/decision",
        json={"action": "reject"},
        headers={"Authorization": f"Bearer {token}"},
    )
    later = await (
        await app_client.get("/v1/changes", params={"since": first["now"]}, headers=headers)
    ).json()
    [change] = [c for c in later["items"] if c["to_status"] == "rejected"]
    assert change["comment_id"] == cid
    assert change["status"] == "rejected"
    assert change["actor"] == {"kind": "moderator", "name": "bo"}
    bad = await app_client.get("/v1/changes", params={"since": "yesterday"}, headers=headers)
    assert bad.status == 422


async def test_summary__counts_each_status_and_the_oldest_wait(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await _held(app_client, psettings, engine, "You idiot.", "Moron.", "Nice piece.")
    await post_comment(app_client, "Not scored yet.", article="other-story")
    await _sql(
        psettings,
        "UPDATE comments SET created_at = now() - interval '2 hours' WHERE status = 'held'",
    )
    await make_user(engine, psettings, "ann")
    headers = {"X-CSRF-Token": await sign_in(app_client, "ann")}
    summary = await (await app_client.get("/v1/queue/summary", headers=headers)).json()
    assert summary["counts"] == {"pending": 1, "held": 2, "approved": 1, "rejected": 0}
    assert 7190 < summary["oldest_seconds"]["held"] < 7300
    assert summary["articles"] == [
        {
            "site_id": "daily",
            "id": "budget-2026",
            "title": "Budget 2026: what changes for you",
            "waiting": 2,
            "oldest_seconds": pytest.approx(7200, abs=60),
        }
    ]
    one = await app_client.get(
        "/v1/queue/summary", params={"article": "other-story"}, headers=headers
    )
    assert (await one.json())["counts"]["held"] == 0


async def test_article_queue__holds_only_that_articles_comments(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await post_comment(app_client, "You idiot.", article="one")
    await post_comment(app_client, "Moron.", article="two", author="B")
    await post_comment(app_client, "Idiot again.", article="two", author="C")
    await score_all(psettings, engine)
    await make_user(engine, psettings, "ann")
    headers = {"X-CSRF-Token": await sign_in(app_client, "ann")}
    page = await (
        await app_client.get(
            "/v1/queue",
            params={"site": "daily", "article": "two", "order": "score", "limit": "1"},
            headers=headers,
        )
    ).json()
    assert [c["body"] for c in page["items"]] == ["Idiot again."]
    rest = await (
        await app_client.get(
            "/v1/queue",
            params={
                "site": "daily",
                "article": "two",
                "order": "score",
                "cursor": page["next_cursor"],
            },
            headers=headers,
        )
    ).json()
    assert [c["body"] for c in rest["items"]] == ["Moron."]
    hidden = await app_client.get(
        "/v1/queue", params={"site": "other", "article": "two"}, headers=headers
    )
    assert hidden.status == 404


async def test_reopen__undoes_a_decision_back_to_held(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    ids = await _held(app_client, psettings, engine, "You idiot.", "Moron.")
    await make_user(engine, psettings, "ann")
    headers = {"X-CSRF-Token": await sign_in(app_client, "ann")}
    await app_client.post("/v1/decisions", json={"ids": ids, "action": "reject"}, headers=headers)
    r = await app_client.post("/v1/decisions/reopen", json={"ids": ids}, headers=headers)
    assert r.status == 200
    assert {i["status"] for i in (await r.json())["items"]} == {"held"}
    queue = await (await app_client.get("/v1/queue", headers=headers)).json()
    assert sorted(c["id"] for c in queue["items"]) == sorted(ids)
    rows = await _sql(
        psettings,
        "SELECT to_status, reason FROM audit_log WHERE comment_id = $1 ORDER BY id",
        __import__("uuid").UUID(ids[0]),
    )
    assert [(r["to_status"], r["reason"]) for r in rows][-2:] == [
        ("rejected", None),
        ("held", "reopened"),
    ]


async def test_policy_preview__counts_the_decisions_a_change_would_flip(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await _held(
        app_client,
        psettings,
        engine,
        "You idiot.",  # toxicity 0.81: held
        "Moron.",  # 0.66: held
        "That is garbage reporting.",  # 0.55: held
        "Thanks, useful.",  # low: approved
        "Buy now, total scam.",  # watched term: held
    )
    await make_user(engine, psettings, "ann", role="admin", sites=[])
    headers = {"X-CSRF-Token": await sign_in(app_client, "ann")}
    proposed = {
        "thresholds": {"toxicity": {"hold_at": 0.6, "reject_at": 0.8}},
        "watched_terms": ["scam"],
    }
    r = await app_client.post(
        "/v1/sites/daily/policy/preview", json={"policy": proposed, "last": 50}, headers=headers
    )
    assert r.status == 200, await r.text()
    result = await r.json()
    assert result["considered"] == 5
    assert result["changed"] == 2
    assert result["transitions"] == [
        {"from": "held", "to": "approved", "count": 1},
        {"from": "held", "to": "rejected", "count": 1},
    ]
    assert {e["body"] for e in result["examples"]} == {"You idiot.", "That is garbage reporting."}
    bad = await app_client.post(
        "/v1/sites/daily/policy/preview", json={"policy": {"mode": "never"}}, headers=headers
    )
    assert bad.status == 422
    assert (await bad.json())["errors"][0]["field"] == "policy.mode"


async def test_policy_preview__is_for_admins(
    app_client: Client, psettings: Settings, engine: AsyncEngine, site: str
) -> None:
    await make_user(engine, psettings, "ann")
    headers = {"X-CSRF-Token": await sign_in(app_client, "ann")}
    r = await app_client.post("/v1/sites/daily/policy/preview", json={}, headers=headers)
    assert r.status == 403


# --- the widget's endpoints -----------------------------------------------------------------


async def test_widget_cors__refusals_carry_cors_for_the_sites_origins(
    app_client: Client, site: str
) -> None:
    url = "/v1/sites/daily/articles/a1/comments"
    allowed = await app_client.post(
        url, json={"body": "", "author_name": "A"}, headers={"Origin": "https://news.example"}
    )
    assert allowed.status == 422
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://news.example"
    other = await app_client.post(
        url, json={"body": "", "author_name": "A"}, headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_embed_js__is_served_for_any_page_to_include(app_client: Client) -> None:
    r = await app_client.get("/embed.js")
    assert r.status == 200
    assert r.content_type == "text/javascript"
    assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "attachShadow" in await r.text()
    again = await app_client.get("/embed.js", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status == 304
    assert (await app_client.get("/static/../schema.sql")).status == 404
    assert (await app_client.get("/static/pages.py")).status == 404


async def test_demo__shows_how_to_create_its_site_when_missing(app_client: Client) -> None:
    html = await (await app_client.get("/demo")).text()
    assert 'src="/embed.js" data-site="demo"' in html
    assert "There is no site" in html
    assert (await app_client.get("/demo?site=Bad Site")).status == 404


# --- the CLI ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_create_user_cli__reads_the_password_from_stdin(psettings: Settings) -> None:
    assert psettings.database_url is not None
    env = {**os.environ, "DATABASE_URL": psettings.database_url, "PYTHONPATH": str(REPO)}
    asyncio.run(_sql(psettings, "INSERT INTO sites (id, name) VALUES ('daily', 'The Daily')"))
    run = [sys.executable, "-m", "service", "create-user"]
    short = subprocess.run(
        [*run, "ann", "--role", "moderator", "--site", "daily"],
        input="short\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    no_site = subprocess.run(
        [*run, "ann", "--role", "moderator"],
        input=f"{PASSWORD}\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_site.returncode == 2
    done = subprocess.run(
        [*run, "Ann", "--role", "moderator", "--site", "daily", "--password-stdin"],
        input=f"{PASSWORD}\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Created moderator ann for daily" in done.stdout
    rows = asyncio.run(_sql(psettings, "SELECT name, role, sites, password_hash FROM users"))
    assert [(r["name"], r["role"], r["sites"]) for r in rows] == [("ann", "moderator", ["daily"])]
    assert rows[0]["password_hash"].startswith("$argon2id$")
