"""The live feed's timers, all driven by the hub's one clock: heartbeats, the periodic
membership re-check, and the close of a client whose socket stops draining.

The app runs in-process (its own event loop, real PostgreSQL); the periods are
shortened so that each test takes about a second.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.exceptions import WebSocketDisconnect
from sqlalchemy import delete

from agencyhub.db import Database, Scope, transaction
from agencyhub.live import hub as live_hub
from agencyhub.live import rules
from agencyhub.live.api import LivePlugin, _send_feed
from agencyhub.live.hub import Close, Feed
from agencyhub.live.service import Credential
from agencyhub.tenancy.api import SESSION_COOKIE
from agencyhub.tenancy.models import Membership
from agencyhub.tenancy.secrets import Passwords
from tests.factories import grant, make_world
from tests.helpers import sign_in_client

pytestmark = pytest.mark.postgres

ORIGIN = "http://127.0.0.1:8000"  # the test settings' base_url


@pytest.fixture
def quick_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_hub, "CLOCK_SECONDS", 0.05)
    monkeypatch.setattr(live_hub, "SEND_STALL_SECONDS", 0.3)
    monkeypatch.setattr(rules, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(rules, "RECHECK_SECONDS", 0.6)


class NeverDrains:
    """A client that stopped reading: its socket accepts no more data."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        await asyncio.Event().wait()


def close_code_after_pings(socket: Any) -> int:
    """Read pings (and nothing else) until the server closes; its close code."""
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            assert socket.receive_json(timeout=5)["type"] == "ping"
    return int(closed.value.code)


async def test_pings_keep_coming_and_a_silently_removed_membership_ends_the_feed(
    quick_clock: None, pg_client: Any, pg: Database, passwords: Passwords
) -> None:
    world = await make_world(pg, passwords)
    await sign_in_client(pg_client, world.users["a1.approver"].email)

    with await pg_client.websocket_connect("/api/v1/live", headers={"origin": ORIGIN}) as socket:
        assert socket.receive_json(timeout=5)["type"] == "ready"
        # Heartbeats arrive by the hub's clock, with nothing else happening
        assert [socket.receive_json(timeout=5)["type"] for _ in range(2)] == ["ping", "ping"]

        # When the membership disappears without any event announcing it
        async with transaction(pg.sessions, Scope.for_system("tests")) as session:
            await session.execute(
                delete(Membership).where(Membership.user_id == world.user_id("a1.approver"))
            )

        # Then the periodic re-check notices and closes with "no membership left"
        assert close_code_after_pings(socket) == rules.CLOSE_FORBIDDEN


async def test_a_client_whose_socket_stops_draining_is_closed_as_too_slow(
    quick_clock: None, pg_client: Any, pg: Database, passwords: Passwords
) -> None:
    world = await make_world(pg, passwords)
    await sign_in_client(pg_client, world.users["a1.approver"].email)
    credential = Credential.from_headers(None, pg_client.cookies[SESSION_COOKIE])
    hub = pg_client.app.plugins.get(LivePlugin).hub
    socket = NeverDrains()

    async def feed_a_stuck_socket() -> tuple[Close | None, float]:
        actor = await hub.authenticate(credential)
        loop = asyncio.get_running_loop()
        started = loop.time()
        closing = await asyncio.wait_for(_send_feed(socket, Feed(hub, credential, actor, None)), 5)
        return closing, loop.time() - started

    # Given a feed whose very first send blocks
    closing, took = pg_client.blocking_portal.call(feed_a_stuck_socket)

    # Then the clock ends it as a slow consumer, once the stall limit has passed
    assert closing == Close(rules.CLOSE_SLOW_CONSUMER, "too slow; reconnect with last_event_id")
    assert [text[:15] for text in socket.sent] == ['{"type":"ready"']
    assert took >= 0.3
    assert hub._feeds == set()  # the feed left the hub


async def test_a_membership_in_another_agency_makes_the_feed_restart_to_include_it(
    quick_clock: None, pg_client: Any, pg: Database, passwords: Passwords
) -> None:
    world = await make_world(pg, passwords)
    await sign_in_client(pg_client, world.users["a1.approver"].email)

    with await pg_client.websocket_connect("/api/v1/live", headers={"origin": ORIGIN}) as socket:
        assert socket.receive_json(timeout=5)["type"] == "ready"
        # When the person is also made an approver of a client of agency B
        await grant(
            pg, world.users["a1.approver"], world.agencies["b"], "approver", world.clients["b1"]
        )

        # Then the re-check asks the client to reconnect (and resume) for a wider feed
        assert close_code_after_pings(socket) == rules.CLOSE_RESTARTING
