"""Tenant isolation matrix of the escalation API on PostgreSQL (RLS in force).

* Another agency's ids → 404 for everyone.
* A sibling client's ids (same agency) → 404 for that client's people.
* Own tenant: the roles allowed get 2xx, every other role 403.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from agencyhub.db import Scope, transaction, utcnow
from agencyhub.escalation.models import (
    CalendarFeed,
    RotaOverride,
    RotaRecord,
    RotaSwap,
    SlaPolicyRecord,
    StatementTemplate,
)
from tests.factories import World, make_world
from tests.helpers import sign_in

pytestmark = pytest.mark.postgres

ROLES = ("owner", "admin", "editor", "client_admin", "approver", "executive", "viewer")
AGENCY_STAFF = frozenset({"owner", "admin", "editor"})
EVERYONE = frozenset(ROLES)
BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # placeholders: {client} {override} {swap} {template}
    allowed: frozenset[str]
    body: Any = None  # a dict, or a function of (world, client key) giving one


def monday() -> datetime:
    today = utcnow().astimezone(BERLIN)
    start = datetime.combine(today.date() - timedelta(days=today.weekday()), time(9), BERLIN)
    return start if start <= today else start - timedelta(days=7)


def override_body(world: World, key: str) -> dict[str, Any]:
    start = monday() + timedelta(days=15)  # the approver's week 2
    return {
        "substituteId": str(world.user_id(f"{key}.executive")),
        "replaces": str(world.user_id(f"{key}.approver")),
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=5)).isoformat(),
        "reason": "holiday",
    }


def rota_body(world: World, key: str) -> dict[str, Any]:
    return {"layers": [layer_of(world, key)], "gapContact": None}


def layer_of(world: World, key: str) -> dict[str, Any]:
    return {
        "participants": [str(world.user_id(f"{key}.{r}")) for r in ("approver", "executive")],
        "startsAt": monday().astimezone(UTC).isoformat(),
        "rotation": "weekly",
        "handoff": "09:00",
        "timezone": "Europe/Berlin",
    }


ENDPOINTS = (
    Endpoint("GET", "/api/v1/clients/{client}/sla-policy", EVERYONE),
    Endpoint("PUT", "/api/v1/clients/{client}/sla-policy", frozenset({"client_admin"}), {}),
    Endpoint("GET", "/api/v1/clients/{client}/sla-policy/preview?severity=high", EVERYONE),
    Endpoint("GET", "/api/v1/clients/{client}/rota", EVERYONE),
    Endpoint("PUT", "/api/v1/clients/{client}/rota", frozenset({"client_admin"}), rota_body),
    Endpoint(
        "POST",
        "/api/v1/clients/{client}/rota/overrides",
        frozenset({"client_admin", "approver"}),  # the approver arranges their own cover
        override_body,
    ),
    Endpoint(
        "DELETE", "/api/v1/rota-overrides/{override}", frozenset({"client_admin", "approver"})
    ),
    Endpoint("GET", "/api/v1/clients/{client}/on-duty", EVERYONE),
    Endpoint("GET", "/api/v1/clients/{client}/rota/gaps?days=7", EVERYONE),
    Endpoint("GET", "/api/v1/clients/{client}/rota/swaps", EVERYONE),
    Endpoint("POST", "/api/v1/rota-swaps/{swap}/accept", frozenset({"executive"})),
    Endpoint("POST", "/api/v1/rota-swaps/{swap}/decline", frozenset({"executive"})),
    Endpoint("POST", "/api/v1/clients/{client}/rota/feed", EVERYONE),
    Endpoint("GET", "/api/v1/clients/{client}/templates", EVERYONE),
    Endpoint(
        "POST",
        "/api/v1/clients/{client}/templates",
        AGENCY_STAFF,
        {"name": "Neu", "body": "Wir melden uns."},
    ),
    Endpoint("PATCH", "/api/v1/templates/{template}", AGENCY_STAFF, {"body": "Geändert."}),
    Endpoint(
        "POST", "/api/v1/templates/{template}/approve", frozenset({"client_admin", "executive"})
    ),
    Endpoint(
        "POST",
        "/api/v1/templates/{template}/retire",
        AGENCY_STAFF | {"client_admin", "executive"},  # the agency while still proposed
    ),
)


async def rota_objects(db: Any, world: World, key: str) -> tuple[str, str]:
    """The rota of ``key`` (once), a running override and a pending swap: their ids."""
    client = world.clients[key]
    approver, executive = world.user_id(f"{key}.approver"), world.user_id(f"{key}.executive")
    start = monday() + timedelta(days=15)
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        common = {"agency_id": client.agency_id, "client_id": client.id}
        has_rota = await session.scalar(
            select(RotaRecord.id).where(RotaRecord.client_id == client.id)
        )
        if has_rota is None:
            session.add(RotaRecord(**common, layers=[layer_of(world, key)]))
        override = RotaOverride(
            **common,
            substitute_id=executive,
            replaces_id=approver,
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            reason="illness",
        )
        swap = RotaSwap(
            **common,
            requester_id=approver,
            colleague_id=executive,
            starts_at=start + timedelta(days=1),
            ends_at=start + timedelta(days=2),
        )
        session.add_all([override, swap])
    return str(override.id), str(swap.id)


async def targets(db: Any, world: World, key: str) -> dict[str, str]:
    """The rota (once), an override, a pending swap and a proposed template of ``key``."""
    client = world.clients[key]
    override, swap = await rota_objects(db, world, key)
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        template = StatementTemplate(
            agency_id=client.agency_id,
            client_id=client.id,
            name=f"Holding {next(_names)}",
            body="Wir prüfen das.",
        )
        session.add(template)
    return {
        "client": str(client.id),
        "override": override,
        "swap": swap,
        "template": str(template.id),
    }


_names = itertools.count(1)


def person(role: str, agency_key: str) -> str:
    return f"{agency_key}.{role}" if role in AGENCY_STAFF else f"{agency_key}1.{role}"


async def call(caller: Any, endpoint: Endpoint, world: World, key: str, ids: dict[str, str]) -> Any:
    body = endpoint.body(world, key) if callable(endpoint.body) else endpoint.body
    kwargs = {"json": body} if body is not None else {}
    return await caller.request(endpoint.method, endpoint.path.format(**ids), **kwargs)


@pytest.mark.parametrize("role", ROLES)
async def test_another_agencys_objects_are_not_found(pg_client, pg, passwords, role):
    world = await make_world(pg, passwords)
    foreign = await targets(pg, world, "b1")
    caller = await sign_in(pg_client, world.users[person(role, "a")].email)
    for endpoint in ENDPOINTS:
        response = await call(caller, endpoint, world, "b1", foreign)
        assert response.status_code == 404, (role, endpoint.method, endpoint.path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", sorted(EVERYONE - AGENCY_STAFF))
async def test_a_sibling_clients_objects_are_not_found(pg_client, pg, passwords, role):
    world = await make_world(pg, passwords)
    sibling = await targets(pg, world, "a2")
    caller = await sign_in(pg_client, world.users[f"a1.{role}"].email)
    for endpoint in ENDPOINTS:
        response = await call(caller, endpoint, world, "a2", sibling)
        assert response.status_code == 404, (role, endpoint.method, endpoint.path, response.text)


@pytest.mark.parametrize("role", ROLES)
async def test_own_tenant_answers_by_role(pg_client, pg, passwords, role):
    world = await make_world(pg, passwords)
    caller = await sign_in(pg_client, world.users[person(role, "a")].email)
    for endpoint in ENDPOINTS:
        own = await targets(pg, world, "a1")  # fresh objects: earlier calls changed some
        response = await call(caller, endpoint, world, "a1", own)
        if role in endpoint.allowed:
            assert 200 <= response.status_code < 300, (role, endpoint.path, response.text)
        else:
            assert response.status_code == 403, (role, endpoint.path, response.text)


ESCALATION_TABLES = (
    "sla_policies",
    "rotas",
    "rota_overrides",
    "rota_swaps",
    "calendar_feeds",
    "statement_templates",
)


async def test_row_level_security_keeps_raw_sql_in_its_tenant(pg, passwords):
    world = await make_world(pg, passwords)
    for key in ("a1", "b1"):
        await targets(pg, world, key)
        client = world.clients[key]
        async with transaction(pg.sessions, Scope.for_system("tests")) as session:
            common = {"agency_id": client.agency_id, "client_id": client.id}
            session.add(SlaPolicyRecord(**common, targets={}, timezone="UTC", hours=[]))
            session.add(
                CalendarFeed(
                    **common,
                    user_id=world.user_id(f"{key}.approver"),
                    token_hash=f"{key}-hash",
                    prefix="ahc_x",
                )
            )
    async with transaction(pg.sessions) as session:  # no scope at all: nothing
        for table in ESCALATION_TABLES:
            count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            assert count == 0, table
    own = world.agencies["a"].id
    async with transaction(pg.sessions, Scope(agency_id=own)) as session:
        for table in ESCALATION_TABLES:
            rows = await session.execute(text(f"SELECT DISTINCT agency_id FROM {table}"))
            assert {row[0] for row in rows} == {own}, table
