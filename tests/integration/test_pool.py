"""Pooled connections the server closed are replaced at checkout, without a ping."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from agencyhub.db import Database, create_engine
from tests.conftest import TestDatabase


async def test_a_connection_killed_by_the_server_is_replaced(
    pg: Database, postgres_database: TestDatabase
) -> None:
    async with pg.engine.connect() as connection:
        old_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    killer = create_engine(postgres_database.owner_url, pool_size=1)
    try:
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": old_pid})
    finally:
        await killer.dispose()
    await asyncio.sleep(0.2)  # asyncpg learns of the closed socket from the event loop

    async with pg.engine.connect() as connection:
        new_pid = await connection.scalar(text("SELECT pg_backend_pid()"))

    assert new_pid != old_pid
