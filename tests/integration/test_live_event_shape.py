"""A draft event reads the same live (relayed) and replayed (after a reconnect): one
builder, one query shape; compared field by field on the wire (PostgreSQL)."""

from __future__ import annotations

import asyncio

from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.testing import AsyncTestClient

from agencyhub.db import Database, Scope, transaction
from agencyhub.live import rules, service
from agencyhub.live.relay import Relay
from agencyhub.tenancy.auth import load_actor
from agencyhub.tenancy.rules import Actor
from tests.approvals_helpers import client_of, make_channel, make_post, submit
from tests.factories import Passwords, make_world
from tests.helpers import sign_in


async def _actor(db: Database, user_id: object) -> Actor:
    async with transaction(db.sessions, Scope.for_system("tests.live_shape")) as session:
        return await load_actor(session, user_id)  # type: ignore[arg-type]


async def test_a_replayed_draft_event_equals_the_live_one_field_by_field(
    pg: Database,
    pg_client: AsyncTestClient,  # type: ignore[type-arg]
    passwords: Passwords,
) -> None:
    # Given a relay on an in-memory backend, subscribed to agency a's channel
    world = await make_world(pg, passwords)
    agency = world.agencies["a"]
    backend = MemoryChannelsBackend()
    await backend.on_startup()
    await backend.subscribe([rules.agency_channel(agency.id)])
    relay = Relay(pg, backend, None)
    relay.last_relayed = start = await relay.head()
    try:
        # When the agency submits a draft into the client's queue (its SLA starts)
        owner = await sign_in(pg_client, world.users["a.owner"].email)
        channel = await make_channel(owner, client_of(world))
        await submit(owner, await make_post(owner, client_of(world), channel["id"]))
        while await relay.relay_once():
            pass
        stream = backend.stream_events()
        relayed: dict[int, rules.LiveEvent] = {}
        async with asyncio.timeout(5):
            while not any(e.type == "draft.submitted" for e in relayed.values()):
                _, data = await anext(stream)
                event = rules.decode(data)
                assert isinstance(event, rules.LiveEvent)
                relayed[event.id] = event
        # And an approver of that client reconnects and replays what was missed
        approver = await _actor(pg, world.users["a1.approver"].id)
        scope = Scope(user_id=approver.user_id, member_agency_ids=approver.agency_ids)
        async with transaction(pg.sessions, scope) as session:
            head = await service.head(session)
            replayed = await service.missed_events(session, approver, start, head, 100)
    finally:
        await backend.on_shutdown()

    # Then every replayed event is the relayed one, on the wire, field by field
    submitted = [e for e in replayed if e.type == "draft.submitted"]
    assert len(submitted) == 1
    assert rules.wire(submitted[0])["slaDueAt"] is not None
    for event in replayed:
        live, again = rules.wire(relayed[event.id]), rules.wire(event)
        assert set(live) == set(again), event.type
        for field in live:
            assert again[field] == live[field], (event.type, field)
