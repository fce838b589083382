"""The client keeps authority over its people (issue #13, item 3), through the API.

Before the fix the agency owner invited ``puppet-exec@…`` as an executive of a client,
opened the link the answer carried, and approved the agency's own crisis draft.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from agencyhub.audit.models import Event
from agencyhub.db import Scope, transaction
from agencyhub.tenancy.models import Membership
from tests.approvals_helpers import decide, make_channel, make_post, submit
from tests.conftest import TEST_OUTBOX
from tests.factories import make_world, set_verified_domains
from tests.helpers import outbox_link, sign_in


async def new_client(owner: Any, agency_id: Any, slug: str = "neu") -> dict[str, Any]:
    response = await owner.post(
        f"/api/v1/agencies/{agency_id}/clients", json={"slug": slug, "name": "Neu GmbH"}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def invite_logged(caller: Any, client_id: Any, email: str, role: str) -> tuple[Any, str]:
    """Invite; the link as the invited person's mailbox (the outbox) has it."""
    response = await caller.post(
        f"/api/v1/clients/{client_id}/invitations", json={"email": email, "role": role}
    )
    if response.status_code != 201:
        return response, ""
    return response, outbox_link(TEST_OUTBOX, email.lower()).rsplit("/", 1)[1]


async def accept(client: Any, token: str, password: str = "a long new password") -> None:
    client.cookies.clear()
    response = await client.post(
        f"/api/v1/invitation-links/{token}/accept", json={"password": password}
    )
    assert response.status_code == 200, response.text


async def test_the_agency_cannot_invite_a_puppet_into_a_client_with_an_admin(
    client, database, passwords
):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    client_id = world.clients["a1"].id
    await set_verified_domains(database, client_id, ["kunde.example"])
    for email, role in (
        ("puppet-exec@agentur.example", "executive"),
        ("puppet-admin@kunde.example", "client_admin"),
        ("puppet-approver@kunde.example", "approver"),
    ):
        response = await owner.post(
            f"/api/v1/clients/{client_id}/invitations", json={"email": email, "role": role}
        )
        assert response.status_code == 403, response.text
        assert "client's admins" in response.json()["detail"]
    executive = world.memberships["a1.executive"]
    changed = await owner.patch(f"/api/v1/memberships/{executive.id}", json={"role": "viewer"})
    removed = await owner.delete(f"/api/v1/memberships/{executive.id}")
    assert changed.status_code == removed.status_code == 403
    domains = await owner.put(
        f"/api/v1/clients/{client_id}/verified-domains", json={"domains": ["agentur.example"]}
    )
    assert domains.status_code == 403


async def test_the_agency_invites_only_a_first_admin_on_a_verified_domain(
    client, database, passwords
):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    fresh = await new_client(owner, world.agencies["a"].id)
    path = f"/api/v1/clients/{fresh['id']}/invitations"

    no_domains = await owner.post(path, json={"email": "it@kunde.example", "role": "client_admin"})
    assert no_domains.status_code == 422
    assert no_domains.json()["errors"][0]["field"] == "email"
    await set_verified_domains(database, fresh["id"], ["kunde.example"])
    elsewhere = await owner.post(
        path, json={"email": "puppet@agentur.example", "role": "client_admin"}
    )
    assert elsewhere.status_code == 422
    assert "kunde.example" in elsewhere.json()["errors"][0]["message"]
    approver = await owner.post(path, json={"email": "anna@kunde.example", "role": "approver"})
    assert approver.status_code == 403

    invited, token = await invite_logged(owner, fresh["id"], "IT@Kunde.example", "client_admin")
    assert invited.status_code == 201, invited.text
    assert invited.json()["acceptUrl"] is None  # only the mailbox gets the link
    assert invited.json()["invitation"]["forAgency"] is True
    await accept(client, token)

    people = (await owner.get(f"/api/v1/clients/{fresh['id']}/memberships")).json()["items"]
    assert [(p["email"], p["invitedByAgency"], p["confirmed"]) for p in people] == [
        ("it@kunde.example", True, False)
    ]
    again = await owner.post(path, json={"email": "zweite@kunde.example", "role": "client_admin"})
    assert again.status_code == 403  # the client has its admin now


