"""Client companies, memberships and invitations: the use cases and their audit events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from agencyhub.audit.models import Event
from agencyhub.db import Scope, transaction, utcnow
from agencyhub.tenancy.models import Invitation, Membership, User
from tests.factories import PASSWORD, make_world
from tests.helpers import sign_in


async def events_of(database, agency_id) -> list[Event]:
    async with transaction(database.sessions, Scope(agency_id=agency_id)) as session:
        return list((await session.scalars(select(Event).order_by(Event.id))).all())


async def test_client_life_cycle_is_audited(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    agency_id = world.agencies["a"].id
    created = await owner.post(
        f"/api/v1/agencies/{agency_id}/clients",
        json={"slug": "kaffeehaus", "name": "Kaffeehaus Wien", "timezone": "Europe/Vienna"},
    )
    assert created.status_code == 201
    client_id = created.json()["id"]
    assert created.json()["locale"] == "de"

    patched = await owner.patch(f"/api/v1/clients/{client_id}", json={"locale": "en"})
    assert patched.json()["locale"] == "en"
    unchanged = await owner.patch(f"/api/v1/clients/{client_id}", json={"locale": "en"})
    assert unchanged.status_code == 200

    archived = await owner.post(f"/api/v1/clients/{client_id}/archive")
    assert archived.json()["archivedAt"] is not None
    listed = (await owner.get(f"/api/v1/agencies/{agency_id}/clients")).json()
    assert client_id not in [c["id"] for c in listed["items"]]
    with_archived = await owner.get(
        f"/api/v1/agencies/{agency_id}/clients", params={"includeArchived": "true"}
    )
    assert client_id in [c["id"] for c in with_archived.json()["items"]]
    restored = await owner.post(f"/api/v1/clients/{client_id}/restore")
    assert restored.json()["archivedAt"] is None

    events = await events_of(database, agency_id)
    assert [e.type for e in events] == [
        "client.created",
        "client.updated",
        "client.archived",
        "client.restored",
    ]
    assert all(e.actor_user_id == world.users["a.owner"].id for e in events)
    assert events[1].payload == {"changes": {"locale": "en"}}
    assert all(e.request_id for e in events)


async def test_invitation_to_a_new_person_creates_the_account(client, database, passwords):
    world = await make_world(database, passwords)
    client_admin = await sign_in(client, world.users["a1.client_admin"].email)
    client_id = world.clients["a1"].id
    invited = await client_admin.post(
        f"/api/v1/clients/{client_id}/invitations",
        json={"email": "Neue.Freigabe@Example.com", "role": "approver"},
    )
    assert invited.status_code == 201
    body = invited.json()
    assert body["invitation"]["email"] == "neue.freigabe@example.com"
    assert body["invitation"]["state"] == "pending"
    token = body["acceptUrl"].rsplit("/", 1)[1]

    client.cookies.clear()
    preview = await client.get(f"/api/v1/invitation-links/{token}")
    assert preview.json()["clientName"] == world.clients["a1"].name
    assert preview.json()["accountExists"] is False
    short = await client.post(
        f"/api/v1/invitation-links/{token}/accept", json={"password": "short"}
    )
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "password"

    accepted = await client.post(
        f"/api/v1/invitation-links/{token}/accept",
        json={"password": "a long new password", "name": "Neue Freigabe"},
    )
    assert accepted.status_code == 200
    assert accepted.json()["memberships"][0]["role"] == "approver"
    assert (await client.get("/api/v1/me")).status_code == 200  # signed in right away

    reused = await client.post(
        f"/api/v1/invitation-links/{token}/accept", json={"password": "a long new password"}
    )
    assert reused.status_code == 410
    again = await sign_in(client, "neue.freigabe@example.com", "a long new password")
    assert (await again.get(f"/api/v1/clients/{client_id}")).status_code == 200

    types = [e.type for e in await events_of(database, world.agencies["a"].id)]
    assert types == ["invitation.created", "invitation.accepted", "membership.created"]


async def test_an_invitation_cannot_take_over_an_existing_account(client, database, passwords):
    world = await make_world(database, passwords)
    existing = world.users["b.owner"]  # already has a password elsewhere
    owner = await sign_in(client, world.users["a.owner"].email)
    invited = await owner.post(
        f"/api/v1/agencies/{world.agencies['a'].id}/invitations",
        json={"email": existing.email, "role": "editor"},
    )
    token = invited.json()["acceptUrl"].rsplit("/", 1)[1]
    client.cookies.clear()
    assert (await client.get(f"/api/v1/invitation-links/{token}")).json()["accountExists"]
    hijack = await client.post(
        f"/api/v1/invitation-links/{token}/accept", json={"password": "attacker's choice!"}
    )
    assert hijack.status_code == 422
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        user = await session.get(User, existing.id)
        assert passwords.verify(user.password_hash, PASSWORD)
    accepted = await client.post(
        f"/api/v1/invitation-links/{token}/accept", json={"password": PASSWORD}
    )
    assert accepted.status_code == 200
    roles = {(m["agencyId"], m["role"]) for m in accepted.json()["memberships"]}
    assert (str(world.agencies["a"].id), "editor") in roles


async def test_expired_and_revoked_invitations_are_gone(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    path = f"/api/v1/agencies/{world.agencies['a'].id}/invitations"
    first = (await owner.post(path, json={"email": "x@example.com", "role": "editor"})).json()
    second = (await owner.post(path, json={"email": "y@example.com", "role": "editor"})).json()
    revoke = await owner.post(f"/api/v1/invitations/{first['invitation']['id']}/revoke")
    assert revoke.json()["state"] == "revoked"
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.email == "y@example.com")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    client.cookies.clear()
    for created, state in ((first, "revoked"), (second, "expired")):
        token = created["acceptUrl"].rsplit("/", 1)[1]
        response = await client.post(
            f"/api/v1/invitation-links/{token}/accept", json={"password": "long enough pw"}
        )
        assert response.status_code == 410
        assert state in response.json()["detail"]
    assert (await client.get("/api/v1/invitation-links/ahi_unknown")).status_code == 404


async def test_reinviting_replaces_the_open_invitation(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    path = f"/api/v1/agencies/{world.agencies['a'].id}/invitations"
    await owner.post(path, json={"email": "z@example.com", "role": "editor"})
    await owner.post(path, json={"email": "z@example.com", "role": "admin"})
    states = [i["state"] for i in (await owner.get(path)).json()["items"]]
    assert sorted(states) == ["pending", "revoked"]


async def test_inviting_someone_who_already_has_the_role_is_409(client, database, passwords):
    world = await make_world(database, passwords)
    client_admin = await sign_in(client, world.users["a1.client_admin"].email)
    response = await client_admin.post(
        f"/api/v1/clients/{world.clients['a1'].id}/invitations",
        json={"email": world.users["a1.viewer"].email, "role": "approver"},
    )
    assert response.status_code == 409


async def test_roles_must_fit_the_place(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    agency_level = await owner.post(
        f"/api/v1/agencies/{world.agencies['a'].id}/invitations",
        json={"email": "q@example.com", "role": "approver"},
    )
    client_level = await owner.post(
        f"/api/v1/clients/{world.clients['a1'].id}/invitations",
        json={"email": "q@example.com", "role": "owner"},
    )
    assert agency_level.status_code == client_level.status_code == 422
    assert agency_level.json()["errors"][0]["field"] == "role"


async def test_admin_cannot_invite_an_owner(client, database, passwords):
    world = await make_world(database, passwords)
    admin = await sign_in(client, world.users["a.admin"].email)
    response = await admin.post(
        f"/api/v1/agencies/{world.agencies['a'].id}/invitations",
        json={"email": "boss@example.com", "role": "owner"},
    )
    assert response.status_code == 403


async def test_change_and_remove_memberships(client, database, passwords):
    world = await make_world(database, passwords)
    client_admin = await sign_in(client, world.users["a1.client_admin"].email)
    viewer = world.memberships["a1.viewer"]
    promoted = await client_admin.patch(
        f"/api/v1/memberships/{viewer.id}", json={"role": "executive"}
    )
    assert promoted.json()["role"] == "executive"
    wrong_scope = await client_admin.patch(
        f"/api/v1/memberships/{viewer.id}", json={"role": "owner"}
    )
    assert wrong_scope.status_code == 422
    assert (await client_admin.delete(f"/api/v1/memberships/{viewer.id}")).status_code == 204
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        assert await session.get(Membership, viewer.id) is None
    types = [e.type for e in await events_of(database, world.agencies["a"].id)]
    assert types == ["membership.updated", "membership.removed"]


async def test_the_last_owner_stays(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    own = world.memberships["a.owner"]
    demote = await owner.patch(f"/api/v1/memberships/{own.id}", json={"role": "admin"})
    assert demote.status_code == 409
    assert (await owner.delete(f"/api/v1/memberships/{own.id}")).status_code == 409


async def test_a_removed_member_loses_access_at_once(client, database, passwords):
    world = await make_world(database, passwords)
    approver = await sign_in(client, world.users["a1.approver"].email)
    client_path = f"/api/v1/clients/{world.clients['a1'].id}"
    assert (await approver.get(client_path)).status_code == 200
    client_admin = await sign_in(client, world.users["a1.client_admin"].email)
    await client_admin.delete(f"/api/v1/memberships/{world.memberships['a1.approver'].id}")
    approver = await sign_in(client, world.users["a1.approver"].email)
    assert (await approver.get(client_path)).status_code == 404


async def test_people_lists(client, database, passwords):
    world = await make_world(database, passwords)
    editor = await sign_in(client, world.users["a.editor"].email)
    agency_people = (
        await editor.get(f"/api/v1/agencies/{world.agencies['a'].id}/memberships")
    ).json()
    emails = {m["email"] for m in agency_people["items"]}
    assert world.users["a.owner"].email in emails
    assert world.users["b.owner"].email not in emails
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    client_people = (
        await viewer.get(f"/api/v1/clients/{world.clients['a1'].id}/memberships")
    ).json()
    assert {m["role"] for m in client_people["items"]} == {
        "client_admin",
        "approver",
        "executive",
        "viewer",
    }
