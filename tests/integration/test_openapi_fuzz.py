"""Schemathesis over the OpenAPI document, against a real server on PostgreSQL with RLS.

Signed in as an agency owner (API token) and as a client approver (session cookie and
CSRF header). Path ids are the caller's own objects, so generated bodies and queries
reach the handlers instead of a 404; string ids (tokens, feeds) stay generated.
Bounded: ``AGENCYHUB_FUZZ_EXAMPLES`` examples per operation (default 8), derandomised
so a failure reproduces. Checks (issue #13, item 13): no 5xx, every status and content
type is documented, and every response matches its schema.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agencyhub.app import create_app
from tests.factories import PASSWORD, make_world
from tests.integration.test_route_isolation import targets
from tests.openapi_bodies import request_body

pytestmark = pytest.mark.postgres

EXAMPLES = int(os.environ.get("AGENCYHUB_FUZZ_EXAMPLES", "8"))
# Not pinned: revoking one's own token or membership would end the run's sign-in
# (targets() gives the owner's token and an approver's membership).
UNPINNED = frozenset({"token_id", "membership_id"})


@pytest.fixture
def server(postgres_database: Any) -> Iterator[str]:
    """The app under uvicorn in a thread, on a free port; its base URL."""
    config = uvicorn.Config(
        create_app(postgres_database.settings),
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = uv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


def signed_in(base_url: str, email: str, *, token: bool) -> dict[str, str]:
    """Headers of a signed-in caller: a Bearer token, or cookie plus CSRF token."""
    login = requests.post(
        f"{base_url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    csrf = login.json()["csrfToken"]
    cookie = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
    if not token:
        return {"Cookie": cookie, "X-CSRF-Token": csrf}
    created = requests.post(
        f"{base_url}/api/v1/tokens",
        json={"name": "fuzz", "scopes": ["read", "decide", "manage"]},
        headers={"Cookie": cookie, "X-CSRF-Token": csrf},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['token']}"}


def fuzz(base_url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    """Every operation, ``EXAMPLES`` cases each; the failures, one line per kind."""
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        pinned = {n: ids[n] for n in names if n in ids and n not in UNPINNED}
        operations += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(path_parameters=pinned or None))
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=20)
            try:
                case.validate_response(
                    response,
                    checks=[
                        not_a_server_error,
                        status_code_conformance,
                        content_type_conformance,
                        response_schema_conformance,
                    ],
                )
            except BaseException as failure:  # a FailureGroup: collected, reported together
                if isinstance(failure, KeyboardInterrupt | SystemExit):
                    raise
                key = f"{case.method} {case.path} -> {response.status_code}"
                failures.setdefault(key, f"{key}: {str(failure)[:300]}")

        run()
    assert operations > 40
    return sorted(failures.values())


async def test_fuzzing_as_an_agency_owner_finds_no_5xx_and_no_schema_break(
    pg, pg_client, passwords, server
):
    world = await make_world(pg, passwords)
    ids = await targets(pg, pg_client, world, "a1")
    headers = signed_in(server, world.users["a.owner"].email, token=True)
    assert fuzz(server, headers, ids) == []


async def test_fuzzing_as_an_agency_editor_finds_no_5xx_and_no_schema_break(
    pg, pg_client, passwords, server
):
    world = await make_world(pg, passwords)
    ids = await targets(pg, pg_client, world, "a1")
    headers = signed_in(server, world.users["a.editor"].email, token=False)
    assert fuzz(server, headers, ids) == []


async def test_fuzzing_as_a_client_approver_finds_no_5xx_and_no_schema_break(
    pg, pg_client, passwords, server
):
    world = await make_world(pg, passwords)
    ids = await targets(pg, pg_client, world, "a1")
    headers = signed_in(server, world.users["a1.approver"].email, token=False)
    assert fuzz(server, headers, ids) == []


def longest_bodies(base_url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    """Every body at its documented upper bounds (strings of maxLength, in a non-ASCII
    letter, every optional field): the database must hold whatever the schema allows."""
    document = requests.get(f"{base_url}/schema/openapi.json", timeout=10).json()
    components = document.get("components", {}).get("schemas", {})
    wrong = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = request_body(operation, components, longest=True)
            if body is None:
                continue
            url = base_url + path.format_map(_AnyId(ids))
            response = requests.request(method, url, json=body, headers=headers, timeout=20)
            if response.status_code >= 500:
                wrong.append(f"{method.upper()} {path}: {response.status_code}")
    return wrong


class _AnyId(dict[str, str]):
    """The caller's own ids; any other parameter gets an id nobody has."""

    def __missing__(self, key: str) -> str:
        return "00000000-0000-0000-0000-000000000000"


async def test_bodies_at_their_upper_bounds_never_answer_5xx(pg, pg_client, passwords, server):
    world = await make_world(pg, passwords)
    ids = await targets(pg, pg_client, world, "a1")
    for key, token in (("a.owner", True), ("a1.client_admin", False)):
        headers = signed_in(server, world.users[key].email, token=token)
        assert longest_bodies(server, headers, ids) == [], key


def with_nul(value: Any) -> Any:
    """Every string of a body with a NUL character in it."""
    if isinstance(value, str):
        return value[:-1] + "\x00" if value else "\x00"
    if isinstance(value, list):
        return [with_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: with_nul(item) for key, item in value.items()}
    return value


def nul_requests(base_url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    """Issue #13, item 6: a NUL in any string of any body or query answers 4xx
    problem+json, never 5xx (PostgreSQL cannot store one)."""
    document = requests.get(f"{base_url}/schema/openapi.json", timeout=10).json()
    components = document.get("components", {}).get("schemas", {})
    wrong = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            url = base_url + path.format_map(_AnyId(ids))
            body = request_body(operation, components, longest=True)
            queries = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            calls = [{"json": with_nul(body)}] if body is not None else []
            calls += [{"params": {name: "a\x00b"}} for name in queries]
            for kwargs in calls:
                response = requests.request(method, url, headers=headers, timeout=20, **kwargs)
                problem = response.headers.get("content-type", "").startswith(
                    "application/problem+json"
                )
                if response.status_code >= 500 or (response.status_code >= 400 and not problem):
                    wrong.append(f"{method.upper()} {path} {list(kwargs)}: {response.status_code}")
    return wrong


async def test_a_nul_character_anywhere_answers_4xx_never_5xx(pg, pg_client, passwords, server):
    world = await make_world(pg, passwords)
    ids = await targets(pg, pg_client, world, "a1")
    for key, token in (("a.owner", True), ("a1.client_admin", False)):
        headers = signed_in(server, world.users[key].email, token=token)
        assert nul_requests(server, headers, ids) == [], key
