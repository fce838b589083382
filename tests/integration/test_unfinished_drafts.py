"""Issue #14, item 8: the client sees a draft from its submission on. Before that it is
the agency's unfinished work — not in the client's draft list, detail, decisions, live
feed or audit trail (client staff drafting for themselves see their own)."""

from __future__ import annotations

import pytest

from tests.approvals_helpers import decide, make_channel, make_post, submit
from tests.factories import make_world
from tests.helpers import sign_in

CLIENT_PEOPLE = ("a1.client_admin", "a1.approver", "a1.executive", "a1.viewer")


@pytest.fixture
async def world(database, passwords):
    return await make_world(database, passwords)


async def listed(caller, client_id) -> set[str]:
    response = await caller.get(f"/api/v1/clients/{client_id}/drafts")
    assert response.status_code == 200, response.text
    return {d["id"] for d in response.json()["items"]}


async def event_subjects(caller, client_id) -> set[str]:
    response = await caller.get(f"/api/v1/clients/{client_id}/events")
    assert response.status_code == 200, response.text
    return {e["subjectId"] for e in response.json()["items"] if e["subjectType"] == "draft"}


async def test_the_client_sees_a_draft_from_its_submission_on(client, world):
    a1 = world.clients["a1"].id
    editor = await sign_in(client, world.users["a.editor"].email)
    channel = await make_channel(await sign_in(client, world.users["a.owner"].email), a1)
    draft = await make_post(editor, a1, channel["id"], body="Noch im Entwurf")

    for key in CLIENT_PEOPLE:
        person = await sign_in(client, world.users[key].email)
        assert draft["id"] not in await listed(person, a1), key
        assert (await person.get(f"/api/v1/drafts/{draft['id']}")).status_code == 404, key
        assert draft["id"] not in await event_subjects(person, a1), key
    approver = await sign_in(client, world.users["a1.approver"].email)
    assert (await decide(approver, draft)).status_code == 404
    assert draft["id"] in await listed(editor, a1)

    pending = await submit(editor, draft)

    for key in CLIENT_PEOPLE:
        person = await sign_in(client, world.users[key].email)
        assert draft["id"] in await listed(person, a1), key
        assert (await person.get(f"/api/v1/drafts/{draft['id']}")).status_code == 200, key
        assert draft["id"] in await event_subjects(person, a1), key
    assert (await decide(approver, pending)).status_code == 200


async def test_client_staff_see_their_own_unfinished_draft_and_no_one_elses(client, world):
    a1 = world.clients["a1"].id
    channel = await make_channel(await sign_in(client, world.users["a.owner"].email), a1)
    executive = await sign_in(client, world.users["a1.executive"].email)
    own = await make_post(executive, a1, channel["id"], body="Mein Entwurf")

    assert own["id"] in await listed(executive, a1)
    assert (await executive.get(f"/api/v1/drafts/{own['id']}")).status_code == 200
    approver = await sign_in(client, world.users["a1.approver"].email)
    assert own["id"] not in await listed(approver, a1)
    assert (await approver.get(f"/api/v1/drafts/{own['id']}")).status_code == 404
