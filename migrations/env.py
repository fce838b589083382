"""Alembic environment: one history for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from agencyhub.config import Settings
from agencyhub.db import Base, create_engine
from agencyhub.models import load_all_models

load_all_models()
target_metadata = Base.metadata
config = context.config


def database_url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else Settings.from_env().effective_migration_url


def ignore_guid_reflection(
    _context: Any, _inspected: Any, _metadata: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    """advanced-alchemy's GUID reads back as CHAR/UUID; that is not a change."""
    if type(metadata_type).__name__ in {"GUID", "DateTimeUTC"}:
        return False
    return None


def configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=ignore_guid_reflection,
        literal_binds=connection is None,
    )


def run_offline() -> None:
    configure(url=database_url())
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        await connection.run_sync(_run)
        return
    engine = create_engine(database_url(), pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
