"""Event ids follow commit order, and only committed events are relayed (PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from litestar.channels.backends.memory import MemoryChannelsBackend
from sqlalchemy import func, select, text

from agencyhub.audit.models import Event
from agencyhub.audit.record import on_events_committed, record_event
from agencyhub.db import Database, Scope, transaction
from agencyhub.live import rules
from agencyhub.live.relay import LEADER_LOCK, Relay
from agencyhub.tenancy.models import Agency
from tests.factories import make_agency

SYSTEM = Scope.for_system("tests.live")


async def _record(session: object, agency: Agency, label: str) -> None:
    await record_event(
        session,  # type: ignore[arg-type]
        type="test.happened",
        agency_id=agency.id,
        subject_type="test",
        subject_id=None,
        actor_user_id=None,
        payload={"label": label},
    )


async def _ids_by_label(db: Database) -> dict[str, int]:
    async with transaction(db.sessions, SYSTEM) as session:
        rows = await session.execute(select(Event.id, Event.payload))
        return {payload["label"]: id for id, payload in rows}


async def _max_id(db: Database) -> int:
    async with transaction(db.sessions, SYSTEM) as session:
        return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)


async def test_the_later_committing_transaction_gets_the_higher_id(pg: Database) -> None:
    # Given two overlapping transactions; the first one records its event first
    agency = await make_agency(pg)
    first_session = pg.sessions()
    first_session.info["scope"] = SYSTEM
    async with first_session:
        await first_session.begin()
        await _record(first_session, agency, "started first, commits last")
        await first_session.flush()
        # When the second one records, commits, and a reader looks at the log
        async with transaction(pg.sessions, SYSTEM) as second:
            await _record(second, agency, "started second, commits first")
        seen = await _max_id(pg)
        # ... and only then the first one commits
        await first_session.commit()
    ids = await _ids_by_label(pg)
    # Then ids follow commit order, and nothing below what the reader saw appears later
    assert ids["started second, commits first"] < ids["started first, commits last"]
    assert seen == ids["started second, commits first"]
    assert all(i <= seen for label, i in ids.items() if label != "started first, commits last")


async def test_an_uncommitted_event_holds_up_no_other_commit_and_ids_follow_commit_order(
    pg: Database,
) -> None:
    # Given a transaction that flushed an Event row by hand (the INSERT runs at once)
    # and then stays open, like a request waiting for its turn in a busy event loop
    agency = await make_agency(pg)
    early = pg.sessions()
    early.info["scope"] = SYSTEM
    async with early:
        await early.begin()
        early.add(
            Event(
                agency_id=agency.id,
                type="test.happened",
                subject_type="test",
                payload={"label": "inserted first, commits last"},
            )
        )
        await early.flush()
        # When another transaction records an event and commits meanwhile
        # Then it does not wait for the open one (no lock is held between round trips)
        await asyncio.wait_for(_commit_one(pg, agency, "inserted last, commits first"), 5)
        seen = await _max_id(pg)
        await early.commit()
    # And the ids follow commit order: the final id is drawn inside COMMIT
    ids = await _ids_by_label(pg)
    assert ids["inserted last, commits first"] < ids["inserted first, commits last"]
    assert seen == ids["inserted last, commits first"]


async def _commit_one(db: Database, agency: Agency, label: str) -> None:
    async with transaction(db.sessions, SYSTEM) as session:
        await _record(session, agency, label)


async def test_a_rolled_back_transaction_publishes_nothing(pg: Database) -> None:
    # Given a relay on an in-memory backend, subscribed to the agency's channel
    agency = await make_agency(pg)
    backend = MemoryChannelsBackend()
    await backend.on_startup()
    channel = rules.agency_channel(agency.id)
    await backend.subscribe([channel])
    relay = Relay(pg, backend, None)
    relay.last_relayed = await relay.head()
    pokes: list[int] = []
    remove = on_events_committed(lambda: pokes.append(1))
    try:
        # When a transaction records an event and then fails
        with pytest.raises(RuntimeError):
            async with transaction(pg.sessions, SYSTEM) as session:
                await _record(session, agency, "rolled back")
                raise RuntimeError("boom")
        # Then no row, no poke, nothing relayed
        assert await relay.relay_once() == 0
        assert pokes == []
        # And a committed one afterwards is relayed, once
        await _commit_one(pg, agency, "committed")
        assert pokes == [1]
        assert await relay.relay_once() == 1
        stream = backend.stream_events()
        got_channel, data = await asyncio.wait_for(anext(stream), 2)
        published = rules.decode(data)
        assert got_channel == channel
        assert isinstance(published, rules.LiveEvent)
        assert published.type == "test.happened"
        assert await relay.relay_once() == 0
    finally:
        remove()
        await backend.on_shutdown()


async def test_events_inside_a_rolled_back_savepoint_are_dropped(pg: Database) -> None:
    agency = await make_agency(pg)
    async with transaction(pg.sessions, SYSTEM) as session:
        await _record(session, agency, "kept")
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                await _record(session, agency, "dropped")
                raise RuntimeError("boom")
    assert set(await _ids_by_label(pg)) == {"kept"}


async def test_the_leaders_connection_never_returns_to_the_pool_with_its_system_scope(
    pg: Database,
) -> None:
    # Given a relay that leads, reading on its own connection under a session-wide
    # system scope, and relays a committed event from there
    agency = await make_agency(pg)
    backend = MemoryChannelsBackend()
    await backend.on_startup()
    channel = rules.agency_channel(agency.id)
    await backend.subscribe([channel])
    relay = Relay(pg, backend, None, poll_seconds=0.05)
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(10):
            while not relay.leading:  # noqa: ASYNC110 - a plain flag, nothing to await
                await asyncio.sleep(0.02)
        await _commit_one(pg, agency, "while leading")
        stream = backend.stream_events()
        _, data = await asyncio.wait_for(anext(stream), 5)
        relayed = rules.decode(data)
        assert isinstance(relayed, rules.LiveEvent)
        assert relayed.type == "test.happened"
    finally:
        # When its leadership ends
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await backend.on_shutdown()
    # Then no pooled connection sees every tenant: each reads as the anonymous scope
    connections = [await pg.engine.connect() for _ in range(3)]
    try:
        for connection in connections:
            system = await connection.scalar(
                text("SELECT coalesce(current_setting('app.system', true), '')")
            )
            assert system == ""
            assert await connection.scalar(text("SELECT count(*) FROM events")) == 0
    finally:
        for connection in connections:
            await connection.close()
    # And the leader lock is free again
    async with pg.engine.connect() as connection:
        assert await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK})
        await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK})
