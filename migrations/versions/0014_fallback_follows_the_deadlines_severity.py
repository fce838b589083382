"""The severity whose SLA target set an escalation's deadline (issue #14, item 1).

``draft_escalations.deadline_severity``: a fallback only ever applies to the severity
its deadline belongs to. Agency staff lowering a pending item's severity keep the
earlier deadline (the humans are still paged on time), but that deadline stays the
higher severity's, so the plan's fallback is not taken for the lowered item.

Escalations armed before this revision keep NULL, read as "the draft's severity" (what
their deadline came from). No data is rewritten: under forced row-level security the
owner would need the server's system token to see the rows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("draft_escalations") as batch:
        batch.add_column(sa.Column("deadline_severity", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("draft_escalations") as batch:
        batch.drop_column("deadline_severity")
