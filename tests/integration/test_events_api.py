"""The audit trail over HTTP: GET /api/v1/clients/{client}/events, as JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from agencyhub.audit import rules as audit_rules
from agencyhub.audit import service as audit_service
from agencyhub.audit.models import Event
from agencyhub.db import Database, Scope, create_engine, transaction
from agencyhub.tenancy import auth
from agencyhub.tenancy.models import Client
from agencyhub.tenancy.rules import Actor
from tests.approvals_helpers import client_of, make_channel, make_post, submit
from tests.factories import World, make_world
from tests.helpers import sign_in

CSV_COLUMNS = [
    "id",
    "type",
    "actorUserId",
    "actorKind",
    "subjectType",
    "subjectId",
    "clientId",
    "payload",
    "requestId",
    "createdAt",
]
T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


# --- builders ----------------------------------------------------------------------------


async def bearer(client: Any, world: World, key: str) -> dict[str, str]:
    """Headers of an API token for one person, so several can call side by side."""
    caller = await sign_in(client, world.users[key].email)
    response = await caller.post("/api/v1/tokens", json={"name": "events tests"})
    assert response.status_code == 201, response.text
    return {"authorization": f"Bearer {response.json()['token']}"}


async def add_events(db: Database, client: Client, count: int, **fields: Any) -> list[int]:
    """Events written straight into the log (``created_at`` one minute apart from T0)."""
    start = fields.pop("created_at", T0)
    rows = [
        Event(
            agency_id=client.agency_id,
            client_id=client.id,
            type=fields.get("type", "test.happened"),
            subject_type=fields.get("subject_type", "test"),
            subject_id=fields.get("subject_id"),
            actor_user_id=fields.get("actor_user_id"),
            actor_kind=fields.get("actor_kind", "system"),
            payload=fields.get("payload", {"n": n}),
            request_id=fields.get("request_id"),
            created_at=start + timedelta(minutes=n),
        )
        for n in range(count)
    ]
    async with transaction(db.sessions, Scope.for_system("tests.factory")) as session:
        session.add_all(rows)
    # The ids are drawn at commit (in order, one after another): read them back.
    async with transaction(db.sessions, Scope.for_system("tests.factory")) as session:
        newest = await session.scalars(
            select(Event.id)
            .where(Event.client_id == client.id)
            .order_by(Event.id.desc())
            .limit(count)
        )
        return sorted(newest.all())


async def events(client: Any, headers: dict[str, str], client_id: Any, **params: Any) -> Any:
    response = await client.get(
        f"/api/v1/clients/{client_id}/events", headers=headers, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


async def csv_rows(
    client: Any, headers: dict[str, str], client_id: Any, **params: Any
) -> tuple[Any, list[dict[str, str]]]:
    response = await client.get(
        f"/api/v1/clients/{client_id}/events",
        headers={**headers, "accept": "text/csv"},
        params=params,
    )
    assert response.status_code == 200, response.text
    reader = csv.DictReader(io.StringIO(response.text, newline=""))
    assert reader.fieldnames == CSV_COLUMNS
    return response, list(reader)


def types_of(page: Any) -> list[str]:
    return [item["type"] for item in page["items"]]


async def draft_with_comments(client: Any, world: World) -> dict[str, Any]:
    """A post draft of a1 by a.editor with one shared and one agency-internal comment."""
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, client_of(world))
    editor = await sign_in(client, world.users["a.editor"].email)
    draft = await submit(editor, await make_post(editor, client_of(world), channel["id"]))
    for visibility in ("shared", "internal"):
        response = await editor.post(
            f"/api/v1/drafts/{draft['id']}/comments",
            json={"body": f"a {visibility} remark", "visibility": visibility},
        )
        assert response.status_code == 201, response.text
    return draft


async def actor_of(db: Database, world: World, key: str) -> Actor:
    async with transaction(db.sessions, Scope.for_system("tests.actor")) as session:
        return await auth.load_actor(session, world.user_id(key))


def scope_of_user(world: World, key: str, agency_key: str) -> Scope:
    """The scope get_client_for leaves behind for this person in this agency."""
    agency_id = world.agencies[agency_key].id
    return Scope(
        user_id=world.user_id(key), member_agency_ids=frozenset({agency_id}), agency_id=agency_id
    )


# --- listing -----------------------------------------------------------------------------


async def test_lists_the_clients_events_newest_first(client, database, passwords):
    world = await make_world(database, passwords)
    draft = await draft_with_comments(client, world)
    headers = await bearer(client, world, "a1.viewer")

    page = await events(client, headers, client_of(world))

    ids = [item["id"] for item in page["items"]]
    assert ids == sorted(ids, reverse=True)
    assert types_of(page) == [
        "comment.added",  # the shared one; the internal one is the agency's
        # The client sees the draft from its submission on (issue #14, item 8).
        "draft.submitted",
        "channel.created",
    ]
    assert page["nextCursor"] is None
    newest = page["items"][0]
    assert newest["actorUserId"] == str(world.user_id("a.editor"))
    assert newest["actorKind"] == "user"
    assert (newest["subjectType"], newest["subjectId"]) == ("draft", draft["id"])
    assert newest["clientId"] == str(client_of(world))
    assert newest["payload"]["visibility"] == "shared"
    assert newest["requestId"]
    assert datetime.fromisoformat(newest["createdAt"]).tzinfo is not None


async def test_filters_by_type_exact_repeated_comma_separated_and_prefix(
    client, database, passwords
):
    world = await make_world(database, passwords)
    await draft_with_comments(client, world)
    headers = await bearer(client, world, "a.editor")
    a1 = client_of(world)

    exact = await events(client, headers, a1, type="channel.created")
    assert types_of(exact) == ["channel.created"]
    repeated = await events(client, headers, a1, type=["channel.created", "draft.created"])
    assert types_of(repeated) == ["draft.created", "channel.created"]
    commas = await events(client, headers, a1, type="channel.created,draft.created")
    assert types_of(commas) == types_of(repeated)
    prefix = await events(client, headers, a1, type="draft.*")
    assert types_of(prefix) == ["draft.submitted", "draft.created"]
    mixed = await events(client, headers, a1, type="comment.*,channel.created")
    assert types_of(mixed) == ["comment.added", "comment.added", "channel.created"]
    none = await events(client, headers, a1, type="draft.approved")
    assert none["items"] == []


async def test_a_prefix_matches_literally_not_as_a_pattern(client, database, passwords):
    world = await make_world(database, passwords)
    a1 = world.clients["a1"]
    await add_events(database, a1, 1, type="x_y.done")
    await add_events(database, a1, 1, type="xzy.done")
    headers = await bearer(client, world, "a.editor")

    page = await events(client, headers, a1.id, type="x_y.*")

    assert types_of(page) == ["x_y.done"]


async def test_filters_byactor_of(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, client_of(world))
    editor = await sign_in(client, world.users["a.editor"].email)
    await submit(editor, await make_post(editor, client_of(world), channel["id"]))
    await make_post(owner, client_of(world), channel["id"])
    agency = await bearer(client, world, "a.admin")
    headers = await bearer(client, world, "a1.approver")

    by_editor = {"actorId": str(world.user_id("a.editor"))}
    page = await events(client, agency, client_of(world), **by_editor)
    assert types_of(page) == ["draft.submitted", "revision.created", "draft.created"]
    assert {i["actorUserId"] for i in page["items"]} == {str(world.user_id("a.editor"))}
    # The client: from submission on, and the owner's unfinished draft not at all.
    assert types_of(await events(client, headers, client_of(world), **by_editor)) == [
        "draft.submitted"
    ]
    by_owner = {"actorId": str(world.user_id("a.owner"))}
    assert types_of(await events(client, headers, client_of(world), **by_owner)) == [
        "channel.created"
    ]


async def test_filters_by_subject(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, client_of(world))
    first = await make_post(owner, client_of(world), channel["id"])
    await make_post(owner, client_of(world), channel["id"], body="Noch ein Post")
    headers = await bearer(client, world, "a.owner")
    a1 = client_of(world)

    drafts = await events(client, headers, a1, subjectType="draft")
    assert len(drafts["items"]) == 4
    one = await events(client, headers, a1, subjectType="draft", subjectId=first["id"])
    assert types_of(one) == ["revision.created", "draft.created"]
    assert {i["subjectId"] for i in one["items"]} == {first["id"]}
    channels = await events(client, headers, a1, subjectType="channel")
    assert types_of(channels) == ["channel.created"]


async def test_time_window_from_inclusive_to_exclusive_with_offsets(client, database, passwords):
    world = await make_world(database, passwords)
    a1 = world.clients["a1"]
    ids = await add_events(database, a1, 5)  # T0, T0+1min, … T0+4min
    headers = await bearer(client, world, "a1.approver")

    # 10:01 in UTC+2 is T0+1min; 10:03 is T0+3min.
    page = await events(
        client, headers, a1.id, **{"from": "2025-05-01T10:01:00+02:00", "to": "2025-05-01T08:03Z"}
    )

    assert [i["id"] for i in page["items"]] == [ids[2], ids[1]]
    only_from = await events(client, headers, a1.id, **{"from": "2025-05-01T08:04:00Z"})
    assert [i["id"] for i in only_from["items"]] == [ids[4]]
    only_to = await events(client, headers, a1.id, to="2025-05-01T08:01:00+00:00")
    assert [i["id"] for i in only_to["items"]] == [ids[0]]


# --- paging ------------------------------------------------------------------------------


async def test_paging_visits_every_event_exactly_once(client, database, passwords):
    world = await make_world(database, passwords)
    a1 = world.clients["a1"]
    ids = await add_events(database, a1, 23)
    await add_events(database, world.clients["a2"], 4)
    headers = await bearer(client, world, "a1.viewer")

    seen: list[int] = []
    pages = 0
    params: dict[str, Any] = {"limit": 5}
    while True:
        page = await events(client, headers, a1.id, **params)
        pages += 1
        seen.extend(item["id"] for item in page["items"])
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]

    assert seen == sorted(ids, reverse=True)
    assert pages == 5
    assert len(page["items"]) == 3


async def test_a_page_that_ends_exactly_at_the_last_event_has_no_cursor(
    client, database, passwords
):
    world = await make_world(database, passwords)
    await add_events(database, world.clients["a1"], 4)
    headers = await bearer(client, world, "a.editor")

    page = await events(client, headers, client_of(world), limit=4)

    assert len(page["items"]) == 4
    assert page["nextCursor"] is None


async def test_paging_keeps_the_filters_and_hides_internal_events_on_every_page(
    client, database, passwords
):
    world = await make_world(database, passwords)
    a1 = world.clients["a1"]
    shared = await add_events(database, a1, 6, type="comment.added", payload={"internal": False})
    await add_events(database, a1, 6, type="comment.added", payload={"internal": True})
    await add_events(database, a1, 3, type="draft.created")
    headers = await bearer(client, world, "a1.approver")

    seen: list[int] = []
    params: dict[str, Any] = {"limit": 4, "type": "comment.added"}
    while True:
        page = await events(client, headers, a1.id, **params)
        seen.extend(item["id"] for item in page["items"])
        if not page["nextCursor"]:
            break
        params["cursor"] = page["nextCursor"]

    assert seen == sorted(shared, reverse=True)


# --- CSV ---------------------------------------------------------------------------------


async def test_csv_download_has_headers_a_header_row_and_the_same_rows(client, database, passwords):
    world = await make_world(database, passwords)
    await draft_with_comments(client, world)
    headers = await bearer(client, world, "a.editor")
    a1 = world.clients["a1"]

    response, rows = await csv_rows(client, headers, a1.id)

    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="events-{a1.slug}.csv"'
    assert "x-next-cursor" not in response.headers
    assert response.text.startswith(",".join(CSV_COLUMNS) + "\r\n")
    page = await events(client, headers, a1.id)
    assert [int(r["id"]) for r in rows] == [i["id"] for i in page["items"]]
    for row, item in zip(rows, page["items"], strict=True):
        assert json.loads(row["payload"]) == item["payload"]
        assert row["type"] == item["type"]
        assert row["actorUserId"] == (item["actorUserId"] or "")
        assert row["subjectId"] == (item["subjectId"] or "")
        assert row["requestId"] == (item["requestId"] or "")
        assert datetime.fromisoformat(row["createdAt"]) == datetime.fromisoformat(item["createdAt"])


async def test_csv_applies_the_filters_and_ignores_limit(client, database, passwords):
    world = await make_world(database, passwords)
    a1 = world.clients["a1"]
    wanted = await add_events(database, a1, 7, type="draft.approved")
    await add_events(database, a1, 3, type="client.updated")
    headers = await bearer(client, world, "a1.approver")

    _, rows = await csv_rows(client, headers, a1.id, type="draft.*", limit=2)

    assert [int(r["id"]) for r in rows] == sorted(wanted, reverse=True)


async def test_csv_of_no_events_is_just_the_header_row(client, database, passwords):
    world = await make_world(database, passwords)
    headers = await bearer(client, world, "a1.approver")

    response, rows = await csv_rows(client, headers, client_of(world), type="nothing.here")

    assert rows == []
    assert response.text == ",".join(CSV_COLUMNS) + "\r\n"


async def test_csv_reads_every_batch_and_stops_at_the_cap_with_a_cursor_to_continue(
    client, database, passwords, monkeypatch
):
    monkeypatch.setattr(audit_rules, "CSV_ROW_CAP", 5)
    monkeypatch.setattr(audit_service, "EXPORT_BATCH_SIZE", 2)
    world = await make_world(database, passwords)
    a1 = world.clients["a1"]
    ids = await add_events(database, a1, 12)
    headers = await bearer(client, world, "a.editor")

    seen: list[int] = []
    params: dict[str, Any] = {}
    for _ in range(4):
        response, rows = await csv_rows(client, headers, a1.id, **params)
        seen.extend(int(r["id"]) for r in rows)
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            break
        assert len(rows) == 5
        params["cursor"] = cursor

    assert seen == sorted(ids, reverse=True)


async def test_csv_cells_that_would_run_as_formulas_are_escaped(client, database, passwords):
    world = await make_world(database, passwords)
    a1 = world.clients["a1"]
    await add_events(
        database,
        a1,
        1,
        type="=HYPERLINK(1)",
        subject_type="+cmd",
        actor_kind="@SUM(1)",
        payload={"note": "=1+1"},
    )
    owner = await sign_in(client, world.users["a.owner"].email)
    # A request id may start with "-" and lands in the client.updated event.
    renamed = await owner.patch(
        f"/api/v1/clients/{a1.id}", json={"name": "Renamed"}, headers={"x-request-id": "-2-3-4-5"}
    )
    assert renamed.status_code == 200, renamed.text
    headers = await bearer(client, world, "a.owner")

    _, rows = await csv_rows(client, headers, a1.id)

    updated, injected = rows
    assert updated["type"] == "client.updated"
    assert updated["requestId"] == "'-2-3-4-5"
    assert (injected["type"], injected["subjectType"], injected["actorKind"]) == (
        "'=HYPERLINK(1)",
        "'+cmd",
        "'@SUM(1)",
    )
    assert json.loads(injected["payload"]) == {"note": "=1+1"}
    page = await events(client, headers, a1.id)
    assert page["items"][1]["type"] == "=HYPERLINK(1)"  # JSON keeps the value as stored


async def test_json_is_the_answer_unless_csv_is_preferred(client, database, passwords):
    world = await make_world(database, passwords)
    headers = await bearer(client, world, "a.editor")
    path = f"/api/v1/clients/{client_of(world)}/events"

    for accept in ("*/*", "application/json", "application/json, text/csv;q=0.5", "text/html"):
        response = await client.get(path, headers={**headers, "accept": accept})
        assert response.headers["content-type"].startswith("application/json"), accept
    for accept in ("text/csv", "text/csv, application/json;q=0.5", "text/*"):
        response = await client.get(path, headers={**headers, "accept": accept})
        assert response.headers["content-type"].startswith("text/csv"), accept


# --- visibility --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["approver", "viewer", "client_admin", "executive"])
async def test_internal_comment_events_are_hidden_from_client_roles(
    client, database, passwords, role
):
    world = await make_world(database, passwords)
    await draft_with_comments(client, world)
    person = await bearer(client, world, f"a1.{role}")

    page = await events(client, person, client_of(world), type="comment.added")
    _, rows = await csv_rows(client, person, client_of(world))

    assert [i["payload"]["visibility"] for i in page["items"]] == ["shared"]
    assert [r["type"] for r in rows].count("comment.added") == 1
    assert all(json.loads(r["payload"]).get("internal") is not True for r in rows)


async def test_internal_comment_events_are_shown_to_agency_staff(client, database, passwords):
    world = await make_world(database, passwords)
    await draft_with_comments(client, world)
    editor = await bearer(client, world, "a.editor")

    page = await events(client, editor, client_of(world), type="comment.added")
    _, rows = await csv_rows(client, editor, client_of(world), type="comment.added")

    assert [i["payload"]["visibility"] for i in page["items"]] == ["internal", "shared"]
    assert [json.loads(r["payload"])["visibility"] for r in rows] == ["internal", "shared"]


async def test_only_this_clients_events_appear(client, database, passwords):
    world = await make_world(database, passwords)
    mine = await add_events(database, world.clients["a1"], 2)
    await add_events(database, world.clients["a2"], 2)
    await add_events(database, world.clients["b1"], 2)
    owner = await sign_in(client, world.users["a.owner"].email)
    invited = await owner.post(
        f"/api/v1/agencies/{world.agencies['a'].id}/invitations",
        json={"email": "new.editor@example.com", "role": "editor"},
    )
    assert invited.status_code == 201, invited.text  # an agency-wide event (no client)
    headers = await bearer(client, world, "a.owner")

    page = await events(client, headers, client_of(world))
    _, rows = await csv_rows(client, headers, client_of(world))

    assert [i["id"] for i in page["items"]] == sorted(mine, reverse=True)
    assert [int(r["id"]) for r in rows] == sorted(mine, reverse=True)


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("b.owner", "a1"),  # another tenant
        ("a1.approver", "a2"),  # a sibling client in the same agency
        ("a1.client_admin", "b1"),
        ("a.owner", "b1"),
    ],
)
async def test_foreign_and_sibling_clients_answer_404(client, database, passwords, key, target):
    world = await make_world(database, passwords)
    await add_events(database, world.clients[target], 2)
    headers = await bearer(client, world, key)
    path = f"/api/v1/clients/{world.clients[target].id}/events"

    for accept in ("application/json", "text/csv"):
        response = await client.get(path, headers={**headers, "accept": accept})
        assert response.status_code == 404, (accept, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_unknown_client_and_anonymous_callers(client, database, passwords):
    world = await make_world(database, passwords)
    headers = await bearer(client, world, "a.owner")

    unknown = await client.get(f"/api/v1/clients/{uuid.uuid4()}/events", headers=headers)
    assert unknown.status_code == 404
    client.cookies.clear()
    anonymous = await client.get(f"/api/v1/clients/{client_of(world)}/events")
    assert anonymous.status_code == 401


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-05-01T08:00:00"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2025-05-01"}, "to"),
        ({"from": "2025-05-02T00:00:00Z", "to": "2025-05-01T00:00:00Z"}, "to"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": audit_rules.encode_cursor(2**63)}, "cursor"),  # beyond bigint
        ({"type": "draft.%"}, "type"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"actorId": "someone"}, "actorId"),
        ({"subjectId": "42"}, "subjectId"),
    ],
)
async def test_bad_parameters_answer_422_naming_the_parameter(
    client, database, passwords, params, field
):
    world = await make_world(database, passwords)
    headers = await bearer(client, world, "a1.approver")

    for accept in ("application/json", "text/csv"):
        response = await client.get(
            f"/api/v1/clients/{client_of(world)}/events",
            headers={**headers, "accept": accept},
            params=params,
        )
        assert response.status_code == 422, (accept, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == [field]


# --- service level -----------------------------------------------------------------------


async def test_an_export_window_is_fixed_before_the_download_starts(database, passwords):
    world = await make_world(database, passwords)
    a1 = world.clients["a1"]
    before = await add_events(database, a1, 3)
    owner = await actor_of(database, world, "a.owner")
    async with transaction(database.sessions, scope_of_user(world, "a.owner", "a")) as session:
        export = await audit_service.prepare_export(session, owner, a1.id, audit_rules.EventQuery())
    await add_events(database, a1, 2)  # recorded while the download runs

    streamed = [
        e.id
        async for batch in audit_service.export_batches(database.sessions, export)
        for e in batch
    ]

    assert streamed == sorted(before, reverse=True)


@pytest.mark.parametrize("key", ["a.owner", "a1.approver"])
async def test_the_trail_query_reads_through_the_client_index(
    pg, postgres_database, passwords, key
):
    """At this size the planner may pick a bitmap scan; with 500,000 events in a client it
    is a backward index scan that stops after one page."""
    world = await make_world(pg, passwords)
    for client_key in ("a1", "a2"):
        last_ids = await add_events(pg, world.clients[client_key], 3000)
    owner_engine = create_engine(postgres_database.owner_url, pool_size=1)
    try:
        async with owner_engine.connect() as conn:
            # Compacted: each event leaves a provisional row version behind (its id is
            # final only at commit, migration 0008), which doubles this small table's
            # pages until vacuum reuses them, and at 6,000 rows the page count alone
            # decides between a scan of the table and of the index.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM FULL ANALYZE events"))
    finally:
        await owner_engine.dispose()
    actor = await actor_of(pg, world, key)
    # A cursor above both clients' events: a scan of the primary key would walk a2's too.
    before_id = last_ids[-1] + 1
    query = audit_rules.EventQuery(
        before_id=before_id, types=audit_rules.parse_type_filter(["test.*"])
    )
    statement = audit_service.trail_query(actor, world.clients["a1"], query).limit(101)
    async with transaction(pg.sessions, scope_of_user(world, key, "a")) as session:
        sql = statement.compile(session.bind, compile_kwargs={"literal_binds": True})
        plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {sql}")))

    assert "using ix_events_client_id_id" in plan or "on ix_events_client_id_id" in plan, plan
    assert "Seq Scan" not in plan, plan
