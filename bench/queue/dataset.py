"""The benchmark database: created, migrated like production, bulk-loaded with SQL.

Shape (all ids deterministic, so every phase can find its rows again):

* ``clients / 10`` agencies of 10 clients; 3 channels per client; one editor per
  agency who wrote every revision (so four-eyes never refuses the approvers).
* ``drafts`` drafts with one revision each. Client 0 is the *hot* client: every
  ``drafts // hot_drafts``-th draft is its, the rest spread evenly over the others.
* status mix: 40 % pending, 30 % approved, 10 % published, 5 % rejected,
  5 % changes requested, 5 % draft, 5 % withdrawn; severity 5 % crisis, 15 % high,
  80 % normal; 30 % replies (each with its inbound comment and a second wording).
* every decided draft has its decision row, as in production.
* one approver per client for the first ``approver_clients`` clients after the hot one.

Rows are written as the owner (``postgres``, which bypasses row-level security);
the application reads them as ``agencyhub_app``, under RLS.
"""

# ruff: noqa: S608 - the SQL is composed from this module's constants; values are bound.

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import make_url

from agencyhub import dbadmin
from agencyhub.config import Settings
from agencyhub.db import create_engine

APP_ROLE = "agencyhub_app"
PASSWORD = "bench-queue-password"
CLIENTS_PER_AGENCY = 10
SPAN_DAYS = 60

# A UUIDv7-shaped id from a time and a seed: time-ordered like the app's new_id().
UUID7_FUNCTION = """
CREATE OR REPLACE FUNCTION bench_uuid7(ms bigint, seed text) RETURNS uuid
    LANGUAGE sql IMMUTABLE AS
    $$ SELECT (lpad(to_hex(ms), 12, '0') || '7' || substr(md5(seed), 1, 3) || '8'
               || substr(md5(seed), 4, 15))::uuid $$
"""
BENCH_ID_FUNCTION = """
CREATE OR REPLACE FUNCTION bench_id(kind text, n bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE AS $$ SELECT md5('bench-' || kind || '-' || n)::uuid $$
"""
# g -> its client: the hot client takes every k-th draft, the others share the rest.
CLIENT_OF = "(CASE WHEN g % NULLIF(:hot_every, 0) = 0 THEN 0 ELSE 1 + g % (:clients - 1) END)"
DRAFT_ROWS = f"""
SELECT g,
       {CLIENT_OF} AS c,
       (CAST(:t0_ms AS bigint) - CAST(:span_ms AS bigint)
        + g * CAST(:span_ms AS bigint) / :drafts) AS created_ms,
       abs(hashtext('status' || g)) % 100 AS s,
       abs(hashtext('severity' || g)) % 100 AS v,
       abs(hashtext('kind' || g)) % 100 < 30 AS is_reply
FROM generate_series(0, CAST(:drafts AS int) - 1) AS g
"""
STATUS = """CASE WHEN s < 40 THEN 'pending' WHEN s < 70 THEN 'approved'
    WHEN s < 80 THEN 'published' WHEN s < 85 THEN 'rejected'
    WHEN s < 90 THEN 'changes_requested' WHEN s < 95 THEN 'draft' ELSE 'withdrawn' END"""
SEVERITY = "CASE WHEN v < 5 THEN 'crisis' WHEN v < 20 THEN 'high' ELSE 'normal' END"
SEVERITY_ORDER = "CASE WHEN v < 5 THEN 0 WHEN v < 20 THEN 1 ELSE 2 END"
# The service's default response targets (approvals.service.DEFAULT_RESPONSE_TARGETS).
TARGET_MINUTES = "CASE WHEN v < 5 THEN 15 WHEN v < 20 THEN 60 ELSE 240 END"
MS = "* interval '1 millisecond'"
TS = f"(timestamptz 'epoch' + created_ms {MS})"
SUBMITTED = f"(timestamptz 'epoch' + (created_ms + 600000) {MS})"

