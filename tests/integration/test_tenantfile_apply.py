"""Applying and exporting tenant files against a real database (PostgreSQL and SQLite)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from agencyhub.audit.models import Event
from agencyhub.config import Settings
from agencyhub.db import Database, Scope, transaction, utcnow
from agencyhub.errors import NotFound
from agencyhub.escalation.models import (
    EmergencyPlanRecord,
    RotaRecord,
    SlaPolicyRecord,
    StatementTemplate,
)
from agencyhub.tenancy.models import Agency, Client, ClientAssignment, Invitation, Membership, User
from agencyhub.tenancy.secrets import Passwords, token_digest
from agencyhub.tenantfiles.files import (
    TenantFileConflict,
    TenantFileInvalid,
    TenantSpec,
    apply_tenant_specs,
    export_agency,
    load_tenant_files,
)
from tests.conftest import REPO_ROOT, TestDatabase, empty_all_tables, test_settings

DEMO_FILES = sorted((REPO_ROOT / "tenants").glob("*.toml"))
SETTINGS = test_settings("sqlite+aiosqlite://", base_url="https://hub.example/")
MODELS = {
    "agencies": Agency,
    "clients": Client,
    "users": User,
    "memberships": Membership,
    "invitations": Invitation,
    "sla_policies": SlaPolicyRecord,
    "statement_templates": StatementTemplate,
    "emergency_plans": EmergencyPlanRecord,
    "rotas": RotaRecord,
    "client_assignments": ClientAssignment,
    "events": Event,
}

PRODUCTION_FILE = """\
[agency]
slug = "hafenblick"
name = "Hafenblick Kommunikation"

[[people]]
email = "inhaberin@hafenblick.example"
name = "Greta Hansen"
role = "owner"

[[clients]]
slug = "reederei-moewe"
name = "Reederei Möwe"
timezone = "Europe/Berlin"

