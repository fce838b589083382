"""One JSON log line per request with its context; no secret ever reaches the log."""

from __future__ import annotations

import asyncio
import dataclasses
import json

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from agencyhub import dbadmin
from agencyhub.app import create_app
from agencyhub.db import Database, create_engine
from agencyhub.logging import drop_secrets
from tests.conftest import empty_all_tables, test_settings
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


async def test_a_failing_request_logs_its_traceback_without_any_secret(tmp_path, passwords, capfd):
    """A real 500 (a table gone under the running app): the traceback is logged, the
    password, session cookie, CSRF token and bearer token that were in its frames are not."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'broken.db'}"
    settings = test_settings(url, log_level="INFO", log_format="json")
    await asyncio.to_thread(dbadmin.upgrade, settings)
    db = Database.from_settings(settings)
    try:
        world = await make_world(db, passwords)
    finally:
        await db.dispose()
    email = world.users["a.owner"].email
    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        csrf = login.json()["csrfToken"]
        session_cookie = client.cookies.get("agencyhub_session")
        created = await client.post(
            "/api/v1/tokens", json={"name": "ci"}, headers={"x-csrf-token": csrf}
        )
        bearer = created.json()["token"]
        await _break_tables(url, "user_sessions", "api_tokens")
        capfd.readouterr()

        failures = [
            await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}),
            await client.get("/api/v1/me", headers={"x-csrf-token": csrf}),
        ]
        client.cookies.clear()
        failures.append(
            await client.get("/api/v1/me", headers={"authorization": f"Bearer {bearer}"})
        )

    assert [f.status_code for f in failures] == [500, 500, 500]
    output = capfd.readouterr()
    text = output.out + output.err
    failed = [line for line in json_lines(text) if line.get("event") == "request.failed"]
    assert len(failed) == 3
    assert all(line["exception"][0]["frames"] for line in failed)
    for secret in (PASSWORD, session_cookie, csrf, bearer, bearer.removeprefix("aht_")):
        assert secret not in text


async def _break_tables(url: str, *tables: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for table in tables:
                await conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))
    finally:
        await engine.dispose()


def test_redaction_reaches_every_depth():
    event = {
        "event": "x",
        "context": {"headers": [{"Authorization": "Bearer abc.def"}], "note": "aht_" + "q" * 40},
        "frames": [{"locals": {"password": "hunter2", "csrf_token": "zzz"}}],
        "free_text": "sent Bearer abcdefgh and ahs_" + "w" * 30,
    }
    redacted = drop_secrets(None, "info", event)
    rendered = json.dumps(redacted)
    for secret in ("abc.def", "q" * 40, "hunter2", "zzz", "abcdefgh", "w" * 30):
        assert secret not in rendered
    assert redacted["event"] == "x"
