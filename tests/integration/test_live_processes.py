"""The live feed across two `agencyhub serve` processes on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from agencyhub.db import Database
from agencyhub.live import rules
from agencyhub.tenancy.secrets import Passwords
from tests.conftest import TestDatabase
from tests.factories import PASSWORD, World, make_world
from tests.live_helpers import Login, Server, api, login, servers, subscribe

pytestmark = pytest.mark.postgres


async def _setup(server: Server, world: World) -> tuple[Login, dict[str, Any]]:
    """A channel and a post draft of client a1, made through ``server``."""
    owner = await login(server, world.users["a.owner"].email)
    editor = await login(server, world.users["a.editor"].email)
    client_id = world.clients["a1"].id
    channel = await api(
        server,
        owner,
        "POST",
        f"/api/v1/clients/{client_id}/channels",
        json={"platform": "instagram", "handle": "@shop"},
    )
    draft = await api(
        server,
        editor,
        "POST",
        f"/api/v1/clients/{client_id}/drafts",
        json={"kind": "post", "channelId": channel["id"], "body": "Frische Brötchen"},
    )
    # Submitted, so the client's people see it (and its shared comments' events).
    draft = await api(
        server,
        editor,
        "POST",
        f"/api/v1/drafts/{draft['id']}/submit",
        json={"version": draft["version"]},
    )
    return editor, draft


async def _comment(server: Server, who: Login, draft: dict[str, Any], n: int, vis: str) -> None:
    await api(
        server,
        who,
        "POST",
        f"/api/v1/drafts/{draft['id']}/comments",
        json={"body": f"comment {n}", "visibility": vis},
    )


async def test_events_caused_on_one_process_reach_subscribers_on_the_other_in_order(
    postgres_database: TestDatabase, pg: Database, passwords: Passwords, tmp_path: Path
) -> None:
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path) as (a, b):
        # Given subscribers on process A: agency staff, the client's approver, a user of
        # agency B and an approver of another client of the same agency
        staff = await subscribe(a, await login(a, world.users["a.owner"].email))
        approver_login = await login(a, world.users["a1.approver"].email)
        approver = await subscribe(a, approver_login)
        foreign_agency = await subscribe(a, await login(a, world.users["b.owner"].email))
        other_client = await subscribe(a, await login(a, world.users["a2.approver"].email))

        # When the agency works on client a1 through process B
        editor, draft = await _setup(b, world)
        for n in range(5):
            await _comment(b, editor, draft, n, "internal" if n == 2 else "shared")

        # Then staff receive every event in id order, the internal comment included
        seen = await staff.events(9)
        ids = [m["id"] for m in seen]
        assert ids == sorted(ids)
        assert len(set(ids)) == 9
        assert [m["event"] for m in seen] == [
            "channel.created",
            "draft.created",
            "revision.created",
            "draft.submitted",
        ] + ["comment.added"] * 5
        assert [m.get("visibility") for m in seen[4:]] == ["shared"] * 2 + ["internal"] + [
            "shared"
        ] * 2
        # And the client's approver receives the same minus the internal comment and
        # what happened before the draft was submitted
        shared = await approver.events(6)
        unseen = {"draft.created", "revision.created"}
        expected = [
            m["id"] for m in seen if m.get("visibility") != "internal" and m["event"] not in unseen
        ]
        assert [m["id"] for m in shared] == expected
        assert all(m["clientId"] == str(world.clients["a1"].id) for m in shared)
        # And nobody else receives anything
        assert await foreign_agency.quiet(1.0) == []
        assert await other_client.quiet(0.2) == []
        assert await approver.quiet(0.2) == []

        # When the approver misses three events (one of them internal) and reconnects
        await approver.close()
        last = shared[-1]["id"]
        await _comment(b, editor, draft, 10, "shared")
        await _comment(b, editor, draft, 11, "internal")
        await _comment(b, editor, draft, 12, "shared")
        staff_missed = await staff.events(3)
        back = await subscribe(a, approver_login, last_event_id=last)
        # Then exactly the shared missed ones are replayed, in order, then live continues
        replayed = await back.events(2)
        assert [m["id"] for m in replayed] == [staff_missed[0]["id"], staff_missed[2]["id"]]
        assert back.ready["lastEventId"] == staff_missed[2]["id"]
        await _comment(b, editor, draft, 13, "shared")
        live = await back.events(1)
        assert live[0]["id"] > staff_missed[2]["id"]
        assert await back.quiet(0.5) == []
        for sub in (staff, back, foreign_agency, other_client):
            await sub.close()


async def test_removed_membership_stops_delivery_and_foreign_origin_is_refused(
    postgres_database: TestDatabase, pg: Database, passwords: Passwords, tmp_path: Path
) -> None:
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path) as (a, b):
        viewer_login = await login(a, world.users["a1.viewer"].email)
        # A cookie-authenticated socket from another site is refused before accept
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(
                a.ws_url,
                additional_headers={
                    "cookie": viewer_login.cookie,
                    "origin": "https://evil.example",
                },
            )
        viewer = await subscribe(a, viewer_login)
        client_admin = await login(b, world.users["a1.client_admin"].email)
        # When the client's admin removes the viewer's membership through process B
        membership = world.memberships["a1.viewer"].id
        async with httpx.AsyncClient(base_url=b.base_url) as http:
            response = await http.delete(
                f"/api/v1/memberships/{membership}", headers=client_admin.headers()
            )
        assert response.status_code == 204, response.text
        # Then the viewer's connection closes with "no membership left"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await viewer.quiet(5.0)
            await viewer.socket.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403
        # And a new socket of the removed person is closed the same way, without events
        again = await websockets.connect(
            a.ws_url, additional_headers={"cookie": viewer_login.cookie, "origin": a.base_url}
        )
        with pytest.raises(websockets.ConnectionClosed) as closed_again:
            await asyncio.wait_for(again.recv(), 5)
        assert closed_again.value.rcvd is not None
        assert closed_again.value.rcvd.code == 4403


async def test_server_sent_events_resume_from_last_event_id(
    postgres_database: TestDatabase, pg: Database, passwords: Passwords, tmp_path: Path
) -> None:
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path, count=1) as (a,):
        approver = await login(a, world.users["a1.approver"].email)
        editor, draft = await _setup(a, world)
        await _comment(a, editor, draft, 1, "shared")
        await _comment(a, editor, draft, 2, "internal")
        await _comment(a, editor, draft, 3, "shared")
        async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as http:
            # Bad input and no sign-in answer problem+json, not a stream
            bad = await http.get(
                "/api/v1/live/sse", headers={"cookie": approver.cookie, "last-event-id": "x"}
            )
            assert bad.status_code == 422
            assert bad.headers["content-type"].startswith("application/problem+json")
            assert (await http.get("/api/v1/live/sse")).status_code == 401
            # Resuming from 0: ready, then the 4 events the approver may see, in order
            # (the channel, the submission and two shared comments)
            headers = {"cookie": approver.cookie, "last-event-id": "0"}
            async with http.stream("GET", "/api/v1/live/sse", headers=headers) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                frames = await _sse_frames(stream, 5)
        assert frames[0]["event"] == "ready"
        events = frames[1:]
        assert [f["event"] for f in events] == ["event"] * 4
        ids = [int(f["id"]) for f in events]
        assert ids == sorted(ids)
        assert all('"internal"' not in f["data"] for f in events)


async def _sse_frames(stream: httpx.Response, count: int) -> list[dict[str, str]]:
    """The first ``count`` SSE frames (comments such as pings skipped)."""
    frames: list[dict[str, str]] = []
    current: dict[str, str] = {}

    async def read() -> None:
        async for line in stream.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                field, _, value = line.partition(":")
                current[field] = value.strip()
                continue
            if current:
                frames.append(dict(current))
                current.clear()
            if len(frames) >= count:
                return

    await asyncio.wait_for(read(), 10)
    return frames


async def test_a_new_grant_reaches_an_open_socket_at_once_on_the_persons_own_channel(
    postgres_database: TestDatabase, pg: Database, passwords: Passwords, tmp_path: Path
) -> None:
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path) as (a, b):
        # Given agency b's approver is connected to process A (subscribed to agency b)
        person = world.users["b1.approver"]
        person_login = await login(a, person.email)
        socket = await subscribe(a, person_login)
        # When client a1's admin invites them through process B, and they accept
        client_admin = await login(b, world.users["a1.client_admin"].email)
        invited = await api(
            b,
            client_admin,
            "POST",
            f"/api/v1/clients/{world.clients['a1'].id}/invitations",
            json={"email": person.email, "role": "viewer"},
        )
        token = invited["acceptUrl"].rsplit("/", 1)[-1]
        async with httpx.AsyncClient(base_url=b.base_url) as http:
            accepted = await http.post(
                f"/api/v1/invitation-links/{token}/accept", json={"password": PASSWORD}
            )
        assert accepted.status_code == 200, accepted.text
        # Then their open socket hears of it at once, not at the minute's re-check: it
        # closes so that the client reconnects with the new agency's channel joined
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.quiet(2.0)
            await asyncio.wait_for(socket.socket.recv(), 0.5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == rules.CLOSE_RESTARTING


async def test_an_assignment_widens_an_editors_open_socket_at_once(
    postgres_database: TestDatabase, pg: Database, passwords: Passwords, tmp_path: Path
) -> None:
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path) as (a, b):
        editor = await subscribe(a, await login(a, world.users["a.editor"].email))
        owner = await login(b, world.users["a.owner"].email)
        a2 = world.clients["a2"].id
        channel = await api(
            b,
            owner,
            "POST",
            f"/api/v1/clients/{a2}/channels",
            json={"platform": "instagram", "handle": "@zwei"},
        )
        assert await editor.quiet(0.5) == []  # a2 is not theirs yet
        membership = world.memberships["a.editor"].id
        await api(b, owner, "PUT", f"/api/v1/clients/{a2}/assignments/{membership}")
        (assigned,) = await editor.events(1, within=2.0)
        assert assigned["event"] == "assignment.created"
        await api(
            b,
            owner,
            "POST",
            f"/api/v1/clients/{a2}/drafts",
            json={"kind": "post", "channelId": channel["id"], "body": "Neu"},
        )
        (created,) = await editor.events(1, within=2.0)
        assert created["event"] == "draft.created"
        await editor.close()
