"""Event ids in commit order, handed out inside COMMIT instead of one round trip before.

The live feed resumes by event id, so a reader that has seen id N must never later find
a committed id below N. Until now the application took a transaction-level advisory
lock with its event INSERT, then sent COMMIT: the lock was held across a round trip to
a busy web process. Under load that made a convoy: at 300 approvals a second, 30 and
more transactions waited on the lock while its holder's COMMIT sat in an event loop
(bench/queue/README.md), and every approval's latency went up to ~400 ms for seconds.

Now a deferred constraint trigger does it while the transaction commits: it takes the
same lock and gives each of the transaction's new events its final id from the
sequence. The lock is held for the commit alone (the trigger, the WAL flush) and is
released only after the commit is visible, so ids still follow commit order. The id a
row got at INSERT is provisional and never visible outside its transaction.

The function runs as its owner because the application role may not update events (the
trail is append-only); row-level security still applies to the row it moves.

PostgreSQL only: SQLite serialises writers already.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ":sequence" becomes the name of the sequence behind events.id. The lock is the one the
# application took before, 0x41484576 ("AHEv").
_FUNCTION = """
CREATE FUNCTION events_commit_order() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    -- Held until the commit is visible; taken once, later rows re-enter it.
    PERFORM pg_advisory_xact_lock(1095255414);
    UPDATE events SET id = nextval(':sequence') WHERE id = NEW.id;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    sequence = bind.scalar(text("SELECT pg_get_serial_sequence('events', 'id')"))
    op.execute(_FUNCTION.replace(":sequence", sequence))
    op.execute(
        "CREATE CONSTRAINT TRIGGER events_commit_order AFTER INSERT ON events"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION events_commit_order()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS events_commit_order ON events")
    op.execute("DROP FUNCTION IF EXISTS events_commit_order()")
