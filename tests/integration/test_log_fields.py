"""The main log lines carry their figures as fields (``extra=``), which JSON logs show as
keys: a scored batch, a refused submission."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.queue.scoring import ScoringWorker
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import SiteFactory
from tests.fakes import FakeScorer

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/daily/articles/story-1/comments"


def _fields(record: logging.LogRecord, *names: str) -> dict[str, Any]:
    return {name: getattr(record, name, "(missing)") for name in names}


async def test_worker_log__a_scored_batch_carries_count_ms_and_decided(
    client: Client,
    make_site: SiteFactory,
    settings: Settings,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await make_site()
    for body in ("fine words", "more fine words"):
        assert (await client.post(COMMENTS, json={"body": body, "author_name": "A"})).status == 202
    caplog.set_level(logging.INFO, logger="service.queue.scoring")
    assert await ScoringWorker(settings, engine, FakeScorer()).run_once() == 2
    [batch] = [r for r in caplog.records if r.getMessage().startswith("scored 2 comments")]
    assert _fields(batch, "count", "decided") == {"count": 2, "decided": 2}
    assert isinstance(batch.__dict__["ms"], float)


async def test_rate_limited_log__names_the_site(
    aiohttp_client: Any,
    settings: Settings,
    engine: AsyncEngine,
    auth: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tight = replace(settings, rate_per_author=1)
    app = await aiohttp_client(create_app(tight, engine=engine))
    await app.put("/v1/sites/daily", json={"name": "D"}, headers=auth)
    caplog.set_level(logging.DEBUG, logger="service.web.api.public")
    ann = {"author_name": "Ann", "author_email": "ann@x.example"}
    assert (await app.post(COMMENTS, json={"body": "1", **ann})).status == 202
    assert (await app.post(COMMENTS, json={"body": "2", **ann})).status == 429
    [refused] = [r for r in caplog.records if "rate limited" in r.getMessage()]
    assert refused.levelno == logging.DEBUG
    assert _fields(refused, "site") == {"site": "daily"}
    assert refused.__dict__["retry_after"] > 0
