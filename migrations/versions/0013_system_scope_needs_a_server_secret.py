"""The system scope needs a server secret (issue #13, item 7).

Until now ``app_is_system()`` was true whenever ``app.system`` was ``'on'``, and the
application role may set any ``app.*`` setting itself: an SQL injection could have
claimed the system scope with ``set_config('app.system', 'on', true)`` and read every
tenant. Now the setting must hold the *system token*, an HMAC of the server's
``AGENCYHUB_SECRET_KEY`` that never enters the database: ``app_is_system()`` is a
``SECURITY DEFINER`` function that compares the setting's SHA-256 with the digest in
``app_system_key``, a table only the owner can read. ``agencyhub db upgrade`` records
the digest for the secret key it runs with (see ``agencyhub.dbadmin``).

SQLite has no roles and no row-level security: nothing to do there.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    """
    CREATE TABLE app_system_key (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        digest text NOT NULL
    )
    """,
    "REVOKE ALL ON app_system_key FROM PUBLIC",
    # search_path is pinned: a SECURITY DEFINER function must not resolve names through
    # schemas the caller controls.
    """
    CREATE OR REPLACE FUNCTION app_is_system() RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT COALESCE(
            (SELECT k.digest = encode(
                        sha256(convert_to(current_setting('app.system', true), 'UTF8')), 'hex')
               FROM public.app_system_key AS k),
            false)
    $$
    """,
)

DOWNGRADE = (
    """
    CREATE OR REPLACE FUNCTION app_is_system() RETURNS boolean
        LANGUAGE sql STABLE AS
        $$ SELECT COALESCE(current_setting('app.system', true), '') = 'on' $$
    """,
    "DROP TABLE app_system_key",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DOWNGRADE:
        op.execute(statement)
