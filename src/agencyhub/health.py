"""Liveness and readiness for operators and load balancers."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import text

from agencyhub.config import Settings
from agencyhub.db import Scope, write_connection_scope
from agencyhub.tasks import heartbeat_key_prefix
from agencyhub.web import runtime_of

log = structlog.get_logger(__name__)


class HealthController(Controller):
    path = ""
    tags = ["operations"]

    @get("/healthz")
    async def healthz(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get(
        "/readyz",
        responses={
            503: ResponseSpec(
                data_container=dict[str, Any],
                generate_examples=False,
                description="Not ready: the same body, with the failed check named.",
            )
        },
    )
    async def readyz(self, state: State) -> Response[dict[str, Any]]:
        """The database (and the broker, when configured) answer, the database admits
        this process's system scope (PostgreSQL: the same AGENCYHUB_SECRET_KEY as at
        ``agencyhub db upgrade``); with a broker, how many workers beat.

        No worker: ``degraded`` with 200, not 503 — this process still serves the
        queue and decisions, and a load balancer that took every API process out
        because the workers are down would stop approvals too. Alert on ``degraded``.
        """
        runtime = runtime_of(state)
        checks: dict[str, Any] = {"database": await _check_database(state)}
        if checks["database"] == "ok" and not runtime.settings.is_sqlite:
            checks["systemScope"] = await _check_system_scope(state)
        if runtime.settings.redis_url:
            checks["broker"], workers = await _check_redis(runtime.settings)
            checks["workers"] = workers
            checks["worker"] = "ok" if workers else "missing"
        ready = all(
            checks.get(name, "ok") == "ok" for name in ("database", "systemScope", "broker")
        )
        status = (
            "unavailable"
            if not ready
            else "ready"
            if checks.get("worker", "ok") == "ok"
            else "degraded"
        )
        return Response({"status": status, "checks": checks}, status_code=200 if ready else 503)


async def _check_database(state: State) -> str:
    try:
        async with runtime_of(state).db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        log.warning("readyz.database_failed", error=str(exc))
        return "failed"
    return "ok"


async def _check_system_scope(state: State) -> str:
    """Whether the database admits this process's system-scope token: without it no
    background job, invitation link or sign-in lookup across tenants works."""
    try:
        async with runtime_of(state).db.engine.connect() as connection, connection.begin():
            await write_connection_scope(connection, Scope.for_system("readyz"))
            admitted = await connection.scalar(text("SELECT app_is_system()"))
    except Exception as exc:  # as for the database check
        log.warning("readyz.system_scope_failed", error=str(exc))
        return "failed"
    if not admitted:
        log.warning(
            "readyz.system_scope_refused",
            fix="run `agencyhub db upgrade` with this process's AGENCYHUB_SECRET_KEY",
        )
        return "refused"
    return "ok"


async def _check_redis(settings: Settings) -> tuple[str, int]:
    """The broker's state, and the workers whose heartbeat has not expired."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
        pattern = heartbeat_key_prefix(settings) + "*"
        workers = len([key async for key in client.scan_iter(match=pattern, count=100)])
    except Exception as exc:  # see above
        log.warning("readyz.broker_failed", error=str(exc))
        return "failed", 0
    finally:
        await client.aclose()
    return "ok", workers
