"""Input that once made the API answer 500 or refuse a good request, each found by
schemathesis or by hand while writing tests/integration/test_schemathesis.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import SiteFactory

Client = TestClient[Any, Any]
COMMENTS = "/v1/sites/daily/articles/story-1/comments"


async def _problem(response: Any) -> tuple[int, list[str]]:
    data = await response.json()
    return response.status, [e["field"] for e in data.get("errors", [])]


async def test_post_comment__body_arriving_in_several_packets_is_read_whole(
    client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    body = json.dumps({"body": "word " * 900, "author_name": "Ann"}).encode()
    head = (
        f"POST {COMMENTS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    url = client.make_url("")
    assert url.host is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(head + body[:1000])
        await writer.drain()
        await asyncio.sleep(0.2)  # the server reads what has come so far, then the rest
        writer.write(body[1000:])
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 202"), answer[:300]


async def test_post_comment__json_nested_too_deeply_is_400(
    client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    deep = "[" * 30_000 + "]" * 30_000
    response = await client.post(COMMENTS, data=deep, headers={"Content-Type": "application/json"})
    assert await _problem(response) == (400, ["body"])


async def test_post_comment__nul_character_anywhere_is_400(
    client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    response = await client.post(COMMENTS, json={"body": "Hi", "author_name": "A\x00n"})
    assert await _problem(response) == (400, ["body"])


async def test_post_comment__control_character_at_an_edge_is_422_not_stripped(
    client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    response = await client.post(COMMENTS, json={"body": "Hello", "author_name": "\x0bAnn"})
    assert await _problem(response) == (422, ["author_name"])


async def test_post_comment__url_with_unclosed_bracket_is_422(
    client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    response = await client.post(
        COMMENTS, json={"body": "Hello", "author_name": "Ann", "article_url": "http://["}
    )
    assert await _problem(response) == (422, ["article_url"])


async def test_put_site__origin_with_unclosed_bracket_is_422(
    client: Client, auth: dict[str, str]
) -> None:
    response = await client.put(
        "/v1/sites/daily", json={"name": "Daily", "allowed_origins": ["https://["]}, headers=auth
    )
    assert await _problem(response) == (422, ["allowed_origins[0]"])


async def test_put_site__policy_false_is_422_not_the_default_policy(
    client: Client, auth: dict[str, str]
) -> None:
    response = await client.put(
        "/v1/sites/daily", json={"name": "Daily", "policy": False}, headers=auth
    )
    assert await _problem(response) == (422, ["policy"])


async def test_put_site__policy_null_is_the_default_policy(
    client: Client, auth: dict[str, str]
) -> None:
    response = await client.put(
        "/v1/sites/daily", json={"name": "Daily", "policy": None}, headers=auth
    )
    assert response.status == 201
    assert (await response.json())["policy"]["mode"] == "auto"


async def test_put_article_policy__blank_until_is_422(
    client: Client, auth: dict[str, str], make_site: SiteFactory
) -> None:
    await make_site()
    response = await client.put(
        "/v1/sites/daily/articles/story-1/policy",
        json={"policy_override": {"mode": "pre"}, "until": " "},
        headers=auth,
    )
    assert await _problem(response) == (422, ["until"])


async def test_preflight_thread__malformed_article_is_422(
    client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    response = await client.options("/v1/sites/daily/articles/%C2%84/comments")
    assert response.status == 422
