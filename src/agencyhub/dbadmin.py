"""Schema administration: migrations and the PostgreSQL application role.

Production runs two roles (README "Database roles"):

* the **owner** (``AGENCYHUB_MIGRATION_DATABASE_URL``) owns the tables and runs
  migrations;
* the **application** role (the user in ``AGENCYHUB_DATABASE_URL``) is created
  ``NOSUPERUSER NOBYPASSRLS`` so the row-level security policies bind it, may read
  and write tenant data but only append to ``events``.

``agencyhub db create-app-role`` creates the application role; ``agencyhub db upgrade``
migrates and then (re)grants the application role its privileges.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from agencyhub.config import Settings
from agencyhub.db import create_engine
from agencyhub.db.system_key import SYSTEM_KEY_TABLE, system_token, token_digest

log = structlog.get_logger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings.effective_migration_url), revision)
    log.info("db.upgraded", revision=revision)
    role = app_role_needing_grants(settings)
    if role:
        asyncio.run(grant_app_role(settings.effective_migration_url, role))
    if not settings.is_sqlite:
        asyncio.run(record_system_key(settings))


async def record_system_key(settings: Settings) -> None:
    """Let the system scope's token of this ``AGENCYHUB_SECRET_KEY`` in (and no other):
    run again after rotating the key. Before revision 0013 there is nothing to record."""
    digest = token_digest(system_token(settings.secret_key))
    engine = create_engine(settings.effective_migration_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            if not await _has_system_key_table(conn):
                return
            await conn.execute(
                text(
                    "INSERT INTO app_system_key (only_row, digest) VALUES (true, :digest)"
                    " ON CONFLICT (only_row) DO UPDATE SET digest = EXCLUDED.digest"
                ),
                {"digest": digest},
            )
    finally:
        await engine.dispose()
    log.info("db.system_key_recorded")


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings.effective_migration_url), revision)
    log.info("db.downgraded", revision=revision)


def current_revision(settings: Settings) -> str | None:
    async def read() -> str | None:
        engine = create_engine(settings.effective_migration_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                has_table = await conn.run_sync(
                    lambda sync: sync.dialect.has_table(sync, "alembic_version")
                )
                if not has_table:
                    return None
                version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
                return str(version) if version else None
        finally:
            await engine.dispose()

    return asyncio.run(read())


def app_role_needing_grants(settings: Settings) -> str | None:
    """The application's PostgreSQL user, when it differs from the migration owner."""
    if settings.is_sqlite:
        return None
    app_user = make_url(settings.database_url).username
    owner = make_url(settings.effective_migration_url).username
    if not app_user or app_user == owner:
        return None
    return app_user


def _checked_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"'{name}' is not a plain PostgreSQL role name")
    return name


async def create_app_role(settings: Settings) -> str:
    """Create the application role from ``AGENCYHUB_DATABASE_URL`` if it is missing.

    Needs a migration role with CREATEROLE (a superuser is not required). An existing
    role that is SUPERUSER or BYPASSRLS is refused rather than used: only a superuser
    can take those attributes away (PostgreSQL 15+), and RLS means nothing for it.
    """
    url = make_url(settings.database_url)
    role = _checked_identifier(url.username or "")
    engine = create_engine(settings.effective_migration_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            found = (
                await conn.execute(
                    text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :name"),
                    {"name": role},
                )
            ).first()
            if found is None:
                await conn.execute(
                    text(
                        f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                    )
                )
            elif found.rolsuper or found.rolbypassrls:
                await _take_away_bypass(conn, role)
            if url.password:
                await conn.execute(
                    text(f"ALTER ROLE {role} PASSWORD {_quoted_literal(url.password)}")
                )
    finally:
        await engine.dispose()
    log.info("db.app_role_ready", role=role, created=found is None)
    return role


async def _take_away_bypass(conn: Any, role: str) -> None:
    """Keep an existing role honest, or say precisely who must."""
    is_superuser = await conn.scalar(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    )
    if not is_superuser:
        raise RuntimeError(
            f"The role {role} is SUPERUSER or BYPASSRLS, so row-level security would not "
            f"apply to it. A superuser must run: ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS;"
        )
    await conn.execute(text(f"ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS"))


def _quoted_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def grant_app_role(owner_url: str, role: str) -> None:
    role = _checked_identifier(role)
    engine = create_engine(owner_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for statement in (
                f"GRANT USAGE ON SCHEMA public TO {role}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
                # The audit trail is append-only for the application.
                f"REVOKE UPDATE, DELETE ON events FROM {role}",
                f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
            ):
                await conn.execute(text(statement))
            # The system scope's digest is the owner's alone (agencyhub.db.system_key).
            if await _has_system_key_table(conn):
                await conn.execute(text(f"REVOKE ALL ON {SYSTEM_KEY_TABLE} FROM {role}"))
    finally:
        await engine.dispose()
    log.info("db.app_role_granted", role=role)


async def _has_system_key_table(conn: AsyncConnection) -> bool:
    """Whether migration 0013 (the system scope's digest table) has run."""
    found = await conn.scalar(
        text("SELECT to_regclass(:table) IS NOT NULL"), {"table": SYSTEM_KEY_TABLE}
    )
    return bool(found)
