"""Row-level security reads the request's scope once per statement, not once per row.

Every ``tenant_isolation`` policy called ``app_may_see_agency(agency_id)``. PostgreSQL
inlines that SQL function, so each row tested re-ran ``current_setting`` three times
and cast its text to a uuid: about 0.5 µs per row, which made counting a client's
20,000 pending drafts cost 10 ms of the queue's 20 ms budget (bench/queue/README.md).
The same test with each scope function in a scalar sub-select becomes an InitPlan:
evaluated once when the statement starts, then compared per row as a parameter
(3.6 ms for those 20,000 rows). Who sees what is unchanged: the expression is the
function's body, term for term; ``tests/integration/test_row_level_security.py`` checks
every policy has this form.

PostgreSQL only; SQLite has no row-level security.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the column that holds the tenant (agency) id; every table with a policy.
TENANT_TABLES = {
    "agencies": "id",
    "clients": "agency_id",
    "memberships": "agency_id",
    "invitations": "agency_id",
    "events": "agency_id",
    "channels": "agency_id",
    "inbound_items": "agency_id",
    "drafts": "agency_id",
    "revisions": "agency_id",
    "decisions": "agency_id",
    "draft_comments": "agency_id",
    "approval_policies": "agency_id",
    "sla_policies": "agency_id",
    "rotas": "agency_id",
    "rota_overrides": "agency_id",
    "rota_swaps": "agency_id",
    "calendar_feeds": "agency_id",
    "statement_templates": "agency_id",
    "crises": "agency_id",
    "emergency_plans": "agency_id",
    "notifications": "agency_id",
    "draft_escalations": "agency_id",
    "escalation_step_runs": "agency_id",
}


def visible_once(column: str) -> str:
    """``app_may_see_agency(column)`` with each scope function read once per statement.

    The array sub-select needs its cast: ``= ANY (SELECT …)`` would compare with each
    row of the sub-select instead of the elements of its one array.
    """
    return (
        f"((SELECT app_is_system())"
        f" OR {column} = (SELECT app_current_agency())"
        f" OR ((SELECT app_current_agency()) IS NULL"
        f" AND {column} = ANY ((SELECT app_member_agencies())::uuid[])))"
    )


def per_row(column: str) -> str:
    return f"app_may_see_agency({column})"


def _alter_policies(visible: Callable[[str], str], current_user: str) -> None:
    for table, column in TENANT_TABLES.items():
        using = visible(column)
        if table == "memberships":
            # People always see their own memberships, so sign-in can find them.
            using = f"({using} OR user_id = {current_user})"
        op.execute(
            f"ALTER POLICY tenant_isolation ON {table}"
            f" USING ({using}) WITH CHECK ({visible(column)})"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _alter_policies(visible_once, "(SELECT app_current_user())")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _alter_policies(per_row, "app_current_user()")
