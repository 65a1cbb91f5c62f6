"""GET /v1/sites/{site}/calibration over a seeded history with a known answer, who may ask,
its query parameters, the policy audit that applying a suggestion writes, and the site
page's charts (tests/browser/test_moderate_page.py applies a suggestion in a browser)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from service.store.tokens import TokenStore
from tests.calibration_support import DECISIONS, POLICY, REJECTED, ROC_AUC, seed_history
from tests.conftest import SiteFactory
from tests.pages_support import make_user, sign_in

Client = TestClient[Any, Any]
URL = "/v1/sites/daily/calibration"


@pytest.fixture
async def moderator(engine: AsyncEngine) -> dict[str, str]:
    return {"Authorization": f"Bearer {await TokenStore(engine).create('moderator', ['daily'])}"}


@pytest.fixture
async def history(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    moderator: dict[str, str],
) -> None:
    await make_site("daily", policy=POLICY)
    await seed_history(client, settings, engine, moderator)


async def _sql(settings: Settings, statement: str, *args: Any) -> list[asyncpg.Record]:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def test_calibration__the_known_history_gives_the_worked_answer(
    client: Client, history: None, moderator: dict[str, str]
) -> None:
    response = await client.get(URL, headers=moderator)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    found = await response.json()
    assert found["model"] == {"name": "score-in-text", "version": "1"}
    assert (found["decisions"], found["other_models"]) == (DECISIONS, 0)
    assert list(found["labels"]) == ["toxicity", "insult"]  # what the scores carry
    toxicity = found["labels"]["toxicity"]
    assert (toxicity["decisions"], toxicity["rejected"]) == (DECISIONS, REJECTED)
    assert toxicity["roc_auc"] == ROC_AUC
    assert toxicity["current"] == {"hold_at": 0.5, "reject_at": None}
    assert toxicity["suggested"] == {"hold_at": 0.4, "reject_at": None}
    assert toxicity["note"].startswith("reject_at: not enough decisions yet")
    assert toxicity["curve"] == [
        {"threshold": 0.1, "precision": 0.45, "recall": 1.0, "count": 60},
        {"threshold": 0.4, "precision": 0.8667, "recall": 0.963, "count": 30},
        {"threshold": 0.9, "precision": 1.0, "recall": 0.7407, "count": 20},
    ]
    insult = found["labels"]["insult"]
    assert insult["current"] is None
    assert insult["suggested"] == {"hold_at": 0.2, "reject_at": None}
    assert found["rules"]["min_decisions"] == 30


async def test_calibration__below_the_minimum_says_not_enough_decisions(
    client: Client, history: None, auth: dict[str, str]
) -> None:
    found = await (await client.get(URL, params={"last": "29"}, headers=auth)).json()
    assert found["decisions"] == 29
    toxicity = found["labels"]["toxicity"]
    assert toxicity["suggested"] is None
    assert toxicity["note"] == "not enough decisions yet: 29 of the 30 needed"
    assert toxicity["curve"]  # the curve is drawn all the same


async def test_calibration__a_site_without_decisions(
    client: Client, make_site: SiteFactory, auth: dict[str, str]
) -> None:
    await make_site("daily")
    found = await (await client.get(URL, headers=auth)).json()
    assert (found["model"], found["decisions"], found["labels"]) == (None, 0, {})


async def test_calibration__admins_and_the_sites_moderators_only(
    client: Client, make_site: SiteFactory, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    await make_site("daily")
    await make_site("other")
    tokens = TokenStore(engine)
    other = {"Authorization": f"Bearer {await tokens.create('moderator', ['other'])}"}
    mine = {"Authorization": f"Bearer {await tokens.create('moderator', ['daily'])}"}
    scoped_admin = {"Authorization": f"Bearer {await tokens.create('admin', ['other'])}"}
    assert (await client.get(URL)).status == 401
    assert (await client.get(URL, headers=mine)).status == 200
    assert (await client.get(URL, headers=auth)).status == 200
    for stranger in (other, scoped_admin):
        refused = await client.get(URL, headers=stranger)
        assert refused.status == 403
        assert "daily" in (await refused.json())["detail"]
    # Another site's moderator learns nothing about which sites exist: 403 either way.
    assert (await client.get("/v1/sites/nosuch/calibration", headers=other)).status == 403
    assert (await client.get("/v1/sites/nosuch/calibration", headers=auth)).status == 404
    assert (await client.get("/v1/sites/Not%20A%20Site/calibration", headers=auth)).status == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"label": "rudeness"}, "label"),
        ({"last": "many"}, "last"),
        ({"last": "0"}, "last"),
        ({"last": "50001"}, "last"),
    ],
)
async def test_calibration__query_parameters_are_checked(
    client: Client,
    make_site: SiteFactory,
    auth: dict[str, str],
    params: dict[str, str],
    field: str,
) -> None:
    await make_site("daily")
    response = await client.get(URL, params=params, headers=auth)
    assert response.status == 422
    problem = await response.json()
    assert [e["field"] for e in problem["errors"]] == [field]


async def test_calibration__one_label(client: Client, history: None, auth: dict[str, str]) -> None:
    found = await (await client.get(URL, params={"label": "insult"}, headers=auth)).json()
    assert list(found["labels"]) == ["insult"]
    none = await (await client.get(URL, params={"label": "threat"}, headers=auth)).json()
    assert none["labels"] == {}  # threat is not in the scores


async def test_site_policy__every_new_version_is_audited_with_who_and_why(
    client: Client, make_site: SiteFactory, settings: Settings, auth: dict[str, str]
) -> None:
    """Applying a suggestion is a PUT of the site with that label's thresholds changed."""
    site = await make_site("daily", policy=POLICY)
    policy = {**site["policy"], "thresholds": {"toxicity": {"hold_at": 0.4, "reject_at": 0.9}}}
    body = {"name": site["name"], "allowed_origins": site["allowed_origins"], "policy": policy}
    applied = await client.put(
        "/v1/sites/daily", json={**body, "reason": "calibration: toxicity"}, headers=auth
    )
    assert (await applied.json())["policy_version"] == 2
    # The same policy again is no new version, so no new audit row.
    again = await client.put("/v1/sites/daily", json=body, headers=auth)
    assert (await again.json())["policy_version"] == 2
    rows = await _sql(
        settings,
        "SELECT policy_version, reason, actor, previous, policy FROM site_policy_audit "
        "WHERE site_id = 'daily' ORDER BY id",
    )
    assert [(r["policy_version"], r["reason"], r["actor"]) for r in rows] == [
        (1, None, "test-admin"),
        (2, "calibration: toxicity", "test-admin"),
    ]
    assert rows[0]["previous"] is None
    assert rows[1]["previous"] == rows[0]["policy"]
    bad = await client.put("/v1/sites/daily", json={**body, "reason": 7}, headers=auth)
    assert bad.status == 422