[[clients.people]]
email = "freigabe@moewe.example"
name = "Hauke Jensen"
role = "approver"
"""


async def counts(db: Database) -> dict[str, int]:
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in MODELS.items()
        }


async def rows(db: Database, model: type[Any]) -> list[Any]:
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        return list(await session.scalars(select(model)))


async def user(db: Database, email: str) -> User:
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        found = await session.scalar(select(User).where(User.email == email))
    assert found is not None
    return found


async def apply_files(
    db: Database, passwords: Passwords, paths: list[Path], settings: Settings = SETTINGS
) -> Any:
    specs = load_tenant_files(paths, environment=settings.environment)
    return await apply_tenant_specs(db, passwords, settings, specs)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def timestamps(db: Database) -> dict[str, list[datetime]]:
    return {
        name: sorted(row.updated_at for row in await rows(db, model))
        for name, model in (("agencies", Agency), ("clients", Client), ("users", User))
    } | {
        name: sorted(row.updated_at for row in await rows(db, model))
        for name, model in (
            ("memberships", Membership),
            ("sla_policies", SlaPolicyRecord),
            ("statement_templates", StatementTemplate),
            ("emergency_plans", EmergencyPlanRecord),
            ("rotas", RotaRecord),
        )
    }


# --- the demo tenants ---------------------------------------------------------------------


async def test_applying_the_demo_files_creates_the_demo_tenants(
    database: Database, passwords: Passwords
) -> None:
    report = await apply_files(database, passwords, DEMO_FILES)

    assert report.changed
    assert report.invitations == []
    numbers = await counts(database)
    assert {k: v for k, v in numbers.items() if k != "events"} == {
        "agencies": 2,
        "clients": 3,
        "users": 11,
        "memberships": 11,
        "invitations": 0,
        "sla_policies": 1,
        "statement_templates": 1,
        "emergency_plans": 1,
        "rotas": 1,
        "client_assignments": 2,
    }
    deputy = await user(database, "vertretung@sonnenschein.example")
    assert passwords.verify(deputy.password_hash, "demo")
    assert deputy.name == "Tobias Krüger"
    assert all(u.password_hash for u in await rows(database, User))
    memberships = {(m.role, m.client_id is None) for m in await rows(database, Membership)}
    assert ("owner", True) in memberships
    assert ("client_admin", False) in memberships
    events = await rows(database, Event)
    assert numbers["events"] == len(report.changes)
    assert all(e.payload["source"] == "tenant file" for e in events)
    # The file's name, never the machine's path (issue #14, item 10).
    assert {e.payload["file"] for e in events} == {"nordlicht.toml", "wellenreiter.toml"}
    # The template's approval is the client's executive's own, as through the API.
    (approval,) = [e for e in events if e.actor_kind != "system"]
    chefin = await user(database, "chefin@sonnenschein.example")
    assert (approval.type, approval.actor_user_id) == ("template.approved", chefin.id)
    assert approval.payload["role"] == "executive"
    assert all(e.actor_user_id is None for e in events if e is not approval)
    assert {e.type for e in events} == {
        "agency.created",
        "client.created",
        "user.created",
        "user.password_set",
        "membership.created",
        "assignment.created",
        "sla_policy.updated",
        "template.proposed",
        "template.approved",
        "emergency_plan.updated",
        "rota.updated",
    }


async def test_reapplying_changes_nothing_and_writes_nothing(
    database: Database, passwords: Passwords
) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    before, stamps = await counts(database), await timestamps(database)

    report = await apply_files(database, passwords, DEMO_FILES)

    assert report.changes == []
    assert report.invitations == []
    assert not report.changed
    assert await counts(database) == before  # no new events either
    assert await timestamps(database) == stamps


async def test_a_demo_reset_sets_the_password_back(
    database: Database, passwords: Passwords
) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        owner = await session.scalar(select(User).where(User.email == "owner@nordlicht.example"))
        assert owner is not None
        owner.password_hash = passwords.hash("changed by Nora herself")

    report = await apply_files(database, passwords, DEMO_FILES)

    assert report.changes == ["set the demo password of owner@nordlicht.example"]
    assert passwords.verify((await user(database, "owner@nordlicht.example")).password_hash, "demo")


# --- changes ------------------------------------------------------------------------------


async def test_changes_are_applied_and_reported_but_people_keep_their_own_settings(
    database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    text = (REPO_ROOT / "tenants" / "wellenreiter.toml").read_text(encoding="utf-8")
    text = text.replace('name = "Alpenhof"', 'name = "Hotel Alpenhof"')
    text = text.replace(
        'name = "Anna Gruber"\nrole = "approver"', 'name = "A. Gruber"\nrole = "viewer"'
    )
    text += '\n[[clients.people]]\nemail = "Neu@Alpenhof.example"\nrole = "viewer"\n'
    changed = write(tmp_path, "wellenreiter.toml", text)

    report = await apply_files(database, passwords, [changed])

    assert report.changes == [
        "updated client wellenreiter/alpenhof: name",
        "changed freigabe@alpenhof.example in wellenreiter/alpenhof from approver to viewer",
        "created user neu@alpenhof.example",
        "added neu@alpenhof.example to wellenreiter/alpenhof as viewer",
        "set the demo password of neu@alpenhof.example",
    ]
    anna = await user(database, "freigabe@alpenhof.example")
    assert anna.name == "Anna Gruber"  # her own name stays
    newcomer = await user(database, "neu@alpenhof.example")
    assert (newcomer.name, newcomer.locale) == ("", "de")  # the client's locale
    (client,) = [c for c in await rows(database, Client) if c.slug == "alpenhof"]
    assert client.name == "Hotel Alpenhof"
    updated = [e for e in await rows(database, Event) if e.type == "membership.updated"]
    assert [(e.payload["role"], e.payload["newRole"]) for e in updated] == [("approver", "viewer")]
    assert updated[0].client_id == client.id


async def test_nothing_is_deleted(database: Database, passwords: Passwords, tmp_path: Path) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    before = await counts(database)
    text = (REPO_ROOT / "tenants" / "wellenreiter.toml").read_text(encoding="utf-8")
    shorter = write(tmp_path, "wellenreiter.toml", text.split("[[clients]]")[0])

    report = await apply_files(database, passwords, [shorter])

    assert report.changes == []
    assert await counts(database) == before


# --- SLA policy, templates, emergency plan ---------------------------------------------------

NORDLICHT = REPO_ROOT / "tenants" / "nordlicht.toml"


async def template(db: Database, name: str) -> StatementTemplate:
    (found,) = [t for t in await rows(db, StatementTemplate) if t.name == name]
    return found


async def test_the_demo_escalation_tables_are_stored_as_the_api_stores_them(
    database: Database, passwords: Passwords
) -> None:
    await apply_files(database, passwords, DEMO_FILES)

    (policy,) = await rows(database, SlaPolicyRecord)
    assert policy.targets["normal"] == {"minutes": 240, "businessHoursOnly": True}
    assert policy.targets["crisis"] == {"minutes": 3, "businessHoursOnly": False}
    assert {"weekday": 5, "opens": "07:00", "closes": "13:00"} in policy.hours
    assert "2026-10-31" in policy.holidays  # Reformationstag in Hamburg
    assert policy.reminder_at == 0.75
    holding = await template(database, "Haltestatement")
    chefin = await user(database, "chefin@sonnenschein.example")
    assert (holding.status, holding.approved_by_id, holding.version) == ("approved", chefin.id, 1)
    assert holding.approved_at is not None
    (plan,) = await rows(database, EmergencyPlanRecord)
    assert [step["afterMinutes"] for step in plan.steps] == [0, 2, 4]
    assert plan.steps[-1]["fallback"] == {
        "action": "publish_template",
        "templateId": str(holding.id),
        "waitMinutes": 2,
    }
    (rota,) = await rows(database, RotaRecord)
    approvers = [
        await user(database, "freigabe@sonnenschein.example"),
        await user(database, "vertretung@sonnenschein.example"),
    ]
    assert rota.gap_contact_id == chefin.id
    assert rota.layers == [
        {
            "participants": [str(approver.id) for approver in approvers],
            "startsAt": "2026-01-05T09:00:00+01:00",
            "rotation": "weekly",
            "handoff": "09:00",
            "timezone": "Europe/Berlin",
            "endsAt": None,
        }
    ]


async def test_changed_escalation_tables_are_updated_with_events(
    database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    first = await template(database, "Haltestatement")
    text = NORDLICHT.read_text(encoding="utf-8")
    text = text.replace('sat = "07:00-13:00"', 'sat = "07:00-12:00"')
    text = text.replace("Wir haben sie gesehen", "Wir haben sie gelesen")
    text = text.replace("after_minutes = 4", "after_minutes = 45")
    text = text.replace('rotation = "weekly"', 'rotation = "daily"')
    changed = write(tmp_path, "nordlicht.toml", text)

    report = await apply_files(database, passwords, [changed])

    where = "nordlicht/baeckerei-sonnenschein"
    assert report.changes == [
        f"set the SLA policy of {where}",
        f'reworded template "Haltestatement" of {where}',
        f'template "Haltestatement" of {where} approved by chefin@sonnenschein.example',
        f"set the emergency plan of {where}",
        f"set the rota of {where}",
    ]
    reworded = await template(database, "Haltestatement")
    assert reworded.id == first.id
    assert (reworded.version, reworded.status) == (2, "approved")
    assert "gelesen" in reworded.body
    events = [e for e in await rows(database, Event) if e.type == "template.updated"]
    assert [(e.payload["version"], e.payload["approvalWithdrawn"]) for e in events] == [(2, True)]
    (policy,) = await rows(database, SlaPolicyRecord)
    assert {"weekday": 5, "opens": "07:00", "closes": "12:00"} in policy.hours
    assert (await apply_files(database, passwords, [changed])).changes == []


async def test_a_template_without_approver_is_only_proposed_and_keeps_an_app_approval(
    database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    text = NORDLICHT.read_text(encoding="utf-8")
    text = text.replace('approved_by = "chefin@sonnenschein.example"\n', "")
    text = text.split("# Who hears about an item")[0]  # a plan would need the approval
    text = text.replace('clients = ["stadtwerke-musterstadt"]\n', "")  # cut off above
    text += '\n[[clients.templates]]\nname = "Geschlossen"\nbody = "Heute geschlossen."\n'
    proposed = write(tmp_path, "nordlicht.toml", text)

    report = await apply_files(database, passwords, [proposed])

    assert not any("approved by" in change for change in report.changes)
    assert {t.name: t.status for t in await rows(database, StatementTemplate)} == {
        "Haltestatement": "proposed",
        "Geschlossen": "proposed",
    }
    # Approving through the app stands: a file without approved_by never withdraws it.
    approved = write(tmp_path, "approved.toml", NORDLICHT.read_text(encoding="utf-8"))
    await apply_files(database, passwords, [approved])
    assert (await apply_files(database, passwords, [proposed])).changes == []
    assert (await template(database, "Haltestatement")).status == "approved"


async def test_a_retired_template_in_the_file_is_a_conflict(
    database: Database, passwords: Passwords
) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        holding = await session.scalar(select(StatementTemplate))
        assert holding is not None
        holding.status = "retired"
    before = await counts(database)

    with pytest.raises(TenantFileConflict) as raised:
        await apply_files(database, passwords, [NORDLICHT])

    text = NORDLICHT.read_text(encoding="utf-8")
    line = text.splitlines().index("[[clients.templates]]") + 1
    assert [str(p) for p in raised.value.problems] == [
        f'{NORDLICHT}:{line}: templates: template "Haltestatement" is retired in the app;'
        " give the new wording another name or remove it from this file"
    ]
    assert await counts(database) == before


# --- files that must not be applied -------------------------------------------------------


async def test_a_broken_file_changes_nothing(
    database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    broken = write(
        tmp_path,
        "broken.toml",
        '[agency]\nslug = "kaputt"\nname = "Kaputt"\n\n[[people]]\nemail = "a@b.example"\n'
        'role = "approver"\n',
    )

    with pytest.raises(TenantFileInvalid) as raised:
        await apply_files(database, passwords, [*DEMO_FILES, broken])

    # The missing owner is reported alongside the wrong role, so one run shows every mistake.
    assert [str(p) for p in raised.value.problems] == [
        f'{broken}:5: people: the agency needs at least one [[people]] entry with role "owner"',
        f'{broken}:7: people[0].role: "approver" is a client role; agency staff ([[people]])'
        " can be admin, editor, owner",
    ]
    assert set((await counts(database)).values()) == {0}


async def test_an_archived_client_is_a_conflict_and_nothing_is_written(
    database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        client = await session.scalar(select(Client).where(Client.slug == "alpenhof"))
        assert client is not None
        client.archived_at = utcnow()
    before = await counts(database)
    text = (REPO_ROOT / "tenants" / "wellenreiter.toml").read_text(encoding="utf-8")
    text = text.replace('name = "Wellenreiter Media"', 'name = "Wellenreiter Media GmbH"')
    changed = write(tmp_path, "wellenreiter.toml", text)

    with pytest.raises(TenantFileConflict) as raised:
        await apply_files(database, passwords, [changed])

    slug_line = text.splitlines().index('slug = "alpenhof"') + 1
    assert [str(p) for p in raised.value.problems] == [
        f'{changed}:{slug_line}: clients: client "alpenhof" is archived in the app;'
        " restore it there or remove it from this file"
    ]
    assert await counts(database) == before
    agency = next(a for a in await rows(database, Agency) if a.slug == "wellenreiter")
    assert agency.name == "Wellenreiter Media"  # the rename before the conflict rolled back


async def test_production_refuses_demo_files(database: Database, passwords: Passwords) -> None:
    with pytest.raises(TenantFileInvalid):
        load_tenant_files(DEMO_FILES, environment="production")
    # Specs loaded elsewhere are checked again against the settings they are applied with.
    specs = load_tenant_files(DEMO_FILES, environment="demo")
    production = dataclasses.replace(SETTINGS, environment="production")
    with pytest.raises(TenantFileInvalid) as raised:
        await apply_tenant_specs(database, passwords, production, specs)
    assert {p.message for p in raised.value.problems} == {
        "demo: a [demo] table (with its shared password) is refused in production"
    }
    assert set((await counts(database)).values()) == {0}


async def test_the_same_agency_twice_is_refused_at_apply_too(
    database: Database, passwords: Passwords
) -> None:
    (spec,) = load_tenant_files(DEMO_FILES[:1])
    twice: list[TenantSpec] = [spec, dataclasses.replace(spec, file="copy.toml")]
    with pytest.raises(TenantFileInvalid):
        await apply_tenant_specs(database, passwords, SETTINGS, twice)
    assert set((await counts(database)).values()) == {0}


# --- production files: invitations --------------------------------------------------------


async def test_a_production_file_invites_people_without_a_password(
    database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    path = write(tmp_path, "hafenblick.toml", PRODUCTION_FILE)

    report = await apply_files(database, passwords, [path])

    assert [email for email, _ in report.invitations] == [
        "inhaberin@hafenblick.example",
        "freigabe@moewe.example",
    ]
    assert all(u.password_hash is None for u in await rows(database, User))
    invitations = {i.email: i for i in await rows(database, Invitation)}
    for email, url in report.invitations:
        assert url.startswith("https://hub.example/invitations/ahi_")
        token = url.rsplit("/", 1)[1]
        invitation = invitations[email]
        assert invitation.token_hash == token_digest(token)
        assert invitation.accepted_at is None
        assert invitation.invited_by_id is None
        assert invitation.expires_at > utcnow()
    assert invitations["freigabe@moewe.example"].role == "approver"
    assert invitations["freigabe@moewe.example"].client_id is not None
    assert (await counts(database))["memberships"] == 2  # roles are in place at once

    again = await apply_files(database, passwords, [path])

    assert again.changes == []
    assert again.invitations == []
    assert (await counts(database))["invitations"] == 2


async def test_a_changed_role_replaces_the_pending_invitation(
    database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    path = write(tmp_path, "hafenblick.toml", PRODUCTION_FILE)
    await apply_files(database, passwords, [path])
    write(tmp_path, "hafenblick.toml", PRODUCTION_FILE.replace('"approver"', '"executive"'))

    report = await apply_files(database, passwords, [path])

    assert [email for email, _ in report.invitations] == ["freigabe@moewe.example"]
    moewe = [i for i in await rows(database, Invitation) if i.email == "freigabe@moewe.example"]
    assert sorted((i.role, i.revoked_at is None) for i in moewe) == [
        ("approver", False),
        ("executive", True),
    ]


async def test_people_with_a_password_are_not_invited(
    database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    await apply_files(database, passwords, DEMO_FILES)  # the owner now has a password
    text = PRODUCTION_FILE.replace("inhaberin@hafenblick.example", "owner@nordlicht.example")
    text = text.replace('name = "Greta Hansen"', 'name = "Nora Petersen"')

    report = await apply_files(database, passwords, [write(tmp_path, "h.toml", text)])

    assert [email for email, _ in report.invitations] == ["freigabe@moewe.example"]
    owner = await user(database, "owner@nordlicht.example")
    assert passwords.verify(owner.password_hash, "demo")  # untouched


# --- export -------------------------------------------------------------------------------


async def test_export_round_trips_through_an_empty_database(
    any_database: TestDatabase, database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    exported = await export_agency(database, "nordlicht")
    assert "password =" not in exported
    assert "$argon2" not in exported
    assert "[demo]" not in exported

    await empty_all_tables(any_database.owner_url)
    path = write(tmp_path, "nordlicht.toml", exported)
    report = await apply_files(database, passwords, [path])

    assert len(report.invitations) == 9  # nobody has a password in the new database
    assert await export_agency(database, "nordlicht") == exported


async def test_export_is_sorted_and_leaves_out_archived_clients(
    database: Database, passwords: Passwords
) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        client = await session.scalar(select(Client).where(Client.slug == "stadtwerke-musterstadt"))
        assert client is not None
        client.archived_at = utcnow()

    exported = await export_agency(database, "nordlicht")

    assert "stadtwerke" not in exported
    emails = [line.split('"')[1] for line in exported.splitlines() if line.startswith("email")]
    assert emails == [
        "owner@nordlicht.example",
        "editor@nordlicht.example",
        "redaktion@nordlicht.example",
        "admin@sonnenschein.example",
        "freigabe@sonnenschein.example",
        "vertretung@sonnenschein.example",
        "chefin@sonnenschein.example",
    ]
    assert "Bäckerei Sonnenschein" in exported


async def test_export_of_an_unknown_agency_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound):
        await export_agency(database, "nirgendwo")


# --- prune, dry run, concurrent applies ---------------------------------------------------


def trimmed_nordlicht() -> str:
    """The demo agency without the utility, its editor, the bakery's client admin, and
    the bakery's editor still employed but no longer assigned."""
    text = NORDLICHT.read_text(encoding="utf-8")
    text = text.split('[[clients]]\nslug = "stadtwerke-musterstadt"')[0]
    text = text.replace(
        '[[people]]\nemail = "redaktion@nordlicht.example"\nname = "Lea Brandt"\n'
        'role = "editor"\nlocale = "de"\nclients = ["stadtwerke-musterstadt"]\n',
        "",
    )
    text = text.replace('clients = ["baeckerei-sonnenschein"]\n', "")
    text = text.replace(
        '[[clients.people]]\nemail = "admin@sonnenschein.example"\nname = "Felix Wagner"\n'
        'role = "client_admin"\n',
        "",
    )
    assert "redaktion@" not in text
    assert "admin@sonnenschein" not in text
    return text


