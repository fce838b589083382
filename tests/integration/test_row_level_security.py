"""PostgreSQL row-level security: the second line, below the application's filter.

These tests deliberately bypass the ORM criteria (raw SQL, or the
``skip_tenant_criteria`` option) to prove that the database alone keeps tenants apart
for the application role.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from agencyhub import dbadmin
from agencyhub.db import (
    Database,
    Scope,
    create_engine,
    create_sessionmaker,
    set_scope,
    transaction,
)
from agencyhub.db.system_key import SYSTEM_KEY_TABLE, system_token, token_digest
from agencyhub.tenancy.models import Client, Membership
from tests.conftest import ADMIN_URL, _admin, test_settings
from tests.factories import make_world

pytestmark = pytest.mark.postgres


async def raw_client_ids(session) -> set[uuid.UUID]:
    rows = await session.execute(text("SELECT id FROM clients"))
    return {row[0] for row in rows}


async def test_the_app_role_cannot_bypass_rls(pg):
    async with pg.engine.connect() as conn:
        flags = (
            await conn.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
    assert tuple(flags) == (False, False)


async def test_raw_query_without_scope_sees_nothing(pg, passwords):
    await make_world(pg, passwords)
    async with transaction(pg.sessions) as session:
        assert await raw_client_ids(session) == set()
        assert (await session.execute(text("SELECT count(*) FROM memberships"))).scalar() == 0
        assert (await session.execute(text("SELECT count(*) FROM agencies"))).scalar() == 0


async def test_raw_query_in_a_tenant_sees_only_that_tenant(pg, passwords):
    world = await make_world(pg, passwords)
    scope = Scope(agency_id=world.agencies["a"].id)
    async with transaction(pg.sessions, scope) as session:
        assert await raw_client_ids(session) == {world.clients["a1"].id, world.clients["a2"].id}
        unfiltered = select(Client).execution_options(skip_tenant_criteria=True)
        orm_rows = (await session.scalars(unfiltered)).all()
        assert {c.agency_id for c in orm_rows} == {world.agencies["a"].id}


async def test_user_scope_sees_own_memberships_and_member_agencies_only(pg, passwords):
    world = await make_world(pg, passwords)
    user = world.users["a1.approver"]
    async with transaction(pg.sessions, Scope(user_id=user.id)) as session:
        query = select(Membership).execution_options(skip_tenant_criteria=True)
        own = (await session.scalars(query)).all()
        assert {m.user_id for m in own} == {user.id}
        assert await raw_client_ids(session) == set()


async def test_member_agencies_scope_sees_exactly_those_agencies(pg, passwords):
    world = await make_world(pg, passwords)
    scope = Scope(user_id=uuid.uuid4(), member_agency_ids=frozenset({world.agencies["b"].id}))
    async with transaction(pg.sessions, scope) as session:
        assert await raw_client_ids(session) == {world.clients["b1"].id}


async def test_system_scope_sees_every_tenant(pg, passwords):
    world = await make_world(pg, passwords)
    async with transaction(pg.sessions, Scope.for_system("test")) as session:
        assert await raw_client_ids(session) == {c.id for c in world.clients.values()}


async def visible_agencies_after(pg, system_setting: str) -> int:
    """As the application role, in one transaction: set ``app.system`` by SQL, count."""
    async with pg.engine.connect() as conn, conn.begin():
        await conn.execute(
            text("SELECT set_config('app.system', :value, true)"), {"value": system_setting}
        )
        return int(await conn.scalar(text("SELECT count(*) FROM agencies")) or 0)


async def test_sql_alone_cannot_claim_the_system_scope(pg, passwords):
    """Issue #13, item 7: an injection running as the app role sets what it likes."""
    world = await make_world(pg, passwords)
    for guess in ("on", "true", "1", secrets.token_hex(32), token_digest("on")):
        assert await visible_agencies_after(pg, guess) == 0, guess
    async with pg.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="permission denied"):
            await conn.execute(text(f"SELECT digest FROM {SYSTEM_KEY_TABLE}"))
    async with pg.engine.connect() as conn:
        with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
            await conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION app_is_system() RETURNS boolean"
                    " LANGUAGE sql AS $$ SELECT true $$"
                )
            )
    # Only the server's token, an HMAC of its secret key, opens it.
    token = system_token(test_settings("postgresql://unused").secret_key)
    assert await visible_agencies_after(pg, token) >= len(world.agencies)


