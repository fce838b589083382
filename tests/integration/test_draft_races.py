"""Two approvers deciding the same draft at the same moment, on PostgreSQL.

The app runs in-process on this test's event loop (httpx ASGI transport), so the two
requests really overlap in the database: both read version N, one wins the row lock.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import delete, func, select

from agencyhub.app import create_app
from agencyhub.approvals.models import ApprovalPolicy, Decision
from agencyhub.db import Scope, transaction
from tests.factories import PASSWORD, make_world

pytestmark = pytest.mark.postgres


async def signed_in(app, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://race")
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["x-csrf-token"] = response.json()["csrfToken"]
    return client


async def pending_drafts(owner: httpx.AsyncClient, client_id, count: int) -> list[dict]:
    channel = await owner.post(
        f"/api/v1/clients/{client_id}/channels", json={"platform": "x", "handle": "@race"}
    )
    drafts = []
    for n in range(count):
        created = await owner.post(
            f"/api/v1/clients/{client_id}/drafts",
            json={"kind": "post", "channelId": channel.json()["id"], "body": f"Beitrag {n}"},
        )
        draft = created.json()
        submitted = await owner.post(
            f"/api/v1/drafts/{draft['id']}/submit", json={"version": draft["version"]}
        )
        drafts.append(submitted.json())
    return drafts


async def test_two_approvers_same_version_exactly_one_wins(postgres_database, pg, passwords):
    world = await make_world(pg, passwords)
    app = create_app(postgres_database.settings)
    owner = await signed_in(app, world.users["a.owner"].email)
    approver = await signed_in(app, world.users["a1.approver"].email)
    executive = await signed_in(app, world.users["a1.executive"].email)
    drafts = await pending_drafts(owner, world.clients["a1"].id, 15)

    for draft in drafts:
        body = {"decision": "approve", "version": draft["version"]}
        first, second = await asyncio.gather(
            approver.post(f"/api/v1/drafts/{draft['id']}/decisions", json=body),
            executive.post(f"/api/v1/drafts/{draft['id']}/decisions", json=body),
        )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 409], (first.text, second.text)
        loser = first if first.status_code == 409 else second
        assert loser.json()["current"]["status"] == "approved"

    async with transaction(pg.sessions, Scope.for_system("tests")) as session:
        per_draft = await session.execute(
            select(Decision.draft_id, func.count()).group_by(Decision.draft_id)
        )
        assert sorted(count for _, count in per_draft) == [1] * len(drafts)
    for client in (owner, approver, executive):
        await client.aclose()
    await app.state.runtime.db.dispose()


async def test_concurrent_approve_and_reject_leave_one_decision(postgres_database, pg, passwords):
    world = await make_world(pg, passwords)
    app = create_app(postgres_database.settings)
    owner = await signed_in(app, world.users["a.owner"].email)
    approver = await signed_in(app, world.users["a1.approver"].email)
    executive = await signed_in(app, world.users["a1.executive"].email)
    drafts = await pending_drafts(owner, world.clients["a1"].id, 10)
    outcomes = set()
    for draft in drafts:
        approve = {"decision": "approve", "version": draft["version"]}
        reject = {"decision": "reject", "version": draft["version"], "comment": "Nein"}
        a, r = await asyncio.gather(
            approver.post(f"/api/v1/drafts/{draft['id']}/decisions", json=approve),
            executive.post(f"/api/v1/drafts/{draft['id']}/decisions", json=reject),
        )
        assert sorted([a.status_code, r.status_code]) == [200, 409]
        winner = a if a.status_code == 200 else r
        outcomes.add(winner.json()["status"])
        detail = (await owner.get(f"/api/v1/drafts/{draft['id']}")).json()
        assert len(detail["decisions"]) == 1
        assert detail["draft"]["status"] == winner.json()["status"]
    assert outcomes <= {"approved", "rejected"}
    for client in (owner, approver, executive):
        await client.aclose()
    await app.state.runtime.db.dispose()


async def test_two_admins_saving_the_first_policy_at_once_get_200_and_409(
    postgres_database, pg, passwords
):
    world = await make_world(pg, passwords)
    app = create_app(postgres_database.settings)
    admin = await signed_in(app, world.users["a1.client_admin"].email)
    client_id = world.clients["a1"].id
    body = {"normal": [{"approver": 1}], "high": [{"approver": 1}], "crisis": [{"executive": 1}]}
    for round_ in range(5):
        async with transaction(pg.sessions, Scope.for_system("tests")) as session:
            await session.execute(delete(ApprovalPolicy))
        first, second = await asyncio.gather(
            admin.put(f"/api/v1/clients/{client_id}/approval-policy", json=body),
            admin.put(f"/api/v1/clients/{client_id}/approval-policy", json=body),
        )
        codes = sorted([first.status_code, second.status_code])
        # Never a 500: either both saved one after the other, or the loser gets 409.
        assert codes in ([200, 200], [200, 409]), (round_, first.text, second.text)
    await admin.aclose()
    await app.state.runtime.db.dispose()