# Order matters: foreign keys point backwards.
LOAD_STEPS: tuple[tuple[str, str], ...] = (
    (
        "agencies",
        """INSERT INTO agencies (id, slug, name, plan, subscription_status, created_at, updated_at)
        SELECT bench_id('agency', a), 'bench-agency-' || a, 'Bench Agency ' || a, 'agency',
               'active', now(), now()
        FROM generate_series(0, :agencies - 1) AS a""",
    ),
    (
        "clients",
        f"""INSERT INTO clients (id, agency_id, slug, name, timezone, locale, created_at,
                                updated_at)
        SELECT bench_id('client', c), bench_id('agency', c / {CLIENTS_PER_AGENCY}),
               'bench-client-' || c, 'Bench Client ' || c, 'Europe/Berlin', 'de', now(), now()
        FROM generate_series(0, :clients - 1) AS c""",
    ),
    (
        "users",
        """INSERT INTO users (id, email, name, locale, password_hash, is_active, created_at,
                              updated_at)
        SELECT bench_id('editor', a), 'editor' || a || '@bench.example', 'Editor ' || a, 'de',
               :password_hash, true, now(), now()
        FROM generate_series(0, :agencies - 1) AS a
        UNION ALL
        SELECT bench_id('approver', c), 'approver' || c || '@bench.example', 'Approver ' || c,
               'de', :password_hash, true, now(), now()
        FROM generate_series(0, :approver_clients) AS c""",
    ),
    (
        "memberships",
        f"""INSERT INTO memberships (id, agency_id, client_id, user_id, role, created_at,
                                    updated_at)
        SELECT bench_id('editor-membership', a), bench_id('agency', a), NULL,
               bench_id('editor', a), 'editor', now(), now()
        FROM generate_series(0, :agencies - 1) AS a
        UNION ALL
        SELECT bench_id('approver-membership', c),
               bench_id('agency', c / {CLIENTS_PER_AGENCY}), bench_id('client', c),
               bench_id('approver', c), 'approver', now(), now()
        FROM generate_series(0, :approver_clients) AS c""",
    ),
    (
        "channels",
        f"""INSERT INTO channels (id, agency_id, client_id, platform, handle, display_name,
                                 text_limit, created_at, updated_at)
        SELECT bench_id('channel', c * 3 + k), bench_id('agency', c / {CLIENTS_PER_AGENCY}),
               bench_id('client', c), (ARRAY['instagram', 'linkedin', 'facebook'])[k + 1],
               '@client' || c, 'Client ' || c, 2200, now(), now()
        FROM generate_series(0, :clients - 1) AS c, generate_series(0, 2) AS k""",
    ),
    (
        "inbound_items",
        f"""INSERT INTO inbound_items (id, agency_id, client_id, channel_id, external_id, kind,
                                      author_name, author_handle, body, url, severity,
                                      received_at, created_at)
        SELECT bench_id('inbound', g), bench_id('agency', c / {CLIENTS_PER_AGENCY}),
               bench_id('client', c), bench_id('channel', c * 3 + g % 3), 'bench-' || g,
               'comment', 'Follower ' || g, '@follower' || g,
               'Warum ist das Brot heute so teuer? Frage Nummer ' || g, '', {SEVERITY},
               {TS}, {TS}
        FROM ({DRAFT_ROWS}) AS d WHERE is_reply""",
    ),
    (
        "drafts",
        f"""INSERT INTO drafts (id, agency_id, client_id, kind, channel_id, inbound_item_id,
                               title, status, severity, severity_order, version,
                               current_revision_id, revision_count, scheduled_for, submitted_at,
                               sla_due_at, decided_at, approved_wording, created_by_id,
                               created_at, updated_at)
        SELECT bench_uuid7(created_ms, 'draft' || g),
               bench_id('agency', c / {CLIENTS_PER_AGENCY}),
               bench_id('client', c), CASE WHEN is_reply THEN 'reply' ELSE 'post' END,
               bench_id('channel', c * 3 + g % 3),
               CASE WHEN is_reply THEN bench_id('inbound', g) END,
               'Draft ' || g, {STATUS}, {SEVERITY}, {SEVERITY_ORDER},
               CASE WHEN s < 40 THEN 2 WHEN s < 90 THEN 3 ELSE 1 END,
               bench_uuid7(created_ms, 'revision' || g), 1, NULL,
               CASE WHEN s < 95 THEN {SUBMITTED} END,
               CASE WHEN s < 95 THEN {SUBMITTED} + {TARGET_MINUTES} * interval '1 minute' END,
               CASE WHEN s >= 40 AND s < 90 THEN {SUBMITTED} + interval '30 minutes' END,
               CASE WHEN s >= 40 AND s < 80 THEN 0 END,
               bench_id('editor', c / {CLIENTS_PER_AGENCY}), {TS}, {TS}
        FROM ({DRAFT_ROWS}) AS d""",
    ),
    (
        "revisions",
        f"""INSERT INTO revisions (id, agency_id, draft_id, number, body, alternatives, media,
                                  rationale, author_id, created_at)
        SELECT bench_uuid7(created_ms, 'revision' || g),
               bench_id('agency', c / {CLIENTS_PER_AGENCY}),
               bench_uuid7(created_ms, 'draft' || g), 1,
               'Frische Brötchen ab 6 Uhr in allen Filialen! Heute mit Angebot Nummer ' || g
                   || '. Wir freuen uns auf Ihren Besuch.',
               CASE WHEN is_reply THEN '["Danke für Ihre Frage, wir melden uns."]'::json
                    ELSE '[]'::json END,
               '[]'::json, 'Morgens erreicht der Kanal die meisten Menschen.',
               bench_id('editor', c / {CLIENTS_PER_AGENCY}), {TS}
        FROM ({DRAFT_ROWS}) AS d""",
    ),
    (
        "decisions",
        f"""INSERT INTO decisions (id, agency_id, draft_id, revision_id, user_id, role, decision,
                                  wording, comment, created_at)
        SELECT bench_uuid7(created_ms + 1800000, 'decision' || g),
               bench_id('agency', c / {CLIENTS_PER_AGENCY}),
               bench_uuid7(created_ms, 'draft' || g), bench_uuid7(created_ms, 'revision' || g),
               NULL, 'approver',
               CASE WHEN s < 80 THEN 'approve' WHEN s < 85 THEN 'reject'
                    ELSE 'request_changes' END,
               CASE WHEN s < 80 THEN 0 END, '', {SUBMITTED} + interval '30 minutes'
        FROM ({DRAFT_ROWS}) AS d WHERE s >= 40 AND s < 90""",
    ),
)

