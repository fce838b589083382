"""The emergency plan, in-app notifications and crisis mode over HTTP, on PostgreSQL and
SQLite; and the plan frozen into a draft when it enters the queue."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from agencyhub.app import create_app
from agencyhub.approvals.models import Draft
from agencyhub.audit.models import Event
from agencyhub.db import Database, Scope, transaction, utcnow
from agencyhub.escalation.models import (
    DraftEscalation,
    EmergencyPlanRecord,
    EscalationStepRun,
    Notification,
)
from tests.approvals_helpers import make_channel, make_inbound, make_post, submit
from tests.conftest import empty_all_tables
from tests.factories import make_world
from tests.helpers import sign_in

HOLDING = "Danke für Ihre Nachricht. Wir prüfen das und melden uns in Kürze."


@pytest.fixture
async def world(database, passwords):
    return await make_world(database, passwords)


def plan_path(world, key: str = "a1") -> str:
    return f"/api/v1/clients/{world.clients[key].id}/emergency-plan"


def crisis_path(world, key: str = "a1") -> str:
    return f"/api/v1/clients/{world.clients[key].id}/crisis"


async def approved_template(client, world) -> str:
    editor = await sign_in(client, world.users["a.editor"].email)
    proposed = await editor.post(
        f"/api/v1/clients/{world.clients['a1'].id}/templates",
        json={"name": "Holding", "body": HOLDING},
    )
    assert proposed.status_code == 201, proposed.text
    executive = await sign_in(client, world.users["a1.executive"].email)
    approved = await executive.post(f"/api/v1/templates/{proposed.json()['id']}/approve", json={})
    assert approved.status_code == 200, approved.text
    return str(proposed.json()["id"])


def plan_with_fallback(template_id: str) -> dict[str, Any]:
    return {
        "steps": [
            {"afterMinutes": 0, "notify": ["on_duty"]},
            {"afterMinutes": 10, "notify": ["deputies", "all_approvers"]},
            {
                "afterMinutes": 20,
                "notify": ["executives"],
                "fallback": {"action": "publish_template", "templateId": template_id},
            },
        ]
    }


async def system_rows(database, model) -> list[Any]:
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        return list(await session.scalars(select(model)))


# --- the plan ------------------------------------------------------------------------------


async def test_without_a_saved_plan_everyone_who_sees_the_client_reads_the_default(client, world):
    for role in ("a.editor", "a1.viewer", "a1.approver"):
        caller = await sign_in(client, world.users[role].email)
        response = await caller.get(plan_path(world))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["isDefault"] is True
        assert [(s["afterMinutes"], s["notify"]) for s in body["steps"]] == [
            (0, ["on_duty"]),
            (15, ["deputies"]),
            (30, ["executives"]),
        ]
        assert all(s["fallback"] is None for s in body["steps"])


async def test_the_client_admin_saves_a_plan_with_an_approved_fallback(client, world, database):
    template_id = await approved_template(client, world)
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    saved = await admin.put(plan_path(world), json=plan_with_fallback(template_id))
    assert saved.status_code == 200, saved.text
    assert saved.json()["isDefault"] is False
    assert saved.json()["steps"][2]["fallback"] == {
        "action": "publish_template",
        "templateId": template_id,
        "waitMinutes": 5,  # the default: the executives' own time to act
    }
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    assert (await viewer.get(plan_path(world))).json()["steps"] == saved.json()["steps"]
    events = [e for e in await system_rows(database, Event) if e.type == "emergency_plan.updated"]
    assert len(events) == 1
    assert events[0].actor_user_id == world.user_id("a1.client_admin")


@pytest.mark.parametrize("role", ["a.owner", "a.editor", "a1.executive", "a1.approver"])
async def test_only_the_client_admin_writes_the_plan(client, world, database, role):
    caller = await sign_in(client, world.users[role].email)
    body = {"steps": [{"afterMinutes": 0, "notify": ["on_duty"]}]}
    assert (await caller.put(plan_path(world), json=body)).status_code == 403
    assert await system_rows(database, EmergencyPlanRecord) == []


async def test_a_template_that_is_only_proposed_is_refused(client, world, database):
    editor = await sign_in(client, world.users["a.editor"].email)
    proposed = await editor.post(
        f"/api/v1/clients/{world.clients['a1'].id}/templates",
        json={"name": "Draft statement", "body": HOLDING},
    )
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    response = await admin.put(plan_path(world), json=plan_with_fallback(proposed.json()["id"]))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "steps[2].fallback.templateId"
    assert await system_rows(database, EmergencyPlanRecord) == []


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([{"afterMinutes": 0, "notify": []}], "steps[0].notify"),
        (
            [{"afterMinutes": 0, "notify": ["on_duty"], "fallback": {"action": "hide_item"}}],
            "steps[0].fallback",
        ),
        (
            [
                {"afterMinutes": 20, "notify": ["on_duty"]},
                {"afterMinutes": 10, "notify": ["executives"]},
            ],
            "steps[1].afterMinutes",
        ),
        ([{"afterMinutes": 0, "notify": ["users"]}], "steps[0].notify"),
    ],
)
async def test_invalid_plans_name_the_field(client, world, database, steps, field):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    response = await admin.put(plan_path(world), json={"steps": steps})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_named_people_must_belong_to_the_client(client, world):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    outsider = str(world.user_id("b1.approver"))
    body = {"steps": [{"afterMinutes": 0, "notify": ["users"], "users": [outsider]}]}
    response = await admin.put(plan_path(world), json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "steps[0].users"
    member = str(world.user_id("a1.approver"))
    body = {"steps": [{"afterMinutes": 0, "notify": ["users"], "users": [member]}]}
    assert (await admin.put(plan_path(world), json=body)).status_code == 200


@pytest.mark.parametrize("method", ["get", "put"])
async def test_another_tenants_plan_is_not_found(client, world, method):
    caller = await sign_in(client, world.users["a1.client_admin"].email)
    body = {"steps": [{"afterMinutes": 0, "notify": ["on_duty"]}]}
    kwargs = {"json": body} if method == "put" else {}
    response = await getattr(caller, method)(plan_path(world, "b1"), **kwargs)
    assert response.status_code == 404
    other_client = await getattr(caller, method)(plan_path(world, "a2"), **kwargs)
    assert other_client.status_code == 404


# --- arming --------------------------------------------------------------------------------


async def test_submitting_freezes_the_plan_into_the_draft(client, world, database):
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, world.clients["a1"].id)
    draft = await submit(owner, await make_post(owner, world.clients["a1"].id, channel["id"]))
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    changed = {"steps": [{"afterMinutes": 5, "notify": ["executives"]}]}
    assert (await admin.put(plan_path(world), json=changed)).status_code == 200

    [armed] = await system_rows(database, DraftEscalation)
    assert str(armed.draft_id) == draft["id"]
    assert [s["notify"] for s in armed.plan] == [["on_duty"], ["deputies"], ["executives"]]
    assert armed.round == 1
    assert armed.next_step == 0  # the reminder before the due time
    [row] = await system_rows(database, Draft)
    assert armed.sla_due_at == row.sla_due_at
    assert armed.reminder_at is not None
    assert armed.reminder_at < armed.sla_due_at
    assert armed.next_due_at == armed.reminder_at
    assert armed.revision_id == row.current_revision_id


async def test_a_new_revision_while_pending_keeps_the_armed_plan(client, world, database):
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, world.clients["a1"].id)
    draft = await submit(owner, await make_post(owner, world.clients["a1"].id, channel["id"]))
    [before] = await system_rows(database, DraftEscalation)
    revised = await owner.post(
        f"/api/v1/drafts/{draft['id']}/revisions",
        json={"version": draft["version"], "body": "Neue Fassung"},
    )
    assert revised.status_code in (200, 201), revised.text
    [after] = await system_rows(database, DraftEscalation)
    assert (after.token, after.next_step, after.round) == (
        before.token,
        before.next_step,
        before.round,
    )
    [row] = await system_rows(database, Draft)
    assert after.revision_id == row.current_revision_id != before.revision_id


# --- notifications -------------------------------------------------------------------------


async def test_people_list_only_their_own_notifications(client, world, database):
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        for key, title in (("a1.approver", "Yours"), ("a1.executive", "Not yours")):
            session.add(
                Notification(
                    agency_id=world.agencies["a"].id,
                    client_id=world.clients["a1"].id,
                    user_id=world.user_id(key),
                    kind="escalation.step",
                    subject_type="draft",
                    title=title,
                )
            )
    approver = await sign_in(client, world.users["a1.approver"].email)
    response = await approver.get("/api/v1/me/notifications")
    assert response.status_code == 200
    assert [n["title"] for n in response.json()["items"]] == ["Yours"]
    foreigner = await sign_in(client, world.users["b1.approver"].email)
    assert (await foreigner.get("/api/v1/me/notifications")).json()["items"] == []


# --- crisis mode ---------------------------------------------------------------------------


async def test_an_executive_declares_and_ends_crisis_mode(client, world, database):
    executive = await sign_in(client, world.users["a1.executive"].email)
    declared = await executive.post(crisis_path(world), json={"reason": "Rückruf"})
    assert declared.status_code == 200, declared.text
    assert declared.json()["active"] is True
    assert declared.json()["startedById"] == str(world.user_id("a1.executive"))
    editor = await sign_in(client, world.users["a.editor"].email)
    assert (await editor.get(crisis_path(world))).json()["active"] is True
    ended = await (await sign_in(client, world.users["a1.client_admin"].email)).delete(
        crisis_path(world)
    )
    assert ended.status_code == 200
    assert ended.json()["active"] is False
    types = [e.type for e in await system_rows(database, Event) if e.type.startswith("crisis.")]
    assert types == ["crisis.declared", "crisis.ended"]


async def test_new_inbound_items_of_a_client_in_crisis_are_crisis_items(client, world):
    executive = await sign_in(client, world.users["a1.executive"].email)
    assert (await executive.post(crisis_path(world), json={})).status_code == 200
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, world.clients["a1"].id)
    item = await make_inbound(owner, world.clients["a1"].id, channel["id"], severity="normal")
    assert item["severity"] == "crisis"
    calm = await make_channel(owner, world.clients["a2"].id, handle="@calm")
    other = await make_inbound(owner, world.clients["a2"].id, calm["id"], severity="normal")
    assert other["severity"] == "normal"


@pytest.mark.parametrize("role", ["a.owner", "a.editor", "a1.approver", "a1.viewer"])
async def test_only_client_executives_and_admins_declare_or_end_a_crisis(client, world, role):
    caller = await sign_in(client, world.users[role].email)
    assert (await caller.post(crisis_path(world), json={})).status_code == 403
    executive = await sign_in(client, world.users["a1.executive"].email)
    assert (await executive.post(crisis_path(world), json={})).status_code == 200
    caller = await sign_in(client, world.users[role].email)
    assert (await caller.delete(crisis_path(world))).status_code == 403


@pytest.mark.parametrize("method", ["get", "post", "delete"])
async def test_another_tenants_crisis_is_not_found(client, world, method):
    caller = await sign_in(client, world.users["a1.executive"].email)
    kwargs = {"json": {}} if method == "post" else {}
    response = await getattr(caller, method)(crisis_path(world, "b1"), **kwargs)
    assert response.status_code == 404


async def test_crisis_mode_pauses_scheduled_posts_until_it_ends(client, world, database):
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, world.clients["a1"].id)
    post = await make_post(owner, world.clients["a1"].id, channel["id"])
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        draft = await session.get(Draft, post["id"])
        draft.status = "scheduled"  # the publishing feature schedules approved posts
    executive = await sign_in(client, world.users["a1.executive"].email)
    declared = await executive.post(crisis_path(world), json={})
    assert declared.json()["pausedPosts"] == 1
    [paused] = await system_rows(database, Draft)
    assert paused.status == "scheduled"
    assert paused.paused_at is not None
    ended = await executive.delete(crisis_path(world))
    assert ended.json()["pausedPosts"] == 0
    [resumed] = await system_rows(database, Draft)
    assert resumed.paused_at is None
    events = [e for e in await system_rows(database, Event) if e.subject_type == "draft"]
    assert [e.type for e in events[-2:]] == ["draft.paused", "draft.resumed"]
    # Each step is one version of the draft, and its event names that version.
    assert [e.payload["version"] for e in events[-2:]] == [paused.version, resumed.version]
    assert resumed.version == paused.version + 1


async def test_raising_the_severity_while_pending_moves_the_armed_steps_closer(
    client, world, database
):
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, world.clients["a1"].id)
    draft = await submit(owner, await make_post(owner, world.clients["a1"].id, channel["id"]))
    [before] = await system_rows(database, DraftEscalation)
    raised = await owner.patch(
        f"/api/v1/drafts/{draft['id']}", json={"version": draft["version"], "severity": "crisis"}
    )
    assert raised.status_code == 200, raised.text
    [after] = await system_rows(database, DraftEscalation)
    [row] = await system_rows(database, Draft)
    assert after.sla_due_at == row.sla_due_at < before.sla_due_at
    assert after.token != before.token  # wake-ups already sent are stale now
    assert after.next_due_at is not None
    assert after.next_due_at <= after.sla_due_at


# --- the embedded demo ---------------------------------------------------------------------


@pytest.mark.sqlite
async def test_the_embedded_demo_runs_overdue_steps_with_its_in_process_worker(
    sqlite_database, passwords
):
    await empty_all_tables(sqlite_database.owner_url)
    database = Database.from_settings(sqlite_database.settings)
    world = await make_world(database, passwords)
    app = create_app(dataclasses.replace(sqlite_database.settings, environment="demo"))
    async with AsyncTestClient(app=app, base_url="http://demo.local") as http:
        assert isinstance(dramatiq.get_broker(), StubBroker)
        owner = await sign_in(http, world.users["a.owner"].email)
        channel = await make_channel(owner, world.clients["a1"].id)
        await submit(owner, await make_post(owner, world.clients["a1"].id, channel["id"]))
        async with transaction(database.sessions, Scope.for_system("tests")) as session:
            # Time passes: the reminder is overdue, and its in-memory message is far off.
            armed = await session.scalar(select(DraftEscalation))
            armed.next_due_at = utcnow() - timedelta(seconds=1)
        for _ in range(150):  # the sweep runs every 5 s
            runs = await system_rows(database, EscalationStepRun)
            if runs:
                break
            await asyncio.sleep(0.1)
        assert [r.step for r in runs] == [0]
    approver_notes = [
        n for n in await system_rows(database, Notification) if n.kind == "escalation.reminder"
    ]
    # Nobody on duty: every approver who can act first (the gap contact comes later).
    assert len(approver_notes) == 1
    assert approver_notes[0].user_id == world.user_id("a1.approver")
    await database.dispose()
