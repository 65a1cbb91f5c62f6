"""Applying schema.sql: idempotent, skipped when current, patient with an unreachable server."""

from __future__ import annotations

import time
from dataclasses import replace

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db import apply_schema, create_engine
from service.settings import Settings


async def _has_index(settings: Settings, name: str) -> bool:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name))
    finally:
        await conn.close()


async def _sql(settings: Settings, sql: str) -> None:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_apply_schema__skips_the_ddl_when_the_checksum_is_current(
    settings: Settings, engine: AsyncEngine
) -> None:
    await apply_schema(engine)
    await _sql(settings, "DROP INDEX comments_parent_idx")
    await apply_schema(engine)  # current: nothing is run, so nothing is recreated
    assert not await _has_index(settings, "comments_parent_idx")
    await _sql(settings, "UPDATE replyguard_schema SET checksum = 'older'")
    await apply_schema(engine)
    assert await _has_index(settings, "comments_parent_idx")


async def test_apply_schema__gives_up_after_its_patience_when_unreachable(
    settings: Settings,
) -> None:
    down = replace(settings, database_url="postgresql://postgres@127.0.0.1:1/nowhere")
    engine = create_engine(down, pool_size=1)
    started = time.monotonic()
    try:
        with pytest.raises(OSError):
            await apply_schema(engine, patience=1.5)
    finally:
        await engine.dispose()
    assert 1.0 <= time.monotonic() - started < 10
