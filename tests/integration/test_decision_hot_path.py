"""The Core statements of the approve path keep the ORM's guarantees: the session's own
draft instance follows the decision, a foreign tenant's draft stays invisible, events
written together keep their order, and the scope that sign-in statements write
themselves is the one PostgreSQL enforces."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from agencyhub.approvals import service
from agencyhub.approvals.models import Decision, Draft
from agencyhub.audit.models import Event
from agencyhub.audit.record import record_event
from agencyhub.db import ANONYMOUS, Database, Scope, scope_of, transaction, utcnow
from agencyhub.errors import NotFound, Unauthenticated
from agencyhub.tenancy.auth import authenticate_session_cookie, load_actor, start_session
from agencyhub.tenancy.models import User, UserSession
from agencyhub.tenancy.secrets import Passwords
from tests import conftest
from tests.factories import make_world
from tests.integration.test_queue import add_draft, count_rows, make_place

SYSTEM = Scope.for_system("tests.decision_hot_path")


async def _approve(session: Any, actor: Any, draft: Draft) -> Draft:
    return await service.decide(
        session,
        actor,
        draft.id,
        decision="approve",
        version=draft.version,
        comment="",
        revision_id=None,
        wording=None,
    )


async def test_a_decision_refreshes_the_draft_the_session_holds(
    database: Database, passwords: Passwords
) -> None:
    # Given a pending draft the session has loaded through the ORM already
    world = await make_world(database, passwords)
    draft = await add_draft(database, await make_place(database, world), due=timedelta(hours=1))
    async with transaction(database.sessions) as session:
        actor = await load_actor(session, world.user_id("a1.executive"))
        held = await session.get(Draft, draft.id)
        assert held is not None
        assert held.version == draft.version
        # When it is approved (Core statements underneath)
        decided = await _approve(session, actor, draft)
        # Then the answer is that same instance, current, and nothing is left to write
        assert decided is held
        assert held.version == draft.version + 1
        assert held.status == "approved"
        assert held.decided_at is not None
        assert not session.dirty
    assert await count_rows(database, Decision, draft_id=draft.id) == 1


@pytest.mark.parametrize("other", ["a2", "b1"])  # another client; another agency
async def test_a_draft_the_approver_may_not_see_is_not_found_and_not_decided(
    database: Database, passwords: Passwords, other: str
) -> None:
    # Given a draft of a client the approver of client a1 has no role at
    world = await make_world(database, passwords)
    foreign = await add_draft(
        database, await make_place(database, world, other), due=timedelta(hours=1)
    )
    async with transaction(database.sessions) as session:
        actor = await load_actor(session, world.user_id("a1.executive"))
        # When the approver approves it by id, Then it answers like an unknown draft
        with pytest.raises(NotFound):
            await _approve(session, actor, foreign)
    assert await count_rows(database, Decision, draft_id=foreign.id) == 0


async def test_events_of_one_transaction_keep_their_order(
    database: Database, passwords: Passwords
) -> None:
    # Given a transaction that adds an Event by hand (it takes the lock at flush) and
    # records three more (inserted together at commit)
    world = await make_world(database, passwords)
    agency_id = world.clients["a1"].agency_id
    async with transaction(database.sessions, SYSTEM) as session:
        session.add(Event(agency_id=agency_id, type="t", subject_type="t", payload={"n": 0}))
        await session.flush()
        for n in (1, 2, 3):
            await record_event(
                session,
                type="t",
                agency_id=agency_id,
                subject_type="t",
                subject_id=None,
                actor_user_id=None,
                payload={"n": n},
            )
    # Then all four are there, ids in the order they were recorded
    async with transaction(database.sessions, SYSTEM) as session:
        payloads = await session.scalars(
            select(Event.payload).where(Event.type == "t").order_by(Event.id)
        )
        assert [p["n"] for p in payloads] == [0, 1, 2, 3]


async def _settings_now(session: Any) -> tuple[str, str]:
    row = (
        await session.execute(
            text(
                "SELECT current_setting('app.user_id', true),"
                " current_setting('app.member_agency_ids', true)"
            )
        )
    ).one()
    return row[0] or "", row[1] or ""


async def _session_token(db: Database, user_id: Any, *, expired: bool = False) -> str:
    async with transaction(db.sessions) as session:
        user = await session.get(User, user_id)
        assert user is not None
        started = await start_session(
            session, conftest.test_settings("sqlite+aiosqlite://"), user, "t"
        )
        if expired:
            await session.execute(
                update(UserSession)
                .where(UserSession.csrf_token == started.csrf_token)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        return started.token


async def test_sign_in_writes_the_scope_postgresql_enforces(
    pg: Database, passwords: Passwords
) -> None:
    # Given a signed-in agency owner (two statements write the scope themselves)
    world = await make_world(pg, passwords)
    user_id = world.user_id("a.owner")
    token = await _session_token(pg, user_id)
    async with transaction(pg.sessions) as session:
        authenticated = await authenticate_session_cookie(session, token)
        # Then PostgreSQL has the user, and then the user's agencies, as the app does
        assert await _settings_now(session) == (str(user_id), "")
        actor = await load_actor(session, authenticated.user.id)
        user, members = await _settings_now(session)
        assert user == str(user_id)
        assert set(members.split(",")) == {str(a) for a in actor.agency_ids}
        assert scope_of(session) == Scope(user_id=user_id, member_agency_ids=actor.agency_ids)


async def test_an_ended_session_writes_no_scope(pg: Database, passwords: Passwords) -> None:
    # Given a session that has expired
    world = await make_world(pg, passwords)
    token = await _session_token(pg, world.user_id("a.owner"), expired=True)
    async with pg.sessions() as session, session.begin():
        # When it is presented, Then it is refused and PostgreSQL still sees no user
        with pytest.raises(Unauthenticated):
            await authenticate_session_cookie(session, token)
        assert await _settings_now(session) == ("", "")
        assert scope_of(session) == ANONYMOUS
