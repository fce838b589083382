"""Emergency plans, escalations armed per draft (with the steps that ran), in-app
notifications and crisis mode; hidden inbound items and paused posts. Row-level
security on every new tenant table, like revision 0004.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "crises",
    "emergency_plans",
    "notifications",
    "draft_escalations",
    "escalation_step_runs",
)


def enable_row_level_security() -> None:
    """The same policy as revision 0002 (app_may_see_agency is defined there)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table}"
            " USING (app_may_see_agency(agency_id)) WITH CHECK (app_may_see_agency(agency_id))"
        )


def upgrade() -> None:
    op.create_table(
        "crises",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column(
            "started_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column("started_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "started_by_draft_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True
        ),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column(
            "ended_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("ended_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_crises_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_crises_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ended_by_id"],
            ["users.id"],
            name=op.f("fk_crises_ended_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["started_by_id"],
            ["users.id"],
            name=op.f("fk_crises_started_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crises")),
    )
    with op.batch_alter_table("crises", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crises_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(
            "ix_crises_open_client_id",
            ["client_id"],
            unique=True,
            postgresql_where=sa.text("ended_at IS NULL"),
            sqlite_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "emergency_plans",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("updated_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_emergency_plans_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_emergency_plans_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_emergency_plans_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_plans")),
        sa.UniqueConstraint("client_id", name=op.f("uq_emergency_plans_client_id")),
    )
    with op.batch_alter_table("emergency_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emergency_plans_agency_id"), ["agency_id"], unique=False
        )

    op.create_table(
        "notifications",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "read_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_notifications_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_notifications_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(
            "ix_notifications_user_id_created_at", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "draft_escalations",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("draft_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("revision_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column(
            "sla_due_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "reminder_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("next_step", sa.Integer(), nullable=True),
        sa.Column(
            "next_due_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_draft_escalations_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_draft_escalations_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["drafts.id"],
            name=op.f("fk_draft_escalations_draft_id_drafts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draft_escalations")),
        sa.UniqueConstraint("draft_id", name=op.f("uq_draft_escalations_draft_id")),
    )
    with op.batch_alter_table("draft_escalations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_draft_escalations_agency_id"), ["agency_id"], unique=False
        )
        batch_op.create_index("ix_draft_escalations_next_due_at", ["next_due_at"], unique=False)

    op.create_table(
        "escalation_step_runs",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("draft_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column(
            "due_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "ran_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.Column("fallback", sa.String(length=32), nullable=True),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_escalation_step_runs_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["drafts.id"],
            name=op.f("fk_escalation_step_runs_draft_id_drafts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_step_runs")),
        sa.UniqueConstraint(
            "draft_id", "round", "step", name=op.f("uq_escalation_step_runs_draft_id_round_step")
        ),
    )
    with op.batch_alter_table("escalation_step_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_escalation_step_runs_agency_id"), ["agency_id"], unique=False
        )

    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "paused_at",
                advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
                nullable=True,
            )
        )

    with op.batch_alter_table("inbound_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "hidden_at",
                advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
                nullable=True,
            )
        )

    enable_row_level_security()


def downgrade() -> None:
    with op.batch_alter_table("inbound_items", schema=None) as batch_op:
        batch_op.drop_column("hidden_at")

    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_column("paused_at")

    with op.batch_alter_table("escalation_step_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalation_step_runs_agency_id"))

    op.drop_table("escalation_step_runs")
    with op.batch_alter_table("draft_escalations", schema=None) as batch_op:
        batch_op.drop_index("ix_draft_escalations_next_due_at")
        batch_op.drop_index(batch_op.f("ix_draft_escalations_agency_id"))

    op.drop_table("draft_escalations")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_id_created_at")
        batch_op.drop_index(batch_op.f("ix_notifications_agency_id"))

    op.drop_table("notifications")
    with op.batch_alter_table("emergency_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergency_plans_agency_id"))

    op.drop_table("emergency_plans")
    with op.batch_alter_table("crises", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_crises_open_client_id",
            postgresql_where=sa.text("ended_at IS NULL"),
            sqlite_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_crises_agency_id"))

    op.drop_table("crises")
