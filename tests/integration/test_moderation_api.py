"""Moderators and admins: the queue, decisions, audit, sites, policy overrides, access."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.queue.scoring import ScoringWorker
from service.settings import Settings
from service.store.jobs import JobStore
from service.store.tokens import TokenStore
from service.web.app import create_app, create_ops_app
from tests.conftest import SiteFactory
from tests.fakes import FakeScorer

Client = TestClient[Any, Any]
HOLD_ALL = {"mode": "pre"}


async def _post(client: Client, site: str, body: str, article: str = "a1", **extra: Any) -> str:
    r = await client.post(
        f"/v1/sites/{site}/articles/{article}/comments",
        json={"body": body, "author_name": "Reader", **extra},
    )
    assert r.status == 202, await r.text()
    return str((await r.json())["id"])


async def _score(settings: Settings, engine: AsyncEngine) -> None:
    worker = ScoringWorker(settings, engine, FakeScorer())
    while await worker.run_once():
        pass


async def _bearer(engine: AsyncEngine, role: str, *sites: str) -> dict[str, str]:
    token = await TokenStore(engine).create(
        "admin" if role == "admin" else "moderator",
        list(sites) or None,
        f"{role}-{'-'.join(sites)}",
    )
    return {"Authorization": f"Bearer {token}"}


async def test_queue__lists_held_with_explanation_and_parent_and_decides(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site("daily", policy={"watched_terms": ["budget"]})
    parent = await _post(client, "daily", "The budget story")
    child = await _post(client, "daily", "Budget cuts again?", parent_id=parent)
    await _score(settings, engine)
    mod = await _bearer(engine, "moderator", "daily")

    queue = await (await client.get("/v1/queue?site=daily", headers=mod)).json()
    assert [i["id"] for i in queue["items"]] == [parent, child]
    item = queue["items"][1]
    assert item["status"] == "held"
    assert item["scores"]["toxicity"] < 0.5
    assert item["explanation"]["rule"] == "watched_term"
    assert item["explanation"]["matched_terms"]["watched"] == ["budget"]
    assert item["explanation"]["model"]["name"] == "fake-scorer"
    assert item["parent"]["id"] == parent

    r = await client.post(
        f"/v1/comments/{child}/decision",
        json={"action": "approve", "reason": "on topic"},
        headers=mod,
    )
    assert await r.json() == {"id": child, "status": "approved", "changed": True}
    again = await client.post(
        f"/v1/comments/{child}/decision", json={"action": "approve"}, headers=mod
    )
    assert (await again.json())["changed"] is False

    audit = await (await client.get(f"/v1/comments/{child}/audit", headers=mod)).json()
    moves = [(a["from_status"], a["to_status"], a["actor"]["kind"]) for a in audit["items"]]
    assert moves == [
        (None, "pending", "system"),
        ("pending", "held", "model"),
        ("held", "approved", "moderator"),
    ]
    assert audit["items"][2]["reason"] == "on topic"
    assert audit["items"][2]["actor"]["name"] == "moderator-daily"


async def test_queue__orders_by_score_and_filters_by_label_with_keyset_pages(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site(
        "daily",
        policy={
            "mode": "pre",
            "thresholds": {
                "toxicity": {"hold_at": 0.5, "reject_at": None},
                "insult": {"hold_at": 0.5},
            },
        },
    )
    ids = [
        await _post(client, "daily", f"comment {i}" + (" idiot" if i % 2 else "")) for i in range(6)
    ]
    await _score(settings, engine)
    seen: list[str] = []
    cursor = ""
    while True:
        page = await (
            await client.get(f"/v1/queue?order=score&limit=4&cursor={cursor}", headers=auth)
        ).json()
        seen += [i["id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    toxic, benign = ids[1::2], ids[0::2]
    assert set(seen[:3]) == set(toxic) and set(seen[3:]) == set(benign)
    assert len(seen) == 6

    insults = await (await client.get("/v1/queue?label=insult", headers=auth)).json()
    # In pre-moderation every comment is held, but the insult label fired on some only.
    assert {i["id"] for i in insults["items"]} == set(toxic)


async def test_decisions__bulk_applies_in_one_go_and_reports_missing(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site("daily", policy=HOLD_ALL)
    await make_site("other", policy=HOLD_ALL)
    ids = [await _post(client, "daily", f"c{i}") for i in range(3)]
    foreign = await _post(client, "other", "elsewhere")
    await _score(settings, engine)
    mod = await _bearer(engine, "moderator", "daily")
    unknown = "00000000-0000-4000-8000-000000000000"
    r = await client.post(
        "/v1/decisions",
        headers=mod,
        json={"ids": [*ids, foreign, unknown], "action": "reject", "reason": "spam run"},
    )
    data = await r.json()
    assert r.status == 200
    assert [i["status"] for i in data["items"]] == ["rejected"] * 3
    assert set(data["not_found"]) == {foreign, unknown}
    queue = await (await client.get("/v1/queue?status=rejected", headers=mod)).json()
    assert {i["id"] for i in queue["items"]} == set(ids)

    bad = await client.post("/v1/decisions", headers=mod, json={"ids": ["x"], "action": "nuke"})
    assert bad.status == 422
    assert {e["field"] for e in (await bad.json())["errors"]} == {"ids[0]", "action"}


async def test_access__moderators_see_only_their_sites_and_admins_manage_sites(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site("daily", policy=HOLD_ALL)
    await make_site("other", policy=HOLD_ALL)
    theirs = await _post(client, "other", "not yours")
    await _score(settings, engine)
    mod = await _bearer(engine, "moderator", "daily")

    assert (await client.get("/v1/queue")).status == 401
    assert (await client.get("/v1/queue", headers={"Authorization": "Bearer nope"})).status == 401
    assert (await client.get("/v1/queue?site=other", headers=mod)).status == 404
    mine = await (await client.get("/v1/queue", headers=mod)).json()
    assert mine["items"] == []
    assert (await client.get(f"/v1/comments/{theirs}", headers=mod)).status == 404
    assert (await client.get(f"/v1/comments/{theirs}/audit", headers=mod)).status == 404
    r = await client.post(
        f"/v1/comments/{theirs}/decision", json={"action": "approve"}, headers=mod
    )
    assert r.status == 404
    r = await client.put("/v1/sites/daily", json={"name": "Mine now"}, headers=mod)
    assert r.status == 403


async def test_sites__put_validates_every_field_and_bumps_policy_version(
    client: Client, auth: dict[str, str]
) -> None:
    bad = await client.put(
        "/v1/sites/daily",
        headers=auth,
        json={
            "name": "",
            "allowed_origins": ["news.example", "https://ok.example"],
            "policy": {
                "mode": "sometimes",
                "thresholds": {
                    "toxicity": {"hold_at": 0.9, "reject_at": 0.5},
                    "rudeness": {"hold_at": 0.5},
                },
                "max_links": -1,
                "extra": 1,
            },
        },
    )
    assert bad.status == 422
    fields = {e["field"] for e in (await bad.json())["errors"]}
    assert fields == {
        "name",
        "allowed_origins[0]",
        "policy.mode",
        "policy.thresholds.toxicity",
        "policy.thresholds.rudeness",
        "policy.max_links",
        "policy.extra",
    }
    assert (await client.put("/v1/sites/Bad Site!", headers=auth, json={"name": "x"})).status == 422

    created = await client.put("/v1/sites/daily", headers=auth, json={"name": "Daily"})
    assert created.status == 201
    assert (await created.json())["policy_version"] == 1
    same = await client.put("/v1/sites/daily", headers=auth, json={"name": "Daily News"})
    assert (await same.json())["policy_version"] == 1
    changed = await client.put(
        "/v1/sites/daily", headers=auth, json={"name": "Daily", "policy": {"mode": "post"}}
    )
    assert changed.status == 200
    assert (await changed.json())["policy_version"] == 2


async def test_article_override__pre_moderates_one_story(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site("daily")
    r = await client.put(
        "/v1/sites/daily/articles/trial/policy",
        headers=auth,
        json={"policy_override": {"mode": "pre"}, "until": "2999-01-01T00:00:00+00:00"},
    )
    assert r.status == 200, await r.text()
    on_trial = await _post(client, "daily", "An innocent remark", article="trial")
    elsewhere = await _post(client, "daily", "A second innocent remark", article="sport")
    await _score(settings, engine)
    a = await (await client.get(f"/v1/comments/{on_trial}", headers=auth)).json()
    b = await (await client.get(f"/v1/comments/{elsewhere}", headers=auth)).json()
    assert (a["status"], a["explanation"]["rule"], a["explanation"]["policy_source"]) == (
        "held",
        "pre_moderation",
        "article",
    )
    assert (b["status"], b["explanation"]["policy_source"]) == ("approved", "site")
    bad = await client.put(
        "/v1/sites/daily/articles/trial/policy",
        headers=auth,
        json={"policy_override": {"mode": "x"}, "until": "tomorrow"},
    )
    assert {e["field"] for e in (await bad.json())["errors"]} == {"policy_override.mode", "until"}


async def test_readyz__needs_a_live_scorer_and_reports_checks(
    ops_client: Client, engine: AsyncEngine
) -> None:
    r = await ops_client.get("/readyz")
    assert r.status == 503
    assert (await r.json())["checks"]["database"] == "ok"
    await JobStore(engine).heartbeat("w1", "host", 1, FakeScorer().model)
    r = await ops_client.get("/readyz")
    assert r.status == 200
    assert "failing" not in await r.json()
    assert (await ops_client.get("/healthz")).status == 200


async def test_readyz__database_down_is_503_and_posts_are_503_not_202(
    aiohttp_client: Any, settings: Settings
) -> None:
    from dataclasses import replace

    down = replace(settings, database_url="postgresql://postgres@127.0.0.1:1/nowhere")
    client = await aiohttp_client(create_app(down))
    ops = await aiohttp_client(create_ops_app(client.app))
    r = await ops.get("/readyz")
    assert r.status == 503
    assert "unreachable" in (await r.json())["checks"]["database"]
    assert list((await r.json())["failing"]) == ["database"]
    posted = await client.post(
        "/v1/sites/daily/articles/a/comments", json={"body": "hi", "author_name": "A"}
    )
    assert posted.status == 503
    assert posted.headers["Retry-After"]


async def test_openapi__describes_every_route_the_app_serves(client: Client) -> None:
    spec = await (await client.get("/v1/openapi.json")).json()
    served = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            served.add((path, route.method.lower()))
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops if m != "parameters"}
    assert served == documented


async def test_metrics__counts_requests_and_reports_queue_depth(
    client: Client, ops_client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    await _post(client, "daily", "hello")
    text = await (await ops_client.get("/metrics")).text()
    assert 'replyguard_comments_accepted_total{site="daily"} 1' in text
    assert "replyguard_scoring_jobs_queued 1" in text
    assert "replyguard_http_request_duration_seconds_bucket" in text
