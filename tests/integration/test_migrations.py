"""One Alembic history on both backends: up from empty, one step down, up again,
and the models match what the migrations build."""

from __future__ import annotations

import asyncio
import os
import secrets

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from agencyhub import dbadmin
from agencyhub.db import Base, create_engine
from agencyhub.db.system_key import SYSTEM_KEY_TABLE
from tests.conftest import ADMIN_URL, _admin, test_settings

EXPECTED_TABLES = {
    "agencies",
    "clients",
    "users",
    "memberships",
    "invitations",
    "api_tokens",
    "user_sessions",
    "login_throttles",
    "events",
}


def head_and_previous() -> tuple[str, str]:
    script = ScriptDirectory.from_config(dbadmin.alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    return head, previous


async def table_names(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def schema_drift(url: str) -> list[object]:
    engine = create_engine(url, pool_size=1)

    def compare(sync_conn: object) -> list[object]:
        context = MigrationContext.configure(
            sync_conn,  # type: ignore[arg-type]
            opts={
                "compare_type": False,
                "render_as_batch": True,
                # The system scope's key table lives outside the models on purpose.
                "include_name": lambda name, kind, _parent: (
                    not (kind == "table" and name == SYSTEM_KEY_TABLE)
                ),
            },
        )
        return list(compare_metadata(context, Base.metadata))

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def rls_tables(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity")
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


def check_round_trip(url: str) -> None:
    settings = test_settings(url)
    head, previous = head_and_previous()
    dbadmin.upgrade(settings)
    assert dbadmin.current_revision(settings) == head
    assert asyncio.run(table_names(url)) >= EXPECTED_TABLES
    assert asyncio.run(schema_drift(url)) == []
    dbadmin.downgrade(settings, "-1")
    assert dbadmin.current_revision(settings) == previous
    dbadmin.upgrade(settings)
    assert dbadmin.current_revision(settings) == head
    dbadmin.downgrade(settings, "base")
    assert asyncio.run(table_names(url)) <= {"alembic_version"}


def test_sqlite_upgrade_downgrade_upgrade(tmp_path):
    check_round_trip(f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}")


@pytest.mark.postgres
def test_postgres_upgrade_downgrade_upgrade():
    name = f"agencyhub_migrate_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        settings = test_settings(url)
        dbadmin.upgrade(settings)
        assert {"agencies", "clients", "memberships", "invitations", "events"} <= asyncio.run(
            rls_tables(url)
        )
        dbadmin.downgrade(settings, "base")
        check_round_trip(url)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
