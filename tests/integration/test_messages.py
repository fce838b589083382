"""Issue #14, item 12: refusals that read well and name the right thing."""

from __future__ import annotations

import pytest

from tests.approvals_helpers import decide, make_channel, make_post, submit
from tests.factories import make_world
from tests.helpers import sign_in


@pytest.fixture
async def world(database, passwords):
    return await make_world(database, passwords)


async def pending_post(client, world, **extra):
    owner = await sign_in(client, world.users["a.owner"].email)
    channel = await make_channel(owner, world.clients["a1"].id)
    return (
        owner,
        channel,
        await submit(owner, await make_post(owner, world.clients["a1"].id, channel["id"], **extra)),
    )


async def test_the_four_eyes_rule_has_its_own_problem_type(client, world):
    approver = await sign_in(client, world.users["a1.approver"].email)
    _, channel, _ = await pending_post(client, world)
    own = await submit(approver, await make_post(approver, world.clients["a1"].id, channel["id"]))

    refused = await decide(approver, own)

    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/four-eyes")
    assert refused.json()["detail"] == (
        "Four-eyes rule: you wrote this revision, someone else must decide."
    )


async def test_a_wording_on_a_single_wording_draft_says_so(client, world):
    _, _, draft = await pending_post(client, world)
    approver = await sign_in(client, world.users["a1.approver"].email)

    refused = await decide(approver, draft, wording=1)

    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "wording", "message": "this draft has one wording: send 0 or leave it out"}
    ]


async def test_an_unknown_field_is_named_itself(client, world):
    _, _, draft = await pending_post(client, world)
    approver = await sign_in(client, world.users["a1.approver"].email)

    refused = await decide(approver, draft, body="Hallo")

    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "body", "message": "is not a field of this request"}
    ]
    assert refused.json()["detail"] == "body: is not a field of this request"
