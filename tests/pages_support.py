"""Helpers for the moderator page's tests: users, a scorer driven by keywords, seeding."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from moderation.domain import ModelInfo
from service.accounts.auth import Authenticator
from service.queue.scoring import ScoringWorker
from service.settings import Settings

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery"

#: keyword in a comment -> the scores it gets; anything else scores low.
KEYWORD_SCORES: dict[str, dict[str, float]] = {
    "idiot": {"toxicity": 0.81, "insult": 0.72, "threat": 0.02},
    "moron": {"toxicity": 0.66, "insult": 0.61, "threat": 0.01},
    "destroy you": {"toxicity": 0.58, "insult": 0.10, "threat": 0.47},
    "garbage": {"toxicity": 0.55, "insult": 0.30, "threat": 0.01},
}
LOW = {"toxicity": 0.03, "insult": 0.02, "threat": 0.01}


class KeywordScorer:
    """Deterministic scores from keywords: enough to hold, reject or pass a comment."""

    @property
    def model(self) -> ModelInfo:
        return ModelInfo("keyword-scorer", "1")

    @property
    def labels(self) -> tuple[str, ...]:
        return ("toxicity", "insult", "threat")

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        out = []
        for text in texts:
            found = LOW
            for word, scores in KEYWORD_SCORES.items():
                if re.search(re.escape(word), text, re.IGNORECASE):
                    found = scores
                    break
            out.append(dict(found))
        return out


def page_settings(settings: Settings, **changes: Any) -> Settings:
    """The test settings, with nothing in the way of seeding many comments quickly."""
    base: dict[str, Any] = {
        "sign_in_failure_delay": 0.01,
        "live_poll_interval": 0.4,
        "rate_per_network": 100000,
        "rate_per_author": 100000,
        "duplicate_window": 0.001,
    }
    base.update(changes)
    return replace(settings, **base)


async def make_user(
    engine: AsyncEngine,
    settings: Settings,
    name: str,
    role: str = "moderator",
    sites: list[str] | None = None,
    password: str = PASSWORD,
) -> None:
    await Authenticator(engine, settings).create_user(
        name, password, role, sites if sites is not None else ["daily"]
    )


async def post_comment(
    client: Client, body: str, *, author: str = "Reader", site: str = "daily", **extra: Any
) -> dict[str, Any]:
    article = extra.pop("article", "budget-2026")
    payload = {
        "body": body,
        "author_name": author,
        "article_title": "Budget 2026: what changes for you",
        "article_url": f"https://news.example/{article}",
        **extra,
    }
    response = await client.post(f"/v1/sites/{site}/articles/{article}/comments", json=payload)
    assert response.status == 202, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def score_all(settings: Settings, engine: AsyncEngine) -> None:
    """Run the scoring worker with the keyword scorer until the queue is empty."""
    worker = ScoringWorker(settings, engine, KeywordScorer())
    while await worker.run_once():
        pass


async def sign_in(client: Client, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the page's CSRF token."""
    form = await client.get("/moderate/sign-in")
    token = _hidden(await form.text(), "csrf")
    done = await client.post(
        "/moderate/sign-in",
        data={"name": name, "password": password, "csrf": token},
        allow_redirects=False,
    )
    assert done.status == 303, await done.text()
    page = await client.get("/moderate")
    assert page.status == 200
    return _meta_csrf(await page.text())


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def _meta_csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, html
    return match.group(1)