# Schema changes that are not in the migrations (yet), to measure them: --proposed NAME.
PROPOSED: dict[str, tuple[str, ...]] = {
    # agency_id in the queue index lets the tenant criteria and the RLS policy be checked
    # on index tuples: the page keys and the count become ordered index-only scans.
    "queue-index-include-agency": (
        "DROP INDEX ix_drafts_queue",
        "CREATE INDEX ix_drafts_queue ON drafts"
        " (client_id, sla_due_at, severity_order, submitted_at, id) INCLUDE (agency_id)"
        " WHERE status = 'pending'",
    ),
    # approvals.service._facts reads decisions by revision_id alone; the only index
    # leads with draft_id, so every decision scans the whole table.
    "decisions-revision-index": (
        "CREATE INDEX ix_decisions_revision_id ON decisions (revision_id)",
    ),
}

BENCH_SECRET_KEY = "bench-secret-key-for-production-mode-servers-0001"


@dataclass(frozen=True)
class Shape:
    drafts: int
    clients: int
    hot_drafts: int
    approver_clients: int

    @property
    def agencies(self) -> int:
        return -(-self.clients // CLIENTS_PER_AGENCY)

    @property
    def hot_every(self) -> int:
        return self.drafts // self.hot_drafts if self.hot_drafts else 0


@dataclass
class Urls:
    """The bench database as its owner and as the application role."""

    admin: str
    name: str

    @property
    def owner(self) -> str:
        return make_url(self.admin).set(database=self.name).render_as_string(hide_password=False)

    @property
    def app(self) -> str:
        url = make_url(self.admin).set(database=self.name, username=APP_ROLE, password=None)
        return url.render_as_string(hide_password=False)

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "environment": "test",
            "database_url": self.app,
            "migration_database_url": self.owner,
            "log_level": "WARNING",
            # The production-mode servers run with it: the migration records its
            # system-scope digest (agencyhub.db.system_key).
            "secret_key": BENCH_SECRET_KEY,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]


