"""Shadow models against a real PostgreSQL: scored after the live decision, stored beside it,
never deciding; a shadow that fails to load, fails to score or hangs leaves the live
decisions as they are and on time; GET /v1/comments/{id} and GET /v1/models show them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.detox import load_scorer
from moderation.model_build import make_tiny_checkpoint
from moderation.policy import DEFAULT_THRESHOLDS, Thresholds
from moderation.scoring import Scorer
from service.queue.scoring import ScoringWorker
from service.queue.shadows import ShadowScoring
from service.settings import Settings
from service.store.jobs import JobStore
from service.store.tokens import TokenStore
from tests.conftest import SiteFactory
from tests.db_rows import fetch_rows
from tests.fakes import FakeScorer, TableScorer, loader_of

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/{site}/articles/a1/comments"


#: The known history: body, then live and shadow toxicity (default policy: hold at 0.5,
#: reject at 0.99), then what a moderator does (None: nothing).
HISTORY = [
    ("you idiot", 0.99, 0.995, None),  # live rejects, shadow rejects
    ("awful take", 0.7, 0.9, "reject"),  # both hold; moderator rejects
    ("bad take", 0.55, 0.1, "approve"),  # live holds, shadow approves; moderator approves
    ("rude take", 0.6, 0.05, "reject"),  # live holds, shadow approves; moderator rejects
    ("kind words", 0.02, 0.7, None),  # live approves, shadow holds
    ("nice words", 0.01, 0.02, "reject"),  # both approve; moderator rejects later
]
HOLD_AT, REJECT_AT = 0.5, 0.99
assert DEFAULT_THRESHOLDS["toxicity"] == Thresholds(HOLD_AT, REJECT_AT), "the history assumes them"
LIVE = TableScorer("live-model", {body: live for body, live, _, _ in HISTORY})
SHADOW = TableScorer("shadow-model", {body: shadow for body, _, shadow, _ in HISTORY})


async def _shadows(
    engine: AsyncEngine, scorers: Mapping[str, Scorer | Exception], *, time_limit: float = 10.0
) -> ShadowScoring:
    """Shadow models for ``scorers`` by spec, loaded (or failed) before it returns."""
    shadows = ShadowScoring(
        engine, list(scorers), loader_of(scorers), live=LIVE.model, timeout=time_limit
    )
    shadows.start()
    await shadows.idle()
    return shadows


async def _post(client: Client, body: str, site: str = "daily") -> dict[str, Any]:
    response = await client.post(
        COMMENTS.format(site=site), json={"body": body, "author_name": "Ann"}
    )
    assert response.status == 202, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def _report(engine: AsyncEngine, worker: str, shadows: ShadowScoring) -> None:
    """The worker's heartbeat, with the shadows' report as the worker sends it."""
    await JobStore(engine).heartbeat(worker, "host", 1, LIVE.model, shadows.report())


async def test_shadows__scores_are_stored_beside_the_live_ones_and_never_decide(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    ids = [(await _post(client, body))["id"] for body, *_ in HISTORY]
    shadows = await _shadows(engine, {"shadow-spec": SHADOW})
    worker = ScoringWorker(settings, engine, LIVE, shadows=shadows)
    assert await worker.run_once() == len(HISTORY)
    await shadows.idle()
    shadows.close()

    rows = await fetch_rows(
        settings,
        """SELECT c.id::text AS id, c.status, c.explanation -> 'model' ->> 'name' AS decider,
                  s.role, s.model_name, s.scores ->> 'toxicity' AS toxicity, s.verdict,
                  s.score_ms
           FROM comments c JOIN comment_scores s ON s.comment_id = c.id
           ORDER BY s.role, s.created_at""",
    )
    by_comment = {(r["id"], r["role"]): r for r in rows}
    for comment_id, (_, live, shadow, _) in zip(ids, HISTORY, strict=True):
        live_row, shadow_row = by_comment[comment_id, "live"], by_comment[comment_id, "shadow"]
        # The live model decided, on its own scores; the shadow's are only stored.
        expected = "rejected" if live >= REJECT_AT else "held" if live >= HOLD_AT else "approved"
        assert (live_row["status"], live_row["decider"]) == (expected, "live-model")
        assert (live_row["model_name"], live_row["verdict"]) == ("live-model", None)
        assert float(shadow_row["toxicity"]) == shadow
        assert shadow_row["model_name"] == "shadow-model"
        assert shadow_row["verdict"] == (
            "rejected" if shadow >= REJECT_AT else "held" if shadow >= HOLD_AT else "approved"
        )
        assert shadow_row["score_ms"] >= 0
    audit = await fetch_rows(settings, "SELECT actor FROM audit_log WHERE actor_kind = 'model'")
    assert {a["actor"] for a in audit} == {"live-model@1"}
    assert shadows.report() == [
        {
            "spec": "shadow-spec",
            "state": "loaded",
            "model_name": "shadow-model",
            "model_version": "1",
            "error": None,
            "scored": len(HISTORY),
            "failures": 0,
            "skipped": 0,
        }
    ]


async def test_shadows__one_that_cannot_load_leaves_live_decisions_as_they_are(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
    ops_client: Client,
) -> None:
    await make_site()
    for body, *_ in HISTORY:
        await _post(client, body)
    shadows = await _shadows(
        engine,
        {
            "/models/missing": RuntimeError("no checkpoint in /models/missing"),
            "live-again": TableScorer("live-model", {}),
        },
    )
    worker = ScoringWorker(settings, engine, LIVE, shadows=shadows)
    assert await worker.run_once() == len(HISTORY)
    await shadows.idle()
    shadows.close()

    statuses = await fetch_rows(settings, "SELECT status, count(*) AS n FROM comments GROUP BY 1")
    assert {r["status"]: r["n"] for r in statuses} == {"rejected": 1, "held": 3, "approved": 2}
    assert await fetch_rows(settings, "SELECT 1 FROM comment_scores WHERE role = 'shadow'") == []
    await _report(engine, "w1", shadows)
    models = await (await client.get("/v1/models", headers=auth)).json()
    assert [(s["spec"], s["state"], s["model"], s["error"]) for s in models["shadows"]] == [
        ("/models/missing", "failed", None, "RuntimeError: no checkpoint in /models/missing"),
        (
            "live-again",
            "failed",
            None,
            "ValueError: it is the live model (live-model@1); name another model as a shadow",
        ),
    ]
    metrics = await (await ops_client.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    assert families["replyguard_shadow_models_failed"].samples[0].value == 2


async def test_shadows__failing_and_hanging_shadows_leave_live_decisions_on_time(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    release = threading.Event()
    failing = TableScorer("failing", {}, fail=True)
    hanging = TableScorer("hanging", {}, hang=release)
    shadows = await _shadows(engine, {"failing": failing, "hanging": hanging}, time_limit=60)
    worker = ScoringWorker(settings, engine, FakeScorer(), shadows=shadows)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        # The first round's batches start the hanging shadow; the next rounds come while it
        # hangs (its time limit is a minute), and their decisions must not wait for it.
        for round_, bound in enumerate((60.0, 5.0, 5.0)):
            posted = time.monotonic()
            ids = [(await _post(client, f"round {round_} comment {i}"))["id"] for i in range(3)]
            while worker.decided < 3 * (round_ + 1):
                assert time.monotonic() - posted < bound, "live decisions waited for shadows"
                await asyncio.sleep(0.02)
            decided = await fetch_rows(
                settings, "SELECT status FROM comments WHERE id = ANY($1::uuid[])", ids
            )
            assert [r["status"] for r in decided] == ["approved"] * 3
        report = {r["spec"]: r for r in shadows.report()}
        # The first batch (one comment or more) reached both shadows; while the hanging one
        # held the shadows' thread, later batches were skipped (counted), not queued.
        assert report["failing"]["failures"] == 1
        assert report["hanging"]["skipped"] == report["failing"]["skipped"] >= 6
        release.set()
        await shadows.idle()
        report = {r["spec"]: r for r in shadows.report()}
        assert report["hanging"]["scored"] + report["hanging"]["skipped"] == 9
        assert (failing.calls, hanging.calls) == (1, 1)
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_shadows__one_past_its_time_limit_is_counted_and_skips_batches_until_it_returns(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    release = threading.Event()
    hanging = TableScorer("hanging", {}, hang=release)
    shadows = await _shadows(engine, {"hanging": hanging}, time_limit=0.2)
    worker = ScoringWorker(settings, engine, FakeScorer(), shadows=shadows)
    try:
        await _post(client, "first")
        assert await worker.run_once() == 1
        await shadows.idle()
        assert shadows.report()[0]["failures"] == 1
        await _post(client, "second")
        assert await worker.run_once() == 1
        assert shadows.report()[0]["skipped"] == 1, "its thread is still busy"
        assert hanging.calls == 1
    finally:
        release.set()
        shadows.close()
    statuses = await fetch_rows(settings, "SELECT status FROM comments")
    assert [r["status"] for r in statuses] == ["approved", "approved"]
    assert await fetch_rows(settings, "SELECT 1 FROM comment_scores WHERE role = 'shadow'") == []


async def test_get_comment__shows_shadow_scores_to_moderators_not_to_the_author(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    posted = await _post(client, "awful take")
    shadows = await _shadows(engine, {"shadow-spec": SHADOW})
    assert await ScoringWorker(settings, engine, LIVE, shadows=shadows).run_once() == 1
    await shadows.idle()
    shadows.close()
    moderator = await TokenStore(engine).create("moderator", ["daily"])
    url = f"/v1/comments/{posted['id']}"

    seen = await (await client.get(url, headers={"Authorization": f"Bearer {moderator}"})).json()
    assert seen["shadow_scores"] == {"shadow-model@1": {"toxicity": 0.9}}
    assert seen["scores"] == {"toxicity": 0.7}
    author = {"Authorization": f"Bearer {posted['author_token']}"}
    as_author = await (await client.get(url, headers=author)).json()
    assert as_author["status"] == "held"
    assert "shadow_scores" not in as_author
    assert "scores" not in as_author


async def test_get_models__figures_on_a_small_known_history(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
) -> None:
    await make_site("daily")
    await make_site("other")
    ids = [(await _post(client, body))["id"] for body, *_ in HISTORY]
    await _post(client, "awful take", site="other")
    shadows = await _shadows(engine, {"shadow-spec": SHADOW})
    worker = ScoringWorker(settings, engine, LIVE, shadows=shadows)
    assert await worker.run_once() == len(HISTORY) + 1
    await shadows.idle()
    shadows.close()
    for comment_id, (*_, action) in zip(ids, HISTORY, strict=True):
        if action is not None:
            decided = await client.post(
                f"/v1/comments/{comment_id}/decision", json={"action": action}, headers=auth
            )
            assert decided.status == 200, await decided.text()
    await _report(engine, "w1", shadows)
    await _report(engine, "w2", shadows)

    moderator = await TokenStore(engine).create("moderator", ["daily"])
    response = await client.get("/v1/models", headers={"Authorization": f"Bearer {moderator}"})
    assert response.status == 200, await response.text()
    models = await response.json()
    assert models["live"] == [
        {"model": "live-model@1", "name": "live-model", "version": "1", "workers": 2}
    ]
    assert models["shadows"] == [
        {
            "spec": "shadow-spec",
            "state": "loaded",
            "model": "shadow-model@1",
            "name": "shadow-model",
            "version": "1",
            "error": None,
            "workers": 2,
            "scored": 2 * (len(HISTORY) + 1),
            "failures": 0,
            "skipped": 0,
        }
    ]
    [site] = models["sites"]  # the moderator's own site only
    assert site["site"] == "daily"
    [figures] = site["shadows"]
    assert figures["ms_per_comment"] >= 0
    assert figures["first_scored_at"] <= figures["last_scored_at"]
    for key in ("ms_per_comment", "first_scored_at", "last_scored_at"):
        del figures[key]
    assert figures == {
        "model": "shadow-model@1",
        "name": "shadow-model",
        "version": "1",
        "comments": 6,
        "verdicts": {"approved": 3, "held": 2, "rejected": 1},
        # Same verdict as live: the idiot (rejected), the awful take (held), nice words.
        "against_live": {"compared": 6, "agreeing": 3, "agreement": 0.5},
        "against_moderators": {
            "decided": 4,
            "rejected": 3,
            # Publish or not: right on the awful and the bad take, wrong on the rude take
            # and the nice words.
            "agreeing": 2,
            "agreement": 0.5,
            # Rejected 0.9, 0.05, 0.02 against approved 0.1: one pair of three in order.
            "roc_auc": 0.3333,
            # Live held all three takes and approved the nice words: right on two; its
            # rejected 0.7, 0.6, 0.01 against approved 0.55 put two pairs of three in order.
            "live": {"compared": 4, "agreeing": 2, "agreement": 0.5, "roc_auc": 0.6667},
        },
    }

    everything = await (await client.get("/v1/models", headers=auth)).json()
    assert [s["site"] for s in everything["sites"]] == ["daily", "other"]
    [other] = everything["sites"][1]["shadows"]
    assert (other["comments"], other["verdicts"]["held"]) == (1, 1)
    one = await (await client.get("/v1/models?site=other", headers=auth)).json()
    assert one["sites"] == everything["sites"][1:]


async def test_get_models__a_site_without_shadow_scores_is_listed_empty(
    client: Client, make_site: SiteFactory, auth: dict[str, str]
) -> None:
    await make_site()
    models = await (await client.get("/v1/models?site=daily", headers=auth)).json()
    assert models == {
        "live": [],
        "shadows": [],
        "promoted": {"every_site": None, "sites": {}, "workers": []},
        "sites": [{"site": "daily", "shadows": []}],
    }
    missing = await client.get("/v1/models?site=nowhere", headers=auth)
    assert missing.status == 404
    assert (await client.get("/v1/models?site=Not%20a%20slug", headers=auth)).status == 404


async def test_shadows__a_tiny_detoxify_checkpoint_loads_and_scores_as_a_shadow(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    await make_site()
    await _post(client, "you idiot")
    checkpoint = make_tiny_checkpoint("bert", tmp_path / "tiny")
    shadows = ShadowScoring(
        engine,
        [str(checkpoint)],
        lambda spec: load_scorer(spec, model_dir=tmp_path, threads=1, precision="fp32"),
        live=LIVE.model,
        timeout=30,
    )
    shadows.start()
    await shadows.idle()
    [report] = shadows.report()
    assert (report["state"], report["model_name"]) == ("loaded", "tiny"), report
    assert await ScoringWorker(settings, engine, LIVE, shadows=shadows).run_once() == 1
    await shadows.idle()
    shadows.close()
    [row] = await fetch_rows(
        settings, "SELECT model_name, scores, verdict FROM comment_scores WHERE role = 'shadow'"
    )
    assert row["model_name"] == "tiny"
    assert row["verdict"] in ("approved", "held", "rejected")
    assert set(json.loads(row["scores"])) >= {"toxicity"}
