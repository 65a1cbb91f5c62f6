"""Hostile input, generated: no request anyone can make to any operation answers 5xx.

Schemathesis (``test_schemathesis.py``) draws input from what ``/v1/openapi.json`` says;
this draws what it does not think of, the kinds a hostile reader found by hand: lone
surrogate escapes in any JSON key or string, integers past Python's 4,300-digit parsing
limit, floats that overflow, ``NaN``, nesting thousands deep, cursors that decode to any
JSON (deep, huge numbers, wrong types, edge times), times at both ends of Python's range in
any UTC offset, and percent-escapes of bytes that are not UTF-8 in paths and queries.

Each example starts from a request the operation accepts (``_bases``) and makes one thing
in it hostile: one body value (anywhere in it, of a kind chosen by what was there), one
query parameter, the path, or the whole body. One bad value among good ones is what
reaches the code past the first check; a request bad everywhere stops at that check.
Every operation in the description is covered, with an admin token, against a site, a
comment and a webhook that exist.

Hypothesis drives the async test through pytest-asyncio, one event loop for the test; the
app and its database are shared by the examples on purpose (what one example changes is
more input for the next), hence the suppressed function-scoped-fixture health check.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine
from yarl import URL

from moderation.domain import ModelInfo
from service.accounts.auth import Authenticator
from service.settings import Settings
from service.store.jobs import JobStore
from service.store.tokens import TokenStore
from service.web.openapi import SPEC
from tests.conftest import SiteFactory

Client = TestClient[Any, Any]
#: Examples per operation: each is one request, so ~40 operations stay well under a minute.
EXAMPLES = 15
NOBODY = "00000000-0000-0000-0000-000000000000"
METHODS = ("get", "put", "post", "patch", "delete", "options")
#: Stands in a base body for the value being made hostile, replaced in the JSON text, so
#: the hostile value can be what json.dumps would refuse to write (a 5,000-digit integer).
HOLE = "\x01hostile\x01"
#: A time in a base request: the hostile value put there is mostly another time.
SOME_TIME = "2026-06-01T12:00:00+00:00"


def _operations() -> list[tuple[str, str]]:
    return [(m, p) for p, ops in SPEC["paths"].items() for m in ops if m in METHODS]


def _bases(real: dict[str, str]) -> dict[tuple[str, str], tuple[dict[str, str], Any]]:
    """(query, body) of a request each operation would take; None: no body. Operations not
    named here take neither. A policy names every field, so each can be made hostile."""
    policy = {
        "mode": "auto",
        "thresholds": {"toxicity": {"hold_at": 0.5, "reject_at": 0.9}},
        "blocked_terms": ["spam"],
        "watched_terms": ["ad"],
        "max_links": 2,
        "report_threshold": 3,
        "backlog_seconds": 600,
        "first_comments_held": 1,
        "trusted_after": 10,
    }
    comment, thread = real["comment"], "/v1/sites/{site}/articles/{article}/comments"
    return {
        ("post", thread): (
            {},
            {
                "body": "Hello",
                "author_name": "Ann",
                "author_email": "ann@example.org",
                "parent_id": comment,
                "article_url": "https://news.example/a",
                "article_title": "A story",
            },
        ),
        ("get", thread): ({"cursor": "", "limit": "10"}, None),
        ("post", "/v1/sites/{site}/authors/{author}/sanctions"): (
            {},
            {"kind": "suspend", "until": "2999-01-01T00:00:00Z", "reason": "trolling"},
        ),
        ("get", "/v1/sites/{site}/authors/{author}/comments"): (
            {"cursor": "", "limit": "10"},
            None,
        ),
        ("post", "/v1/comments/{comment}/reports"): ({}, {"reason": "spam"}),
        ("post", "/v1/comments/{comment}/decision"): ({}, {"action": "reject", "reason": "r"}),
        ("post", "/v1/decisions"): ({}, {"ids": [comment], "action": "reject", "reason": "r"}),
        ("get", "/v1/queue"): (
            {
                "site": "daily",
                "article": "story-1",
                "status": "held",
                "order": "score",
                "label": "toxicity",
                "cursor": "",
                "limit": "10",
            },
            None,
        ),
        ("put", "/v1/sites/{site}"): (
            {},
            {
                "name": "Daily",
                "allowed_origins": ["https://news.example"],
                "policy": policy,
                "reason": "r",
            },
        ),
        ("get", "/v1/sites/{site}/calibration"): ({"label": "toxicity", "last": "100"}, None),
        ("put", "/v1/sites/{site}/articles/{article}/policy"): (
            {},
            {"policy_override": {"mode": "pre"}, "until": SOME_TIME},
        ),
        ("post", "/v1/webhooks"): (
            {},
            {
                "url": "http://127.0.0.1:9/h",
                "events": ["comment.held"],
                "site": "daily",
                "description": "d",
            },
        ),
        ("get", "/v1/webhooks"): ({"site": "daily"}, None),
        ("patch", "/v1/webhooks/{webhook}"): ({}, {"description": "d", "enabled": True}),
        ("get", "/v1/webhooks/{webhook}/deliveries"): (
            {"status": "dead", "cursor": "", "limit": "10"},
            None,
        ),
        ("post", "/v1/webhooks/{webhook}/redeliver"): ({}, {"since": SOME_TIME}),
        ("get", "/v1/queue/summary"): (
            {"site": "daily", "article": "story-1", "status": "held"},
            None,
        ),
        ("get", "/v1/changes"): ({"site": "daily", "since": SOME_TIME}, None),
        ("post", "/v1/claims"): ({}, {"comment_id": comment}),
        ("post", "/v1/decisions/reopen"): ({}, {"ids": [comment], "reason": "r"}),
        ("post", "/v1/sites/{site}/policy/preview"): ({}, {"policy": policy, "last": 10}),
        ("get", "/demo"): ({"site": "daily", "article": "story-1"}, None),
        ("post", "/moderate/sign-in"): ({}, {"name": "ann", "password": "pw", "csrf": "x"}),
        ("post", "/moderate/sign-out"): ({}, {"csrf": "x"}),
    }


def _media(method: str, path: str) -> str | None:
    content = SPEC["paths"][path][method].get("requestBody", {}).get("content", {})
    return next(iter(content), None)


def _query_names(method: str, path: str) -> list[str]:
    ops = SPEC["paths"][path]
    params = [*ops[method].get("parameters", []), *ops.get("parameters", [])]
    return [p["name"] for p in params if p.get("in") == "query"]


def _all_property_names() -> list[str]:
    """Every property name in the description: keys a hostile body may use."""
    names: set[str] = set()
    stack: list[Any] = [SPEC]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(names)


# --- hostile values -----------------------------------------------------------------------

surrogates = st.integers(0xD800, 0xDFFF).map(chr)
hostile_text = st.lists(st.one_of(st.characters(), surrogates), max_size=12).map("".join)
offsets = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
#: Times Python can write but not convert to UTC, or not step back from by a few seconds.
EDGE_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999+00:00",
]
edge_times = st.one_of(
    st.sampled_from(EDGE_TIMES),
    st.builds(
        lambda when, tz: when.replace(tzinfo=tz).isoformat(),
        st.one_of(
            st.datetimes(max_value=datetime(1, 1, 3)),
            st.datetimes(min_value=datetime(9999, 12, 29)),
            st.datetimes(),
        ),
        offsets,
    ),
)
strings = st.one_of(hostile_text, edge_times, st.sampled_from(["", NOBODY, "daily"]))
#: Numbers as JSON text: json.dumps refuses to write the ones past Python's digit limit.
numbers = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(300, 500).map(lambda n: "9" * n),
    st.integers(4290, 4400).map(lambda n: "-" + "9" * n),
    st.integers(300, 500).map(lambda n: f"1e{n}"),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "-0", "1E-400"]),
)
keys = st.one_of(st.sampled_from(_all_property_names()), hostile_text)


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"


#: Any JSON text, hostile scalars at the leaves.
json_text = st.recursive(
    st.one_of(numbers, strings.map(json.dumps), st.sampled_from(["true", "false", "null"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(keys, inner), max_size=4).map(_object),
    ),
    max_leaves=10,
)
deep = st.integers(1, 3000).map(lambda n: "[" * n + "]" * n)


def _like(value: Any) -> st.SearchStrategy[str]:
    """JSON text to put where ``value`` was: mostly the same kind gone bad, else anything."""
    if value == SOME_TIME:
        same = edge_times.map(json.dumps)
    elif isinstance(value, str):
        same = strings.map(json.dumps)
    elif isinstance(value, bool) or value is None:
        same = st.sampled_from(["null", "true", "0", '""'])
    elif isinstance(value, int | float):
        same = numbers
    else:
        same = deep
    return st.one_of(same, json_text)


def _b64(text: str | bytes) -> str:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: Cursors: mostly the shape of ours, [sort key, id], with a bad part; else anything.
cursors = st.one_of(
    st.tuples(
        st.one_of(edge_times.map(json.dumps), numbers),
        st.one_of(st.just(json.dumps(NOBODY)), json_text),
    ).map(lambda p: _b64(f"[{p[0]},{p[1]}]")),
    json_text.map(_b64),
    deep.map(_b64),
    st.binary(max_size=300).map(_b64),
    hostile_text,
)


def _query_value(name: str) -> st.SearchStrategy[str]:
    if name == "cursor":
        return cursors
    if name == "since":
        return edge_times
    return st.one_of(strings, numbers)


# --- requests -----------------------------------------------------------------------------


def _paths_in(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, the whole value first."""
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths_in(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths_in(item, (*at, index))


def _with_hole(body: Any, at: tuple[Any, ...], key: str | None) -> Any:
    """``body`` with HOLE at ``at`` (or under a new ``key`` there)."""
    if not at and key is None:
        return HOLE
    body = copy.deepcopy(body)
    parent = body
    for step in at[:-1] if key is None else at:
        parent = parent[step]
    if key is None:
        parent[at[-1]] = HOLE
    elif isinstance(parent, dict):
        parent[key] = HOLE
    return body


def _hostile_body(base: Any) -> st.SearchStrategy[str]:
    """JSON text: ``base`` with one value (or one new key) hostile, or anything at all."""

    def fill(at: tuple[Any, ...], key: str | None, text: str) -> str:
        return json.dumps(_with_hole(base, at, key)).replace(json.dumps(HOLE), text)

    def one_place(at: tuple[Any, ...]) -> st.SearchStrategy[str]:
        value: Any = base
        for step in at:
            value = value[step]
        return st.builds(fill, st.just(at), st.none(), _like(value))

    places = list(_paths_in(base))
    return st.one_of(
        st.sampled_from(places).flatmap(one_place),
        st.builds(fill, st.just(()), keys, json_text),
        json_text,
        deep,
    )


def _escaped(value: str) -> str:
    """Percent-escaped as sent on the wire; a lone surrogate becomes bytes that are not UTF-8."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _form(fields: dict[str, str]) -> bytes:
    return "&".join(f"{_escaped(k)}={_escaped(v)}" for k, v in fields.items()).encode()


def _request(method: str, path: str, real: dict[str, str]) -> st.SearchStrategy[Any]:
    """(path values, query, body bytes or None) for one operation, one part hostile."""
    names = path.replace("}", "{").split("{")[1::2]
    query, body = _bases(real).get((method, path), ({}, None))
    media = _media(method, path)
    good_path = st.just({n: real[n] for n in names})
    good_query = st.just(query)
    parts: list[st.SearchStrategy[Any]] = []
    if media == "application/x-www-form-urlencoded":
        form = st.dictionaries(keys, strings, max_size=4)
        parts.append(st.tuples(good_path, good_query, form.map(_form)))
    elif media is not None:
        as_bytes = _hostile_body(body or {}).map(lambda t: t.encode("utf-8", "surrogatepass"))
        parts.append(st.tuples(good_path, good_query, as_bytes))
    good_body = st.just(None if media is None else _encode(body or {}, media))
    query_names = _query_names(method, path)
    if query_names:
        parts.append(st.tuples(good_path, _one_bad_param(query, query_names), good_body))
    if names:
        bad_path = st.fixed_dictionaries(
            {
                n: st.one_of(st.sampled_from([real[n], NOBODY, "9" * 40]), hostile_text)
                for n in names
            }
        )
        parts.append(st.tuples(bad_path, good_query, good_body))
    if not parts:
        parts.append(st.tuples(good_path, good_query, good_body))
    return st.one_of(parts)


def _one_bad_param(query: dict[str, str], names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """``query`` with one parameter hostile; cursors and times, which carry structure, are
    drawn more often, and a cursor goes with either queue order."""
    structured = [n for n in names if n in ("cursor", "since")]
    orders = ["oldest", "score"] if "order" in names else [query.get("order", "")]

    def bad(name: str) -> st.SearchStrategy[dict[str, str]]:
        return st.builds(
            lambda value, order: {**query, name: value, **({"order": order} if order else {})},
            _query_value(name),
            st.sampled_from(orders) if name == "cursor" else st.just(""),
        )

    return st.sampled_from(names + structured * 3).flatmap(bad)


def _encode(body: Any, media: str) -> bytes:
    return _form(body) if media.endswith("urlencoded") else json.dumps(body).encode()


def _url(path: str, params: dict[str, str], query: dict[str, str]) -> URL:
    for name, value in params.items():
        path = path.replace("{" + name + "}", _escaped(value) or "x")
    if query:
        path += "?" + "&".join(f"{n}={_escaped(v)}" for n, v in query.items())
    return URL(path, encoded=True)


# --- the test -----------------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every generated request comes from 127.0.0.1: limits would answer most of them 429.
    return replace(
        settings,
        rate_per_network=10**6,
        rate_per_author=10**6,
        rate_per_site=10**6,
        webhook_allowed_networks="127.0.0.1/32",
    )


@pytest.fixture
async def real(
    client: Client,
    auth: dict[str, str],
    make_site: SiteFactory,
    engine: AsyncEngine,
    settings: Settings,
) -> dict[str, str]:
    """Path values that exist: a site, an article, a comment, a webhook, a static file, a
    moderator's token and user (not the admin's token the requests use)."""
    await make_site("daily")
    await TokenStore(engine).create("moderator", ["daily"], "hostile-target")
    await Authenticator(engine, settings).create_user(
        "hostile-target", "a long enough password", "moderator", ["daily"]
    )
    tokens = await (await client.get("/v1/tokens", headers=auth)).json()
    # A live scorer, so /readyz answers 200 (ready) as in production, not 503.
    await JobStore(engine).heartbeat("hostile", "localhost", os.getpid(), ModelInfo("x", "1"))
    posted = await client.post(
        "/v1/sites/daily/articles/story-1/comments", json={"body": "Hi", "author_name": "Ann"}
    )
    hook = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/h", "events": ["comment.held"]},
        headers=auth,
    )
    assert posted.status == 202 and hook.status == 201, await hook.text()
    seen = await client.get(f"/v1/comments/{(await posted.json())['id']}", headers=auth)
    return {
        "author": (await seen.json())["author"]["id"],
        "site": "daily",
        "article": "story-1",
        "comment": (await posted.json())["id"],
        "webhook": (await hook.json())["id"],
        "delivery": "1",
        "name": "embed.js",
        "token": str(next(t["id"] for t in tokens["items"] if t["label"] == "hostile-target")),
        "user": "hostile-target",
    }


def test_bases__name_only_operations_that_exist() -> None:
    # A base for a renamed route would silently stop being used.
    placeholders = {n: n for n in ("comment", "site", "article", "webhook")}
    assert set(_bases(placeholders)) <= set(_operations())


@pytest.mark.parametrize(("method", "path"), _operations())
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_operation__hostile_input_never_answers_5xx(
    client: Client,
    auth: dict[str, str],
    real: dict[str, str],
    method: str,
    path: str,
    data: st.DataObject,
) -> None:
    params, query, body = data.draw(_request(method, path, real))
    headers = dict(auth)
    media = _media(method, path)
    if media is not None:
        headers["Content-Type"] = media
    url = _url(path, params, query)
    response = await client.request(method.upper(), url, data=body, headers=headers)
    text = await response.text()
    assert response.status < 500, (response.status, text[:500])
