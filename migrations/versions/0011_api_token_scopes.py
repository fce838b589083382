"""API token scopes: what a token may do ("read", "decide", "manage").

Tokens made before this revision could do everything their person could, so they get
all three scopes: no integration stops working on upgrade. New tokens read only
unless they are given more.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scopes",
                sa.String(length=64),
                nullable=False,
                server_default="read decide manage",
            )
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("scopes", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scopes")
