"""Rota API: layers, overrides (overlapping), on duty, gaps, swap requests, iCal feed."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import delete, func, select

from agencyhub.audit.models import Event
from agencyhub.db import Scope, transaction, utcnow
from agencyhub.escalation.models import RotaOverride, RotaRecord, RotaSwap
from agencyhub.tenancy.models import Client, Membership
from tests.factories import grant, make_user, make_world
from tests.helpers import sign_in

BERLIN = ZoneInfo("Europe/Berlin")


def this_monday() -> datetime:
    """Monday 09:00 in Berlin of the current week (at or before now)."""
    today = utcnow().astimezone(BERLIN)
    monday = today.date() - timedelta(days=today.weekday())
    start = datetime.combine(monday, time(9), tzinfo=BERLIN)
    return start if start <= today else start - timedelta(days=7)


def week(n: int, days: int = 0, hour: int = 9) -> datetime:
    """Day ``days`` of rota week ``n`` at ``hour`` local time (DST-safe)."""
    day = this_monday().date() + timedelta(days=7 * n + days)
    return datetime.combine(day, time(hour), tzinfo=BERLIN)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture
async def world(database, passwords):
    world = await make_world(database, passwords)
    second = await make_user(database, passwords, "a1.approver2@example.com")
    world.users["a1.approver2"] = second
    await grant(database, second, world.agencies["a"], "approver", world.clients["a1"])
    return world


def base(world, key: str = "a1") -> str:
    return f"/api/v1/clients/{world.clients[key].id}"


def weekly_rota(world, *people: str, gap_contact: str | None = "a1.executive") -> dict:
    return {
        "layers": [
            {
                "participants": [str(world.user_id(p)) for p in people],
                "startsAt": iso(this_monday()),
                "rotation": "weekly",
                "handoff": "09:00",
                "timezone": "Europe/Berlin",
            }
        ],
        "gapContact": str(world.user_id(gap_contact)) if gap_contact else None,
    }


async def set_rota(client, world, body: dict) -> dict:
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    response = await admin.put(f"{base(world)}/rota", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def counts(database) -> tuple[int, int, int, int]:
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        return tuple(  # type: ignore[return-value]
            [
                int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (RotaRecord, RotaOverride, RotaSwap, Event)
            ]
        )


async def event_types(database, world) -> list[str]:
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        rows = await session.scalars(
            select(Event.type).where(Event.client_id == world.clients["a1"].id).order_by(Event.id)
        )
        return list(rows)


async def on_duty(caller, world, at: datetime) -> dict:
    response = await caller.get(f"{base(world)}/on-duty", params={"at": iso(at)})
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- the rota itself -------------------------------------------------------------------------


async def test_no_rota_yet_means_nobody_and_all_executives_are_paged(client, world):
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    rota = (await viewer.get(f"{base(world)}/rota")).json()
    assert rota["isDefault"] is True
    assert rota["layers"] == []
    answer = await on_duty(viewer, world, utcnow())
    assert answer["onDuty"] is None
    assert [p["userId"] for p in answer["gapContacts"]] == [str(world.user_id("a1.executive"))]


async def test_weekly_rotation_and_the_event(client, world, database):
    saved = await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    assert saved["isDefault"] is False
    assert saved["layers"][0]["handoff"] == "09:00"
    editor = await sign_in(client, world.users["a.editor"].email)
    first = await on_duty(editor, world, week(0, 1))
    assert first["onDuty"]["userId"] == str(world.user_id("a1.approver"))
    assert first["onDuty"]["email"] == world.users["a1.approver"].email
    assert first["fromOverride"] is False
    assert parse(first["until"]) == week(1)
    assert [p["userId"] for p in first["deputies"]] == [str(world.user_id("a1.executive"))]
    second = await on_duty(editor, world, week(1, 1))
    assert second["onDuty"]["userId"] == str(world.user_id("a1.executive"))
    assert "rota.updated" in await event_types(database, world)


@pytest.mark.parametrize("role", ["a.owner", "a.admin", "a.editor", "a1.approver", "a1.viewer"])
async def test_only_the_client_admin_writes_the_rota(client, world, database, role):
    before = await counts(database)
    caller = await sign_in(client, world.users[role].email)
    response = await caller.put(
        f"{base(world)}/rota", json=weekly_rota(world, "a1.approver", "a1.executive")
    )
    assert response.status_code == 403
    assert await counts(database) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"participants": ["a1.viewer"]}, "layers[0].participants[0]"),
        ({"participants": ["a1.approver", "a.editor"]}, "layers[0].participants[1]"),
        ({"participants": []}, "layers[0].participants"),
        ({"handoff": "25:00"}, "layers[0].handoff"),
        ({"timezone": "Mars/Olympus"}, "layers[0].timezone"),
        ({"startsAt": "2026-11-02T09:00:00"}, "layers[0].startsAt"),
        ({"endsAt": "2020-01-01T00:00:00Z"}, "layers[0].endsAt"),
        ({"gapContact": "a1.approver"}, "gapContact"),
    ],
)
async def test_bad_rota_names_the_field_and_writes_nothing(client, world, database, change, field):
    body = weekly_rota(world, "a1.approver", "a1.executive")
    layer = body["layers"][0]
    for name, value in change.items():
        if name == "participants":
            layer[name] = [str(world.user_id(p)) for p in value]
        elif name == "gapContact":
            body[name] = str(world.user_id(value))
        else:
            layer[name] = value
    before = await counts(database)
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    response = await admin.put(f"{base(world)}/rota", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert await counts(database) == before


# --- overrides ----------------------------------------------------------------------------


async def add_override(caller, world, substitute: str, start, end, replaces=None, **extra):
    body = {
        "substituteId": str(world.user_id(substitute)),
        "startsAt": iso(start),
        "endsAt": iso(end),
        "reason": "illness",
        **extra,
    }
    if replaces:
        body["replaces"] = str(world.user_id(replaces))
    return await caller.post(f"{base(world)}/rota/overrides", json=body)


async def test_overlapping_overrides_the_newest_arrangement_wins(client, world, database):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    # Week 2 is the approver's. Ill Tuesday to Saturday: approver2 stands in.
    ill = await add_override(
        admin, world, "a1.approver2", week(2, 1, 0), week(2, 5, 0), "a1.approver"
    )
    assert ill.status_code == 201, ill.text
    # Later, the approver arranges their own cover for Wednesday noon to Thursday noon.
    approver = await sign_in(client, world.users["a1.approver"].email)
    own = await add_override(
        approver,
        world,
        "a1.executive",
        week(2, 2, 12),
        week(2, 3, 12),
        "a1.approver",
        reason="holiday",
    )
    assert own.status_code == 201, own.text
    # And the admin covers one Friday hour for whoever is on duty.
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    hour = await add_override(admin, world, "a1.executive", week(2, 4, 10), week(2, 4, 11))
    assert hour.status_code == 201, hour.text

    viewer = await sign_in(client, world.users["a1.viewer"].email)
    expected = [
        (week(2, 0, 12), "a1.approver", None),
        (week(2, 1, 10), "a1.approver2", ill),
        (week(2, 2, 18), "a1.executive", own),
        (week(2, 3, 18), "a1.approver2", ill),
        (week(2, 4, 10), "a1.executive", hour),
        (week(2, 4, 12), "a1.approver2", ill),
        (week(2, 5, 10), "a1.approver", None),
    ]
    for at, person, override in expected:
        answer = await on_duty(viewer, world, at)
        assert answer["onDuty"]["userId"] == str(world.user_id(person)), (at, answer)
        assert answer["fromOverride"] is (override is not None)
        assert answer["overrideId"] == (override.json()["id"] if override else None)
    rota = (await viewer.get(f"{base(world)}/rota")).json()
    assert len(rota["overrides"]) == 3
    assert (await event_types(database, world)).count("rota.override_created") == 3


async def test_override_permissions_and_removal(client, world, database):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    start, end = week(2, 1), week(2, 2)
    for role in ("a1.viewer", "a1.executive", "a.owner", "a.editor"):
        caller = await sign_in(client, world.users[role].email)
        denied = await add_override(caller, world, "a1.approver2", start, end, "a1.approver")
        assert denied.status_code == 403, role
    approver = await sign_in(client, world.users["a1.approver"].email)
    for_someone_else = await add_override(
        approver, world, "a1.approver2", start, end, "a1.executive"
    )
    assert for_someone_else.status_code == 403
    created = await add_override(approver, world, "a1.approver2", start, end, "a1.approver")
    assert created.status_code == 201
    override_id = created.json()["id"]
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    assert (await viewer.delete(f"/api/v1/rota-overrides/{override_id}")).status_code == 403
    approver = await sign_in(client, world.users["a1.approver"].email)
    assert (await approver.delete(f"/api/v1/rota-overrides/{override_id}")).status_code == 204
    assert (await approver.delete(f"/api/v1/rota-overrides/{override_id}")).status_code == 404
    answer = await on_duty(approver, world, week(2, 1, 12))
    assert answer["onDuty"]["userId"] == str(world.user_id("a1.approver"))
    assert "rota.override_removed" in await event_types(database, world)


@pytest.mark.parametrize(
    ("substitute", "replaces", "start", "end", "field"),
    [
        ("a1.viewer", "a1.approver", (2, 1), (2, 2), "substituteId"),
        ("a.editor", None, (2, 1), (2, 2), "substituteId"),
        ("a1.approver", "a1.approver", (2, 1), (2, 2), "substituteId"),
        ("a1.approver2", "a1.viewer", (2, 1), (2, 2), "replaces"),
        ("a1.approver2", "a1.approver", (2, 2), (2, 1), "endsAt"),
        ("a1.approver2", "a1.approver", (-3, 0), (-2, 0), "endsAt"),
    ],
)
async def test_bad_overrides_name_the_field_and_write_nothing(
    client, world, database, substitute, replaces, start, end, field
):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    before = await counts(database)
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    response = await add_override(admin, world, substitute, week(*start), week(*end), replaces)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert await counts(database) == before


# --- gaps ------------------------------------------------------------------------------------


async def test_gaps_are_merged_and_name_whom_to_page(client, world):
    gap_start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    gap_end = gap_start + timedelta(hours=30)
    body = {
        "layers": [
            {
                "participants": [str(world.user_id("a1.approver"))],
                "startsAt": iso(this_monday()),
                "rotation": "daily",
                "handoff": "09:00",
                "endsAt": iso(gap_start),
            },
            {
                "participants": [str(world.user_id("a1.executive"))],
                "startsAt": iso(gap_end),
                "rotation": "daily",
                "handoff": "09:00",
            },
        ],
        "gapContact": str(world.user_id("a1.client_admin")),
    }
    await set_rota(client, world, body)
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    found = (await viewer.get(f"{base(world)}/rota/gaps", params={"days": 14})).json()
    assert [(parse(g["startsAt"]), parse(g["endsAt"]), g["hours"]) for g in found["gaps"]] == [
        (gap_start, gap_end, 30.0)
    ]
    assert found["gapContact"] == str(world.user_id("a1.client_admin"))
    assert [p["userId"] for p in found["gapContacts"]] == [str(world.user_id("a1.client_admin"))]
    during = await on_duty(viewer, world, gap_start + timedelta(hours=1))
    assert during["onDuty"] is None
    assert during["gapContacts"][0]["email"] == world.users["a1.client_admin"].email
    short = (await viewer.get(f"{base(world)}/rota/gaps", params={"days": 1})).json()
    assert short["gaps"] == []


async def test_someone_who_left_the_client_leaves_a_gap(client, world, database):
    await set_rota(
        client, world, weekly_rota(world, "a1.approver", "a1.executive", gap_contact=None)
    )
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        await session.execute(
            delete(Membership).where(Membership.id == world.memberships["a1.executive"].id)
        )
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    answer = await on_duty(viewer, world, week(1, 1))
    assert answer["onDuty"] is None
    found = (await viewer.get(f"{base(world)}/rota/gaps", params={"days": 14})).json()
    assert week(1) in {parse(g["startsAt"]) for g in found["gaps"]}


# --- swap requests ---------------------------------------------------------------------------


async def ask(caller, world, colleague: str, start, end):
    return await caller.post(
        f"{base(world)}/rota/swaps",
        json={
            "colleagueId": str(world.user_id(colleague)),
            "startsAt": iso(start),
            "endsAt": iso(end),
        },
    )


async def test_a_swap_accepted_by_the_colleague_becomes_an_override(client, world, database):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    approver = await sign_in(client, world.users["a1.approver"].email)
    asked = await ask(approver, world, "a1.approver2", week(2, 1), week(2, 3))
    assert asked.status_code == 201, asked.text
    swap = asked.json()
    assert swap["status"] == "pending"
    for role in ("a1.executive", "a1.client_admin", "a.owner"):
        other = await sign_in(client, world.users[role].email)
        refused = await other.post(f"/api/v1/rota-swaps/{swap['id']}/accept")
        assert refused.status_code == 403, role
    colleague = await sign_in(client, world.users["a1.approver2"].email)
    accepted = await colleague.post(f"/api/v1/rota-swaps/{swap['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["overrideId"] is not None
    again = await colleague.post(f"/api/v1/rota-swaps/{swap['id']}/decline")
    assert again.status_code == 409
    answer = await on_duty(colleague, world, week(2, 2, 12))
    assert answer["onDuty"]["userId"] == str(world.user_id("a1.approver2"))
    assert answer["overrideId"] == accepted.json()["overrideId"]
    listed = (await colleague.get(f"{base(world)}/rota/swaps")).json()["items"]
    assert [s["status"] for s in listed] == ["accepted"]
    types = await event_types(database, world)
    assert {"rota.swap_requested", "rota.swap_accepted", "rota.override_created"} <= set(types)


async def test_a_declined_swap_changes_nothing(client, world, database):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    approver = await sign_in(client, world.users["a1.approver"].email)
    swap = (await ask(approver, world, "a1.executive", week(2, 1), week(2, 2))).json()
    executive = await sign_in(client, world.users["a1.executive"].email)
    declined = await executive.post(f"/api/v1/rota-swaps/{swap['id']}/decline")
    assert declined.json()["status"] == "declined"
    assert declined.json()["overrideId"] is None
    answer = await on_duty(executive, world, week(2, 1, 12))
    assert answer["onDuty"]["userId"] == str(world.user_id("a1.approver"))
    pending = await executive.get(f"{base(world)}/rota/swaps", params={"status": "pending"})
    assert pending.json()["items"] == []
    assert "rota.swap_declined" in await event_types(database, world)


async def test_bad_swap_requests(client, world, database):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    before = await counts(database)
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    assert (await ask(viewer, world, "a1.approver", week(2, 1), week(2, 2))).status_code == 403
    outsider = await sign_in(client, world.users["a1.approver2"].email)  # not on the rota
    assert (await ask(outsider, world, "a1.approver", week(2, 1), week(2, 2))).status_code == 403
    approver = await sign_in(client, world.users["a1.approver"].email)
    cases = [
        (("a1.viewer", week(2, 1), week(2, 2)), "colleagueId"),
        (("a1.approver", week(2, 1), week(2, 2)), "colleagueId"),
        (("a1.approver2", week(1, 1), week(1, 2)), "startsAt"),  # the executive's week
        (("a1.approver2", week(2, 2), week(2, 1)), "endsAt"),
    ]
    for args, field in cases:
        response = await ask(approver, world, *args)
        assert response.status_code == 422, (args, response.text)
        assert response.json()["errors"][0]["field"] == field
    assert await counts(database) == before


# --- the iCalendar feed ---------------------------------------------------------------------------


async def test_the_feed_lists_my_shifts_for_sixty_days(client, world, database):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    approver = await sign_in(client, world.users["a1.approver"].email)
    created = await approver.post(f"{base(world)}/rota/feed")
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert url.startswith("http://127.0.0.1:8000/api/v1/calendar/ahc_")
    feed_path = url.removeprefix("http://127.0.0.1:8000")

    client.cookies.clear()  # the URL is the credential
    response = await client.get(feed_path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"  # once
    calendar = Calendar.from_ical(response.content)
    events = calendar.walk("VEVENT")
    name = world.clients["a1"].name
    # Every other week is the approver's: this week (already running) and four more.
    assert [e.decoded("dtstart") for e in events] == [week(2 * k).astimezone(UTC) for k in range(5)]
    assert [e.decoded("dtend") for e in events] == [
        week(2 * k + 1).astimezone(UTC) for k in range(5)
    ]
    assert all(e.decoded("dtstart").tzinfo is not None for e in events)
    assert {str(e["summary"]) for e in events} == {f"AgencyHub: on duty for {name}"}
    uids = [str(e["uid"]) for e in events]
    assert len(set(uids)) == 5

    again = Calendar.from_ical((await client.get(feed_path)).content)
    assert [str(e["uid"]) for e in again.walk("VEVENT")] == uids
    assert "calendar_feed.rotated" in await event_types(database, world)


async def test_the_feed_shows_a_substitutes_shift_and_rotating_revokes_the_old_url(client, world):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    start, end = week(2, 1), week(2, 2)
    await add_override(admin, world, "a1.approver2", start, end, "a1.approver")
    substitute = await sign_in(client, world.users["a1.approver2"].email)
    old = (await substitute.post(f"{base(world)}/rota/feed")).json()["url"]
    new = (await substitute.post(f"{base(world)}/rota/feed")).json()["url"]
    assert old != new
    client.cookies.clear()
    assert (await client.get(old.removeprefix("http://127.0.0.1:8000"))).status_code == 404
    response = await client.get(new.removeprefix("http://127.0.0.1:8000"))
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert [(e.decoded("dtstart"), e.decoded("dtend")) for e in events] == [
        (start.astimezone(UTC), end.astimezone(UTC))
    ]
    assert "standing in" in str(events[0]["description"])


async def test_unknown_feeds_and_former_members_get_404(client, world, database):
    assert (await client.get("/api/v1/calendar/ahc_nope.ics")).status_code == 404
    approver = await sign_in(client, world.users["a1.approver"].email)
    url = (await approver.post(f"{base(world)}/rota/feed")).json()["url"]
    feed_path = url.removeprefix("http://127.0.0.1:8000")
    assert (await client.get(feed_path.removesuffix(".ics"))).status_code == 404
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        await session.execute(
            delete(Membership).where(Membership.id == world.memberships["a1.approver"].id)
        )
    client.cookies.clear()
    assert (await client.get(feed_path)).status_code == 404


# --- other tenants ------------------------------------------------------------------------------


async def test_other_tenants_and_sibling_clients_are_not_found(client, world, database):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    created = await add_override(
        admin, world, "a1.approver2", week(2, 1), week(2, 2), "a1.approver"
    )
    override_id = created.json()["id"]
    approver = await sign_in(client, world.users["a1.approver"].email)
    swap_id = (await ask(approver, world, "a1.approver2", week(2, 3), week(2, 4))).json()["id"]
    for role in ("b.owner", "b1.client_admin", "b1.approver"):
        outsider = await sign_in(client, world.users[role].email)
        assert (await outsider.get(f"{base(world)}/rota")).status_code == 404
        assert (await outsider.get(f"{base(world)}/on-duty")).status_code == 404
        assert (await outsider.delete(f"/api/v1/rota-overrides/{override_id}")).status_code == 404
        assert (await outsider.post(f"/api/v1/rota-swaps/{swap_id}/accept")).status_code == 404
    sibling = await sign_in(client, world.users["a2.client_admin"].email)
    assert (await sibling.get(f"{base(world)}/rota/gaps")).status_code == 404
    assert (await sibling.delete(f"/api/v1/rota-overrides/{override_id}")).status_code == 404
    assert (await sibling.post(f"/api/v1/rota-swaps/{swap_id}/decline")).status_code == 404


async def test_a_client_name_with_a_line_break_does_not_break_its_feeds(client, world, database):
    """iCalendar text is escaped: a name with a line break (or a comma, a semicolon)
    can neither break the feed nor add lines of its own."""
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        record = await session.get(Client, world.clients["a1"].id)
        record.name = "Bäckerei\r\nBEGIN:VEVENT\nSUMMARY:injected; x, y"
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    approver = await sign_in(client, world.users["a1.approver"].email)
    url = (await approver.post(f"{base(world)}/rota/feed")).json()["url"]
    client.cookies.clear()
    response = await client.get(url.removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 200, response.text
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert events
    assert str(events[0]["summary"]) == (
        "AgencyHub: on duty for Bäckerei BEGIN:VEVENT SUMMARY:injected; x, y"
    )
    # No line of the feed starts what the name tried to inject.
    lines = response.text.splitlines()
    assert sum(line == "BEGIN:VEVENT" for line in lines) == len(events)
    assert not any(line.startswith("SUMMARY:injected") for line in lines)


@pytest.mark.parametrize(
    "path",
    [
        "on-duty?at=9999-12-31T23:59:59Z",
        "on-duty?at=0001-01-01T00:00:00Z",
        "sla-policy/preview?submittedAt=9999-12-31T23:59:59Z",
        "sla-policy/preview?submittedAt=0001-01-01T00:00:00Z",
    ],
)
async def test_dates_at_the_edge_of_the_calendar_are_refused_not_a_500(client, world, path):
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    approver = await sign_in(client, world.users["a1.approver"].email)
    response = await approver.get(f"{base(world)}/{path}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "between" in response.json()["detail"]


async def test_dates_at_the_edge_of_the_calendar_in_a_body_are_refused(client, world):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    rota = weekly_rota(world, "a1.approver", "a1.executive")
    rota["layers"][0]["startsAt"] = "9999-12-31T00:00:00Z"
    response = await admin.put(f"{base(world)}/rota", json=rota)
    assert response.status_code == 422, response.text
    assert "startsAt must be between 1900-01-01 and 2999-12-31" in response.json()["detail"]


async def test_only_the_clients_admins_and_the_person_replaced_see_why_they_are_away(
    client, world, database
):
    """Issue #14, item 9: "illness" and "Grippe" are health data."""
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    made = await add_override(
        admin, world, "a1.approver2", week(2, 1, 0), week(2, 5, 0), "a1.approver", note="Grippe"
    )
    assert made.status_code == 201, made.text
    assert (made.json()["reason"], made.json()["note"]) == ("illness", "Grippe")
    seen = {}
    for key in ("a1.client_admin", "a1.approver", "a1.approver2", "a1.executive", "a.owner"):
        caller = await sign_in(client, world.users[key].email)
        rota = (await caller.get(f"{base(world)}/rota", params={"at": iso(week(2, 2, 0))})).json()
        seen[key] = {(o["reason"], o["note"]) for o in rota["overrides"]}
    assert seen == {
        "a1.client_admin": {("illness", "Grippe")},
        "a1.approver": {("illness", "Grippe")},  # the person replaced
        "a1.approver2": {("away", "")},
        "a1.executive": {("away", "")},
        "a.owner": {("away", "")},
    }
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        created = await session.scalar(
            select(Event).where(Event.type == "rota.override_created").order_by(Event.id.desc())
        )
        assert "reason" not in created.payload  # the audit trail is read by all of them


