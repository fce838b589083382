from __future__ import annotations

from tests.factories import make_world
from tests.helpers import sign_in


async def test_owner_signs_in_and_lists_clients(client, database, passwords):
    world = await make_world(database, passwords)
    caller = await sign_in(client, world.users["a.owner"].email)
    me = await caller.get("/api/v1/me")
    assert me.status_code == 200, me.text
    agency_id = world.agencies["a"].id
    response = await caller.get(f"/api/v1/agencies/{agency_id}/clients")
    assert response.status_code == 200, response.text
    assert {c["slug"] for c in response.json()["items"]} == {
        world.clients["a1"].slug,
        world.clients["a2"].slug,
    }