async def test_a_dry_run_reports_everything_and_changes_nothing(
    database: Database, passwords: Passwords
) -> None:
    specs = load_tenant_files(DEMO_FILES, environment=SETTINGS.environment)
    planned = await apply_tenant_specs(database, passwords, SETTINGS, specs, dry_run=True)
    assert planned.dry_run
    assert planned.changed
    assert all(v == 0 for v in (await counts(database)).values())
    applied = await apply_files(database, passwords, DEMO_FILES)
    assert applied.changes == planned.changes


async def test_prune_removes_what_the_file_no_longer_names(
    database: Database, passwords: Passwords, tmp_path: Path
) -> None:
    await apply_files(database, passwords, DEMO_FILES)
    trimmed = write(tmp_path, "nordlicht.toml", trimmed_nordlicht())
    specs = load_tenant_files([trimmed], environment=SETTINGS.environment)

    kept = await apply_tenant_specs(database, passwords, SETTINGS, specs)
    assert kept.removals == []  # without --prune, apply only adds
    assert not kept.changed
    before = await counts(database)
    planned = await apply_tenant_specs(
        database, passwords, SETTINGS, specs, prune=True, dry_run=True
    )
    assert await counts(database) == before  # the dry run moved nothing
    pruned = await apply_tenant_specs(database, passwords, SETTINGS, specs, prune=True)

    assert (
        pruned.removals
        == planned.removals
        == [
            "archived client nordlicht/stadtwerke-musterstadt (not in the file)",
            "removed redaktion@nordlicht.example (editor) from nordlicht",
            "removed admin@sonnenschein.example (client_admin)"
            " from nordlicht/baeckerei-sonnenschein",
            "took editor@nordlicht.example off nordlicht/baeckerei-sonnenschein",
        ]
    )
    assert (await counts(database))["client_assignments"] == 0
    (utility,) = [c for c in await rows(database, Client) if c.slug == "stadtwerke-musterstadt"]
    assert utility.archived_at is not None
    emails = {u.id: u.email for u in await rows(database, User)}
    members = {(emails[m.user_id], m.client_id) for m in await rows(database, Membership)}
    assert ("redaktion@nordlicht.example", None) not in members
    assert ("presse@stadtwerke.example", utility.id) in members  # kept with the archive
    types = [e.type for e in await rows(database, Event) if e.payload.get("source")]
    assert types.count("membership.removed") == 2
    assert types.count("assignment.removed") == 1
    again = await apply_tenant_specs(database, passwords, SETTINGS, specs, prune=True)
    assert not again.changed


async def test_two_concurrent_applies_of_one_file_both_succeed(
    database: Database, passwords: Passwords
) -> None:
    first, second = await asyncio.gather(
        apply_files(database, passwords, DEMO_FILES),
        apply_files(database, passwords, DEMO_FILES),
    )
    assert sorted([first.changed, second.changed]) == [False, True]
    assert (await counts(database))["memberships"] == 11
