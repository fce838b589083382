"""Presence lite over HTTP: marks, listing, tenant isolation and bad input."""

from __future__ import annotations

import uuid

import pytest

from agencyhub.db import Database
from agencyhub.tenancy.secrets import Passwords
from tests.approvals_helpers import make_channel, make_post, submit
from tests.factories import make_world
from tests.helpers import sign_in

pytestmark = pytest.mark.postgres


async def test_presence_marks_are_listed_and_tenant_isolated(
    pg_client, pg: Database, passwords: Passwords
) -> None:
    world = await make_world(pg, passwords)
    a1, a2, b1 = (world.clients[k].id for k in ("a1", "a2", "b1"))
    owner = await sign_in(pg_client, world.users["a.owner"].email)
    channel = await make_channel(owner, a1)
    draft = await submit(owner, await make_post(owner, a1, channel["id"]))

    # Given the client's approver marks that they are looking at the draft
    approver = await sign_in(pg_client, world.users["a1.approver"].email)
    marked = await approver.post(f"/api/v1/clients/{a1}/drafts/{draft['id']}/presence")
    assert marked.status_code == 200, marked.text
    assert marked.json()["draftId"] == draft["id"]

    # Then everyone who sees the client finds the mark, filtered by draft if asked
    staff = await sign_in(pg_client, world.users["a.editor"].email)
    listed = await staff.get(f"/api/v1/clients/{a1}/presence", params={"draftId": draft["id"]})
    assert listed.status_code == 200
    assert [m["userId"] for m in listed.json()["items"]] == [str(world.user_id("a1.approver"))]
    # a.editor is assigned to a1 only: a2 is another client to them.
    assert (await staff.get(f"/api/v1/clients/{a2}/presence")).status_code == 404
    owner = await sign_in(pg_client, world.users["a.owner"].email)
    assert (await owner.get(f"/api/v1/clients/{a2}/presence")).json()["items"] == []

    # And another tenant, or another client's person, gets 404 for both endpoints
    for key in ("b.owner", "a2.approver"):
        outsider = await sign_in(pg_client, world.users[key].email)
        assert (await outsider.get(f"/api/v1/clients/{a1}/presence")).status_code == 404
        mark = await outsider.post(f"/api/v1/clients/{a1}/drafts/{draft['id']}/presence")
        assert mark.status_code == 404
    # A draft under the wrong client's path is not found either
    foreign_owner = await sign_in(pg_client, world.users["b.owner"].email)
    response = await foreign_owner.post(f"/api/v1/clients/{b1}/drafts/{draft['id']}/presence")
    assert response.status_code == 404
    staff = await sign_in(pg_client, world.users["a.owner"].email)
    response = await staff.post(f"/api/v1/clients/{a2}/drafts/{draft['id']}/presence")
    assert response.status_code == 404
    unknown = await staff.post(f"/api/v1/clients/{a1}/drafts/{uuid.uuid4()}/presence")
    assert unknown.status_code == 404


async def test_presence_rejects_bad_input_and_anonymous_callers(
    pg_client, pg: Database, passwords: Passwords
) -> None:
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    assert (await pg_client.get(f"/api/v1/clients/{a1}/presence")).status_code == 401
    owner = await sign_in(pg_client, world.users["a.owner"].email)
    bad = await owner.get(f"/api/v1/clients/{a1}/presence", params={"draftId": "nope"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    no_csrf = await owner.client.post(
        f"/api/v1/clients/{a1}/drafts/{uuid.uuid4()}/presence", headers={"x-csrf-token": "x"}
    )
    assert no_csrf.status_code == 403
