"""Shared fixtures: a real PostgreSQL database per test run, a SQLite file, the app.

PostgreSQL: one database per run, created and dropped here, migrated by the owner
(``postgres``) and used by the application as ``agencyhub_app`` — a role without
BYPASSRLS, so row-level security is in force exactly as in production.
Each test starts from empty tables.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from agencyhub import dbadmin
from agencyhub.app import create_app
from agencyhub.config import Settings
from agencyhub.db import Base, Database, create_engine
from agencyhub.models import load_all_models
from agencyhub.tenancy.secrets import Passwords

load_all_models()

ADMIN_URL = os.environ.get(
    "AGENCYHUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
APP_ROLE = "agencyhub_app"
# The in-process apps' e-mail (tests.helpers.outbox_link reads it), one per test run.
TEST_OUTBOX = Path(tempfile.gettempdir()) / f"agencyhub-test-outbox-{os.getpid()}"


def test_settings(database_url: str, migration_url: str = "", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "migration_database_url": migration_url,
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 1024,
        "log_level": os.environ.get("AGENCYHUB_TEST_LOG_LEVEL", "WARNING"),
        "database_pool_size": 5,
        "outbox_dir": str(TEST_OUTBOX),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


test_settings.__test__ = False  # type: ignore[attr-defined]  # a builder, not a test


@dataclass
class TestDatabase:
    """A migrated database: ``settings`` connect as the app, ``owner_url`` as the owner."""

    backend: str
    settings: Settings
    owner_url: str

    __test__ = False


async def _admin(statement: str) -> None:
    engine = create_engine(ADMIN_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def ensure_app_role(settings: Settings) -> None:
    """Roles are cluster-wide: parallel test workers take turns creating/altering it."""
    engine = create_engine(ADMIN_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(724001)"))
            try:
                await dbadmin.create_app_role(settings)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(724001)"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[TestDatabase]:
    name = f"agencyhub_test_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    owner_url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    app_url = (
        make_url(ADMIN_URL)
        .set(database=name, username=APP_ROLE, password=None)
        .render_as_string(hide_password=False)
    )
    settings = test_settings(app_url, owner_url)
    asyncio.run(ensure_app_role(settings))
    dbadmin.upgrade(settings)
    try:
        yield TestDatabase("postgres", settings, owner_url)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> TestDatabase:
    path = tmp_path_factory.mktemp("sqlite") / "agencyhub.db"
    url = f"sqlite+aiosqlite:///{path}"
    settings = test_settings(url)
    dbadmin.upgrade(settings)
    return TestDatabase("sqlite", settings, url)


async def empty_all_tables(owner_url: str) -> None:
    engine = create_engine(owner_url, pool_size=1)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    await conn.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["postgres", "sqlite"])
def any_database(request: pytest.FixtureRequest) -> TestDatabase:
    """Runs the test once on PostgreSQL and once on the embedded SQLite path."""
    fixture = "postgres_database" if request.param == "postgres" else "sqlite_database"
    db: TestDatabase = request.getfixturevalue(fixture)
    return db


@pytest_asyncio.fixture
async def database(any_database: TestDatabase) -> AsyncIterator[Database]:
    """The app-role Database on either backend, emptied before the test."""
    await empty_all_tables(any_database.owner_url)
    db = Database.from_settings(any_database.settings)
    try:
        yield db
    finally:
        await db.dispose()


@pytest_asyncio.fixture
async def pg(postgres_database: TestDatabase) -> AsyncIterator[Database]:
    """The app-role Database on PostgreSQL only (RLS, concurrency)."""
    await empty_all_tables(postgres_database.owner_url)
    db = Database.from_settings(postgres_database.settings)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def passwords() -> Passwords:
    return Passwords(test_settings("sqlite+aiosqlite://"))


@pytest_asyncio.fixture
async def client(any_database: TestDatabase, database: Database) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """The whole app over HTTP, on either backend, from empty tables.

    The app runs on its own event loop and engine; tests build data with ``database``.
    """
    app = create_app(any_database.settings)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest_asyncio.fixture
async def pg_client(
    postgres_database: TestDatabase, pg: Database
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_app(postgres_database.settings)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


REPO_ROOT = Path(__file__).resolve().parents[1]
