"""The client's authority over its own people (issue #13, item 3).

* ``clients.verified_domains``: the domains where the agency may invite a client's
  first admin (set by the client's admins or in the tenant file, never by the agency).
* ``invitations.for_agency``: the invitation was sent through an agency role.
* ``memberships.invited_by_agency`` / ``confirmed_at`` / ``confirmed_by_id``: a client
  membership the agency created decides only once a client admin confirmed it.

Client memberships that already came from an invitation sent by agency staff are marked
as the agency's and wait for confirmation: before this revision the agency could invite
anyone into a client, and those people are exactly what a client admin must now vouch
for.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARK_AGENCY_INVITED = """
UPDATE memberships SET invited_by_agency = TRUE
WHERE client_id IS NOT NULL AND EXISTS (
    SELECT 1
    FROM invitations i
    JOIN users u ON u.email = i.email
    JOIN memberships inviter
      ON inviter.user_id = i.invited_by_id
     AND inviter.agency_id = i.agency_id
     AND inviter.client_id IS NULL
    WHERE i.client_id = memberships.client_id
      AND u.id = memberships.user_id
      AND i.accepted_at IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM memberships admin
          WHERE admin.user_id = i.invited_by_id
            AND admin.client_id = i.client_id
            AND admin.role = 'client_admin'
      )
)
"""


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("verified_domains", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("for_agency", sa.Boolean(), nullable=False, server_default=sa.text("FALSE"))
        )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "invited_by_agency",
                sa.Boolean(),
                nullable=False,
                server_default=sa.text("FALSE"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "confirmed_at",
                advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
                nullable=True,
            )
        )
        # No foreign key: who confirmed stays on record (and in the audit trail) even
        # after that account is deleted, and SQLite adds the column without a rebuild.
        batch_op.add_column(
            sa.Column("confirmed_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True)
        )
    if op.get_bind().dialect.name == "postgresql":
        # The owner is subject to the tables' forced row-level security: see all tenants.
        op.execute("SELECT set_config('app.system', 'on', true)")
    op.execute(MARK_AGENCY_INVITED)


def downgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("confirmed_by_id")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("invited_by_agency")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_column("for_agency")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("verified_domains")
