"""/v1/openapi.json states the limits the app it is served by enforces: an operator's
REPLYGUARD_MAX_BODY_CHARS and REPLYGUARD_MAX_NAME_CHARS, not the defaults, and the patterns
of ids in the path as the handlers read them. Each limit is read from the served document
and tried at its edge against the same app."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jsonschema_rs
import pytest
from aiohttp.test_utils import TestClient

from service.settings import Settings
from tests.conftest import SiteFactory

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/daily/articles/story-1/comments"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, max_body_chars=123, max_name_chars=7)


async def _spec(client: Client) -> dict[str, Any]:
    response = await client.get("/v1/openapi.json")
    assert response.status == 200
    spec: dict[str, Any] = await response.json()
    return spec


async def _post(client: Client, **fields: str) -> tuple[int, list[str]]:
    body = {"body": "A fair point.", "author_name": "Ann", **fields}
    response = await client.post(COMMENTS, json=body)
    data = await response.json()
    return response.status, [e["field"] for e in data.get("errors", [])]


async def test_openapi__states_the_apps_body_and_name_limits(client: Client) -> None:
    fields = (await _spec(client))["components"]["schemas"]["NewComment"]["properties"]
    assert fields["body"]["maxLength"] == 123
    assert "REPLYGUARD_MAX_BODY_CHARS (123)" in fields["body"]["description"]
    assert fields["author_name"]["maxLength"] == 7
    assert "REPLYGUARD_MAX_NAME_CHARS (7)" in fields["author_name"]["description"]


async def test_openapi__every_new_comment_text_limit_is_enforced_at_its_edge(
    client: Client, make_site: SiteFactory
) -> None:
    """At the document's maxLength a field is accepted; one character more is refused,
    naming the field. The test knows no limit: it reads each from the served document."""
    await make_site()
    fields = (await _spec(client))["components"]["schemas"]["NewComment"]["properties"]
    for name in ("body", "author_name", "article_title"):
        most = fields[name]["maxLength"]
        at_limit = name[0] * most
        # Each accepted comment has its own text, so none is refused as a repost.
        others = {} if name == "body" else {"body": f"On {name}."}
        assert await _post(client, **others, **{name: at_limit}) == (202, []), name
        assert await _post(client, **others, **{name: at_limit + "x"}) == (422, [name]), name


async def test_openapi__article_id_with_a_final_newline_is_refused_as_documented(
    client: Client, make_site: SiteFactory
) -> None:
    """The document's pattern (ECMA-262: ``$`` is the end) refuses ``story-1\\n``; Python's
    ``$`` matches before a final newline, so the handler once stored such an article."""
    await make_site()
    spec = await _spec(client)
    article = spec["paths"]["/v1/sites/{site}/articles/{article}/comments"]["parameters"][1]
    assert article["name"] == "article"
    assert not jsonschema_rs.is_valid(article["schema"], "story-1\n")
    body = {"body": "A fair point.", "author_name": "Ann"}
    response = await client.post("/v1/sites/daily/articles/story-1%0A/comments", json=body)
    assert response.status == 422
    assert [e["field"] for e in (await response.json())["errors"]] == ["article"]
