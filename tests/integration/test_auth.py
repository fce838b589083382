"""Sign-in, sessions, CSRF, API tokens and the sign-in throttle, over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from agencyhub.app import create_app
from agencyhub.db import Scope, transaction, utcnow
from agencyhub.errors import Busy, DomainError
from agencyhub.tenancy import auth
from agencyhub.tenancy.models import ApiToken, LoginThrottle, UserSession
from agencyhub.tenancy.secrets import Passwords
from tests.factories import PASSWORD, grant, make_agency, make_user, make_world
from tests.helpers import sign_in, sign_in_client

LOGIN = "/api/v1/auth/login"


async def test_sign_in_sets_a_hardened_session_cookie(client, database, passwords):
    world = await make_world(database, passwords)
    response = await client.post(
        LOGIN, json={"email": world.users["a.owner"].email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("agencyhub_session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=lax" in session_cookie or "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie  # only in production
    body = response.json()
    assert body["user"]["email"] == world.users["a.owner"].email
    assert body["memberships"][0]["role"] == "owner"
    assert body["csrfToken"]


async def test_wrong_password_and_unknown_user_answer_the_same(client, database, passwords):
    world = await make_world(database, passwords)
    wrong = await client.post(
        LOGIN, json={"email": world.users["a.owner"].email, "password": "not it at all"}
    )
    unknown = await client.post(LOGIN, json={"email": "nobody@example.com", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert "set-cookie" not in wrong.headers


async def test_after_the_free_attempts_the_next_one_must_wait(client, database, passwords):
    user = await make_user(database, passwords)
    for _ in range(5):
        response = await client.post(LOGIN, json={"email": user.email, "password": "wrong"})
        assert response.status_code == 401
    waiting = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert waiting.status_code == 429
    assert waiting.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(waiting.headers["retry-after"]) <= 2
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        counters = (await session.scalars(select(LoginThrottle))).all()
    # One for the account at this address, one for the address; no e-mail stored.
    assert sorted(c.attempts for c in counters) == [5, 5]
    assert all(user.email not in c.key for c in counters)


async def test_failures_from_one_address_are_limited_across_accounts(client, database, passwords):
    for n in range(20):
        response = await client.post(
            LOGIN, json={"email": f"guess{n}@example.com", "password": "x"}
        )
        assert response.status_code == 401
    user = await make_user(database, passwords)
    blocked = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert blocked.status_code == 429


async def test_a_successful_sign_in_clears_earlier_failures(client, database, passwords):
    user = await make_user(database, passwords)
    for _ in range(4):
        await client.post(LOGIN, json={"email": user.email, "password": "wrong"})
    await sign_in_client(client, user.email)
    for _ in range(4):
        await client.post(LOGIN, json={"email": user.email, "password": "wrong"})
    assert (
        await client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    ).status_code == 200


async def _check(db, settings, passwords, email, password):
    """One sign-in's password check, as the login route makes it; its status code."""
    try:
        await auth.check_password(
            db.sessions, settings, passwords, email=email, password=password, ip_address="192.0.2.9"
        )
    except DomainError as refused:
        return refused.status_code
    return 200


async def test_parallel_guesses_get_no_more_checks_than_the_waits_allow(
    any_database, database, passwords
):
    """Counted before the check, one after the other: 30 guesses at once get the five
    free checks (plus one per doubling wait that passed meanwhile), the rest 429."""
    user = await make_user(database, passwords)
    settings = dataclasses.replace(any_database.settings, password_check_queue=64)
    roomy = Passwords(settings)
    started = time.monotonic()
    statuses = Counter(
        await asyncio.gather(
            *(_check(database, settings, roomy, user.email, f"guess {n}") for n in range(30))
        )
    )
    elapsed = time.monotonic() - started
    assert set(statuses) <= {401, 429}
    assert 5 <= statuses[401] <= 5 + int(elapsed)


async def test_too_many_sign_ins_at_once_answer_503_at_once(any_database, database):
    """One hashing worker, none waiting, real argon2 cost: parallel sign-ins beyond it
    are refused before they touch the database or a hash."""
    settings = dataclasses.replace(
        any_database.settings,
        password_check_workers=1,
        password_check_queue=0,
        password_hash_time_cost=3,
        password_hash_memory_kib=65536,
    )
    expensive = Passwords(settings)
    statuses = Counter(
        await asyncio.gather(
            *(_check(database, settings, expensive, f"no{n}@example.com", "x") for n in range(8))
        )
    )
    assert statuses == {401: 1, 503: 7}
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        counted = (await session.scalars(select(LoginThrottle))).all()
    assert sorted(c.attempts for c in counted) == [1, 1]  # the one account, its address
    with pytest.raises(Busy) as busy:
        async with expensive.admission(), expensive.admission():
            pass
    assert busy.value.retry_after == 1


