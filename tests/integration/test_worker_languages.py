"""The worker detects each comment's language and the policy holds what the model cannot read."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.queue.scoring import ScoringWorker
from service.settings import Settings
from tests.conftest import SiteFactory
from tests.fakes import FakeScorer

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/daily/articles/story-1/comments"
SPANISH = "Eres un imbécil y no tienes ni idea de lo que dices, vete de aquí."
ENGLISH = "You have no idea what you are talking about, but thanks for the article."


class MultilingualFake(FakeScorer):
    @property
    def languages(self) -> tuple[str, ...]:
        return ("en", "es")


async def _post(client: Client, body: str) -> str:
    r = await client.post(COMMENTS, json={"body": body, "author_name": "A"})
    assert r.status == 202
    return str((await r.json())["id"])


async def _decisions(settings: Settings) -> dict[str, tuple[str, dict[str, Any]]]:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("SELECT body, status, explanation FROM comments")
    finally:
        await conn.close()
    return {r["body"]: (r["status"], json.loads(r["explanation"])) for r in rows}


async def test_worker__a_spanish_comment_is_held_under_an_english_only_model(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    await _post(client, SPANISH)
    await _post(client, ENGLISH)

    assert await ScoringWorker(settings, engine, FakeScorer()).run_once() == 2

    decided = await _decisions(settings)
    status, explanation = decided[SPANISH]
    assert (status, explanation["rule"]) == ("held", "unsupported_language")
    assert explanation["language"]["detected"] == "es"
    assert explanation["language"]["confidence"] >= 0.9
    assert explanation["language"]["model_languages"] == ["en"]
    assert decided[ENGLISH][0] == "approved"
    assert decided[ENGLISH][1]["language"]["detected"] == "en"


async def test_worker__a_model_that_reads_spanish_scores_it_like_any_other(
    client: Client, make_site: SiteFactory, settings: Settings, engine: AsyncEngine
) -> None:
    await make_site()
    await _post(client, SPANISH)

    assert await ScoringWorker(settings, engine, MultilingualFake()).run_once() == 1

    status, explanation = (await _decisions(settings))[SPANISH]
    assert (status, explanation["rule"]) == ("approved", "below_thresholds")
