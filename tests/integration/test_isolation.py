"""Tenant isolation matrix on PostgreSQL: every endpoint × every role.

* Another agency's ids → 404 for everyone (ids cannot be probed).
* Another client's ids inside the same agency → 404 for that client's people.
* Own tenant, role not allowed → 403; allowed → 2xx.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from agencyhub.db import Scope, transaction, utcnow
from agencyhub.tenancy.models import Invitation
from agencyhub.tenancy.secrets import new_token, token_digest
from tests.factories import World, make_world
from tests.helpers import sign_in

pytestmark = pytest.mark.postgres

ROLES = ("owner", "admin", "editor", "client_admin", "approver", "executive", "viewer")
MANAGERS = {"owner", "admin"}
AGENCY_STAFF = {"owner", "admin", "editor"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # placeholders: {agency} {client} {membership} {invitation}
    allowed: frozenset[str]  # roles (of agency "a" / client "a1") that get 2xx
    body: dict[str, Any] | None = None


ENDPOINTS = (
    Endpoint("GET", "/api/v1/agencies/{agency}", frozenset(AGENCY_STAFF)),
    Endpoint("GET", "/api/v1/agencies/{agency}/clients", frozenset(ROLES)),
    Endpoint(
        "POST",
        "/api/v1/agencies/{agency}/clients",
        frozenset(MANAGERS),
        {"slug": "neu", "name": "Neu GmbH"},
    ),
    Endpoint("GET", "/api/v1/agencies/{agency}/memberships", frozenset(AGENCY_STAFF)),
    Endpoint("GET", "/api/v1/agencies/{agency}/invitations", frozenset(MANAGERS)),
    Endpoint(
        "POST",
        "/api/v1/agencies/{agency}/invitations",
        frozenset(MANAGERS),
        {"email": "new.editor@example.com", "role": "editor"},
    ),
    Endpoint("GET", "/api/v1/clients/{client}", frozenset(ROLES)),
    Endpoint("PATCH", "/api/v1/clients/{client}", frozenset(MANAGERS), {"name": "Renamed"}),
    Endpoint("POST", "/api/v1/clients/{client}/archive", frozenset(MANAGERS)),
    Endpoint("POST", "/api/v1/clients/{client}/restore", frozenset(MANAGERS)),
    Endpoint("GET", "/api/v1/clients/{client}/memberships", frozenset(ROLES)),
    Endpoint("GET", "/api/v1/clients/{client}/invitations", frozenset(MANAGERS | {"client_admin"})),
    # Once a client has an admin, only its admins manage its people (issue #13, item 3).
    Endpoint(
        "POST",
        "/api/v1/clients/{client}/invitations",
        frozenset({"client_admin"}),
        {"email": "new.viewer@example.com", "role": "viewer"},
    ),
    Endpoint(
        "PUT",
        "/api/v1/clients/{client}/verified-domains",
        frozenset({"client_admin"}),
        {"domains": ["example.com"]},
    ),
    Endpoint("POST", "/api/v1/invitations/{invitation}/revoke", frozenset({"client_admin"})),
    Endpoint(
        "PATCH",
        "/api/v1/memberships/{membership}",
        frozenset({"client_admin"}),
        {"role": "approver"},
    ),
    Endpoint("DELETE", "/api/v1/memberships/{membership}", frozenset({"client_admin"})),
)


def person_key(role: str, agency_key: str) -> str:
    if role in AGENCY_STAFF:
        return f"{agency_key}.{role}"
    return f"{agency_key}1.{role}"


async def pending_invitation(db: Any, world: World, client_key: str) -> str:
    client = world.clients[client_key]
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        invitation = Invitation(
            agency_id=client.agency_id,
            client_id=client.id,
            email=f"invited-{client_key}@example.com",
            role="viewer",
            token_hash=token_digest(new_token("ahi_")),
            expires_at=utcnow() + timedelta(days=1),
        )
        session.add(invitation)
    return str(invitation.id)


async def targets(db: Any, world: World, agency_key: str, client_key: str) -> dict[str, str]:
    """Ids of agency/client objects to aim at; the membership is a viewer's."""
    return {
        "agency": str(world.agencies[agency_key].id),
        "client": str(world.clients[client_key].id),
        "membership": str(world.memberships[f"{client_key}.viewer"].id),
        "invitation": await pending_invitation(db, world, client_key),
    }


async def call(caller: Any, endpoint: Endpoint, ids: dict[str, str]) -> Any:
    path = endpoint.path.format(**ids)
    kwargs = {"json": endpoint.body} if endpoint.body is not None else {}
    return await caller.request(endpoint.method, path, **kwargs)


@pytest.mark.parametrize("role", ROLES)
async def test_another_agencys_objects_are_not_found(pg_client, pg, passwords, role):
    world = await make_world(pg, passwords)
    caller = await sign_in(pg_client, world.users[person_key(role, "a")].email)
    foreign = await targets(pg, world, "b", "b1")
    for endpoint in ENDPOINTS:
        response = await call(caller, endpoint, foreign)
        assert response.status_code == 404, (role, endpoint.method, endpoint.path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", sorted(set(ROLES) - AGENCY_STAFF))
async def test_another_clients_objects_in_the_same_agency_are_not_found(
    pg_client, pg, passwords, role
):
    world = await make_world(pg, passwords)
    caller = await sign_in(pg_client, world.users[f"a1.{role}"].email)
    sibling = await targets(pg, world, "a", "a2")
    for endpoint in ENDPOINTS:
        if (
            "{client}" not in endpoint.path
            and "{membership}" not in endpoint.path
            and ("{invitation}" not in endpoint.path)
        ):
            continue
        response = await call(caller, endpoint, sibling)
        assert response.status_code == 404, (role, endpoint.method, endpoint.path, response.text)


@pytest.mark.parametrize("role", ROLES)
async def test_own_tenant_answers_by_role(pg_client, pg, passwords, role):
    world = await make_world(pg, passwords)
    caller = await sign_in(pg_client, world.users[person_key(role, "a")].email)
    own = await targets(pg, world, "a", "a1")
    for endpoint in ENDPOINTS:
        response = await call(caller, endpoint, own)
        expected_ok = role in endpoint.allowed
        if expected_ok:
            assert 200 <= response.status_code < 300, (role, endpoint.path, response.text)
        else:
            assert response.status_code in (403, 404), (role, endpoint.path, response.text)
            # Visible but not permitted is 403; only what the role cannot see is 404.
            if (
                endpoint.method == "GET"
                or "{agency}" in endpoint.path
                or "{client}" in endpoint.path
            ):
                assert response.status_code == 403, (role, endpoint.path, response.text)


async def test_client_people_list_only_their_own_client(pg_client, pg, passwords):
    world = await make_world(pg, passwords)
    caller = await sign_in(pg_client, world.users["a1.approver"].email)
    agency = world.agencies["a"].id
    listed = (await caller.get(f"/api/v1/agencies/{agency}/clients")).json()["items"]
    assert [c["id"] for c in listed] == [str(world.clients["a1"].id)]
