"""Client assignments: an agency editor sees and drafts only for the clients assigned
to them (owners and admins see every client). Row-level security like memberships: a
user always sees their own assignments, so sign-in can read them with the memberships.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The policy form of revision 0007: each scope function read once per statement.
_VISIBLE = (
    "((SELECT app_is_system())"
    " OR agency_id = (SELECT app_current_agency())"
    " OR ((SELECT app_current_agency()) IS NULL"
    " AND agency_id = ANY ((SELECT app_member_agencies())::uuid[])))"
)


def _guid() -> advanced_alchemy.types.guid.GUID:
    return advanced_alchemy.types.guid.GUID(length=16)


def upgrade() -> None:
    op.create_table(
        "client_assignments",
        sa.Column("agency_id", _guid(), nullable=False),
        sa.Column("client_id", _guid(), nullable=False),
        sa.Column("membership_id", _guid(), nullable=False),
        sa.Column("user_id", _guid(), nullable=False),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column("created_by_id", _guid(), nullable=True),
        sa.Column("id", _guid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_client_assignments_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_assignments_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_client_assignments_membership_id_memberships"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_client_assignments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_client_assignments_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_assignments")),
        sa.UniqueConstraint(
            "membership_id", "client_id", name=op.f("uq_client_assignments_membership_id_client_id")
        ),
    )
    with op.batch_alter_table("client_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_assignments_agency_id"), ["agency_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_client_assignments_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_client_assignments_user_id"), ["user_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE client_assignments ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE client_assignments FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON client_assignments"
            f" USING ({_VISIBLE} OR user_id = (SELECT app_current_user()))"
            f" WITH CHECK ({_VISIBLE})"
        )


def downgrade() -> None:
    op.drop_table("client_assignments")