async def test_an_agency_made_membership_decides_only_once_another_admin_confirms(
    client, database, passwords
):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    fresh = await new_client(owner, world.agencies["a"].id)
    await set_verified_domains(database, fresh["id"], ["kunde.example"])
    _, token = await invite_logged(owner, fresh["id"], "it@kunde.example", "client_admin")
    await accept(client, token, "first admin password")
    first = await sign_in(client, "it@kunde.example", "first admin password")
    me = (await first.get(f"/api/v1/clients/{fresh['id']}/memberships")).json()["items"][0]

    assert (await first.post(f"/api/v1/memberships/{me['id']}/confirm")).status_code == 403
    # She invites a colleague as admin (her own invitation: the link comes back to her).
    colleague = await first.post(
        f"/api/v1/clients/{fresh['id']}/invitations",
        json={"email": "chef@kunde.example", "role": "client_admin"},
    )
    assert colleague.status_code == 201, colleague.text
    await accept(client, colleague.json()["acceptUrl"].rsplit("/", 1)[1], "second admin pass")

    # Then makes herself the executive: still the agency's membership, so no decisions.
    first = await sign_in(client, "it@kunde.example", "first admin password")
    assert (
        await first.patch(f"/api/v1/memberships/{me['id']}", json={"role": "executive"})
    ).status_code == 200
    channel = await make_channel(owner, fresh["id"])
    draft = await submit(owner, await make_post(owner, fresh["id"], channel["id"]))
    refused = await decide(first, draft)
    assert refused.status_code == 403
    assert "confirm" in refused.json()["detail"]
    assert (await owner.post(f"/api/v1/memberships/{me['id']}/confirm")).status_code == 403

    second = await sign_in(client, "chef@kunde.example", "second admin pass")
    confirmed = await second.post(f"/api/v1/memberships/{me['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["confirmed"] is True
    again = await second.post(f"/api/v1/memberships/{me['id']}/confirm")
    assert again.status_code == 409

    first = await sign_in(client, "it@kunde.example", "first admin password")
    assert (await decide(first, draft)).status_code == 200
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        row = await session.scalar(select(Membership).where(Membership.id == me["id"]))
        assert row.confirmed_by_id is not None
        [event] = await session.scalars(select(Event).where(Event.type == "membership.confirmed"))
    assert (event.subject_id, event.actor_user_id) == (row.id, row.confirmed_by_id)
    assert event.payload == {"userId": str(row.user_id), "role": row.role}


async def test_the_clients_admins_set_its_verified_domains(client, database, passwords):
    world = await make_world(database, passwords)
    client_admin = await sign_in(client, world.users["a1.client_admin"].email)
    path = f"/api/v1/clients/{world.clients['a1'].id}/verified-domains"
    bad = await client_admin.put(path, json={"domains": ["kunde.example", "not a domain"]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "domains[1]"
    assert (await client_admin.get(f"/api/v1/clients/{world.clients['a1'].id}")).json()[
        "verifiedDomains"
    ] == []  # nothing half-written
    good = await client_admin.put(
        path, json={"domains": ["Kunde.Example", "bäckerei.example", "kunde.example"]}
    )
    assert good.status_code == 200, good.text
    assert good.json()["verifiedDomains"] == ["kunde.example", "xn--bckerei-5wa.example"]
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        [event] = await session.scalars(select(Event).where(Event.type == "client.domains_changed"))
    assert event.payload == {
        "domains": ["kunde.example", "xn--bckerei-5wa.example"],
        "previous": [],
    }
    assert event.actor_user_id == world.user_id("a1.client_admin")
    for role in ("a1.approver", "a.admin"):
        caller = await sign_in(client, world.users[role].email)
        assert (await caller.put(path, json={"domains": []})).status_code == 403
