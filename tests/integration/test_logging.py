"""One JSON log line per request with its context; no secret ever reaches the log."""

from __future__ import annotations

import dataclasses
import json

from litestar.testing import AsyncTestClient

from agencyhub.app import create_app
from tests.conftest import empty_all_tables
from tests.factories import PASSWORD, make_world


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


async def test_request_lines_carry_context_and_never_secrets(
    postgres_database, pg, passwords, capfd
):
    await empty_all_tables(postgres_database.owner_url)
    world = await make_world(pg, passwords)
    settings = dataclasses.replace(postgres_database.settings, log_level="INFO", log_format="json")
    app = create_app(settings)
    agency_id = world.agencies["a"].id
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        login = await client.post(
            "/api/v1/auth/login",
            json={"email": world.users["a.owner"].email, "password": PASSWORD},
        )
        csrf = login.json()["csrfToken"]
        session_cookie = client.cookies.get("agencyhub_session")
        headers = {"x-csrf-token": csrf}
        token = (await client.post("/api/v1/tokens", json={"name": "x"}, headers=headers)).json()[
            "token"
        ]
        invited = await client.post(
            f"/api/v1/agencies/{agency_id}/invitations",
            json={"email": "new@example.com", "role": "editor"},
            headers=headers,
        )
        assert invited.status_code == 201
        await client.get(f"/api/v1/agencies/{agency_id}/clients")
        await client.get("/api/v1/invitation-links/ahi_secretlinkvalue123")
        await client.get("/api/v1/calendar/ahc_secretfeedvalue456.ics")
        await client.post(
            "/api/v1/auth/login", json={"email": "x@example.com", "password": "hunter2-wrong"}
        )

    output = capfd.readouterr()
    text = output.out + output.err
    secrets = (PASSWORD, "hunter2-wrong", token, session_cookie, csrf)
    for secret in (*secrets, "ahi_secretlinkvalue123", "ahc_secretfeedvalue456"):
        assert secret not in text
    lines = json_lines(text)
    requests = [line for line in lines if line.get("event") == "request"]
    listing = next(r for r in requests if r["path"].endswith("/clients"))
    assert listing["method"] == "GET"
    assert listing["status"] == 200
    assert listing["agency_id"] == str(agency_id)
    assert listing["user_id"] == str(world.users["a.owner"].id)
    assert listing["duration_ms"] >= 0
    assert len(listing["request_id"]) == 32
    assert any(line.get("event") == "auth.login_failed" for line in lines)
    assert any(r["path"] == "/api/v1/invitation-links/[redacted]" for r in requests)
