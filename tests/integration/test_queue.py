"""The client's approval queue (order, filters, keyset pages, isolation) and bulk approve."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from agencyhub.approvals import queue, service
from agencyhub.approvals.models import Decision, Draft, Revision
from agencyhub.audit.models import Event
from agencyhub.db import Database, Scope, new_id, transaction, utcnow
from agencyhub.publishing.models import Channel, InboundItem
from agencyhub.tenancy.auth import load_actor
from agencyhub.tenancy.models import Client
from tests.factories import World, make_world
from tests.helpers import Caller, sign_in

SEVERITY_ORDER = {"crisis": 0, "high": 1, "normal": 2}
NOW = utcnow().replace(microsecond=0)


# --- given: pending drafts written straight into the database --------------------------


@dataclass
class Place:
    """A client with two channels and an inbound comment to reply to."""

    client: Client
    channel: Channel
    other_channel: Channel
    comment: InboundItem


async def make_place(db: Database, world: World, key: str = "a1") -> Place:
    client = world.clients[key]
    async with transaction(db.sessions, Scope.for_system("tests.queue")) as session:
        channel, other = (
            Channel(
                agency_id=client.agency_id,
                client_id=client.id,
                platform=platform,
                handle=f"@{key}",
                text_limit=2200,
            )
            for platform in ("instagram", "linkedin")
        )
        session.add_all([channel, other])
        await session.flush()
        comment = InboundItem(
            agency_id=client.agency_id,
            client_id=client.id,
            channel_id=channel.id,
            external_id=f"c-{uuid.uuid4()}",
            kind="comment",
            body="Warum ist das Brot so teuer?",
        )
        session.add(comment)
    return Place(client, channel, other, comment)


async def add_draft(
    db: Database,
    place: Place,
    *,
    due: timedelta,
    severity: str = "normal",
    submitted: timedelta = timedelta(hours=-1),
    kind: str = "post",
    channel: Channel | None = None,
    status: str = "pending",
    body: str = "Frische Brötchen!",
    alternatives: tuple[str, ...] = (),
) -> Draft:
    """A submitted draft with one revision, due ``due`` from NOW."""
    client = place.client
    draft_id = new_id()
    revision = Revision(
        id=new_id(),
        agency_id=client.agency_id,
        draft_id=draft_id,
        number=1,
        body=body,
        alternatives=list(alternatives),
    )
    draft = Draft(
        id=draft_id,
        agency_id=client.agency_id,
        client_id=client.id,
        kind=kind,
        channel_id=(channel or place.channel).id,
        inbound_item_id=place.comment.id if kind == "reply" else None,
        status=status,
        severity=severity,
        severity_order=SEVERITY_ORDER[severity],
        version=2,
        current_revision_id=revision.id,
        revision_count=1,
        submitted_at=NOW + submitted,
        sla_due_at=NOW + due,
    )
    async with transaction(db.sessions, Scope.for_system("tests.queue")) as session:
        session.add(draft)
        await session.flush()
        session.add(revision)
    return draft


async def add_drafts(db: Database, place: Place, count: int, **kwargs: Any) -> list[Draft]:
    return [await add_draft(db, place, **kwargs) for _ in range(count)]


async def count_rows(db: Database, model: Any, **where: Any) -> int:
    query = select(func.count()).select_from(model).filter_by(**where)
    async with transaction(db.sessions, Scope.for_system("tests.queue")) as session:
        return int(await session.scalar(query) or 0)


def queue_path(client_id: Any) -> str:
    return f"/api/v1/clients/{client_id}/queue"


async def read_queue(caller: Caller, client_id: Any, **params: Any) -> dict[str, Any]:
    response = await caller.get(queue_path(client_id), params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def world_and_place(database: Database, passwords: Any) -> tuple[World, Place]:
    world = await make_world(database, passwords)
    return world, await make_place(database, world)


# --- reading the queue ---------------------------------------------------------------------


async def test_queue_is_soonest_due_then_most_severe_then_oldest(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    later = await add_draft(database, place, due=timedelta(hours=2))
    normal = await add_draft(database, place, due=timedelta(hours=1))
    crisis_old = await add_draft(
        database, place, due=timedelta(hours=1), severity="crisis", submitted=timedelta(hours=-3)
    )
    crisis_new = await add_draft(database, place, due=timedelta(hours=1), severity="crisis")
    soonest = await add_draft(database, place, due=timedelta(minutes=30), severity="high")
    overdue = await add_draft(database, place, due=timedelta(minutes=-5))
    # Not in the queue: decided drafts, and another client's pending draft.
    await add_draft(database, place, due=timedelta(minutes=-60), status="approved")
    await add_draft(database, await make_place(database, world, "a2"), due=timedelta(0))

    viewer = await sign_in(client, world.users["a1.viewer"].email)
    page = await read_queue(viewer, place.client.id)

    expected = [overdue, soonest, crisis_old, crisis_new, normal, later]
    assert ids(page) == [str(d.id) for d in expected]
    assert page["total"] == 6
    assert page["nextCursor"] is None


async def test_an_item_shows_what_the_approver_decides_on(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    reply = await add_draft(
        database,
        place,
        due=timedelta(hours=1),
        kind="reply",
        body="Danke für Ihre Frage!",
        alternatives=("Gute Frage!",),
    )
    approver = await sign_in(client, world.users["a1.approver"].email)

    (item,) = (await read_queue(approver, place.client.id))["items"]

    assert item["id"] == str(reply.id)
    assert item["status"] == "pending"
    assert item["version"] == 2
    assert item["body"] == "Danke für Ihre Frage!"
    assert item["wordings"] == ["Danke für Ihre Frage!", "Gute Frage!"]
    assert item["channel"]["platform"] == "instagram"
    assert item["channel"]["handle"] == "@a1"
    assert item["inboundItem"]["body"] == "Warum ist das Brot so teuer?"
    assert datetime.fromisoformat(item["slaDueAt"]) == NOW + timedelta(hours=1)


async def test_filters_narrow_the_items_and_the_total(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    post = await add_draft(database, place, due=timedelta(hours=1))
    reply = await add_draft(database, place, due=timedelta(hours=2), kind="reply")
    crisis = await add_draft(database, place, due=timedelta(hours=3), severity="crisis")
    elsewhere = await add_draft(
        database, place, due=timedelta(hours=4), channel=place.other_channel, severity="high"
    )
    editor = await sign_in(client, world.users["a.editor"].email)
    cid = place.client.id

    posts = await read_queue(editor, cid, kind="post")
    replies = await read_queue(editor, cid, kind="reply")
    crises = await read_queue(editor, cid, severity="crisis")
    on_other = await read_queue(editor, cid, channelId=str(place.other_channel.id))
    combined = await read_queue(editor, cid, kind="post", channelId=str(place.channel.id))

    assert ids(posts) == [str(post.id), str(crisis.id), str(elsewhere.id)]
    assert posts["total"] == 3
    assert ids(replies) == [str(reply.id)]
    assert ids(crises) == [str(crisis.id)]
    assert ids(on_other) == [str(elsewhere.id)]
    assert ids(combined) == [str(post.id), str(crisis.id)]
    assert combined["total"] == 2


async def test_keyset_pages_give_every_item_once_in_order(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    # Ties on due time and severity, so the order leans on submitted_at and id too.
    drafts = [
        *await add_drafts(database, place, 3, due=timedelta(hours=1)),
        *await add_drafts(database, place, 2, due=timedelta(hours=1), severity="high"),
        *await add_drafts(database, place, 2, due=timedelta(minutes=10)),
    ]
    approver = await sign_in(client, world.users["a1.approver"].email)
    everything = ids(await read_queue(approver, place.client.id, limit=200))

    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await read_queue(approver, place.client.id, **params)
        pages += 1
        assert page["total"] == 7
        seen += ids(page)
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert pages < 10

    assert pages == 3
    assert seen == everything
    assert sorted(seen) == sorted(str(d.id) for d in drafts)


async def test_a_decided_item_does_not_shift_later_pages(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    drafts = [
        await add_draft(database, place, due=timedelta(minutes=minutes)) for minutes in range(6)
    ]
    approver = await sign_in(client, world.users["a1.approver"].email)
    first = await read_queue(approver, place.client.id, limit=3)
    async with transaction(database.sessions, Scope.for_system("tests.queue")) as session:
        await session.execute(
            update(Draft).where(Draft.id == drafts[0].id).values(status="approved")
        )

    second = await read_queue(approver, place.client.id, limit=3, cursor=first["nextCursor"])

    assert ids(second) == [str(d.id) for d in drafts[3:]]
    assert second["total"] == 5


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%%%",
        base64.urlsafe_b64encode(b"[1,2,3]").decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00",2,"2026-01-01T00:00:00Z","x"]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_a_malformed_cursor_is_422_naming_cursor(client, database, passwords, cursor):
    world, place = await world_and_place(database, passwords)
    approver = await sign_in(client, world.users["a1.approver"].email)
    response = await approver.get(queue_path(place.client.id), params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "cursor"


async def test_bad_query_parameters_are_422(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    approver = await sign_in(client, world.users["a1.approver"].email)
    for params in ({"limit": 0}, {"limit": 201}, {"severity": "urgent"}, {"kind": "story"}):
        response = await approver.get(queue_path(place.client.id), params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["errors"][0]["field"] == next(iter(params))


async def test_the_queue_is_seen_only_by_those_who_see_the_client(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    await add_draft(database, place, due=timedelta(hours=1))
    path = queue_path(place.client.id)
    for key, expected in (
        ("b.owner", 404),
        ("b1.approver", 404),
        ("a2.approver", 404),
        ("a2.client_admin", 404),
        ("a1.viewer", 200),
        ("a1.executive", 200),
        ("a.editor", 200),
    ):
        caller = await sign_in(client, world.users[key].email)
        response = await caller.get(path)
        assert response.status_code == expected, (key, response.text)
        if expected == 200:
            assert response.json()["total"] == 1
    unknown = await caller.get(queue_path(uuid.uuid4()))
    assert unknown.status_code == 404


# --- bulk approve ----------------------------------------------------------------------------


def decisions_path(client_id: Any) -> str:
    return f"/api/v1/clients/{client_id}/queue/decisions"


def approve_item(draft: Draft, **extra: Any) -> dict[str, Any]:
    return {"draftId": str(draft.id), "version": draft.version, **extra}


async def test_bulk_approve_answers_each_item_on_its_own(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    fine = await add_draft(database, place, due=timedelta(hours=1))
    stale = await add_draft(database, place, due=timedelta(hours=1))
    crisis = await add_draft(database, place, due=timedelta(hours=1), severity="crisis")
    two_wordings = await add_draft(database, place, due=timedelta(hours=1), alternatives=("B",))
    foreign = await add_draft(database, await make_place(database, world, "a2"), due=timedelta(0))
    other_agency = await add_draft(
        database, await make_place(database, world, "b1"), due=timedelta(0)
    )
    approver = await sign_in(client, world.users["a1.approver"].email)

    response = await approver.post(
        decisions_path(place.client.id),
        json={
            "items": [
                approve_item(fine),
                {"draftId": str(stale.id), "version": 1},
                approve_item(crisis),
                approve_item(foreign),
                approve_item(other_agency),
                approve_item(two_wordings),
                {"draftId": str(uuid.uuid4()), "version": 1},
            ],
            "comment": "Passt so.",
        },
    )

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["ok"], r["status"], r.get("error", {}).get("status")) for r in results] == [
        (True, "approved", None),
        (False, "pending", 409),
        # A crisis needs two approvers (or one executive): approved once, still pending.
        (True, "pending", None),
        (False, None, 404),
        (False, None, 404),
        # Issue #14, item 12: a refused draft the caller sees still says where it stands.
        (False, "pending", 422),
        (False, None, 404),
    ]
    assert results[0]["version"] == 3
    assert "error" not in results[0]
    assert results[1]["version"] == 2
    assert results[1]["error"]["type"].endswith("/conflict")
    assert "wording" in results[5]["error"]["detail"]
    assert results[5]["version"] == two_wordings.version
    assert (results[3]["version"], results[6]["version"]) == (None, None)
    # Refused items left nothing behind; the approved ones their decision and event.
    for draft, decisions in ((fine, 1), (crisis, 1), (stale, 0), (foreign, 0), (two_wordings, 0)):
        assert await count_rows(database, Decision, draft_id=draft.id) == decisions, draft
        assert await count_rows(database, Event, subject_id=draft.id) == decisions, draft
    assert await count_rows(database, Draft, id=stale.id, version=2, status="pending") == 1
    assert await count_rows(database, Draft, id=foreign.id, version=2, status="pending") == 1


async def test_bulk_approve_with_a_chosen_wording(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    draft = await add_draft(database, place, due=timedelta(hours=1), alternatives=("B", "C"))
    approver = await sign_in(client, world.users["a1.approver"].email)
    response = await approver.post(
        decisions_path(place.client.id), json={"items": [approve_item(draft, wording=2)]}
    )
    assert response.json()["results"][0]["status"] == "approved", response.text
    detail = (await approver.get(f"/api/v1/drafts/{draft.id}")).json()
    assert detail["draft"]["approvedWording"] == 2


async def test_the_same_draft_twice_in_one_request_is_approved_once(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    draft = await add_draft(database, place, due=timedelta(hours=1))
    approver = await sign_in(client, world.users["a1.approver"].email)
    response = await approver.post(
        decisions_path(place.client.id),
        json={"items": [approve_item(draft), approve_item(draft)]},
    )
    assert [r["ok"] for r in response.json()["results"]] == [True, False]
    assert await count_rows(database, Decision, draft_id=draft.id) == 1


async def test_only_deciding_roles_may_bulk_approve(client, database, passwords):
    """Agency staff, client admins and viewers are refused as a whole (403), not per item:
    their role can never decide, whatever the items are."""
    world, place = await world_and_place(database, passwords)
    draft = await add_draft(database, place, due=timedelta(hours=1))
    body = {"items": [approve_item(draft)]}
    for key in ("a.owner", "a.editor", "a1.client_admin", "a1.viewer"):
        caller = await sign_in(client, world.users[key].email)
        response = await caller.post(decisions_path(place.client.id), json=body)
        assert response.status_code == 403, (key, response.text)
        assert response.json()["type"].endswith("/forbidden")
    executive = await sign_in(client, world.users["a1.executive"].email)
    response = await executive.post(decisions_path(place.client.id), json=body)
    assert response.json()["results"][0]["status"] == "approved", response.text
    assert await count_rows(database, Decision, draft_id=draft.id) == 1


async def test_bulk_approve_on_a_client_one_cannot_see_is_404(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    draft = await add_draft(database, place, due=timedelta(hours=1))
    for key in ("b1.approver", "a2.approver"):
        caller = await sign_in(client, world.users[key].email)
        response = await caller.post(
            decisions_path(place.client.id), json={"items": [approve_item(draft)]}
        )
        assert response.status_code == 404, (key, response.text)
    assert await count_rows(database, Decision) == 0


async def test_bulk_approve_body_is_validated(client, database, passwords):
    world, place = await world_and_place(database, passwords)
    approver = await sign_in(client, world.users["a1.approver"].email)
    item = {"draftId": str(uuid.uuid4()), "version": 1}
    for body in ({"items": []}, {"items": [item] * 101}, {"items": [{**item, "version": 0}]}):
        response = await approver.post(decisions_path(place.client.id), json=body)
        assert response.status_code == 422, response.text


async def approve_as(db: Database, user_id: uuid.UUID, client_id: uuid.UUID, items: Any) -> Any:
    """The service in its own transaction, as one request would run it."""
    async with transaction(db.sessions) as session:
        actor = await load_actor(session, user_id)
        return await queue.bulk_approve(session, actor, client_id, items)


@pytest.mark.postgres
async def test_overlapping_bulk_requests_do_not_deadlock(pg, passwords, monkeypatch):
    """Two approvers send the same drafts in opposite orders at once: both requests
    finish, and each draft is approved exactly once."""
    decide = service.decide

    async def slow_decide(*args: Any, **kwargs: Any) -> Draft:
        draft = await decide(*args, **kwargs)
        await asyncio.sleep(0.02)  # hold the row lock, so the two requests interleave
        return draft

    monkeypatch.setattr(service, "decide", slow_decide)
    world = await make_world(pg, passwords)
    place = await make_place(pg, world)
    drafts = await add_drafts(pg, place, 6, due=timedelta(hours=1))
    items = [queue.ApproveItem(d.id, d.version) for d in drafts]

    first, second = await asyncio.gather(
        approve_as(pg, world.user_id("a1.executive"), place.client.id, items),
        approve_as(pg, world.user_id("a1.approver"), place.client.id, items[::-1]),
    )

    assert sum(outcome.ok for outcome in [*first, *second]) == len(drafts)
    assert {o.error.status_code for o in [*first, *second] if o.error} == {409}
    for draft in drafts:
        assert await count_rows(pg, Decision, draft_id=draft.id) == 1


def test_a_cursor_round_trips_its_sort_key_exactly():
    key = queue.SortKey(
        NOW + timedelta(microseconds=123456), 1, NOW - timedelta(hours=1), uuid.uuid4()
    )
    cursor = queue.encode_cursor(key)
    assert "=" not in cursor
    assert queue.decode_cursor(cursor) == key
