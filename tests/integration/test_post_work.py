"""What a POST does not do: without an Idempotency-Key the body is not serialised again and
hashed (only a key's retries are compared with the first request)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.web.api import public
from tests.conftest import SiteFactory

COMMENTS = "/v1/sites/daily/articles/story-1/comments"


async def test_post__hashes_the_request_only_for_an_idempotency_key(
    client: TestClient[Any, Any], make_site: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_site()
    hashed: list[Sequence[Any]] = []
    real = public._request_hash

    def counting(parts: Sequence[Any]) -> bytes:
        hashed.append(parts)
        return real(parts)

    monkeypatch.setattr(public, "_request_hash", counting)
    plain = await client.post(COMMENTS, json={"body": "No key.", "author_name": "Ann"})
    assert plain.status == 202
    assert hashed == []

    body = {"body": "With a key.", "author_name": "Ann"}
    keyed = [
        await client.post(COMMENTS, json=body, headers={"Idempotency-Key": "retry-1"})
        for _ in range(2)
    ]
    assert [r.status for r in keyed] == [202, 202]
    assert len({(await r.json())["id"] for r in keyed}) == 1
    assert [list(p) for p in hashed] == [["story-1", body], ["story-1", body]]
