"""Input that once made the API answer 500 or refuse a good request, each found by
schemathesis or by hand while writing tests/integration/test_schemathesis.py."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.settings import Settings
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


# --- hostile input: lone surrogates, huge numbers, crafted cursors, edge times ------------

JSON = {"Content-Type": "application/json"}
NOBODY = "00000000-0000-0000-0000-000000000000"
#: Times Python can hold but not convert to UTC, or not step back from by a few seconds.
EDGE_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z"]


def _cursor(raw: str | bytes) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, webhook_allowed_networks="127.0.0.1/32")


#: Where a lone surrogate once got through: (method, path, body with %s for the escape).
SURROGATE_PLACES = [
    ("POST", COMMENTS, '{"body": "%s", "author_name": "Ann"}'),
    ("POST", COMMENTS, '{"body": "Hi", "author_name": "%s"}'),
    ("POST", COMMENTS, '{"body": "Hi", "author_name": "Ann", "article_title": "%s"}'),
    ("POST", COMMENTS, '{"%s": 1}'),
    ("PUT", "/v1/sites/daily", '{"name": "%s", "allowed_origins": []}'),
    ("PUT", "/v1/sites/daily", '{"name": "D", "policy": {"blocked_terms": ["%s"]}}'),
    ("POST", f"/v1/comments/{NOBODY}/reports", '{"reason": "%s"}'),
    ("POST", f"/v1/comments/{NOBODY}/decision", '{"action": "reject", "reason": "%s"}'),
]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "a\\udc80b", "\\ude00\\ud83d"])
async def test_any_body__lone_surrogate_anywhere_is_400(
    client: Client, make_site: SiteFactory, auth: dict[str, str], escape: str
) -> None:
    await make_site()
    for method, path, template in SURROGATE_PLACES:
        response = await client.request(
            method, path, data=template % escape, headers={**JSON, **auth}
        )
        status, fields = await _problem(response)
        assert (status, fields) == (400, ["body"]), (path, template)
        assert "surrogate" in (await response.json())["errors"][0]["problem"]


async def test_any_body__surrogate_pair_is_one_character_and_accepted(
    client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    body = '{"body": "Nice \\ud83d\\ude00", "author_name": "Ann"}'
    response = await client.post(COMMENTS, data=body, headers=JSON)
    assert response.status == 202, await response.text()


@pytest.mark.parametrize(
    ("number", "says"),
    [("1" + "0" * 5000, "digits"), ("-" + "9" * 4301, "digits"), ("1e400", "too large")],
)
async def test_any_body__number_too_big_to_read_is_400(
    client: Client, make_site: SiteFactory, auth: dict[str, str], number: str, says: str
) -> None:
    await make_site()
    for method, path, body in [
        ("POST", COMMENTS, '{"body": %s, "author_name": "Ann"}'),
        ("PUT", "/v1/sites/daily", '{"name": "D", "policy": {"max_links": %s}}'),
    ]:
        response = await client.request(method, path, data=body % number, headers={**JSON, **auth})
        assert await _problem(response) == (400, ["body"])
        assert says in (await response.json())["errors"][0]["problem"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_any_body__nan_and_infinity_are_not_json_so_400(
    client: Client, make_site: SiteFactory, constant: str
) -> None:
    await make_site()
    body = f'{{"body": "Hi", "author_name": "Ann", "article_title": {constant}}}'
    response = await client.post(COMMENTS, data=body, headers=JSON)
    assert await _problem(response) == (400, ["body"])


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("[" * 2000 + "]" * 2000),
        _cursor(f'[["2026-01-01T00:00:00+00:00"], "{NOBODY}"]'),
        _cursor('["2026-01-01T00:00:00+00:00", 5]'),
        _cursor(f'["2026-01-01T00:00:00+00:00", "{NOBODY}", 1]'),
        _cursor(b"\xff\xfe"),
        "\u00e9t\u00e9",
        "x" * 5000,
        *(_cursor(f'["{t}", "{NOBODY}"]') for t in EDGE_TIMES),
    ],
)
async def test_cursor__one_not_issued_here_is_422_on_thread_and_queue(
    client: Client, make_site: SiteFactory, auth: dict[str, str], cursor: str
) -> None:
    await make_site()
    for path in (COMMENTS, "/v1/queue", "/v1/queue?order=score"):
        response = await client.get(path, params={"cursor": cursor}, headers=auth)
        assert await _problem(response) == (422, ["cursor"]), path


@pytest.mark.parametrize(
    "key", ["1" + "0" * 400, "-1" + "0" * 400, "1e400", "NaN", "Infinity", "true", '"0.5"']
)
async def test_queue__score_cursor_number_out_of_range_is_422(
    client: Client, auth: dict[str, str], key: str
) -> None:
    cursor = _cursor(f'[{key}, "{NOBODY}"]')
    response = await client.get(
        "/v1/queue", params={"order": "score", "cursor": cursor}, headers=auth
    )
    assert await _problem(response) == (422, ["cursor"])


@pytest.mark.parametrize("when", EDGE_TIMES)
async def test_changes__since_at_the_edge_of_time_is_422(
    client: Client, auth: dict[str, str], when: str
) -> None:
    response = await client.get("/v1/changes", params={"since": when}, headers=auth)
    assert await _problem(response) == (422, ["since"])


@pytest.mark.parametrize("when", EDGE_TIMES)
async def test_article_policy__until_at_the_edge_of_time_is_422(
    client: Client, make_site: SiteFactory, auth: dict[str, str], when: str
) -> None:
    await make_site()
    response = await client.put(
        "/v1/sites/daily/articles/story-1/policy",
        json={"policy_override": {"mode": "pre"}, "until": when},
        headers=auth,
    )
    assert await _problem(response) == (422, ["until"])


@pytest.mark.parametrize("when", EDGE_TIMES)
async def test_webhook_redeliver__since_at_the_edge_of_time_is_422(
    client: Client, auth: dict[str, str], when: str
) -> None:
    created = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["comment.held"]},
        headers=auth,
    )
    assert created.status == 201, await created.text()
    hook = (await created.json())["id"]
    response = await client.post(
        f"/v1/webhooks/{hook}/redeliver", json={"since": when}, headers=auth
    )
    assert await _problem(response) == (422, ["since"])


async def test_times__far_but_holdable_times_are_accepted(
    client: Client, make_site: SiteFactory, auth: dict[str, str]
) -> None:
    await make_site()
    response = await client.put(
        "/v1/sites/daily/articles/story-1/policy",
        json={"policy_override": {"mode": "pre"}, "until": "9999-12-01T00:00:00+14:00"},
        headers=auth,
    )
    assert response.status == 200, await response.text()
    response = await client.get(
        "/v1/changes", params={"since": "0002-01-01T00:00:00-14:00"}, headers=auth
    )
    assert response.status == 200, await response.text()


async def _raw_request(client: Client, head: bytes) -> tuple[int, dict[str, Any]]:
    """Send bytes no HTTP client library would (headers that are not UTF-8)."""
    url = client.make_url("")
    assert url.host is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(head)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    ("path", "header"),
    [
        (b"/v1/queue", b"Authorization: Bearer \xff\xfe"),
        (b"/moderate", b"Cookie: rg_session=\xff\xfe"),
        (b"/v1/queue", b"Cookie: rg_session=abc\xe9"),
        (b"/healthz", b"X-Forwarded-For: \xc3"),
    ],
)
async def test_any_request__header_that_is_not_utf8_is_400_naming_it(
    client: Client, path: bytes, header: bytes
) -> None:
    head = b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\nConnection: close\r\n\r\n" % (path, header)
    status, problem = await _raw_request(client, head)
    name = header.partition(b":")[0].decode()
    assert (status, [e["field"] for e in problem["errors"]]) == (400, [name])


async def test_any_request__utf8_header_is_read_as_before(client: Client) -> None:
    head = "GET /v1/queue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer caf\u00e9\r\n"
    status, _ = await _raw_request(client, (head + "Connection: close\r\n\r\n").encode())
    assert status == 401
