"""Drafts: bad input gets a precise 4xx and writes nothing; other tenants' drafts are 404."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from agencyhub.approvals.models import Decision, Draft, Revision
from agencyhub.audit.models import Event
from agencyhub.db import Scope, transaction
from tests.approvals_helpers import decide, make_channel, make_inbound, make_post, submit
from tests.factories import make_world
from tests.helpers import sign_in


async def counts(database) -> tuple[int, ...]:
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        return tuple(
            [
                int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (Draft, Revision, Decision, Event)
            ]
        )


@pytest.fixture
async def setup(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    client_id = world.clients["a1"].id
    channel = await make_channel(owner, client_id, platform="x", handle="@baecker")
    return world, owner, client_id, channel


async def test_body_over_the_channel_limit(setup, database):
    _, owner, client_id, channel = setup
    before = await counts(database)
    response = await owner.post(
        f"/api/v1/clients/{client_id}/drafts",
        json={"kind": "post", "channelId": channel["id"], "body": "x" * 281},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body", "message": "is 281 characters; the channel allows at most 280"}
    ]
    assert await counts(database) == before


async def test_unknown_or_foreign_channel(setup, database, client, passwords):
    world, owner, client_id, _ = setup
    b_owner = await sign_in(client, world.users["b.owner"].email)
    foreign = await make_channel(b_owner, world.clients["b1"].id)
    owner = await sign_in(client, world.users["a.owner"].email)
    before = await counts(database)
    for channel_id in (str(uuid.uuid4()), foreign["id"]):
        response = await owner.post(
            f"/api/v1/clients/{client_id}/drafts",
            json={"kind": "post", "channelId": channel_id, "body": "Hallo"},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "channelId"
    assert await counts(database) == before


async def test_reply_without_inbound_item(setup, database):
    _, owner, client_id, channel = setup
    before = await counts(database)
    response = await owner.post(
        f"/api/v1/clients/{client_id}/drafts",
        json={"kind": "reply", "channelId": channel["id"], "body": "Danke!"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "inboundItemId"
    assert await counts(database) == before


async def test_too_many_wordings(setup):
    _, owner, client_id, channel = setup
    item = await make_inbound(owner, client_id, channel["id"])
    response = await owner.post(
        f"/api/v1/clients/{client_id}/drafts",
        json={
            "kind": "reply",
            "inboundItemId": item["id"],
            "body": "a",
            "alternatives": ["b", "c", "d"],
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "alternatives"


async def test_decision_on_a_withdrawn_draft(setup, client, database):
    world, owner, client_id, channel = setup
    draft = await submit(owner, await make_post(owner, client_id, channel["id"]))
    withdrawn = await owner.post(
        f"/api/v1/drafts/{draft['id']}/withdraw", json={"version": draft["version"]}
    )
    assert withdrawn.json()["status"] == "withdrawn"
    approver = await sign_in(client, world.users["a1.approver"].email)
    before = await counts(database)
    response = await decide(approver, withdrawn.json())
    assert response.status_code == 409
    assert "withdrawn" in response.json()["detail"]
    assert await counts(database) == before


async def test_empty_comment_on_reject(setup, client, database):
    world, owner, client_id, channel = setup
    draft = await submit(owner, await make_post(owner, client_id, channel["id"]))
    approver = await sign_in(client, world.users["a1.approver"].email)
    before = await counts(database)
    response = await decide(approver, draft, "reject", comment="   ")
    assert response.status_code == 422
    assert "comment" in response.json()["detail"]
    assert await counts(database) == before


async def test_reply_with_wordings_needs_a_choice(setup, client):
    world, owner, client_id, channel = setup
    item = await make_inbound(owner, client_id, channel["id"])
    created = await owner.post(
        f"/api/v1/clients/{client_id}/drafts",
        json={"kind": "reply", "inboundItemId": item["id"], "body": "A", "alternatives": ["B"]},
    )
    draft = await submit(owner, created.json())
    approver = await sign_in(client, world.users["a1.approver"].email)
    missing = await decide(approver, draft)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "wording"
    chosen = await decide(approver, draft, wording=1)
    assert chosen.json()["approvedWording"] == 1


async def test_viewers_cannot_write_and_internal_comments_are_agency_only(setup, client):
    world, owner, client_id, channel = setup
    draft = await submit(owner, await make_post(owner, client_id, channel["id"]))
    await owner.post(
        f"/api/v1/drafts/{draft['id']}/comments",
        json={"body": "Intern: Preis prüfen", "visibility": "internal"},
    )
    await owner.post(f"/api/v1/drafts/{draft['id']}/comments", json={"body": "Für alle"})
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    denied = await viewer.post(
        f"/api/v1/clients/{client_id}/drafts",
        json={"kind": "post", "channelId": channel["id"], "body": "Hallo"},
    )
    assert denied.status_code == 403
    detail = (await viewer.get(f"/api/v1/drafts/{draft['id']}")).json()
    assert [c["body"] for c in detail["comments"]] == ["Für alle"]
    assert all(not e["payload"].get("internal") for e in detail["timeline"])
    approver = await sign_in(client, world.users["a1.approver"].email)
    internal = await approver.post(
        f"/api/v1/drafts/{draft['id']}/comments", json={"body": "x", "visibility": "internal"}
    )
    assert internal.status_code == 403


async def test_inbound_items_are_idempotent_and_severity_flows_to_replies(setup, client):
    world, owner, client_id, channel = setup
    first = await make_inbound(owner, client_id, channel["id"], external_id="ext-9")
    again = await owner.post(
        f"/api/v1/clients/{client_id}/inbound-items",
        json={"channelId": channel["id"], "externalId": "ext-9", "kind": "comment", "body": "dup"},
    )
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    reply = await owner.post(
        f"/api/v1/clients/{client_id}/drafts",
        json={"kind": "reply", "inboundItemId": first["id"], "body": "Danke"},
    )
    unfinished = await owner.post(
        f"/api/v1/clients/{client_id}/drafts",
        json={"kind": "reply", "inboundItemId": first["id"], "body": "Noch nicht fertig"},
    )
    await submit(owner, reply.json())
    approver = await sign_in(client, world.users["a1.approver"].email)
    raised = await approver.patch(
        f"/api/v1/inbound-items/{first['id']}", json={"severity": "crisis"}
    )
    assert raised.json()["severity"] == "crisis"
    detail = (await approver.get(f"/api/v1/drafts/{reply.json()['id']}")).json()
    assert detail["draft"]["severity"] == "crisis"
    # The unfinished reply follows too, though the client does not see it yet.
    detail = (await owner.get(f"/api/v1/drafts/{unfinished.json()['id']}")).json()
    assert detail["draft"]["severity"] == "crisis"
    assert (await approver.get(f"/api/v1/drafts/{unfinished.json()['id']}")).status_code == 404


async def test_approval_policy_is_set_by_the_client_admin(setup, client):
    world, owner, client_id, _ = setup
    body = {
        "normal": [{"approver": 1}],
        "high": [{"approver": 2}, {"executive": 1}],
        "crisis": [{"executive": 1}],
        "fourEyes": True,
    }
    assert (
        await owner.put(f"/api/v1/clients/{client_id}/approval-policy", json=body)
    ).status_code == 403
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    assert (await admin.get(f"/api/v1/clients/{client_id}/approval-policy")).json()["isDefault"]
    saved = await admin.put(f"/api/v1/clients/{client_id}/approval-policy", json=body)
    assert saved.status_code == 200
    assert saved.json()["high"] == [{"approver": 2}, {"executive": 1}]
    bad = await admin.put(
        f"/api/v1/clients/{client_id}/approval-policy", json={**body, "normal": [{"editor": 1}]}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "normal[0]"


ENDPOINTS = [
    ("GET", "/api/v1/clients/{client}/channels", None),
    ("POST", "/api/v1/clients/{client}/channels", {"platform": "x", "handle": "@h"}),
    ("GET", "/api/v1/clients/{client}/inbox", None),
    ("POST", "/api/v1/clients/{client}/inbound-items", "inbound"),
    ("GET", "/api/v1/clients/{client}/drafts", None),
    ("POST", "/api/v1/clients/{client}/drafts", "post"),
    ("GET", "/api/v1/clients/{client}/approval-policy", None),
    ("PUT", "/api/v1/clients/{client}/approval-policy", "policy"),
    ("GET", "/api/v1/drafts/{draft}", None),
    ("PATCH", "/api/v1/drafts/{draft}", {"version": 2, "severity": "high"}),
    ("POST", "/api/v1/drafts/{draft}/revisions", {"version": 2, "body": "neu"}),
    ("POST", "/api/v1/drafts/{draft}/submit", {"version": 2}),
    ("POST", "/api/v1/drafts/{draft}/decisions", {"decision": "approve", "version": 2}),
    ("POST", "/api/v1/drafts/{draft}/withdraw", {"version": 2}),
    ("POST", "/api/v1/drafts/{draft}/comments", {"body": "hi"}),
    ("PATCH", "/api/v1/inbound-items/{item}", {"severity": "high"}),
]


@pytest.mark.parametrize("person", ["a.owner", "a.editor", "a1.approver", "a1.client_admin"])
async def test_other_tenants_and_sibling_clients_are_not_found(pg_client, pg, passwords, person):
    world = await make_world(pg, passwords)

    async def objects_of(owner_key: str, client_key: str) -> dict[str, str]:
        owner = await sign_in(pg_client, world.users[owner_key].email)
        client_id = world.clients[client_key].id
        channel = await make_channel(owner, client_id, handle=f"@{client_key}")
        item = await make_inbound(owner, client_id, channel["id"])
        draft = await submit(owner, await make_post(owner, client_id, channel["id"]))
        return {
            "client": str(client_id),
            "draft": draft["id"],
            "item": item["id"],
            "channel": channel["id"],
        }

    targets = [await objects_of("b.owner", "b1")]
    if person.startswith("a1."):
        targets.append(await objects_of("a.owner", "a2"))
    caller = await sign_in(pg_client, world.users[person].email)
    for ids in targets:
        bodies = {
            "inbound": {
                "channelId": ids["channel"],
                "externalId": "z",
                "kind": "comment",
                "body": "b",
            },
            "post": {"kind": "post", "channelId": ids["channel"], "body": "b"},
            "policy": {
                "normal": [{"approver": 1}],
                "high": [{"approver": 1}],
                "crisis": [{"executive": 1}],
            },
        }
        for method, path, body in ENDPOINTS:
            payload = bodies.get(body, body) if isinstance(body, str) else body
            kwargs = {"json": payload} if payload is not None else {}
            response = await caller.request(method, path.format(**ids), **kwargs)
            assert response.status_code == 404, (person, method, path, response.text)
