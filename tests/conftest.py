"""Fixtures: a real PostgreSQL database per test, cloned from a template holding schema.sql.

The server is the one in REPLYGUARD_TEST_DATABASE_URL (default: the local one at
127.0.0.1:5432, user postgres). Each test gets its own database, so tests never see each
other's rows and can run in any order. Without a server the run stops at the first test
that needs one, with one message saying how to get one (``NO_SERVER``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings, load_settings
from service.store.db import create_engine
from service.store.schema import SCHEMA_PATH
from service.store.tokens import TokenStore
from service.web.app import create_app, create_ops_app

ADMIN_URL = os.environ.get(
    "REPLYGUARD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


NO_SERVER = (
    "cannot reach the tests' PostgreSQL at {url} ({error}). The integration tests need a "
    "server on which they may create databases: the default is 127.0.0.1:5432, user "
    "postgres with trust auth (local connections need no password), database test "
    "(`createdb -h 127.0.0.1 -U postgres test`); or set REPLYGUARD_TEST_DATABASE_URL="
    "postgresql://USER:PASSWORD@HOST:PORT/DB for a user with CREATEDB. "
    "`pytest tests/unit` runs the tests that need no database."
)


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


async def _connect_admin() -> asyncpg.Connection:
    """A connection to the tests' server, or the end of the run with how to get one."""
    try:
        return await asyncpg.connect(ADMIN_URL, timeout=10)
    except (
        OSError,
        TimeoutError,
        asyncpg.InvalidAuthorizationSpecificationError,
        asyncpg.InvalidPasswordError,
        asyncpg.InvalidCatalogNameError,
    ) as error:
        pytest.exit(NO_SERVER.format(url=_masked(ADMIN_URL), error=error), returncode=1)


async def _admin(sql: str) -> None:
    conn = await _connect_admin()
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Tests that run the CLI in-process call ``logs.configure``, which binds the root
    logger's handler to that test's (captured, later closed) stderr: put it back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    name = f"rg_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def build() -> None:
        await _admin(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(_with_db(ADMIN_URL, name))
        try:
            await conn.execute(SCHEMA_PATH.read_text())
        finally:
            await conn.close()

    asyncio.run(build())
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(template_db: str) -> Iterator[str]:
    name = f"rg_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
    yield _with_db(ADMIN_URL, name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def make_database() -> Iterator[Callable[[], Awaitable[str]]]:
    """A factory of empty databases (no schema at all), each dropped after the test."""
    made: list[str] = []

    async def make() -> str:
        made.append(f"rg_e_{uuid.uuid4().hex[:12]}")
        await _admin(f'CREATE DATABASE "{made[-1]}"')
        return _with_db(ADMIN_URL, made[-1])

    yield make
    for name in made:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        poll_interval=0.2,
        retry_initial=0.05,
        retry_multiplier=2.0,
        retry_max=0.2,
        shutdown_timeout=5.0,
        # Tests post many comments from 127.0.0.1; those about limits set their own.
        rate_per_network=100_000,
        rate_per_author=100_000,
        rate_per_site=100_000,
        reports_per_network=100_000,
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    db = create_engine(settings, pool_size=5)
    yield db
    await db.dispose()


@pytest.fixture
async def client(
    aiohttp_client: Callable[[Any], Awaitable[TestClient[Any, Any]]],
    settings: Settings,
    engine: AsyncEngine,
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, engine=engine))


@pytest.fixture
async def ops_client(
    aiohttp_client: Callable[[Any], Awaitable[TestClient[Any, Any]]],
    client: TestClient[Any, Any],
) -> TestClient[Any, Any]:
    """The operations listener (/healthz, /readyz, /metrics) over ``client``'s app."""
    return await aiohttp_client(create_ops_app(client.app))


@pytest.fixture
async def admin_token(engine: AsyncEngine) -> str:
    return await TokenStore(engine).create("admin", None, "test-admin")


@pytest.fixture
def auth(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


SiteFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_site(client: TestClient[Any, Any], auth: dict[str, str]) -> SiteFactory:
    async def make(site_id: str = "daily", **body: Any) -> dict[str, Any]:
        payload = {"name": site_id.title(), "allowed_origins": ["https://news.example"], **body}
        response = await client.put(f"/v1/sites/{site_id}", json=payload, headers=auth)
        assert response.status in (200, 201), await response.text()
        data: dict[str, Any] = await response.json()
        return data

    return make


@pytest.fixture
def psettings(settings: Settings) -> Settings:
    """Settings for the page tests: fast sign-in delays and polling, no limits in the way."""
    from tests.pages_support import page_settings

    return page_settings(settings)