def _behind_proxy(settings):
    return dataclasses.replace(settings, trusted_proxy_count=1)


async def test_guesses_from_elsewhere_never_lock_the_owner_out(any_database, database, passwords):
    user = await make_user(database, passwords)
    app = create_app(_behind_proxy(any_database.settings))
    attacker = {"x-forwarded-for": "203.0.113.66"}
    owner = {"x-forwarded-for": "198.51.100.7"}
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as http:
        signed_in = await http.post(
            LOGIN, json={"email": user.email, "password": PASSWORD}, headers=owner
        )
        assert signed_in.status_code == 200
        statuses = [
            (
                await http.post(
                    LOGIN, json={"email": user.email, "password": "wrong"}, headers=attacker
                )
            ).status_code
            for _ in range(12)
        ]
        assert statuses[:5] == [401] * 5
        assert 429 in statuses[5:]
        # Her session keeps working, and she signs in again from her own address.
        assert (await http.get("/api/v1/me")).status_code == 200
        again = await http.post(
            LOGIN, json={"email": user.email, "password": PASSWORD}, headers=owner
        )
        assert again.status_code == 200
        # The attacker's address still waits, even with the right password.
        assert (
            await http.post(
                LOGIN, json={"email": user.email, "password": PASSWORD}, headers=attacker
            )
        ).status_code == 429


async def test_unsafe_requests_need_the_csrf_token(client, database, passwords):
    world = await make_world(database, passwords)
    caller = await sign_in(client, world.users["a.owner"].email)
    agency_id = world.agencies["a"].id
    body = {"slug": "neu", "name": "Neu GmbH"}
    # The caller's own cookie jar, without the CSRF header the Caller adds.
    missing = await caller.client.post(f"/api/v1/agencies/{agency_id}/clients", json=body)
    wrong = await caller.client.post(
        f"/api/v1/agencies/{agency_id}/clients", json=body, headers={"x-csrf-token": "nope"}
    )
    assert missing.status_code == wrong.status_code == 403
    assert "CSRF" in missing.json()["detail"]
    ok = await caller.post(f"/api/v1/agencies/{agency_id}/clients", json=body)
    assert ok.status_code == 201