@dataclass
class LoadReport:
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    sizes_mb: dict[str, float] = field(default_factory=dict)


async def admin_execute(admin_url: str, *statements: str) -> None:
    engine = create_engine(admin_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def recreate_database(urls: Urls) -> None:
    await admin_execute(
        urls.admin,
        f'DROP DATABASE IF EXISTS "{urls.name}" WITH (FORCE)',
        f'CREATE DATABASE "{urls.name}"',
    )


async def drop_database(admin_url: str, name: str) -> None:
    await admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(urls: Urls) -> None:
    """As production: the app role (NOBYPASSRLS) exists, the owner migrates and grants."""
    settings = urls.settings()
    asyncio.run(dbadmin.create_app_role(settings))
    dbadmin.upgrade(settings)


async def load(urls: Urls, shape: Shape, password_hash: str, t0_ms: int) -> LoadReport:
    params = {
        "drafts": shape.drafts,
        "clients": shape.clients,
        "agencies": shape.agencies,
        "approver_clients": shape.approver_clients,
        "hot_every": shape.hot_every,
        "t0_ms": t0_ms,
        "span_ms": SPAN_DAYS * 86_400_000,
        "password_hash": password_hash,
    }
    report = LoadReport()
    engine = create_engine(urls.owner, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(UUID7_FUNCTION))
            await conn.execute(text(BENCH_ID_FUNCTION))
        for table, statement in LOAD_STEPS:
            started = time.perf_counter()
            async with engine.begin() as conn:
                result = await conn.execute(text(statement), _used(statement, params))
            report.seconds[table] = round(time.perf_counter() - started, 2)
            report.rows[table] = result.rowcount
            print(f"  loaded {table:<14} {result.rowcount:>9,} rows in {report.seconds[table]} s")
    finally:
        await engine.dispose()
    return report


def _used(statement: str, params: dict[str, object]) -> dict[str, object]:
    return {name: value for name, value in params.items() if f":{name}" in statement}


async def vacuum_analyze(urls: Urls) -> float:
    """Fresh statistics and a set visibility map, as a settled production table has."""
    started = time.perf_counter()
    await admin_execute(urls.owner, "VACUUM (ANALYZE)")
    return round(time.perf_counter() - started, 2)


async def apply_proposed(urls: Urls, names: list[str]) -> None:
    statements = [statement for name in names for statement in PROPOSED[name]]
    await admin_execute(urls.owner, *statements, "VACUUM (ANALYZE) drafts, decisions")


async def table_sizes(urls: Urls) -> dict[str, float]:
    engine = create_engine(urls.owner, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT relname, pg_total_relation_size(oid) / 1048576.0 FROM pg_class"
                    " WHERE relname IN ('drafts', 'revisions', 'decisions', 'inbound_items',"
                    " 'ix_drafts_queue') ORDER BY relname"
                )
            )
            return {name: round(float(size), 1) for name, size in rows}
    finally:
        await engine.dispose()
