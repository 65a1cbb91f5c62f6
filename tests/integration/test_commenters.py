"""Know the commenters (issue 12) against a real PostgreSQL: verified authors from a site's
sign-in, their history, the trust rules, sanctions, erasure and the upgrade."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.queue.scoring import ScoringWorker
from service.settings import Settings
from service.store.authors import AuthorStore
from service.store.schema import load_migrations, migrate
from service.store.tokens import TokenStore
from tests.author_tokens import make_token
from tests.conftest import SiteFactory
from tests.db_rows import fetch_rows
from tests.fakes import FakeScorer

Client = TestClient[Any, Any]
MakeDatabase = Callable[[], Awaitable[str]]
COMMENTS = "/v1/sites/daily/articles/a1/comments"
#: The model would hold a toxic comment (0.97), never reject it: the trust rules' ground.
HOLDS_TOXIC = {"toxicity": {"hold_at": 0.5, "reject_at": None}}


async def _post(client: Client, body: str, **extra: Any) -> dict[str, Any]:
    headers = extra.pop("headers", {})
    r = await client.post(
        COMMENTS, json={"body": body, "author_name": "Ann", **extra}, headers=headers
    )
    assert r.status == 202, await r.text()
    data: dict[str, Any] = await r.json()
    return data


async def _score(settings: Settings, engine: AsyncEngine) -> None:
    worker = ScoringWorker(settings, engine, FakeScorer())
    while await worker.run_once():
        pass


async def _comment(client: Client, auth: dict[str, str], comment_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/comments/{comment_id}", headers=auth)
    assert r.status == 200, await r.text()
    data: dict[str, Any] = await r.json()
    return data


async def _sso_secret(client: Client, auth: dict[str, str], site: str = "daily") -> str:
    r = await client.post(f"/v1/sites/{site}/sso-secret", headers=auth)
    assert r.status == 201, await r.text()
    secret: str = (await r.json())["secret"]
    return secret


# --- trust rules -------------------------------------------------------------------------


async def test_first_comments__an_authors_first_n_wait_for_a_moderator(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site(policy={"first_comments_held": 2})
    ids = []
    for i in range(3):
        ids.append((await _post(client, f"fine words {i}", author_email="ann@example.org"))["id"])
        await _score(settings, engine)
    other = (await _post(client, "also fine", author_email="bob@example.org"))["id"]
    await _score(settings, engine)

    seen = [await _comment(client, auth, i) for i in ids]
    assert [c["status"] for c in seen] == ["held", "held", "approved"]
    assert seen[0]["explanation"]["rule"] == "first_comments"
    assert "first 2 comments" in seen[1]["explanation"]["reason"]
    assert seen[1]["explanation"]["before"] == {"verdict": "approved", "rule": "below_thresholds"}
    assert seen[2]["explanation"]["rule"] == "below_thresholds"
    assert (await _comment(client, auth, other))["explanation"]["rule"] == "first_comments"
    # The queue item carries the author and their counts on the site.
    queue = await (await client.get("/v1/queue?site=daily", headers=auth)).json()
    anns = [i["author"] for i in queue["items"] if i["id"] in ids]
    assert anns[0]["history"] == {"approved": 1, "rejected": 0, "held": 2}
    assert anns[0]["verified"] is False and anns[0]["name"] == "Ann"
    assert anns[0]["first_seen"] == seen[0]["created_at"]


async def test_trusted_after__publishes_what_the_model_would_hold_never_a_reject(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site(
        policy={"trusted_after": 2, "thresholds": HOLDS_TOXIC, "blocked_terms": ["spamword"]}
    )
    for i in range(2):
        await _post(client, f"fine words {i}", author_email="regular@example.org")
        await _post(client, f"fine words {i}", author_email="lapsed@example.org")
    await _score(settings, engine)
    # The lapsed regular had a comment rejected by a moderator this month.
    lapsed_bad = await _post(client, "fine words 9", author_email="lapsed@example.org")
    await _score(settings, engine)
    r = await client.post(
        f"/v1/comments/{lapsed_bad['id']}/decision", json={"action": "reject"}, headers=auth
    )
    assert r.status == 200

    trusted = await _post(client, "you idiot", author_email="regular@example.org")
    blocked = await _post(client, "spamword idiot", author_email="regular@example.org")
    lapsed = await _post(client, "you idiot", author_email="lapsed@example.org")
    newcomer = await _post(client, "you idiot", author_email="new@example.org")
    await _score(settings, engine)

    got = {
        name: await _comment(client, auth, c["id"])
        for name, c in [
            ("trusted", trusted),
            ("blocked", blocked),
            ("lapsed", lapsed),
            ("newcomer", newcomer),
        ]
    }
    assert got["trusted"]["status"] == "approved"
    assert got["trusted"]["explanation"]["rule"] == "trusted_author"
    assert got["trusted"]["explanation"]["author"]["approved"] == 2
    assert got["blocked"]["status"] == "rejected"
    assert got["blocked"]["explanation"]["rule"] == "blocked_term"
    assert (got["lapsed"]["status"], got["lapsed"]["explanation"]["rule"]) == (
        "held",
        "hold_threshold",
    )
    assert got["lapsed"]["explanation"]["author"]["rejected_recently"] == 1
    assert (got["newcomer"]["status"], got["newcomer"]["explanation"]["rule"]) == (
        "held",
        "hold_threshold",
    )


# --- sanctions ---------------------------------------------------------------------------


async def test_ban__rejects_the_next_comment_at_once_and_the_202_is_unchanged(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site()
    first = await _post(client, "fine words", author_email="troll@example.org")
    await _score(settings, engine)
    author_id = (await _comment(client, auth, first["id"]))["author"]["id"]
    mod = {
        "Authorization": f"Bearer {await TokenStore(engine).create('moderator', ['daily'], 'Mo')}"
    }

    r = await client.post(
        f"/v1/sites/daily/authors/{author_id}/sanctions",
        json={"kind": "ban", "reason": "twenty rejected trolls"},
        headers=mod,
    )
    assert r.status == 201, await r.text()
    ban = await r.json()
    assert (ban["kind"], ban["until"], ban["by"]) == ("ban", None, "Mo")

    banned = await client.post(
        COMMENTS,
        json={
            "body": "perfectly polite",
            "author_name": "Ann",
            "author_email": "troll@example.org",
        },
    )
    anyone = await client.post(COMMENTS, json={"body": "perfectly polite too", "author_name": "Bo"})
    # No oracle for the troll: the same status, the same fields as anyone's.
    assert banned.status == anyone.status == 202
    assert sorted(await banned.json()) == sorted(await anyone.json())
    banned_id = (await banned.json())["id"]
    await _score(settings, engine)

    seen = await _comment(client, auth, banned_id)
    assert seen["status"] == "rejected"
    assert seen["explanation"]["rule"] == "banned"
    assert "banned" in seen["explanation"]["reason"]
    # Decided without the model: no score was stored for it.
    unscored = "SELECT 1 FROM comment_scores WHERE comment_id = $1"
    assert await fetch_rows(settings, unscored, seen["id"]) == []
    profile = await (await client.get(f"/v1/sites/daily/authors/{author_id}", headers=mod)).json()
    assert profile["sanction"]["reason"] == "twenty rejected trolls"
    assert profile["history"] == {"approved": 1, "rejected": 1, "held": 0, "pending": 0}

    lifted = await client.delete(f"/v1/sites/daily/authors/{author_id}/sanctions", headers=mod)
    assert await lifted.json() == {"lifted": True}
    again = await client.delete(f"/v1/sites/daily/authors/{author_id}/sanctions", headers=mod)
    assert await again.json() == {"lifted": False}
    audit = await fetch_rows(settings, "SELECT action, kind, actor FROM author_audit ORDER BY id")
    assert [tuple(a) for a in audit] == [("sanctioned", "ban", "Mo"), ("unsanctioned", "ban", "Mo")]
    events = await fetch_rows(
        settings,
        "SELECT event_type, payload FROM outbox WHERE event_type LIKE 'author.%' ORDER BY seq",
    )
    assert [e["event_type"] for e in events] == ["author.sanctioned", "author.unsanctioned"]
    assert json.loads(events[0]["payload"])["author_id"] == author_id


async def test_suspension__rejects_until_its_end_then_ends_by_itself(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site()
    first = await _post(client, "fine words", author_email="hot@example.org")
    author_id = (await _comment(client, auth, first["id"]))["author"]["id"]
    until = datetime.now(UTC) + timedelta(seconds=5)
    r = await client.post(
        f"/v1/sites/daily/authors/{author_id}/sanctions",
        json={"kind": "suspend", "until": until.isoformat(), "reason": "cool off"},
        headers=auth,
    )
    assert r.status == 201, await r.text()
    during = await _post(client, "still fine", author_email="hot@example.org")
    await _score(settings, engine)
    seen = await _comment(client, auth, during["id"])
    assert (seen["status"], seen["explanation"]["rule"]) == ("rejected", "suspended")

    await asyncio.sleep(max((until - datetime.now(UTC)).total_seconds(), 0) + 0.2)
    after = await _post(client, "fine again", author_email="hot@example.org")
    await _score(settings, engine)
    assert (await _comment(client, auth, after["id"]))["status"] == "approved"
    profile = await (await client.get(f"/v1/sites/daily/authors/{author_id}", headers=auth)).json()
    assert profile["sanction"] is None


async def test_sanctions__refuse_a_suspension_without_a_future_end_and_a_ban_with_one(
    client: Client, make_site: SiteFactory, auth: dict[str, str]
) -> None:
    await make_site()
    posted = await _post(client, "fine", author_email="x@example.org")
    author_id = (await _comment(client, auth, posted["id"]))["author"]["id"]
    path = f"/v1/sites/daily/authors/{author_id}/sanctions"
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for body, field in [
        ({"kind": "suspend", "reason": "r"}, "until"),
        ({"kind": "suspend", "until": past, "reason": "r"}, "until"),
        ({"kind": "ban", "until": past, "reason": "r"}, "until"),
        ({"kind": "mute", "reason": "r"}, "kind"),
        ({"kind": "ban"}, "reason"),
    ]:
        r = await client.post(path, json=body, headers=auth)
        assert r.status == 422, body
        assert field in [e["field"] for e in (await r.json())["errors"]]
    unknown = await client.post(
        "/v1/sites/daily/authors/abcd/sanctions", json={"kind": "ban", "reason": "r"}, headers=auth
    )
    assert unknown.status == 404


async def test_author__a_moderator_of_another_site_gets_404(
    client: Client, make_site: SiteFactory, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    await make_site()
    await make_site("other")
    posted = await _post(client, "fine", author_email="x@example.org")
    author_id = (await _comment(client, auth, posted["id"]))["author"]["id"]
    tokens = TokenStore(engine)
    other = {"Authorization": f"Bearer {await tokens.create('moderator', ['other'])}"}
    mine = {"Authorization": f"Bearer {await tokens.create('moderator', ['daily'])}"}
    base = f"/v1/sites/daily/authors/{author_id}"
    for method, path in [("GET", base), ("GET", f"{base}/comments")]:
        r = await client.request(method, path, headers=other)
        assert r.status == 404 and "x@example.org" not in await r.text()
        assert (await client.request(method, path, headers=mine)).status == 200
    r = await client.post(f"{base}/sanctions", json={"kind": "ban", "reason": "r"}, headers=other)
    assert r.status == 404
    # The other site's own author list has no such author either.
    r = await client.get(f"/v1/sites/other/authors/{author_id}", headers=auth)
    assert r.status == 404


async def test_author_comments__newest_first_in_pages(
    client: Client, make_site: SiteFactory, auth: dict[str, str]
) -> None:
    await make_site()
    ids = [
        (await _post(client, f"words {i}", author_email="p@example.org"))["id"] for i in range(5)
    ]
    await _post(client, "someone else's", author_email="q@example.org")
    author_id = (await _comment(client, auth, ids[0]))["author"]["id"]
    seen: list[str] = []
    cursor = ""
    while True:
        r = await client.get(
            f"/v1/sites/daily/authors/{author_id}/comments?limit=2&cursor={cursor}", headers=auth
        )
        page = await r.json()
        seen += [c["id"] for c in page["items"]]
        none_decided = {"approved": 0, "rejected": 0, "held": 0}
        assert all(c["author"]["history"] == none_decided for c in page["items"])
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == ids[::-1]
    profile = await (await client.get(f"/v1/sites/daily/authors/{author_id}", headers=auth)).json()
    assert profile["history"]["pending"] == 5 and profile["verified"] is False


# --- verified authors (SSO) ----------------------------------------------------------------


async def test_sso__a_valid_token_makes_a_verified_author_named_by_the_site(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    auth: dict[str, str],
) -> None:
    await make_site()
    secret = await _sso_secret(client, auth)
    site = await (await client.get("/v1/sites/daily", headers=auth)).json()
    assert site["sso"]["enabled"] is True and secret not in json.dumps(site)
    token = make_token(
        secret,
        {"sub": "user-42", "name": "Ann Verified", "exp": time.time() + 300, "aud": "daily"},
    )
    r = await client.post(COMMENTS, json={"body": "signed in"}, headers={"X-Author-Token": token})
    assert r.status == 202, await r.text()
    seen = await _comment(client, auth, (await r.json())["id"])
    expected = hashlib.sha256(b"sso\0daily\0user-42").hexdigest()
    assert seen["author"]["id"] == expected
    assert seen["author"]["verified"] is True and seen["author_name"] == "Ann Verified"
    profile = await (await client.get(f"/v1/sites/daily/authors/{expected}", headers=auth)).json()
    assert profile["verified"] is True and profile["name"] == "Ann Verified"
    long_name = make_token(secret, {"sub": "user-43", "name": "N" * 100, "exp": time.time() + 60})
    r = await client.post(COMMENTS, json={"body": "long"}, headers={"X-Author-Token": long_name})
    assert r.status == 202, await r.text()
    named = await _comment(client, auth, (await r.json())["id"])
    assert named["author_name"] == "N" * settings.max_name_chars
    # The widget on the site's pages may send the header across origins.
    preflight = await client.options(
        COMMENTS,
        headers={"Origin": "https://news.example", "Access-Control-Request-Method": "POST"},
    )
    assert "X-Author-Token" in preflight.headers["Access-Control-Allow-Headers"]


async def test_sso__a_forged_expired_or_other_sites_token_is_refused_with_401(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    auth: dict[str, str],
) -> None:
    await make_site()
    await make_site("other")
    secret = await _sso_secret(client, auth)
    other_secret = await _sso_secret(client, auth, "other")
    soon = time.time() + 300
    claims = {"sub": "user-42", "name": "Ann", "exp": soon}
    refused = {
        "forged": (make_token("not-the-secret", claims), "signature does not match"),
        "expired": (make_token(secret, {**claims, "exp": time.time() - 3600}), "expired"),
        "other site's secret": (make_token(other_secret, claims), "signature does not match"),
        "other site's audience": (make_token(secret, {**claims, "aud": "other"}), "another site"),
        "no expiry": (make_token(secret, {"sub": "user-42", "name": "Ann"}), "no exp"),
        "alg none": (make_token(secret, claims, alg="none"), "HS256"),
        "not a JWT": ("garbage", "not a JWT"),
    }
    for case, (token, says) in refused.items():
        r = await client.post(
            COMMENTS,
            json={"body": "hello", "author_name": "Ann"},
            headers={"X-Author-Token": token},
        )
        assert r.status == 401, case
        assert r.content_type == "application/problem+json", case
        assert says in (await r.json())["detail"], case
    # A site without SSO refuses a token too: never a silent downgrade to unverified.
    r = await client.post(
        "/v1/sites/other/articles/a1/comments",
        json={"body": "hello", "author_name": "Ann"},
        headers={"X-Author-Token": make_token(secret, claims)},
    )
    assert r.status == 401
    await client.post("/v1/sites/other/sso-secret", headers=auth)  # rotate: old one is dead
    r = await client.post(
        "/v1/sites/other/articles/a1/comments",
        json={"body": "hello", "author_name": "Ann"},
        headers={"X-Author-Token": make_token(other_secret, claims)},
    )
    assert r.status == 401
    assert await fetch_rows(settings, "SELECT 1 FROM comments") == []


# --- erasure and the upgrade ---------------------------------------------------------------


async def test_erase_author__removes_sanction_reasons_and_keeps_the_facts(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site()
    posted = await _post(client, "fine", author_email="gone@example.org")
    author_id = (await _comment(client, auth, posted["id"]))["author"]["id"]
    r = await client.post(
        f"/v1/sites/daily/authors/{author_id}/sanctions",
        json={"kind": "ban", "reason": "lives at 1 Elm Street"},
        headers=auth,
    )
    assert r.status == 201

    assert await AuthorStore(engine).erase(author_id=bytes.fromhex(author_id), actor="dpo") == 1

    sanction = await fetch_rows(settings, "SELECT kind, reason FROM author_sanctions")
    assert [tuple(s) for s in sanction] == [("ban", None)]
    audit = await fetch_rows(settings, "SELECT action, kind, actor, reason FROM author_audit")
    assert [tuple(a) for a in audit] == [("sanctioned", "ban", "test-admin", None)]
    events = await fetch_rows(
        settings, "SELECT payload FROM outbox WHERE event_type LIKE 'author.%'"
    )
    assert "Elm Street" not in json.dumps([e["payload"] for e in events])


async def test_migration__upgrades_a_database_holding_comments(
    make_database: MakeDatabase,
) -> None:
    url = await make_database()
    await migrate(url, [m for m in load_migrations() if m.name != "authors"])
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """
            INSERT INTO sites (id, name) VALUES ('daily', 'Daily');
            INSERT INTO articles (site_id, id) VALUES ('daily', 'a1');
            INSERT INTO comments (site_id, article_id, body, author_name, author_token_hash,
                                  author_key, status)
            VALUES ('daily', 'a1', 'old words', 'Ann', '\\x01', '\\x0a0b', 'approved'),
                   ('daily', 'a1', 'older words', 'Ann', '\\x02', '\\x0a0b', 'rejected');
            """
        )
        applied = await migrate(url)
        assert [m.name for m in applied] == ["authors"]
        rows = await conn.fetch(
            "SELECT encode(author_key, 'hex') AS id, author_verified FROM comments"
        )
        assert [(r["id"], r["author_verified"]) for r in rows] == [("0a0b", False)] * 2
        sso = await conn.fetchrow("SELECT sso_secret FROM sites")
        assert sso is not None and sso["sso_secret"] is None
        assert await conn.fetch("SELECT * FROM author_sanctions") == []
    finally:
        await conn.close()
