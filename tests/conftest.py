"""Real services for the tests: a PostgreSQL database and a Redis database per test run.

``./dev test`` starts the servers first (scripts/services.sh). A test that needs one that
cannot be reached fails when ``CI`` is set and is skipped otherwise.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hub.config import Settings
from hub.storage.db import SessionFactory, create_engine, session_factory
from hub.storage.migrate import upgrade
from hub.storage.models import Base

# The settings of the tests come from the fixtures, never from the caller's environment.
for _name in [n for n in os.environ if n.startswith("HUB_") and not n.startswith("HUB_TEST_")]:
    del os.environ[_name]

CI = bool(os.environ.get("CI"))
PG_ADMIN_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379")
SECRET = "test-secret-" + "x" * 40
REPO = Path(__file__).resolve().parent.parent


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable ({type(exc).__name__}: {exc}); ./dev test starts it"
    if CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# PostgreSQL -----------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    import asyncpg

    url = make_url(PG_ADMIN_URL)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username or "postgres",
        database=url.database or "postgres", timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_sync(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(fn())).result()  # type: ignore[arg-type]


def pg_url_for(database: str) -> str:
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database_factory() -> Iterator[Callable[[], str]]:
    """Makes empty databases for this test run; drops them all at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"hub_test_{uuid.uuid4().hex[:12]}"
        try:
            run_sync(lambda: _pg_admin(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            unavailable("PostgreSQL", exc)
        made.append(name)
        return pg_url_for(name)

    yield make
    for name in made:
        try:
            sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            run_sync(lambda sql=sql: _pg_admin(sql))  # type: ignore[misc]
        except Exception:
            pass


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables at all, on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    factory: Callable[[], str] = request.getfixturevalue("pg_database_factory")
    return factory()


@pytest.fixture(scope="session")
def pg_session_url(pg_database_factory: Callable[[], str]) -> str:
    """One migrated database for the run; tests get it emptied by ``pg_url``."""
    url = pg_database_factory()

    async def migrate() -> None:
        from hub.config import DatabaseSettings

        engine = create_engine(DatabaseSettings(url=url))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    run_sync(migrate)
    return url


@pytest.fixture
def pg_url(pg_session_url: str) -> Iterator[str]:
    yield pg_session_url
    from hub.config import DatabaseSettings

    async def empty() -> None:
        engine = create_engine(DatabaseSettings(url=pg_session_url))
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    run_sync(empty)


# Redis ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_session_url() -> Iterator[str]:
    """A Redis database number of its own for this run, emptied before and after."""
    import redis

    # A database number of this run's own, so runs side by side do not flush each other.
    url = f"{REDIS_BASE}/{os.environ.get('HUB_TEST_REDIS_DB') or 2 + os.getpid() % 14}"
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        client.flushdb()
    except Exception as exc:
        unavailable("Redis", exc)
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def redis_url(redis_session_url: str) -> Iterator[str]:
    yield redis_session_url
    import redis

    with redis.Redis.from_url(redis_session_url) as client:
        client.flushdb()


# Settings and apps ------------------------------------------------------------------------


def make_settings(tmp_path: Path, *, database_url: str | None = None,
                  redis_url: str | None = None, profile: str = "embedded",
                  **sections: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "profile": profile,
        "data_dir": tmp_path,
        "database": {"url": database_url or f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}"},
        "security": {"secret_key": SECRET},
        "logging": {"format": "console", "access_log": False},
        "tasks": {"runner": "celery" if profile == "production" else "inprocess"},
    }
    if redis_url:
        values["redis"] = {"url": redis_url}
    for name, section in sections.items():
        values[name] = {**values.get(name, {}), **section}
    return Settings(**values)


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database on each backend: a new SQLite file, or the run's emptied PostgreSQL."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    from hub.config import DatabaseSettings

    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}"
    engine = create_engine(DatabaseSettings(url=url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return url


@pytest.fixture
def settings(tmp_path: Path, backend: str) -> Settings:
    return make_settings(tmp_path, database_url=backend)


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[SessionFactory]:
    """Sessions on the test database, without an app."""
    engine = create_engine(settings.database)
    yield session_factory(engine)
    await engine.dispose()


ClientFactory = Callable[[Settings], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    """Starts the hub's web app on a real loopback port; closes every one made."""
    from hub.serving import install_edge_first
    from hub.web import create_app

    clients: list[TestClient[Any, Any]] = []

    async def make(settings: Settings) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        install_edge_first(client.server.runner)  # as `hub serve` does
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(settings: Settings, client_for: ClientFactory) -> TestClient[Any, Any]:
    # `settings` first: the app closes before the database is emptied.
    return await client_for(settings)


MerchantFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
def new_merchant() -> MerchantFactory:
    """Creates a merchant in a running app's database; returns ``NewMerchant``."""
    from hub.tenancy import create_merchant
    from hub.web.keys import SESSIONS, VAULT

    async def make(client: TestClient[Any, Any], name: str = "Shop",
                   storefront: str = "https://shop.test/") -> Any:
        app = client.server.app
        assert app is not None
        async with app[SESSIONS]() as session:
            made = await create_merchant(session, app[VAULT], name=name,
                                         storefront_url=storefront)
            await session.commit()
        return made

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
