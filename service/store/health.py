"""What /readyz asks of the database: is it there, which schema, how many live scorers."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from service.store import queries as q


class HealthStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self, stale_seconds: float) -> dict[str, Any]:
        """What /readyz reports: schema version and live scorers (raises if the DB is down)."""
        async with self._engine.connect() as conn:
            version = (await conn.execute(q.SCHEMA_VERSION)).scalar()
            scorers = (
                await conn.execute(q.LIVE_SCORERS, {"stale_seconds": stale_seconds})
            ).scalar_one()
        return {"schema_version": version, "live_scorers": int(scorers)}
