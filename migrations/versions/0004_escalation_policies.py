"""Escalation: SLA policies, coverage rotas with overrides, swap requests and calendar
feeds, and statement templates, with row-level security like every tenant table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "sla_policies",
    "rotas",
    "rota_overrides",
    "rota_swaps",
    "calendar_feeds",
    "statement_templates",
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
        "calendar_feeds",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "rotated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_calendar_feeds_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_calendar_feeds_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_calendar_feeds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint(
            "client_id", "user_id", name=op.f("uq_calendar_feeds_client_id_user_id")
        ),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
    )
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calendar_feeds_agency_id"), ["agency_id"], unique=False
        )

    op.create_table(
        "rota_overrides",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("substitute_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("replaces_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "starts_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "ends_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_rota_overrides_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_rota_overrides_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_rota_overrides_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["users.id"],
            name=op.f("fk_rota_overrides_replaces_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["substitute_id"],
            ["users.id"],
            name=op.f("fk_rota_overrides_substitute_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_overrides")),
    )
    with op.batch_alter_table("rota_overrides", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rota_overrides_agency_id"), ["agency_id"], unique=False
        )
        batch_op.create_index(
            "ix_rota_overrides_client_id_ends_at", ["client_id", "ends_at"], unique=False
        )

    op.create_table(
        "rotas",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("layers", sa.JSON(), nullable=False),
        sa.Column("gap_contact_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
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
            name=op.f("fk_rotas_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_rotas_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["gap_contact_id"],
            ["users.id"],
            name=op.f("fk_rotas_gap_contact_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_rotas_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotas")),
        sa.UniqueConstraint("client_id", name=op.f("uq_rotas_client_id")),
    )
    with op.batch_alter_table("rotas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rotas_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "sla_policies",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("reminder_at", sa.Double(), nullable=False),
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
            name=op.f("fk_sla_policies_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_sla_policies_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_sla_policies_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("client_id", name=op.f("uq_sla_policies_client_id")),
    )
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_policies_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "statement_templates",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("proposed_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("approved_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "approved_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("retired_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "retired_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
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
            name=op.f("fk_statement_templates_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["users.id"],
            name=op.f("fk_statement_templates_approved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_statement_templates_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["users.id"],
            name=op.f("fk_statement_templates_proposed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["retired_by_id"],
            ["users.id"],
            name=op.f("fk_statement_templates_retired_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_templates")),
        sa.UniqueConstraint(
            "client_id", "name", name=op.f("uq_statement_templates_client_id_name")
        ),
    )
    with op.batch_alter_table("statement_templates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_statement_templates_agency_id"), ["agency_id"], unique=False
        )
        batch_op.create_index(
            "ix_statement_templates_client_id_status", ["client_id", "status"], unique=False
        )

    op.create_table(
        "rota_swaps",
        sa.Column("agency_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("client_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("requester_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("colleague_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column(
            "starts_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "ends_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("override_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "decided_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_rota_swaps_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_rota_swaps_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["colleague_id"],
            ["users.id"],
            name=op.f("fk_rota_swaps_colleague_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["override_id"],
            ["rota_overrides.id"],
            name=op.f("fk_rota_swaps_override_id_rota_overrides"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_rota_swaps_requester_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_swaps")),
    )
    with op.batch_alter_table("rota_swaps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rota_swaps_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(
            "ix_rota_swaps_client_id_created_at", ["client_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rota_swaps_colleague_id"), ["colleague_id"], unique=False
        )

    enable_row_level_security()


def downgrade() -> None:
    with op.batch_alter_table("rota_swaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rota_swaps_colleague_id"))
        batch_op.drop_index("ix_rota_swaps_client_id_created_at")
        batch_op.drop_index(batch_op.f("ix_rota_swaps_agency_id"))

    op.drop_table("rota_swaps")
    with op.batch_alter_table("statement_templates", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_templates_client_id_status")
        batch_op.drop_index(batch_op.f("ix_statement_templates_agency_id"))

    op.drop_table("statement_templates")
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_policies_agency_id"))

    op.drop_table("sla_policies")
    with op.batch_alter_table("rotas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rotas_agency_id"))

    op.drop_table("rotas")
    with op.batch_alter_table("rota_overrides", schema=None) as batch_op:
        batch_op.drop_index("ix_rota_overrides_client_id_ends_at")
        batch_op.drop_index(batch_op.f("ix_rota_overrides_agency_id"))

    op.drop_table("rota_overrides")
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_feeds_agency_id"))

    op.drop_table("calendar_feeds")
