"""Bad input gets a precise problem+json answer, loses nothing, and leaks no internals."""

from __future__ import annotations

import dataclasses
import uuid

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from agencyhub.app import create_app
from agencyhub.audit.models import Event
from agencyhub.db import Scope, transaction
from agencyhub.tenancy.models import Client
from tests.factories import make_world
from tests.helpers import sign_in

PROBLEM = "application/problem+json"


async def count(database, model) -> int:
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def owner_of_a(client, database, passwords):
    world = await make_world(database, passwords)
    caller = await sign_in(client, world.users["a.owner"].email)
    return world, caller, f"/api/v1/agencies/{world.agencies['a'].id}/clients"


async def test_malformed_json_is_400(client, database, passwords):
    _, caller, path = await owner_of_a(client, database, passwords)
    before = await count(database, Client)
    response = await caller.post(
        path, content=b'{"slug": "x",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "not valid JSON" in response.json()["detail"]
    assert await count(database, Client) == before


async def test_validation_error_is_422_naming_the_field(client, database, passwords):
    _, caller, path = await owner_of_a(client, database, passwords)
    response = await caller.post(path, json={"slug": "Not A Slug!", "name": "X"})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "slug"
    assert body["type"].endswith("/validation")


async def test_unknown_fields_are_refused(client, database, passwords):
    _, caller, path = await owner_of_a(client, database, passwords)
    response = await caller.post(path, json={"slug": "ok", "name": "X", "plan": "free"})
    assert response.status_code == 422
    assert "plan" in response.json()["detail"]


async def test_rule_violations_are_422_and_write_nothing(client, database, passwords):
    _, caller, path = await owner_of_a(client, database, passwords)
    clients_before, events_before = await count(database, Client), await count(database, Event)
    bad_zone = await caller.post(path, json={"slug": "ok", "name": "X", "timezone": "Mars/Base"})
    bad_locale = await caller.post(path, json={"slug": "ok", "name": "X", "locale": "fr"})
    blank = await caller.post(path, json={"slug": "ok", "name": "   "})
    assert [r.status_code for r in (bad_zone, bad_locale, blank)] == [422, 422, 422]
    assert [r.json()["errors"][0]["field"] for r in (bad_zone, bad_locale, blank)] == [
        "timezone",
        "locale",
        "name",
    ]
    assert await count(database, Client) == clients_before
    assert await count(database, Event) == events_before


async def test_duplicate_slug_is_409(client, database, passwords):
    world, caller, path = await owner_of_a(client, database, passwords)
    response = await caller.post(path, json={"slug": world.clients["a1"].slug, "name": "Twin"})
    assert response.status_code == 409


async def test_unknown_and_malformed_ids_are_404(client, database, passwords):
    _, caller, _ = await owner_of_a(client, database, passwords)
    assert (await caller.get(f"/api/v1/clients/{uuid.uuid4()}")).status_code == 404
    malformed = await caller.get("/api/v1/clients/not-a-uuid")
    assert malformed.status_code == 404
    assert malformed.headers["content-type"].startswith(PROBLEM)


async def test_body_over_one_mebibyte_is_413(client, database, passwords):
    _, caller, path = await owner_of_a(client, database, passwords)
    huge = b'{"slug": "x", "name": "' + b"a" * (1024 * 1024) + b'"}'
    response = await caller.post(path, content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_every_answer_carries_a_request_id(client):
    response = await client.get("/healthz", headers={"x-request-id": "trace-12345678"})
    assert response.headers["x-request-id"] == "trace-12345678"
    generated = await client.get("/api/v1/me")
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.json()["requestId"] == generated.headers["x-request-id"]


async def test_an_unexpected_error_shows_no_internals(client, database, passwords, monkeypatch):
    from agencyhub.tenancy import service

    async def explode(*_args, **_kwargs):
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(service, "list_clients", explode)
    _, caller, path = await owner_of_a(client, database, passwords)
    response = await caller.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert response.json()["requestId"]


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_openapi_schema_is_served(client):
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/auth/login" in schema["paths"]
    assert "/api/v1/agencies/{agency_id}/clients" in schema["paths"]


async def test_query_parameter_errors_name_the_wire_name(client, database, passwords):
    world = await make_world(database, passwords)
    caller = await sign_in(client, world.users["a.owner"].email)
    response = await caller.get(
        f"/api/v1/agencies/{world.agencies['a'].id}/clients", params={"includeArchived": "maybe"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "includeArchived"


async def test_the_nul_character_is_refused_by_name_and_writes_nothing(client, database, passwords):
    world, caller, path = await owner_of_a(client, database, passwords)
    before = await count(database, Client)
    body = {"slug": "kaffee", "name": "Kaffee\u0000haus", "timezone": "Europe/Vienna"}
    created = await caller.post(path, json=body)
    assert created.status_code == 422
    assert created.headers["content-type"].startswith(PROBLEM)
    assert created.json()["errors"] == [
        {"field": "name", "message": "must not contain the NUL character (U+0000)"}
    ]
    assert await count(database, Client) == before
    events = f"/api/v1/clients/{world.clients['a1'].id}/events"
    queried = await caller.get(events, params={"subjectType": "\u0000"})
    assert queried.status_code == 422
    assert queried.json()["errors"][0]["field"] == "subjectType"
    # A literal backslash-u text is an ordinary string, not a NUL character.
    allowed = await caller.post(path, json={**body, "name": "Kaffee \\u0000 Haus"})
    assert allowed.status_code == 201, allowed.text


async def test_a_nul_in_the_sign_in_address_is_refused_not_a_500(client, database, passwords):
    world = await make_world(database, passwords)
    email = world.users["a.owner"].email + "\u0000"
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": "x" * 12})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email"


async def test_deeply_nested_json_is_refused_not_a_500(client, database, passwords):
    _, caller, path = await owner_of_a(client, database, passwords)
    for body in (b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        response = await caller.post(
            path, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"].startswith(PROBLEM)


async def test_every_answer_carries_the_security_headers(client, database, passwords):
    _, caller, path = await owner_of_a(client, database, passwords)
    for response in (
        await caller.get(path),
        await client.get("/api/v1/no-such-thing"),
        await client.get("/healthz"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers  # the demo runs on http
    api = await caller.get(path)
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    shell = await client.get("/")
    assert "script-src 'self'" in shell.headers["content-security-policy"]


async def test_production_sends_hsts_and_serves_no_docs_pages(postgres_database, pg):
    settings = dataclasses.replace(
        postgres_database.settings, environment="production", secret_key="x" * 40
    )
    async with AsyncTestClient(
        app=create_app(settings), base_url="https://testserver.local"
    ) as http:
        health = await http.get("/healthz")
        assert health.headers["strict-transport-security"].startswith("max-age=31536000")
        assert (await http.get("/schema/openapi.json")).status_code == 200
        assert (await http.get("/schema/swagger")).status_code == 404
        assert (await http.get("/schema")).status_code in (404, 200)
        docs_on = dataclasses.replace(settings, api_docs="on")
    async with AsyncTestClient(
        app=create_app(docs_on), base_url="https://testserver.local"
    ) as http:
        assert (await http.get("/schema/swagger")).status_code == 200


async def test_a_hostile_request_id_is_replaced_before_it_reaches_the_audit_trail(
    client, database, passwords
):
    _, caller, path = await owner_of_a(client, database, passwords)
    hostile_ids = (
        "<script>alert(1)</script>",
        "x" * 65,
        "short",
        "a b c d e f g h",
        "ok;ok=ok;ok/..",
    )
    for number, hostile in enumerate(hostile_ids):
        created = await caller.post(
            path,
            json={"slug": f"rid-{number}", "name": "R"},
            headers={"x-request-id": hostile},
        )
        assert created.status_code == 201, created.text
        answered = created.headers["x-request-id"]
        assert answered != hostile
        assert len(answered) == 32
        async with transaction(database.sessions, Scope.for_system("tests")) as session:
            stored = await session.scalar(
                select(Event.request_id)
                .where(Event.type == "client.created")
                .order_by(Event.id.desc())
            )
        assert stored == answered
