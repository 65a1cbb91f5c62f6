"""Rows read straight from the test database, on a connection of their own: what a test
checks behind the stores' backs."""

from __future__ import annotations

from typing import Any

import asyncpg

from service.settings import Settings


async def fetch_rows(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    """The rows ``sql`` returns, on a fresh connection closed afterwards."""
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()
