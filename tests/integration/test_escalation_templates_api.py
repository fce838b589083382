"""Statement templates: the agency proposes, the client approves; reworded means
proposed again; only approved templates are eligible for fallbacks."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from agencyhub.audit.models import Event
from agencyhub.db import Scope, transaction
from agencyhub.escalation.models import StatementTemplate
from agencyhub.escalation.templates import approved_template, approved_templates
from tests.factories import make_world
from tests.helpers import sign_in

HOLDING = "Danke für Ihre Nachricht. Wir prüfen das und melden uns bis morgen früh."


@pytest.fixture
async def world(database, passwords):
    return await make_world(database, passwords)


def templates_path(world, key: str = "a1") -> str:
    return f"/api/v1/clients/{world.clients[key].id}/templates"


async def propose(client, world, name: str = "Holding statement", body: str = HOLDING) -> dict:
    editor = await sign_in(client, world.users["a.editor"].email)
    response = await editor.post(templates_path(world), json={"name": name, "body": body})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def counts(database) -> tuple[int, int]:
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        templates = await session.scalar(select(func.count()).select_from(StatementTemplate))
        events = await session.scalar(
            select(func.count()).select_from(Event).where(Event.type.startswith("template."))
        )
        return int(templates or 0), int(events or 0)


async def events_of(database, template_id: str) -> list[Event]:
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        rows = await session.scalars(
            select(Event).where(Event.subject_type == "template").order_by(Event.id)
        )
        return [e for e in rows if str(e.subject_id) == template_id]


async def test_the_agency_proposes_and_the_client_approves(client, world, database):
    template = await propose(client, world)
    assert template["status"] == "proposed"
    assert template["proposedById"] == str(world.user_id("a.editor"))
    executive = await sign_in(client, world.users["a1.executive"].email)
    approved = await executive.post(
        f"/api/v1/templates/{template['id']}/approve", json={"version": 1}
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved"
    assert body["approvedById"] == str(world.user_id("a1.executive"))
    assert body["approvedAt"] is not None
    events = await events_of(database, template["id"])
    assert [e.type for e in events] == ["template.proposed", "template.approved"]
    assert events[1].actor_user_id == world.user_id("a1.executive")
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        eligible = await approved_templates(session, world.clients["a1"].id)
        assert [t.name for t in eligible] == ["Holding statement"]
        assert eligible[0].approved_by_id == world.user_id("a1.executive")
        other_client = await approved_template(session, world.clients["a2"].id, eligible[0].id)
        assert other_client is None


@pytest.mark.parametrize("role", ["a.owner", "a.admin", "a.editor", "a1.approver", "a1.viewer"])
async def test_only_client_executives_and_admins_approve(client, world, database, role):
    template = await propose(client, world)
    before = await counts(database)
    caller = await sign_in(client, world.users[role].email)
    response = await caller.post(f"/api/v1/templates/{template['id']}/approve", json={})
    assert response.status_code == 403
    assert await counts(database) == before


@pytest.mark.parametrize("role", ["a1.client_admin", "a1.executive", "a1.approver", "a1.viewer"])
async def test_only_the_agency_proposes(client, world, database, role):
    caller = await sign_in(client, world.users[role].email)
    response = await caller.post(templates_path(world), json={"name": "Mine", "body": HOLDING})
    assert response.status_code == 403
    assert await counts(database) == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Blank", "body": "   "}, "body"),
        ({"name": "Long", "body": "x" * 5001}, "body"),
        ({"name": "  ", "body": HOLDING}, "name"),
    ],
)
async def test_bad_templates_name_the_field_and_write_nothing(client, world, database, body, field):
    editor = await sign_in(client, world.users["a.editor"].email)
    response = await editor.post(templates_path(world), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert await counts(database) == (0, 0)


async def test_names_are_unique_per_client(client, world, database):
    await propose(client, world)
    before = await counts(database)
    editor = await sign_in(client, world.users["a.admin"].email)  # sees a1 and a2
    taken = await editor.post(
        templates_path(world), json={"name": "Holding statement", "body": "Anders."}
    )
    assert taken.status_code == 409
    assert taken.json()["field"] == "name"
    assert await counts(database) == before
    elsewhere = await editor.post(
        templates_path(world, "a2"), json={"name": "Holding statement", "body": "Anders."}
    )
    assert elsewhere.status_code == 201


async def test_a_new_wording_needs_a_new_approval(client, world, database):
    template = await propose(client, world)
    executive = await sign_in(client, world.users["a1.executive"].email)
    await executive.post(f"/api/v1/templates/{template['id']}/approve", json={})
    editor = await sign_in(client, world.users["a.editor"].email)
    renamed = await editor.patch(f"/api/v1/templates/{template['id']}", json={"name": "Holding"})
    assert renamed.json()["status"] == "approved"  # a name is not a statement
    reworded = await editor.patch(
        f"/api/v1/templates/{template['id']}", json={"body": HOLDING + " Ihr Team."}
    )
    assert reworded.status_code == 200
    assert reworded.json()["status"] == "proposed"
    assert reworded.json()["version"] == 2
    assert reworded.json()["approvedById"] is None
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        assert await approved_templates(session, world.clients["a1"].id) == []
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    stale = await admin.post(f"/api/v1/templates/{template['id']}/approve", json={"version": 1})
    assert stale.status_code == 409
    fresh = await admin.post(f"/api/v1/templates/{template['id']}/approve", json={"version": 2})
    assert fresh.json()["status"] == "approved"
    assert fresh.json()["approvedById"] == str(world.user_id("a1.client_admin"))
    again = await admin.post(f"/api/v1/templates/{template['id']}/approve", json={})
    assert again.status_code == 409
    types = [e.type for e in await events_of(database, template["id"])]
    assert types.count("template.updated") == 2
    assert types.count("template.approved") == 2


async def test_client_people_cannot_reword(client, world):
    template = await propose(client, world)
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    response = await admin.patch(f"/api/v1/templates/{template['id']}", json={"body": "Neu"})
    assert response.status_code == 403


async def test_retiring(client, world, database):
    proposal = await propose(client, world, name="Withdrawn")
    editor = await sign_in(client, world.users["a.editor"].email)
    withdrawn = await editor.post(f"/api/v1/templates/{proposal['id']}/retire")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "retired"
    assert withdrawn.json()["retiredById"] == str(world.user_id("a.editor"))

    template = await propose(client, world)
    executive = await sign_in(client, world.users["a1.executive"].email)
    bodyless = await executive.post(f"/api/v1/templates/{template['id']}/approve")
    assert bodyless.json()["status"] == "approved"
    editor = await sign_in(client, world.users["a.editor"].email)
    assert (await editor.post(f"/api/v1/templates/{template['id']}/retire")).status_code == 403
    approver = await sign_in(client, world.users["a1.approver"].email)
    assert (await approver.post(f"/api/v1/templates/{template['id']}/retire")).status_code == 403
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    retired = await admin.post(f"/api/v1/templates/{template['id']}/retire")
    assert retired.json()["status"] == "retired"
    assert (await admin.post(f"/api/v1/templates/{template['id']}/retire")).status_code == 409
    editor = await sign_in(client, world.users["a.editor"].email)
    edit = await editor.patch(f"/api/v1/templates/{template['id']}", json={"body": "Neu"})
    assert edit.status_code == 409
    listed = (await editor.get(templates_path(world), params={"status": "retired"})).json()
    assert sorted(t["name"] for t in listed["items"]) == ["Holding statement", "Withdrawn"]
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        assert await approved_templates(session, world.clients["a1"].id) == []


async def test_other_tenants_and_sibling_clients_are_not_found(client, world):
    template = await propose(client, world)
    for role in ("b.owner", "b.editor", "b1.executive"):
        outsider = await sign_in(client, world.users[role].email)
        assert (await outsider.get(templates_path(world))).status_code == 404
        assert (
            await outsider.post(f"/api/v1/templates/{template['id']}/approve", json={})
        ).status_code == 404
        assert (
            await outsider.patch(f"/api/v1/templates/{template['id']}", json={"body": "x"})
        ).status_code == 404
    sibling = await sign_in(client, world.users["a2.executive"].email)
    assert (
        await sibling.post(f"/api/v1/templates/{template['id']}/approve", json={})
    ).status_code == 404
    assert (await sibling.post(f"/api/v1/templates/{template['id']}/retire")).status_code == 404
