"""In-app notifications: a person lists theirs, marks one or all read; nobody else's
notification can be read, marked or even confirmed to exist."""

from __future__ import annotations

import uuid

import pytest

from agencyhub.db import Scope, transaction
from agencyhub.escalation.models import Notification
from tests.factories import World, make_world
from tests.helpers import sign_in


async def notify(db, world: World, user_key: str, client_key: str, title: str) -> uuid.UUID:
    client = world.clients[client_key]
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        notification = Notification(
            agency_id=client.agency_id,
            client_id=client.id,
            user_id=world.user_id(user_key),
            kind="escalation.step",
            subject_type="draft",
            subject_id=uuid.uuid4(),
            title=title,
        )
        session.add(notification)
    return notification.id


@pytest.fixture
async def world(database, passwords):
    return await make_world(database, passwords)


async def test_a_person_reads_one_notification_and_then_the_rest(client, database, world):
    first = await notify(database, world, "a1.approver", "a1", "Erinnerung")
    await notify(database, world, "a1.approver", "a1", "Eskalation")
    approver = await sign_in(client, world.users["a1.approver"].email)
    unread = (await approver.get("/api/v1/me/notifications?unread=true")).json()["items"]
    assert [n["title"] for n in unread] == ["Eskalation", "Erinnerung"]

    read = await approver.post(f"/api/v1/me/notifications/{first}/read")
    assert read.status_code == 200
    assert read.json()["readAt"] is not None
    again = await approver.post(f"/api/v1/me/notifications/{first}/read")
    assert again.json()["readAt"] == read.json()["readAt"]  # the first reading stays
    unread = (await approver.get("/api/v1/me/notifications?unread=true")).json()["items"]
    assert [n["title"] for n in unread] == ["Eskalation"]

    everything = await approver.post("/api/v1/me/notifications/read")
    assert everything.json() == {"read": 1}
    assert (await approver.get("/api/v1/me/notifications?unread=true")).json()["items"] == []
    assert len((await approver.get("/api/v1/me/notifications")).json()["items"]) == 2


@pytest.mark.parametrize("other", ["a1.executive", "a.owner", "b.owner", "b1.approver"])
async def test_someone_elses_notification_is_not_found(client, database, world, other):
    mine = await notify(database, world, "a1.approver", "a1", "Erinnerung")
    caller = await sign_in(client, world.users[other].email)
    response = await caller.post(f"/api/v1/me/notifications/{mine}/read")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await caller.post("/api/v1/me/notifications/read")).json() == {"read": 0}
    approver = await sign_in(client, world.users["a1.approver"].email)
    [still] = (await approver.get("/api/v1/me/notifications?unread=true")).json()["items"]
    assert still["id"] == str(mine)


async def test_marking_read_needs_the_csrf_token_with_a_session(client, database, world):
    mine = await notify(database, world, "a1.approver", "a1", "Erinnerung")
    approver = await sign_in(client, world.users["a1.approver"].email)
    response = await approver.client.post(f"/api/v1/me/notifications/{mine}/read")
    assert response.status_code == 403
