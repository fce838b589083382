"""Liveness and readiness for operators and load balancers."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Controller, Response, get
from litestar.datastructures import State
from sqlalchemy import text

from agencyhub.web import runtime_of

log = structlog.get_logger(__name__)


class HealthController(Controller):
    path = ""
    tags = ["operations"]

    @get("/healthz")
    async def healthz(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/readyz")
    async def readyz(self, state: State) -> Response[dict[str, Any]]:
        """The database (and the broker, when configured) answer."""
        runtime = runtime_of(state)
        checks = {"database": await _check_database(state)}
        if runtime.settings.redis_url:
            checks["broker"] = await _check_redis(runtime.settings.redis_url)
        ready = all(value == "ok" for value in checks.values())
        return Response(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )


async def _check_database(state: State) -> str:
    try:
        async with runtime_of(state).db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        log.warning("readyz.database_failed", error=str(exc))
        return "failed"
    return "ok"


async def _check_redis(url: str) -> str:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # see above
        log.warning("readyz.broker_failed", error=str(exc))
        return "failed"
    finally:
        await client.aclose()
    return "ok"
