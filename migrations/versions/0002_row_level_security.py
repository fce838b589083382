"""Row-level security on every tenant-owned table (PostgreSQL only).

The application writes its scope into transaction-local settings (``app.agency_id``,
``app.user_id``, ``app.member_agency_ids``, ``app.system``; see ``agencyhub.db``).
These policies repeat the application's tenant filter below it, so a query that
forgets the filter still returns nothing of another tenant. They bind every role
that is not a superuser or BYPASSRLS, the table owner included (FORCE).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the column that holds the tenant (agency) id
TENANT_TABLES = {
    "agencies": "id",
    "clients": "agency_id",
    "memberships": "agency_id",
    "invitations": "agency_id",
    "events": "agency_id",
}

FUNCTIONS = """
CREATE OR REPLACE FUNCTION app_current_agency() RETURNS uuid
    LANGUAGE sql STABLE AS
    $$ SELECT NULLIF(current_setting('app.agency_id', true), '')::uuid $$;

CREATE OR REPLACE FUNCTION app_current_user() RETURNS uuid
    LANGUAGE sql STABLE AS
    $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$;

CREATE OR REPLACE FUNCTION app_member_agencies() RETURNS uuid[]
    LANGUAGE sql STABLE AS
    $$ SELECT COALESCE(
           string_to_array(NULLIF(current_setting('app.member_agency_ids', true), ''), ',')::uuid[],
           '{}'::uuid[]) $$;

CREATE OR REPLACE FUNCTION app_is_system() RETURNS boolean
    LANGUAGE sql STABLE AS
    $$ SELECT COALESCE(current_setting('app.system', true), '') = 'on' $$;

CREATE OR REPLACE FUNCTION app_may_see_agency(agency uuid) RETURNS boolean
    LANGUAGE sql STABLE AS
    $$ SELECT app_is_system()
           OR agency = app_current_agency()
           OR (app_current_agency() IS NULL AND agency = ANY (app_member_agencies())) $$;
"""

FUNCTION_NAMES = (
    "app_may_see_agency(uuid)",
    "app_is_system()",
    "app_member_agencies()",
    "app_current_user()",
    "app_current_agency()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in FUNCTIONS.split(";\n"):
        if statement.strip():
            op.execute(statement)
    for table, column in TENANT_TABLES.items():
        visible = f"app_may_see_agency({column})"
        if table == "memberships":
            # People always see their own memberships, so sign-in can find them.
            visible = f"({visible} OR user_id = app_current_user())"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} USING ({visible})"
            f" WITH CHECK (app_may_see_agency({column}))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for name in FUNCTION_NAMES:
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
