"""Every route of the app, walked from its router, with ids the caller must not reach.

On PostgreSQL with row-level security in force. A route added later is covered
without editing this file: its uuid path parameters are filled with another tenant's
(or another client's) objects by name, and a parameter name nobody taught the test
fails it, so the new kind of object gets a target here.

* Another agency's ids, as each role of agency a: every answer 404.
* A sibling client's ids (a2), as a1's people and as a.editor (assigned to a1 only):
  every answer 404 (routes that name only the agency are left out: it is theirs).

None 2xx, none 5xx, every refusal problem+json. Bodies and required query parameters
are the smallest the OpenAPI document accepts, so the refusal is the handler's and
not the schema's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from agencyhub.db import Database
from tests.approvals_helpers import make_channel, make_inbound, make_post, submit
from tests.factories import World, make_world
from tests.helpers import sign_in
from tests.integration.test_escalation_isolation import rota_objects
from tests.integration.test_notifications_api import notify
from tests.openapi_bodies import request_body, required_query

pytestmark = pytest.mark.postgres

AGENCY_ROLES = ("a.owner", "a.admin", "a.editor")
CLIENT_ROLES = ("a1.client_admin", "a1.approver", "a1.executive", "a1.viewer")

# String path parameters are credentials in themselves (an invitation link, a calendar
# feed's secret) or files (the schema's, the web app's): no tenant object is named by an
# id there.
CREDENTIAL_PARAMETERS = frozenset({"token", "feed", "path"})


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: frozenset[str]
    operation: dict[str, Any]


def every_call(app: Litestar) -> Iterator[Call]:
    """Each method of each HTTP route that names an object by uuid in its path."""
    document = app.openapi_schema.to_schema()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        params = frozenset(route.path_parameters)
        if not params or params & CREDENTIAL_PARAMETERS:
            continue
        openapi_path = route.path
        for name, definition in route.path_parameters.items():
            openapi_path = openapi_path.replace("{" + definition.full + "}", "{" + name + "}")
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            operation = document["paths"].get(openapi_path, {}).get(method.lower(), {})
            yield Call(method, route.path, params, operation)


def fill(call: Call, ids: dict[str, str]) -> str:
    unknown = call.params - ids.keys()
    assert not unknown, (
        f"{call.method} {call.path}: no target for {sorted(unknown)}; "
        "create one in targets() so the new route is covered"
    )
    path = call.path
    for name in call.params:
        path = path.replace("{" + name + ":uuid}", ids[name])
    return path


async def targets(
    db: Database,
    client: AsyncTestClient,  # type: ignore[type-arg]
    world: World,
    key: str,
) -> dict[str, str]:
    """One object of each kind a path names, in client ``key`` (and its agency)."""
    agency_key = key[0]
    target = world.clients[key]
    owner = await sign_in(client, world.users[f"{agency_key}.owner"].email)
    channel = await make_channel(owner, target.id)
    inbound = await make_inbound(owner, target.id, channel["id"])
    draft = await submit(owner, await make_post(owner, target.id, channel["id"]))
    template = await owner.post(
        f"/api/v1/clients/{target.id}/templates", json={"name": "Halt", "body": "Wir prüfen."}
    )
    client_admin = await sign_in(client, world.users[f"{key}.client_admin"].email)
    invitation = await client_admin.post(
        f"/api/v1/clients/{target.id}/invitations",
        json={"email": f"new.{key}@example.com", "role": "viewer"},
    )
    token = await owner.post("/api/v1/tokens", json={"name": "integration"})
    for response in (template, invitation, token):
        assert response.status_code == 201, response.text
    override, swap = await rota_objects(db, world, key)
    notification = await notify(db, world, f"{key}.approver", key, "Eskalation")
    return {
        "agency_id": str(target.agency_id),
        "client_id": str(target.id),
        "draft_id": draft["id"],
        "item_id": inbound["id"],
        "template_id": template.json()["id"],
        "invitation_id": invitation.json()["invitation"]["id"],
        "membership_id": str(world.memberships[f"{key}.approver"].id),
        "token_id": token.json()["details"]["id"],
        "override_id": override,
        "swap_id": swap,
        "notification_id": str(notification),
    }


async def walk(
    client: AsyncTestClient,  # type: ignore[type-arg]
    caller_email: str,
    ids: dict[str, str],
    *,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """Every call, as the caller; the answers that were not a clean 404."""
    app = client.app
    components = app.openapi_schema.to_schema().get("components", {}).get("schemas", {})
    caller = await sign_in(client, caller_email)
    wrong = []
    calls = [c for c in every_call(app) if not c.params <= skip]
    assert len(calls) > 40  # the walk found the app's routes
    for call in calls:
        body = request_body(call.operation, components)
        kwargs: dict[str, Any] = {"params": required_query(call.operation, components)}
        if body is not None:
            kwargs["json"] = body
        response = await caller.request(call.method, fill(call, ids), **kwargs)
        problem = response.headers.get("content-type", "").startswith("application/problem+json")
        if response.status_code != 404 or not problem:
            wrong.append(f"{call.method} {call.path}: {response.status_code} {response.text[:200]}")
    return wrong


@pytest.mark.parametrize("role", [*AGENCY_ROLES, *CLIENT_ROLES])
async def test_another_agencys_ids_answer_404_on_every_route(pg, pg_client, passwords, role):
    world = await make_world(pg, passwords)
    foreign = await targets(pg, pg_client, world, "b1")
    assert await walk(pg_client, world.users[role].email, foreign) == []


@pytest.mark.parametrize("role", [*CLIENT_ROLES, "a.editor"])
async def test_a_sibling_clients_ids_answer_404_on_every_route(pg, pg_client, passwords, role):
    world = await make_world(pg, passwords)
    sibling = await targets(pg, pg_client, world, "a2")
    wrong = await walk(pg_client, world.users[role].email, sibling, skip=frozenset({"agency_id"}))
    assert wrong == []
