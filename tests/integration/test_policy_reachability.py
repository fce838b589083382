"""Issue #14, item 7: an approval policy the client's people cannot meet is refused,
and a change of people that would make it impossible is refused with a warning unless
repeated on purpose (``force=true``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agencyhub.approvals.models import ApprovalPolicy
from agencyhub.audit.models import Event
from agencyhub.db import Scope, transaction
from tests.factories import grant, make_user, make_world
from tests.helpers import sign_in


@pytest.fixture
async def world(database, passwords):
    world = await make_world(database, passwords)
    second = await make_user(database, passwords, "a1.approver2@example.com")
    world.users["a1.approver2"] = second
    world.memberships["a1.approver2"] = await grant(
        database, second, world.agencies["a"], "approver", world.clients["a1"]
    )
    # An agency owner invited as a client approver still acts as agency staff: she
    # never counts towards a policy.
    await grant(
        database, world.users["a.owner"], world.agencies["a"], "approver", world.clients["a1"]
    )
    return world


def policy(normal: list[dict]) -> dict:
    return {"normal": normal, "high": [{"approver": 1}], "crisis": [{"executive": 1}]}


async def stored_policy(database, world):
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        return await session.scalar(
            select(ApprovalPolicy).where(ApprovalPolicy.client_id == world.clients["a1"].id)
        )


async def test_a_policy_nobody_can_meet_is_refused_with_the_headcount(client, world, database):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    url = f"/api/v1/clients/{world.clients['a1'].id}/approval-policy"

    refused = await admin.put(url, json=policy([{"approver": 5}]))
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {
            "field": "normal",
            "message": "needs 5 approvers, but the client has 2 approvers who can decide",
        }
    ]
    either = await admin.put(url, json=policy([{"approver": 3}, {"executive": 2}]))
    assert either.status_code == 422, either.text
    assert either.json()["errors"][0]["message"] == (
        "none of its ways to approve can be met: the client has 2 approvers and 1 executive"
        " who can decide"
    )
    assert await stored_policy(database, world) is None

    assert (await admin.put(url, json=policy([{"approver": 2}]))).status_code == 200


async def test_removing_someone_a_policy_needs_warns_and_force_goes_ahead(client, world, database):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    url = f"/api/v1/clients/{world.clients['a1'].id}/approval-policy"
    assert (await admin.put(url, json=policy([{"approver": 2}]))).status_code == 200
    membership = f"/api/v1/memberships/{world.memberships['a1.approver2'].id}"

    warned = await admin.delete(membership)
    assert warned.status_code == 409, warned.text
    problem = warned.json()
    assert problem["type"].endswith("/policy-impossible")
    assert problem["detail"] == (
        "Removing this person leaves the approval policy impossible for normal items: normal"
        " needs 2 approvers, but the client has 1 approver who can decide. Change the approval"
        " policy first, or repeat the change with force=true."
    )
    demoted = await admin.patch(membership, json={"role": "viewer"})
    assert demoted.status_code == 409
    assert demoted.json()["detail"].startswith("This role change leaves the approval policy")
    # Saving the role someone already has changes nothing, so it needs no warning.
    assert (await admin.patch(membership, json={"role": "approver"})).status_code == 200

    assert (await admin.delete(f"{membership}?force=true")).status_code == 204
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        removed = await session.scalar(select(Event).where(Event.type == "membership.removed"))
    assert removed is not None


async def test_a_change_that_keeps_the_policy_possible_needs_no_force(client, world):
    admin = await sign_in(client, world.users["a1.client_admin"].email)
    url = f"/api/v1/clients/{world.clients['a1'].id}/approval-policy"
    assert (await admin.put(url, json=policy([{"approver": 1}]))).status_code == 200
    membership = f"/api/v1/memberships/{world.memberships['a1.approver2'].id}"
    assert (await admin.delete(membership)).status_code == 204