async def test_a_server_with_another_secret_key_gets_no_system_scope(pg, passwords):
    await make_world(pg, passwords)
    url = pg.engine.url.render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=1, secret_key="another secret key " * 3)
    try:
        other = Database(engine=engine, sessions=create_sessionmaker(engine))
        async with transaction(other.sessions, Scope.for_system("test")) as session:
            assert await raw_client_ids(session) == set()
    finally:
        await engine.dispose()


async def test_every_policy_reads_the_scope_once_per_statement(pg):
    """Per-row calls of the scope functions cost ~0.5 µs a row (migration 0007); a
    policy added later must use the sub-select form too."""
    async with pg.engine.connect() as conn:
        protected = set(
            (
                await conn.execute(
                    text(
                        "SELECT c.relname FROM pg_class c"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE n.nspname = current_schema() AND c.relrowsecurity"
                    )
                )
            ).scalars()
        )
        policies = (
            await conn.execute(
                text(
                    "SELECT tablename, qual, with_check FROM pg_policies"
                    " WHERE schemaname = current_schema() AND policyname = 'tenant_isolation'"
                )
            )
        ).all()
    assert protected
    assert {row.tablename for row in policies} == protected
    for row in policies:
        for expression in (row.qual, row.with_check):
            assert "app_may_see_agency" not in expression, row.tablename
            assert "( SELECT app_current_agency()" in expression, (row.tablename, expression)


async def test_writing_into_another_tenant_is_refused(pg, passwords):
    world = await make_world(pg, passwords)
    scope = Scope(agency_id=world.agencies["a"].id)
    with pytest.raises(DBAPIError, match="row-level security"):
        async with transaction(pg.sessions, scope) as session:
            session.add(Client(agency_id=world.agencies["b"].id, slug="sneaky", name="Sneaky"))
            await session.flush()


async def test_switching_scope_mid_transaction_applies_at_once(pg, passwords):
    world = await make_world(pg, passwords)
    async with transaction(pg.sessions) as session:
        assert await raw_client_ids(session) == set()
        await set_scope(session, Scope(agency_id=world.agencies["b"].id))
        assert await raw_client_ids(session) == {world.clients["b1"].id}


async def test_the_audit_trail_is_append_only_for_the_app(pg, passwords):
    world = await make_world(pg, passwords)
    scope = Scope(agency_id=world.agencies["a"].id)
    with pytest.raises(DBAPIError, match="permission denied"):
        async with transaction(pg.sessions, scope) as session:
            await session.execute(text("DELETE FROM events"))


async def test_create_app_role_needs_only_createrole(postgres_database):
    """A migration role with CREATEROLE (no superuser) creates the application role;
    an existing BYPASSRLS role is refused with the statement a superuser must run."""
    suffix = secrets.token_hex(3)
    owner, app_role, bypassing = f"ah_owner_{suffix}", f"ah_app_{suffix}", f"ah_bypass_{suffix}"
    await _admin(f"CREATE ROLE {owner} LOGIN CREATEROLE NOSUPERUSER")
    await _admin(f"CREATE ROLE {bypassing} LOGIN BYPASSRLS")
    database = make_url(postgres_database.owner_url).database
    as_owner = make_url(ADMIN_URL).set(database=database, username=owner)
    try:
        settings = dataclasses.replace(
            postgres_database.settings,
            database_url=as_owner.set(username=app_role).render_as_string(hide_password=False),
            migration_database_url=as_owner.render_as_string(hide_password=False),
        )
        assert await dbadmin.create_app_role(settings) == app_role
        assert await _admin_scalar(
            f"SELECT NOT rolsuper AND NOT rolbypassrls FROM pg_roles WHERE rolname = '{app_role}'"
        )
        assert await dbadmin.create_app_role(settings) == app_role  # again: nothing to do
        refused = dataclasses.replace(
            settings,
            database_url=as_owner.set(username=bypassing).render_as_string(hide_password=False),
        )
        with pytest.raises(RuntimeError, match=f"ALTER ROLE {bypassing} NOSUPERUSER NOBYPASSRLS"):
            await dbadmin.create_app_role(refused)
    finally:
        for role in (app_role, bypassing, owner):
            await _admin(f"DROP ROLE IF EXISTS {role}")


async def _admin_scalar(statement: str) -> object:
    engine = create_engine(ADMIN_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(statement))
    finally:
        await engine.dispose()
