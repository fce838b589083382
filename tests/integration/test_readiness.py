"""/readyz checks the database and, when configured, the Redis broker for real."""

from __future__ import annotations

import dataclasses

from litestar.testing import AsyncTestClient

from agencyhub.app import create_app

REDIS_URL = "redis://127.0.0.1:6379/15"


async def ready(settings) -> tuple[int, dict]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/readyz")
        return response.status_code, response.json()


async def test_ready_with_database_and_broker(postgres_database):
    settings = dataclasses.replace(postgres_database.settings, redis_url=REDIS_URL)
    status, body = await ready(settings)
    assert status == 200
    assert body["checks"] == {"database": "ok", "broker": "ok"}


async def test_not_ready_when_the_broker_is_unreachable(postgres_database):
    settings = dataclasses.replace(postgres_database.settings, redis_url="redis://127.0.0.1:1/0")
    status, body = await ready(settings)
    assert status == 503
    assert body["checks"]["broker"] == "failed"


async def test_not_ready_when_the_database_is_unreachable(postgres_database):
    settings = dataclasses.replace(
        postgres_database.settings,
        database_url="postgresql+asyncpg://agencyhub_app@127.0.0.1:1/nowhere",
    )
    status, body = await ready(settings)
    assert status == 503
    assert body["checks"]["database"] == "failed"
