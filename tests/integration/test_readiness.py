"""/readyz checks the database and, when configured, the Redis broker for real."""

from __future__ import annotations

import dataclasses
import secrets
import threading

from litestar.testing import AsyncTestClient

from agencyhub.app import create_app
from agencyhub.tasks import start_heartbeat

REDIS_URL = "redis://127.0.0.1:6379/15"


async def ready(settings) -> tuple[int, dict]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/readyz")
        return response.status_code, response.json()


def namespaced(settings):
    """Its own broker namespace: other test runs' workers on this Redis do not count."""
    return dataclasses.replace(
        settings, redis_url=REDIS_URL, broker_namespace=f"ready-{secrets.token_hex(4)}"
    )


async def test_degraded_while_no_worker_beats_then_ready(postgres_database):
    settings = namespaced(postgres_database.settings)
    status, body = await ready(settings)
    assert status == 200  # still serving: only the background work is missing
    assert body["status"] == "degraded"
    assert body["checks"] == {
        "database": "ok",
        "systemScope": "ok",
        "broker": "ok",
        "workers": 0,
        "worker": "missing",
    }

    stop = threading.Event()
    beating = start_heartbeat(settings, stop)
    try:
        status, body = await ready(settings)
        assert (status, body["status"], body["checks"]["workers"]) == (200, "ready", 1)
    finally:
        stop.set()
        beating.join(timeout=5)
    # A worker that stops takes its heartbeat with it.
    assert (await ready(settings))[1]["checks"]["worker"] == "missing"


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


async def test_not_ready_when_the_database_refuses_this_servers_system_scope(postgres_database):
    """Another AGENCYHUB_SECRET_KEY than at ``agencyhub db upgrade``: 503, and why."""
    settings = dataclasses.replace(postgres_database.settings, secret_key="k" * 48)
    status, body = await ready(settings)
    assert status == 503
    assert body["checks"]["systemScope"] == "refused"
