"""Promoting a model and rolling it back, against a real PostgreSQL: workers that are running
pick the change up without a restart, comments already decided stay decided, a model that
cannot be loaded leaves the site on its model before, and every change is audited and sent
as a ``model.promoted`` event."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.scoring import Scorer
from service.queue.live_models import LiveModels
from service.queue.scoring import ScoringWorker
from service.queue.shadows import ShadowScoring
from service.settings import Settings
from service.store.jobs import JobStore
from service.store.promotions import PromotionStore
from service.store.tokens import TokenStore
from tests.conftest import SiteFactory
from tests.db_rows import fetch_rows
from tests.fakes import TableScorer, loader_of

Client = TestClient[Any, Any]


CONFIGURED = TableScorer("configured-model", {})


@pytest.fixture
def candidates(tmp_path: Path) -> dict[str, Path]:
    """Model folders the web process can see (their contents are the loader's business)."""
    made = {}
    for name in ("candidate", "broken"):
        folder = tmp_path / name
        folder.mkdir()
        made[name] = folder
    return made


def _worker(
    settings: Settings,
    engine: AsyncEngine,
    promotable: Mapping[str, Scorer | Exception],
    shadows: ShadowScoring | None = None,
) -> tuple[ScoringWorker, LiveModels]:
    """A worker configured with CONFIGURED (spec ``default``) that can load ``promotable``
    and reads the promotions before every batch."""
    live_models = LiveModels(
        PromotionStore(engine), CONFIGURED, "default", loader_of(promotable), check_every=0.0
    )
    worker = ScoringWorker(settings, engine, CONFIGURED, shadows=shadows, live_models=live_models)
    return worker, live_models


_POSTED = itertools.count(1)


async def _post(client: Client, site: str) -> str:
    """A fresh comment (its own words and author: no repost or rate limit meets it)."""
    n = next(_POSTED)
    response = await client.post(
        f"/v1/sites/{site}/articles/a1/comments",
        json={"body": f"a fair point, number {n}", "author_name": f"Reader {n}"},
    )
    assert response.status == 202, await response.text()
    comment_id: str = (await response.json())["id"]
    return comment_id


async def _decided_by(settings: Settings, comment_id: str, within: float = 15.0) -> str:
    """The model that decided the comment, once the running worker has."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = await fetch_rows(
            settings,
            "SELECT status, explanation -> 'model' ->> 'name' AS model FROM comments "
            "WHERE id = $1::uuid",
            comment_id,
        )
        if rows and rows[0]["status"] != "pending":
            return str(rows[0]["model"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"comment {comment_id} was not decided within {within} s")


async def test_promotion__running_workers_pick_it_up_and_roll_back_without_a_restart(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
    candidates: dict[str, Path],
) -> None:
    await make_site("daily")
    await make_site("other")
    candidate = str(candidates["candidate"])
    worker, _ = _worker(settings, engine, {candidate: TableScorer("candidate-model", {})})
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        before = await _post(client, "daily")
        assert await _decided_by(settings, before) == "configured-model"

        promoted = await client.post(
            "/v1/models/promote", json={"model": candidate, "site": "daily"}, headers=auth
        )
        assert promoted.status == 201, await promoted.text()
        assert (await promoted.json())["previous"] is None
        # The first comment after the change may still meet the model loading.
        deadline = time.monotonic() + 15
        while await _decided_by(settings, await _post(client, "daily")) != "candidate-model":
            assert time.monotonic() < deadline, "the promoted model never scored"
        # Only the promoted site; the other keeps the configured model.
        assert await _decided_by(settings, await _post(client, "other")) == "configured-model"

        rolled = await client.post("/v1/models/rollback", json={"site": "daily"}, headers=auth)
        assert rolled.status == 201, await rolled.text()
        assert (await rolled.json())["model"] is None
        assert await _decided_by(settings, await _post(client, "daily")) == "configured-model"
    finally:
        stop.set()
        await running

    # Comments decided before stay decided, by the model that decided them.
    rows = await fetch_rows(
        settings,
        "SELECT status, explanation -> 'model' ->> 'name' AS model FROM comments "
        "WHERE id = $1::uuid",
        before,
    )
    assert [dict(r) for r in rows] == [{"status": "approved", "model": "configured-model"}]


async def test_promotion__a_model_that_cannot_load_leaves_the_site_on_its_model_before(
    client: Client,
    ops_client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
    candidates: dict[str, Path],
) -> None:
    await make_site("daily")
    broken = str(candidates["broken"])
    worker, live_models = _worker(
        settings, engine, {broken: RuntimeError("no checkpoint in the folder")}
    )
    promoted = await client.post(
        "/v1/models/promote", json={"model": broken, "site": "daily"}, headers=auth
    )
    assert promoted.status == 201
    for _ in range(2):  # while it loads, then once it has failed
        comment_id = await _post(client, "daily")
        assert await worker.run_once() == 1
        assert await _decided_by(settings, comment_id) == "configured-model"
        await live_models.idle()

    await JobStore(engine).heartbeat("w1", "host", 1, CONFIGURED.model, (), live_models.report())
    models = await (await client.get("/v1/models", headers=auth)).json()
    assert models["promoted"] == {
        "every_site": None,
        "sites": {"daily": broken},
        "workers": [
            {
                "spec": broken,
                "loaded": 0,
                "loading": 0,
                "failed": 1,
                "model": None,
                "error": "RuntimeError: no checkpoint in the folder",
            }
        ],
    }
    metrics = await (await ops_client.get("/metrics")).text()
    assert "replyguard_promoted_models_failed 1.0" in metrics


async def test_promotion__a_site_model_wins_over_every_sites_and_changes_are_events(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
    candidates: dict[str, Path],
) -> None:
    await make_site("daily")
    await make_site("other")
    candidate, broken = str(candidates["candidate"]), str(candidates["broken"])
    store = PromotionStore(engine)

    site = await client.post(
        "/v1/models/promote", json={"model": candidate, "site": "daily"}, headers=auth
    )
    every = await client.post("/v1/models/promote", json={"model": broken}, headers=auth)
    assert (site.status, every.status) == (201, 201)
    in_force = await store.in_force()
    assert (in_force.spec_for("daily"), in_force.spec_for("other")) == (candidate, broken)

    again = await client.post(
        "/v1/models/promote", json={"model": candidate, "site": "daily"}, headers=auth
    )
    assert again.status == 409
    assert "already the model promoted for site 'daily'" in (await again.json())["detail"]

    # Rolling back twice goes back and forth: one step each way.
    first = await (await client.post("/v1/models/rollback", json={}, headers=auth)).json()
    assert (first["model"], first["previous"], first["site"]) == (None, broken, None)
    second = await (await client.post("/v1/models/rollback", json={}, headers=auth)).json()
    assert (second["model"], second["previous"]) == (broken, None)

    history = await (await client.get("/v1/models/promotions", headers=auth)).json()
    assert [(c["action"], c["site"], c["model"]) for c in history["items"]] == [
        ("rollback", None, broken),
        ("rollback", None, None),
        ("promote", None, broken),
        ("promote", "daily", candidate),
    ]
    assert {c["by"] for c in history["items"]} == {"test-admin"}
    moderator = await TokenStore(engine).create("moderator", ["other"])
    seen = await client.get(
        "/v1/models/promotions", headers={"Authorization": f"Bearer {moderator}"}
    )
    assert [c["site"] for c in (await seen.json())["items"]] == [None, None, None]

    # Each change is sent to the sites whose model it changed: the every-site ones skip
    # daily, which has a model of its own.
    events = await fetch_rows(
        settings,
        "SELECT site_id, payload FROM outbox WHERE event_type = 'model.promoted' ORDER BY seq",
    )
    payloads = [json.loads(e["payload"]) for e in events]
    assert [
        (e["site_id"], p["scope"], p["model"]) for e, p in zip(events, payloads, strict=True)
    ] == [
        ("daily", "site", candidate),
        ("other", "all", broken),
        ("other", "all", None),
        ("other", "all", broken),
    ]
    assert payloads[0]["by"] == "test-admin"
    audit = await (await client.get("/v1/staff-audit", headers=auth)).json()
    models = [c for c in audit["items"] if c["action"].startswith("model.")]
    assert [(c["action"], c["target"], c["sites"]) for c in models] == [
        ("model.rolled_back", f"model:{broken}", None),
        ("model.rolled_back", "model:none", None),
        ("model.promoted", f"model:{broken}", None),
        ("model.promoted", f"model:{candidate}", ["daily"]),
    ]


async def test_promotion__bad_input_is_named_and_changes_nothing(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
    tmp_path: Path,
) -> None:
    await make_site("daily")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 422, "model"),
        ({"model": str(tmp_path / "nowhere")}, 422, "nor a checkpoint file or model folder"),
        ({"model": "multilingual"}, 422, "replyguard download-model multilingual"),
        ({"model": "default", "site": "nowhere"}, 422, "no site 'nowhere'"),
        ({"model": "default", "site": "Not A Slug"}, 422, "must be a site id"),
        ({"model": "default", "colour": "red"}, 422, "colour"),
        ({"model": 7}, 422, "must be a string"),
    ]
    for body, status, words in cases:
        response = await client.post("/v1/models/promote", json=body, headers=auth)
        assert response.status == status, body
        assert words in await response.text(), body
    nothing = await client.post("/v1/models/rollback", json={"site": "daily"}, headers=auth)
    assert nothing.status == 409
    assert "nothing to roll back" in (await nothing.json())["detail"]
    assert await fetch_rows(settings, "SELECT id FROM model_promotions") == []
    assert await fetch_rows(settings, "SELECT id FROM outbox") == []


async def test_promotion__shadows_see_a_whole_batch_that_two_models_decided(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
    candidates: dict[str, Path],
) -> None:
    await make_site("daily")
    await make_site("other")
    candidate = str(candidates["candidate"])
    shadows = ShadowScoring(
        engine,
        ["shadow-spec"],
        loader_of({"shadow-spec": TableScorer("shadow-model", {})}),
        live=CONFIGURED.model,
        timeout=10,
    )
    shadows.start()
    await shadows.idle()
    worker, live_models = _worker(
        settings, engine, {candidate: TableScorer("candidate-model", {})}, shadows
    )
    await PromotionStore(engine).promote("daily", candidate, "test")
    await live_models.refresh()
    await live_models.idle()
    posted = [await _post(client, "daily"), await _post(client, "other")]

    assert await worker.run_once() == 2
    await shadows.idle()
    shadows.close()

    assert [await _decided_by(settings, c) for c in posted] == [
        "candidate-model",
        "configured-model",
    ]
    rows = await fetch_rows(
        settings, "SELECT comment_id::text AS id FROM comment_scores WHERE role = 'shadow'"
    )
    assert sorted(r["id"] for r in rows) == sorted(posted)
    assert shadows.report()[0]["skipped"] == 0