async def test_logout_ends_the_session_everywhere(client, database, passwords):
    world = await make_world(database, passwords)
    caller = await sign_in_client(client, world.users["a.owner"].email)
    cookie = client.cookies.get("agencyhub_session")
    assert (await caller.post("/api/v1/auth/logout")).status_code == 204
    client.cookies.set("agencyhub_session", cookie)
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_an_expired_session_is_refused(client, database, passwords):
    world = await make_world(database, passwords)
    await sign_in_client(client, world.users["a.owner"].email)
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        await session.execute(
            update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_each_sign_in_gets_a_new_session_id(client, database, passwords):
    user = await make_user(database, passwords)
    await sign_in_client(client, user.email)
    first = client.cookies.get("agencyhub_session")
    await sign_in_client(client, user.email)
    assert client.cookies.get("agencyhub_session") != first


async def test_without_credentials_the_api_answers_401(client):
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["type"].endswith("/unauthenticated")


async def test_api_token_is_shown_once_stored_hashed_and_works_without_csrf(
    client, database, passwords
):
    world = await make_world(database, passwords)
    caller = await sign_in(client, world.users["a.owner"].email)
    created = await caller.post(
        "/api/v1/tokens", json={"name": "CI export", "expiresInDays": 30, "scopes": ["manage"]}
    )
    assert created.status_code == 201
    assert created.json()["details"]["scopes"] == ["manage"]
    token = created.json()["token"]
    listed = (await caller.get("/api/v1/tokens")).json()["items"]
    assert token not in str(listed)
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        stored = (await session.scalars(select(ApiToken))).one()
    assert token not in (stored.token_hash, stored.prefix)

    client.cookies.clear()
    bearer = {"authorization": f"Bearer {token}"}
    me = await client.get("/api/v1/me", headers=bearer)
    assert me.status_code == 200
    agency_id = world.agencies["a"].id
    write = await client.post(
        f"/api/v1/agencies/{agency_id}/clients",
        json={"slug": "via-token", "name": "T"},
        headers=bearer,
    )
    assert write.status_code == 201


async def test_a_token_does_only_what_its_scopes_allow_and_never_makes_tokens(
    client, database, passwords
):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    approver = await sign_in(client, world.users["a1.approver"].email)

    async def token(caller, **body):
        created = await caller.post("/api/v1/tokens", json={"name": "scoped", **body})
        assert created.status_code == 201, created.text
        return {"authorization": f"Bearer {created.json()['token']}"}, created.json()["details"]

    reader, details = await token(owner)
    assert details["scopes"] == ["read"]  # least privilege unless asked for more
    decider, _ = await token(approver, scopes=["decide"])
    manager, _ = await token(owner, scopes=["read", "manage"])
    client.cookies.clear()
    clients = f"/api/v1/agencies/{world.agencies['a'].id}/clients"
    decisions = f"/api/v1/drafts/{uuid.uuid4()}/decisions"
    decision = {"decision": "approve", "version": 1}

    assert (await client.get(clients, headers=reader)).status_code == 200
    refused = await client.post(clients, json={"slug": "x1", "name": "X"}, headers=reader)
    assert refused.status_code == 403
    assert "lacks the 'manage' scope" in refused.json()["detail"]
    assert (await client.post(decisions, json=decision, headers=reader)).status_code == 403
    # decide passes the scope check (then: no such draft) but manages nothing.
    assert (await client.post(decisions, json=decision, headers=decider)).status_code == 404
    queue = f"/api/v1/clients/{world.clients['a1'].id}/invitations"
    invite = {"email": "x@example.com", "role": "viewer"}
    assert (await client.post(queue, json=invite, headers=decider)).status_code == 403
    assert (
        await client.post(clients, json={"slug": "x2", "name": "X"}, headers=manager)
    ).status_code == 201
    for headers in (reader, decider, manager):
        minted = await client.post("/api/v1/tokens", json={"name": "more"}, headers=headers)
        assert minted.status_code == 403
        assert "cannot do this" in minted.json()["detail"]
    unknown = await owner.post("/api/v1/tokens", json={"name": "x", "scopes": ["root"]})
    assert unknown.status_code == 422
    empty = await owner.post("/api/v1/tokens", json={"name": "x", "scopes": []})
    assert empty.status_code == 422
    too_long = await owner.post("/api/v1/tokens", json={"name": "x", "expiresInDays": 366})
    assert too_long.status_code == 422


async def test_revoked_and_expired_tokens_are_refused(client, database, passwords):
    world = await make_world(database, passwords)
    caller = await sign_in(client, world.users["a.owner"].email)
    revoked = (await caller.post("/api/v1/tokens", json={"name": "old"})).json()
    expired = (await caller.post("/api/v1/tokens", json={"name": "stale"})).json()
    assert (await caller.delete(f"/api/v1/tokens/{revoked['details']['id']}")).status_code == 204
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.name == "stale")
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    client.cookies.clear()
    for token, reason in ((revoked["token"], "revoked"), (expired["token"], "expired")):
        response = await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert reason in response.json()["detail"]


async def test_someone_elses_token_cannot_be_revoked(client, database, passwords):
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    token_id = (await owner.post("/api/v1/tokens", json={"name": "mine"})).json()["details"]["id"]
    other = await sign_in(client, world.users["b.owner"].email)
    assert (await other.delete(f"/api/v1/tokens/{token_id}")).status_code == 404


async def test_me_lists_every_membership_across_agencies(client, database, passwords):
    freelancer = await make_user(database, passwords)
    first, second = await make_agency(database), await make_agency(database)
    await grant(database, freelancer, first, "editor")
    await grant(database, freelancer, second, "admin")
    caller = await sign_in(client, freelancer.email)
    memberships = (await caller.get("/api/v1/me")).json()["memberships"]
    assert {(m["agencySlug"], m["role"]) for m in memberships} == {
        (first.slug, "editor"),
        (second.slug, "admin"),
    }


async def test_validation_on_login_names_the_field(client):
    response = await client.post(LOGIN, json={"email": "a@b.c"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "password"


async def test_each_signed_in_caller_stays_who_they_are(client, database, passwords):
    """The test helper itself: signing in a second person leaves the first one be."""
    world = await make_world(database, passwords)
    owner = await sign_in(client, world.users["a.owner"].email)
    approver = await sign_in(client, world.users["a1.approver"].email)
    assert (await owner.get("/api/v1/me")).json()["user"]["id"] == str(world.user_id("a.owner"))
    me = (await approver.get("/api/v1/me")).json()["user"]["id"]
    assert me == str(world.user_id("a1.approver"))
    assert (await client.get("/api/v1/me")).status_code == 401  # the test client: nobody