async def test_agency_staff_invited_as_approvers_cannot_be_on_duty(client, world, database):
    """Issue #14, item 6: an agency owner holding a client approver membership still acts
    as agency staff there, so she can never decide: putting her on duty would hide a gap."""
    await grant(
        database, world.users["a.owner"], world.agencies["a"], "approver", world.clients["a1"]
    )
    await set_rota(client, world, weekly_rota(world, "a1.approver", "a1.executive"))
    before = await counts(database)
    admin = await sign_in(client, world.users["a1.client_admin"].email)

    override = await add_override(admin, world, "a.owner", week(2, 1), week(2, 2), "a1.approver")
    assert override.status_code == 422, override.text
    assert override.json()["errors"] == [
        {
            "field": "substituteId",
            "message": "is agency staff and cannot decide for this client,"
            " so cannot be on its duty",
        }
    ]
    layer = await admin.put(f"{base(world)}/rota", json=weekly_rota(world, "a.owner"))
    assert layer.status_code == 422, layer.text
    assert layer.json()["errors"][0]["field"] == "layers[0].participants[0]"
    assert await counts(database) == before

    # An override stored before this rule shows the gap it leaves instead of hiding it.
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        session.add(
            RotaOverride(
                agency_id=world.agencies["a"].id,
                client_id=world.clients["a1"].id,
                substitute_id=world.user_id("a.owner"),
                starts_at=week(3),
                ends_at=week(3, 1),
                reason="other",
                note="",
            )
        )
    viewer = await sign_in(client, world.users["a1.viewer"].email)
    during = await on_duty(viewer, world, week(3, 0, 12))
    assert during["onDuty"] is None
    assert during["gapContacts"] != []
    gaps = (await viewer.get(f"{base(world)}/rota/gaps", params={"days": 28})).json()["gaps"]
    assert [(parse(g["startsAt"]), parse(g["endsAt"])) for g in gaps] == [(week(3), week(3, 1))]
