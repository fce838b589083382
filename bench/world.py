"""A fresh benchmark database with the test world, as production runs it: migrated by
the owner, used as ``agencyhub_app`` (row-level security applies). Shared by the
benchmarks that need only that (bench/web, bench/signin)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from tests.factories import make_world

from agencyhub import dbadmin
from agencyhub.config import Settings
from agencyhub.db import Database, create_engine
from agencyhub.tenancy.secrets import Passwords

ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


async def admin(*statements: str) -> None:
    engine = create_engine(ADMIN_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def fresh_world(name: str, **settings: Any) -> tuple[Settings, Any]:
    """Database ``name`` created anew and migrated, with ``make_world`` in it; the
    app's settings (``settings`` override the defaults, e.g. the argon2 cost)."""
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    owner_url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    app_url = make_url(ADMIN_URL).set(database=name, username="agencyhub_app", password=None)
    app_settings = Settings(
        environment="test",
        database_url=app_url.render_as_string(hide_password=False),
        migration_database_url=owner_url,
        **settings,
    )
    await dbadmin.create_app_role(app_settings)
    await asyncio.to_thread(dbadmin.upgrade, app_settings)
    db = Database.from_settings(app_settings)
    try:
        world = await make_world(db, Passwords(app_settings))
    finally:
        await db.dispose()
    return app_settings, world


async def drop(name: str) -> None:
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