async def test_site_page__admins_see_each_labels_chart_with_its_thresholds(
    client: Client, history: None, engine: AsyncEngine, settings: Settings
) -> None:
    await make_user(engine, settings, "root", role="admin", sites=[])
    await sign_in(client, "root")
    html = await (await client.get("/moderate/sites/daily")).text()
    assert '<h2 id="calibration-title">Calibration</h2>' in html
    toxicity = html[html.index('id="calibration-toxicity"') : html.index('id="calibration-insult"')]
    assert toxicity.count("<polyline") == 2
    # The plot runs from x=34 (score 0) to x=350 (score 1).
    for kind, x in (("current-hold", 192.0), ("suggested-hold", 160.4)):
        assert f'class="mark {kind}" x1="{x}"' in toxicity
    assert "current-reject" not in toxicity and "suggested-reject" not in toxicity
    assert 'data-hold-at="0.4"' in toxicity and 'data-reject-at=""' in toxicity
    assert "hold at 0.5, reject at —" in toxicity and "hold at 0.4, reject at —" in toxicity
    assert "reject_at: not enough decisions yet" in toxicity
    assert "Applied the suggestion" not in html
    applied = await (await client.get("/moderate/sites/daily?applied=toxicity")).text()
    assert "Applied the suggestion for toxicity: policy version" in applied
    odd = await (await client.get("/moderate/sites/daily?applied=%3Cb%3E")).text()
    assert "Applied the suggestion" not in odd


async def test_site_page__moderators_see_no_calibration(
    client: Client, history: None, engine: AsyncEngine, settings: Settings
) -> None:
    await make_user(engine, settings, "ann")
    await sign_in(client, "ann")
    html = await (await client.get("/moderate/sites/daily")).text()
    assert "Policy" in html and "Calibration" not in html
