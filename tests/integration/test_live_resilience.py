"""The live feed beyond the web processes: a worker process's commits poke the relay,
and a lost Redis subscription closes sockets (1012) so they resume from the log."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import websockets
from sqlalchemy import text

from agencyhub.db import Database
from agencyhub.live import rules
from agencyhub.live.hub import SUBSCRIBER_NAME
from agencyhub.live.relay import LEADER_LOCK
from agencyhub.tenancy.secrets import Passwords
from tests.conftest import TestDatabase
from tests.factories import make_world
from tests.live_helpers import REDIS_URL, Login, Server, Subscriber, api, login, servers, subscribe

pytestmark = pytest.mark.postgres

# A plain process without the web app, like `agencyhub worker`: it records events and
# has only the worker poke to tell the relay.
WORKER_SCRIPT = """
import asyncio, sys, uuid
from agencyhub.audit.record import record_event
from agencyhub.config import Settings
from agencyhub.db import Database, Scope, transaction
from agencyhub.live.poke import install_worker_poke
from agencyhub.models import load_all_models

async def main(agency_id: uuid.UUID, count: int) -> None:
    load_all_models()
    db = Database.from_settings(Settings.from_env())
    for n in range(count):
        async with transaction(db.sessions, Scope.for_system("tests.worker")) as session:
            await record_event(
                session, type="test.worker_event", agency_id=agency_id, subject_type="test",
                subject_id=None, actor_user_id=None, actor_kind="system", payload={"n": n},
            )
        await asyncio.sleep(0.3)
    await db.dispose()

uninstall = install_worker_poke(Settings.from_env())
asyncio.run(main(uuid.UUID(sys.argv[1]), int(sys.argv[2])))
uninstall()
"""
SLOW_POLL_MS = 10_000


async def _relay_is_leading(db: Database, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with db.engine.connect() as conn:
            held = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND classid = 0 AND objid = :key AND objsubid = 1 AND granted"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                ),
                {"key": LEADER_LOCK},
            )
        if held:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("no relay took the leader lock")


def _age_ms(message: dict[str, object], received_at: float) -> float:
    at = datetime.fromisoformat(str(message["at"]).replace("Z", "+00:00")).timestamp()
    return (received_at - at) * 1000


async def test_events_committed_by_a_worker_process_are_relayed_on_its_poke(
    postgres_database: TestDatabase, pg: Database, passwords: Passwords, tmp_path: Path
) -> None:
    world = await make_world(pg, passwords)
    agency = world.agencies["a"]
    # Given a server whose relay polls only every 10 s, and a staff subscriber
    env = {"AGENCYHUB_LIVE_POLL_MS": str(SLOW_POLL_MS)}
    with servers(postgres_database.settings, tmp_path, count=1, env=env) as (a,):
        await _relay_is_leading(pg)
        staff = await subscribe(a, await login(a, world.users["a.owner"].email))
        # When a separate process without the web app commits five events
        worker_env = {
            **os.environ,
            "AGENCYHUB_ENVIRONMENT": "test",
            "AGENCYHUB_DATABASE_URL": postgres_database.settings.database_url,
            "AGENCYHUB_REDIS_URL": REDIS_URL,
            "AGENCYHUB_LOG_LEVEL": "WARNING",
        }
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER_SCRIPT, str(agency.id), "5", env=worker_env
        )
        try:
            ages = []
            for _ in range(5):
                message = await staff.next(within=2 * SLOW_POLL_MS / 1000)
                ages.append(_age_ms(message, time.time()))
                assert message["event"] == "test.worker_event", message
        finally:
            assert await asyncio.wait_for(worker.wait(), 30) == 0
        # Then each arrives long before the relay's next poll would have found it (one
        # poll cannot deliver both the middle event within 0.5 s and the last in time)
        assert statistics.median(ages) < 500, ages
        assert max(ages) < 2000, ages
        await staff.close()


async def _subscribed_connection(server: Server) -> dict[str, str]:
    """The Redis connection on which ``server`` listens (found by its client name)."""
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        name = f"{SUBSCRIBER_NAME}.{server.process.pid}"
        for _ in range(50):
            found = [c for c in await admin.client_list() if c.get("name") == name]
            if found:
                assert len(found) == 1, [(c["id"], c["cmd"], c["sub"], c["age"]) for c in found]
                return found[0]
            await asyncio.sleep(0.1)
    finally:
        await admin.aclose()
    raise AssertionError(f"no Redis connection named {name}")


async def _kill_connection(client_id: str) -> None:
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        await admin.client_kill_filter(_id=client_id)
    finally:
        await admin.aclose()


async def _resubscribe(server: Server, who: Login, last_event_id: int) -> Subscriber:
    """Reconnect as a client does after 1012: again until the feed is back."""
    for _ in range(50):
        try:
            return await subscribe(server, who, last_event_id=last_event_id)
        except websockets.ConnectionClosed:
            await asyncio.sleep(0.1)
    raise AssertionError("the live feed did not come back")


async def test_a_lost_redis_subscription_closes_sockets_and_the_feed_resumes(
    postgres_database: TestDatabase, pg: Database, passwords: Passwords, tmp_path: Path
) -> None:
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path, count=1) as (a,):
        owner = await login(a, world.users["a.owner"].email)
        staff = await subscribe(a, owner)
        before = await _subscribed_connection(a)
        # When Redis drops this process's subscribed connection (as a restart would)
        await _kill_connection(before["id"])
        # Then the socket is closed with "service restart" rather than left silent
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await staff.quiet(10.0)
            await staff.socket.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == rules.CLOSE_RESTARTING
        # And the process has subscribed again on a new connection
        after = await _subscribed_connection(a)
        assert after["id"] != before["id"]
        # When events happen before the client is back, and it resumes by id
        client_id = world.clients["a1"].id
        await api(
            a,
            owner,
            "POST",
            f"/api/v1/clients/{client_id}/channels",
            json={"platform": "instagram", "handle": "@shop"},
        )
        back = await _resubscribe(a, owner, staff.ready["lastEventId"])
        # Then it gets the missed event from the log, and live events flow again
        replayed = await back.next()
        assert replayed["event"] == "channel.created"
        await api(
            a,
            owner,
            "POST",
            f"/api/v1/clients/{client_id}/channels",
            json={"platform": "linkedin", "handle": "@shop"},
        )
        live = await back.next()
        assert live["event"] == "channel.created"
        assert live["id"] > replayed["id"]
        await back.close()
