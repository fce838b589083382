"""The draft life cycle over HTTP: write, submit, decide, revise, withdraw."""

from __future__ import annotations

from tests.approvals_helpers import client_of, decide, make_channel, make_inbound, make_post, submit
from tests.factories import make_world
from tests.helpers import sign_in


async def test_post_goes_from_draft_to_approved(client, database, passwords):
    world = await make_world(database, passwords)
    editor = await sign_in(client, world.users["a.editor"].email)
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, client_of(world))
    editor = await sign_in(client, world.users["a.editor"].email)
    draft = await make_post(
        editor, client_of(world), channel["id"], rationale="Morgens viel Reichweite"
    )
    assert draft["status"] == "draft"
    pending = await submit(editor, draft)
    assert pending["status"] == "pending"
    assert pending["slaDueAt"] is not None

    approver = await sign_in(client, world.users["a1.approver"].email)
    approved = await decide(approver, pending)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"

    detail = (await editor.get(f"/api/v1/drafts/{draft['id']}")).json()
    assert [e["type"] for e in detail["timeline"]] == [
        "draft.created",
        "revision.created",
        "draft.submitted",
        "draft.approved",
    ]
    assert detail["decisions"][0]["role"] == "approver"
    # The client sees the draft from its submission on (issue #14, item 8).
    seen = (await approver.get(f"/api/v1/drafts/{draft['id']}")).json()
    assert [e["type"] for e in seen["timeline"]] == ["draft.submitted", "draft.approved"]


async def test_agency_roles_cannot_approve(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, client_of(world))
    draft = await submit(owner, await make_post(owner, client_of(world), channel["id"]))
    for role in ("owner", "admin", "editor"):
        caller = await sign_in(client, world.users[f"a.{role}"].email)
        response = await decide(caller, draft)
        assert response.status_code == 403, (role, response.text)


async def test_changes_requested_then_new_revision_returns_to_queue(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, client_of(world))
    item = await make_inbound(owner, client_of(world), channel["id"])
    reply = await owner.post(
        f"/api/v1/clients/{client_of(world)}/drafts",
        json={
            "kind": "reply",
            "inboundItemId": item["id"],
            "body": "Danke für Ihre Frage!",
            "alternatives": ["Gute Frage!"],
        },
    )
    assert reply.status_code == 201, reply.text
    pending = await submit(owner, reply.json())
    approver = await sign_in(client, world.users["a1.approver"].email)
    no_comment = await decide(approver, pending, "request_changes")
    assert no_comment.status_code == 422
    asked = await decide(approver, pending, "request_changes", comment="Bitte freundlicher")
    assert asked.json()["status"] == "changes_requested"

    owner = await sign_in(client, world.users["a.owner"].email)
    revised = await owner.post(
        f"/api/v1/drafts/{reply.json()['id']}/revisions",
        json={"version": asked.json()["version"], "body": "Vielen Dank für Ihre Frage!"},
    )
    assert revised.status_code == 201, revised.text
    assert revised.json()["status"] == "pending"
    approver = await sign_in(client, world.users["a1.approver"].email)
    stale = await decide(approver, pending)
    assert stale.status_code == 409
    assert stale.json()["current"]["status"] == "pending"
    ok = await decide(approver, revised.json())
    assert ok.json()["status"] == "approved"
    detail = (await approver.get(f"/api/v1/drafts/{reply.json()['id']}")).json()
    diff = detail["revisions"][1]["diff"]
    assert "".join(p["text"] for p in diff if p["op"] != "delete") == "Vielen Dank für Ihre Frage!"
    assert "".join(p["text"] for p in diff if p["op"] != "insert") == "Danke für Ihre Frage!"
    assert {"op": "delete", "text": "Danke"} in diff
