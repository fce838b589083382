"""Editors see only their clients: assignments through the API, and what they reach.

make_world assigns a.editor to a1 only, so a2 is "another client" to them.
"""

from __future__ import annotations

import uuid

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from agencyhub.audit.models import Event
from agencyhub.db import Database, Scope, transaction
from agencyhub.live import service as live_service
from agencyhub.tenancy.auth import load_actor
from agencyhub.tenancy.models import ClientAssignment
from tests.approvals_helpers import make_channel, make_post, submit
from tests.factories import World, make_world
from tests.helpers import Caller, sign_in


def assignment_path(world: World, client: str, member: str) -> str:
    return f"/api/v1/clients/{world.clients[client].id}/assignments/{world.memberships[member].id}"


async def assignment_count(db: Database) -> int:
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        return int(await session.scalar(select(func.count()).select_from(ClientAssignment)) or 0)


async def a2_draft(client: AsyncTestClient, world: World) -> dict[str, object]:  # type: ignore[type-arg]
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, world.clients["a2"].id)
    return await submit(owner, await make_post(owner, world.clients["a2"].id, channel["id"]))


async def test_an_unassigned_editor_gets_404_for_everything_of_that_client(
    client, database, passwords
):
    world = await make_world(database, passwords)
    draft = await a2_draft(client, world)
    a1, a2 = world.clients["a1"].id, world.clients["a2"].id
    editor = await sign_in(client, world.users["a.editor"].email)

    listed = await editor.get(f"/api/v1/agencies/{world.agencies['a'].id}/clients")
    assert [c["id"] for c in listed.json()["items"]] == [str(a1)]
    for path in (
        f"/api/v1/clients/{a2}",
        f"/api/v1/clients/{a2}/drafts",
        f"/api/v1/clients/{a2}/queue",
        f"/api/v1/clients/{a2}/inbox",
        f"/api/v1/clients/{a2}/events",
        f"/api/v1/clients/{a2}/memberships",
        f"/api/v1/clients/{a2}/assignments",
        f"/api/v1/clients/{a2}/rota",
        f"/api/v1/drafts/{draft['id']}",
    ):
        response = await editor.get(path)
        assert response.status_code == 404, (path, response.text)
    written = await editor.post(
        f"/api/v1/drafts/{draft['id']}/comments", json={"body": "Hallo", "visibility": "shared"}
    )
    assert written.status_code == 404
    assert (await editor.get(f"/api/v1/clients/{a1}/drafts")).status_code == 200

    people = await editor.get(f"/api/v1/agencies/{world.agencies['a'].id}/memberships")
    seen = {m["clientId"] for m in people.json()["items"]}
    assert seen == {None, str(a1)}


async def test_owner_assigns_and_takes_back_with_events(client, database, passwords):
    world = await make_world(database, passwords)
    a2 = world.clients["a2"].id
    owner = await sign_in(client, world.users["a.owner"].email)

    assigned = await owner.put(assignment_path(world, "a2", "a.editor"))
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["userId"] == str(world.user_id("a.editor"))
    again = await owner.put(assignment_path(world, "a2", "a.editor"))
    assert again.status_code == 200
    listed = await owner.get(f"/api/v1/clients/{a2}/assignments")
    assert [m["id"] for m in listed.json()["items"]] == [str(world.memberships["a.editor"].id)]
    assert await assignment_count(database) == 3  # a1 and b1 from make_world, a2 now

    editor = await sign_in(client, world.users["a.editor"].email)
    assert (await editor.get(f"/api/v1/clients/{a2}/drafts")).status_code == 200

    owner = await sign_in(client, world.users["a.owner"].email)
    removed = await owner.delete(assignment_path(world, "a2", "a.editor"))
    assert removed.status_code == 204
    assert (await owner.delete(assignment_path(world, "a2", "a.editor"))).status_code == 404
    trail = await owner.get(f"/api/v1/clients/{a2}/events", params={"type": "assignment.*"})
    types = [e["type"] for e in trail.json()["items"]]
    assert types == ["assignment.removed", "assignment.created"]  # once each, newest first

    editor = await sign_in(client, world.users["a.editor"].email)
    assert (await editor.get(f"/api/v1/clients/{a2}/drafts")).status_code == 404


async def test_who_may_assign_and_whom(client, database, passwords):
    world = await make_world(database, passwords)
    before = await assignment_count(database)

    async def status(caller_key: str, client_key: str, member_key: str) -> int:
        caller: Caller = await sign_in(client, world.users[caller_key].email)
        response = await caller.put(assignment_path(world, client_key, member_key))
        assert response.headers["content-type"].startswith("application/")
        return int(response.status_code)

    assert await status("a.editor", "a1", "a.editor") == 403  # sees a1, may not assign
    assert await status("a.editor", "a2", "a.editor") == 404  # does not see a2
    assert await status("a1.client_admin", "a1", "a.editor") == 403
    assert await status("b.owner", "a1", "a.editor") == 404  # another tenant's client
    assert await status("a.owner", "a1", "b.editor") == 404  # another tenant's editor
    assert await status("a.owner", "a1", "a.admin") == 422  # sees every client anyway
    assert await status("a.owner", "a1", "a1.approver") == 422  # a client membership
    assert await assignment_count(database) == before
    assert await status("a.admin", "a2", "a.editor") == 200
    unknown = f"/api/v1/clients/{world.clients['a1'].id}/assignments/{uuid.uuid4()}"
    owner = await sign_in(client, world.users["a.owner"].email)
    assert (await owner.put(unknown)).status_code == 404


async def test_a_replay_leaves_out_the_unassigned_clients_events(
    pg: Database,
    pg_client: AsyncTestClient,  # type: ignore[type-arg]
    passwords,
):
    world = await make_world(pg, passwords)
    async with transaction(pg.sessions, Scope.for_system("tests")) as session:
        start = int(await session.scalar(select(func.max(Event.id))) or 0)
    await a2_draft(pg_client, world)
    owner = await sign_in(pg_client, world.users["a.owner"].email)
    channel = await make_channel(owner, world.clients["a1"].id)
    await submit(owner, await make_post(owner, world.clients["a1"].id, channel["id"]))

    async with transaction(pg.sessions, Scope.for_system("tests")) as session:
        editor = await load_actor(session, world.user_id("a.editor"))
    scope = Scope(user_id=editor.user_id, member_agency_ids=editor.agency_ids)
    async with transaction(pg.sessions, scope) as session:
        head = await live_service.head(session)
        replayed = await live_service.missed_events(session, editor, start, head, 1000)
    clients = {e.client_id for e in replayed}
    assert world.clients["a1"].id in clients
    assert world.clients["a2"].id not in clients
