"""Calibration on the site page in a real browser: the charts render, and an admin previews a
suggestion and applies it in one step (a new policy version, and its audit row)."""

from __future__ import annotations

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from service.store.tokens import TokenStore
from tests.browser.conftest import new_page, screenshot, sign_in
from tests.calibration_support import POLICY, seed_history
from tests.pages_support import make_user


async def test_calibration__an_admin_sees_the_charts_previews_and_applies_a_suggestion(
    browser: Browser,
    server: TestServer,
    admin: dict[str, str],
    psettings: Settings,
    engine: AsyncEngine,
) -> None:
    base = str(server.make_url("")).rstrip("/")
    moderator = {
        "Authorization": f"Bearer {await TokenStore(engine).create('moderator', ['daily'])}"
    }
    async with aiohttp.ClientSession(base_url=base) as http:
        created = await http.put(
            "/v1/sites/daily", json={"name": "The Daily", "policy": POLICY}, headers=admin
        )
        assert created.status == 201, await created.text()
        await seed_history(http, psettings, engine, moderator)
        # The site pre-moderated while its moderators taught it; now it decides by scores.
        auto = {**POLICY, "mode": "auto"}
        moved = await http.put(
            "/v1/sites/daily", json={"name": "The Daily", "policy": auto}, headers=admin
        )
        assert moved.status == 200, await moved.text()
    await make_user(engine, psettings, "root", role="admin", sites=[])
    context, page, seen = await new_page(browser)
    await sign_in(page, base, "root")
    await page.goto(f"{base}/moderate/sites/daily")
    chart = page.locator("#calibration-toxicity")
    await expect(chart.locator("svg.curve polyline.precision")).to_be_visible()
    await expect(chart.locator("line.current-hold")).to_have_count(1)
    await expect(chart.locator("line.suggested-hold")).to_have_count(1)
    await expect(chart.locator(".suggested")).to_have_text("hold at 0.4, reject at —")
    await expect(chart.locator(".note")).to_contain_text("reject_at: not enough decisions yet")
    box = await chart.locator("svg.curve").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 80
    await screenshot(page, "calibration", full_page=True)

    await chart.get_by_role("button", name="Preview the suggestion for toxicity").click()
    result = chart.locator(".calibration-result")
    # Holding from 0.4 rather than 0.5 holds the ten comments at 0.4 the site approves now.
    await expect(result).to_contain_text("10 of the last 63 decided comments")
    await expect(result).to_contain_text("approved → held: 10")
    await result.get_by_role("button", name="Apply: toxicity hold at 0.4, reject at —").click()
    await page.wait_for_url("**/moderate/sites/daily?applied=toxicity*")
    await expect(page.locator(".calibration-applied")).to_contain_text(
        "Applied the suggestion for toxicity: policy version 3."
    )
    # Redrawn with the new thresholds: nothing left to apply for toxicity.
    await expect(chart.locator(".current")).to_have_text("hold at 0.4, reject at —")
    await expect(chart.get_by_role("button")).to_have_count(0)
    assert seen.errors == []
    await context.close()

    async with aiohttp.ClientSession(base_url=base) as http:
        site = await (await http.get("/v1/sites/daily", headers=admin)).json()
    assert site["policy_version"] == 3
    assert site["policy"]["thresholds"]["toxicity"] == {"hold_at": 0.4, "reject_at": None}
    assert site["policy"]["blocked_terms"] == ["spam"]  # the rest of the policy is kept
    assert psettings.database_url is not None
    conn = await asyncpg.connect(psettings.database_url)
    try:
        audit = await conn.fetch(
            "SELECT policy_version, reason, actor FROM site_policy_audit ORDER BY id"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in audit] == [
        (1, None, "setup"),
        (2, None, "setup"),
        (3, "calibration: toxicity", "root"),
    ]
