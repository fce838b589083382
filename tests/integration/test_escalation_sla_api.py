"""SLA policy API: defaults, who may change it, validation, and the due-time preview."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from agencyhub.audit.models import Event
from agencyhub.db import Scope, transaction
from agencyhub.escalation.models import SlaPolicyRecord
from agencyhub.escalation.sla import load_sla_policy
from agencyhub.tenancy.models import Client
from tests.factories import make_world
from tests.helpers import sign_in

POLICY = {
    "targets": {
        "normal": {"minutes": 240, "businessHoursOnly": True},
        "high": {"minutes": 90, "businessHoursOnly": False},
        "crisis": {"minutes": 10, "businessHoursOnly": False},
    },
    "timezone": "Europe/Berlin",
    "hours": [{"weekday": d, "opens": "09:00", "closes": "17:00"} for d in range(5)],
    "holidays": ["2026-12-25", "2026-12-26"],
    "reminderAt": 0.5,
}


async def written(database) -> tuple[int, int]:
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        policies = await session.scalar(select(func.count()).select_from(SlaPolicyRecord))
        events = await session.scalar(
            select(func.count()).select_from(Event).where(Event.type == "sla_policy.updated")
        )
        return int(policies or 0), int(events or 0)


@pytest.fixture
async def world(database, passwords):
    return await make_world(database, passwords)


def path(world, key: str = "a1", suffix: str = "") -> str:
    return f"/api/v1/clients/{world.clients[key].id}/sla-policy{suffix}"


async def test_the_default_policy_is_answered_until_the_client_sets_one(client, world):
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    response = await viewer.get(path(world))
    assert response.status_code == 200
    body = response.json()
    assert body["isDefault"] is True
    assert body["targets"] == {
        "normal": {"minutes": 240, "businessHoursOnly": True},
        "high": {"minutes": 60, "businessHoursOnly": False},
        "crisis": {"minutes": 15, "businessHoursOnly": False},
    }
    assert body["timezone"] == "Europe/Berlin"
    assert body["reminderAt"] == 0.75
    assert [h["weekday"] for h in body["hours"]] == [0, 1, 2, 3, 4]


async def test_the_client_admin_sets_it_and_an_event_records_it(client, world, database):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    saved = await admin.put(path(world), json=POLICY)
    assert saved.status_code == 200, saved.text
    assert saved.json()["isDefault"] is False
    assert saved.json()["holidays"] == ["2026-12-25", "2026-12-26"]
    editor = await sign_in(client, world.users["a.editor"].email)
    seen = (await editor.get(path(world))).json()
    assert seen["targets"]["high"] == {"minutes": 90, "businessHoursOnly": False}
    assert seen["hours"][0] == {"weekday": 0, "opens": "09:00", "closes": "17:00"}
    assert await written(database) == (1, 1)
    # Saving again updates the one row.
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    assert (await admin.put(path(world), json={**POLICY, "reminderAt": 0.8})).status_code == 200
    assert await written(database) == (1, 2)


async def test_omitted_parts_take_the_defaults_and_the_clients_time_zone(client, world):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    saved = await admin.put(path(world), json={"holidays": ["2026-12-24"]})
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["timezone"] == "Europe/Berlin"
    assert body["targets"]["crisis"] == {"minutes": 15, "businessHoursOnly": False}
    assert body["hours"][4] == {"weekday": 4, "opens": "08:00", "closes": "18:00"}


@pytest.mark.parametrize("role", ["a.owner", "a.admin", "a.editor", "a1.approver", "a1.executive"])
async def test_nobody_else_changes_the_clients_sla(client, world, database, role):
    caller = await sign_in(client, world.users[role].email)
    response = await caller.put(path(world), json=POLICY)
    assert response.status_code == 403
    assert await written(database) == (0, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"hours": [{"weekday": 0, "opens": "18:00", "closes": "08:00"}]}, "hours[0]"),
        ({"hours": [{"weekday": 0, "opens": "25:00", "closes": "26:00"}]}, "hours[0].opens"),
        ({"hours": []}, "hours"),
        (
            {
                "hours": [
                    {"weekday": 1, "opens": "08:00", "closes": "12:00"},
                    {"weekday": 1, "opens": "11:00", "closes": "14:00"},
                ]
            },
            "hours[1]",
        ),
        ({"reminderAt": 0.99}, "reminderAt"),
    ],
)
async def test_bad_input_names_the_field_and_writes_nothing(client, world, database, change, field):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    response = await admin.put(path(world), json={**POLICY, **change})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert await written(database) == (0, 0)


async def test_out_of_range_minutes_are_refused_by_the_schema(client, world, database):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    targets = {**POLICY["targets"], "crisis": {"minutes": 0, "businessHoursOnly": False}}
    response = await admin.put(path(world), json={**POLICY, "targets": targets})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "targets.crisis.minutes"
    assert await written(database) == (0, 0)


async def test_preview_runs_the_business_clock_across_the_weekend(client, world):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    await admin.put(path(world), json=POLICY)
    approver = await sign_in(client, world.users["a1.approver"].email)
    friday = "2026-11-20T15:30:00+01:00"  # 1.5 business hours left on Friday
    normal = await approver.get(
        path(world, suffix="/preview"), params={"submittedAt": friday, "severity": "normal"}
    )
    assert normal.status_code == 200, normal.text
    body = normal.json()
    # 4 h: 1.5 h on Friday, then Monday from 09:00 → 11:30; the reminder after 2 h.
    assert body["dueAtLocal"] == "2026-11-23T11:30:00+01:00"
    assert body["reminderAtLocal"] == "2026-11-23T09:30:00+01:00"
    assert body["dueAt"].startswith("2026-11-23T10:30:00")
    assert body["businessHoursOnly"] is True
    crisis = await approver.get(
        path(world, suffix="/preview"), params={"submittedAt": friday, "severity": "crisis"}
    )
    assert crisis.json()["dueAtLocal"] == "2026-11-20T15:40:00+01:00"


async def test_preview_defaults_to_now_and_refuses_a_time_without_offset(client, world):
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    now = await viewer.get(path(world, suffix="/preview"), params={"severity": "high"})
    assert now.status_code == 200
    assert now.json()["minutes"] == 60
    naive = await viewer.get(
        path(world, suffix="/preview"), params={"submittedAt": "2026-11-20T15:30:00"}
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "submittedAt"
    bad = await viewer.get(path(world, suffix="/preview"), params={"severity": "urgent"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "severity"


async def test_other_tenants_and_sibling_clients_are_not_found(client, world):
    owner = await sign_in(client, world.users["a.owner"].email)
    assert (await owner.get(path(world, "b1"))).status_code == 404
    assert (await owner.get(path(world, "b1", "/preview"))).status_code == 404
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    assert (await admin.get(path(world, "a2"))).status_code == 404
    assert (await admin.put(path(world, "a2"), json=POLICY)).status_code == 404


async def test_load_sla_policy_gives_the_clients_policy_or_the_default(client, world, database):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    await admin.put(path(world), json={**POLICY, "timezone": "Europe/Vienna"})
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        a1 = await session.get(Client, world.clients["a1"].id)
        a2 = await session.get(Client, world.clients["a2"].id)
        assert a1 is not None
        assert a2 is not None
        own = await load_sla_policy(session, a1)
        default = await load_sla_policy(session, a2)
    assert own.calendar.timezone == "Europe/Vienna"
    assert own.targets["high"].response == timedelta(minutes=90)
    assert own.reminder_at == 0.5
    assert default.targets["normal"].response == timedelta(hours=4)
    assert default.calendar.timezone == "Europe/Berlin"
