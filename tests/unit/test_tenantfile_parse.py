"""Tenant files without a database: the line locator, validation, rendering."""

from __future__ import annotations

import dataclasses
import re
import textwrap
import tomllib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencyhub.escalation import rules as esc_rules
from agencyhub.tenantfiles.files import (
    Locator,
    PersonSpec,
    Problem,
    TenantFileInvalid,
    TenantSpec,
    load_tenant_files,
    parse_tenant_file,
    render_tenant_file,
    toml_string,
    validate_tenant_files,
)
from tests.conftest import REPO_ROOT

DEMO_FILES = sorted((REPO_ROOT / "tenants").glob("*.toml"))

MINIMAL = """\
[agency]
slug = "nordlicht"
name = "Nordlicht Digital"

[[people]]
email = "owner@nordlicht.example"
role = "owner"
"""


def source(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def problems_of(text: str, *, environment: str = "demo") -> list[tuple[int, str]]:
    _, problems = parse_tenant_file(source(text), "t.toml", environment=environment)
    return [(p.line, p.message) for p in problems]


def messages_of(text: str, **kwargs: str) -> list[str]:
    return [message for _, message in problems_of(text, **kwargs)]


def parsed(text: str) -> TenantSpec:
    spec, problems = parse_tenant_file(source(text), "t.toml")
    assert problems == []
    assert spec is not None
    return spec


# --- the locator --------------------------------------------------------------------------

NESTED = source(
    """
    # a comment that looks like a key: role = "x"
    [agency]
    slug = "a"

    [[people]]
    email = "p0@x.example"

    [[people]]
    email = "p1@x.example"
    role = "editor"

    [[clients]]
    slug = "c0"

    [[clients.people]]
    role = "approver"

    [[clients]]
    slug = "c1"

    [[clients.people]]
    email = "c1p0@x.example"

    [[ clients.people ]]   # the second person of c1
    "role" = "viewer"

    [clients.sla_policy]
    normal = "4h"
    """
)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("agency", 2),
        ("agency.slug", 3),
        ("people[0]", 5),
        ("people[0].email", 6),
        ("people[1].role", 10),
        ("clients[0]", 12),
        ("clients[0].slug", 13),
        ("clients[0].people[0]", 15),
        ("clients[0].people[0].role", 16),
        ("clients[1].slug", 19),
        ("clients[1].people[0].email", 22),
        ("clients[1].people[1]", 24),
        ("clients[1].people[1].role", 25),
        ("clients[1].sla_policy.normal", 28),
    ],
)
def test_locator_finds_headers_and_keys(path: str, line: int) -> None:
    assert Locator(NESTED).line_of(path) == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("agency.name", 2),  # a missing key: its table's header
        ("people[0].role", 5),
        ("clients[0].people[0].email", 15),
        ("clients[1].people[1].locale", 24),
        ("clients[1].people", 21),  # the array: its first element's header
        ("clients[7].slug", 12),  # no such element: the array's first header
        ("demo.password", 1),  # nothing recorded at all: line 1
        ("", 1),
    ],
)
def test_locator_falls_back_to_the_nearest_recorded_ancestor(path: str, line: int) -> None:
    assert Locator(NESTED).line_of(path) == line


def test_locator_ignores_key_like_lines_inside_multiline_strings() -> None:
    text = source(
        '''
        [agency]
        note = """
        slug = "not a key"
        """
        slug = "real"
        '''
    )
    assert Locator(text).line_of("agency.slug") == 5


def test_locator_records_root_keys_and_dotted_keys() -> None:
    text = source(
        """
        title = "x"
        agency.slug = "a"
        """
    )
    locator = Locator(text)
    assert locator.line_of("title") == 1
    assert locator.line_of("agency.slug") == 2


# --- valid files --------------------------------------------------------------------------


def test_the_demo_files_are_valid() -> None:
    assert DEMO_FILES, "tenants/*.toml should exist"
    assert validate_tenant_files(DEMO_FILES) == []


def test_the_demo_tenants_are_the_documented_ones() -> None:
    specs = {spec.agency.slug: spec for spec in load_tenant_files(DEMO_FILES)}
    nordlicht, wellenreiter = specs["nordlicht"], specs["wellenreiter"]
    assert nordlicht.demo_password == wellenreiter.demo_password == "demo"
    assert [(p.email, p.role, p.clients) for p in nordlicht.people] == [
        ("owner@nordlicht.example", "owner", ()),
        ("editor@nordlicht.example", "editor", ("baeckerei-sonnenschein",)),
        ("redaktion@nordlicht.example", "editor", ("stadtwerke-musterstadt",)),
    ]
    clients = {client.slug: client for client in nordlicht.clients}
    assert {(p.email, p.role) for p in clients["baeckerei-sonnenschein"].people} == {
        ("freigabe@sonnenschein.example", "approver"),
        ("vertretung@sonnenschein.example", "approver"),
        ("chefin@sonnenschein.example", "executive"),
        ("admin@sonnenschein.example", "client_admin"),
    }
    assert clients["baeckerei-sonnenschein"].name == "Bäckerei Sonnenschein"
    bakery = clients["baeckerei-sonnenschein"]
    assert bakery.sla_policy is not None
    assert date(2026, 10, 31) in bakery.sla_policy.holidays  # Reformationstag, Hamburg
    (holding,) = bakery.templates
    assert (holding.name, holding.approved_by) == ("Haltestatement", "chefin@sonnenschein.example")
    assert bakery.emergency_plan is not None
    assert [s.after_minutes for s in bakery.emergency_plan.steps] == [0, 2, 4]  # the demo drill
    last = bakery.emergency_plan.steps[-1]
    assert (last.fallback, last.template) == ("publish_template", "Haltestatement")
    assert bakery.rota is not None
    assert bakery.rota.gap_contact == "chefin@sonnenschein.example"
    (layer,) = bakery.rota.layers
    assert layer.participants == (
        "freigabe@sonnenschein.example",
        "vertretung@sonnenschein.example",
    )
    assert (layer.rotation, layer.starts_at.isoformat()) == ("weekly", "2026-01-05T09:00:00+01:00")
    assert {(p.email, p.role) for p in clients["stadtwerke-musterstadt"].people} == {
        ("presse@stadtwerke.example", "approver"),
        ("vorstand@stadtwerke.example", "executive"),
    }
    (alpenhof,) = wellenreiter.clients
    assert (alpenhof.slug, alpenhof.name, alpenhof.timezone) == (
        "alpenhof",
        "Alpenhof",
        "Europe/Vienna",
    )
    assert [(p.email, p.role) for p in alpenhof.people] == [
        ("freigabe@alpenhof.example", "approver")
    ]
    every_person = [*nordlicht.people, *wellenreiter.people]
    every_person += [p for spec in specs.values() for c in spec.clients for p in c.people]
    assert all(person.name for person in every_person), "demo people have names"


def test_the_readme_example_is_valid() -> None:
    readme = (REPO_ROOT / "tenants" / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert example is not None
    spec, problems = parse_tenant_file(example[1], "README.md")
    assert problems == []
    assert spec is not None


def test_the_readme_example_of_the_escalation_tables_is_valid() -> None:
    readme = (REPO_ROOT / "tenants" / "README.md").read_text(encoding="utf-8")
    base, tables = re.findall(r"```toml\n(.*?)```", readme, re.S)[:2]
    assert "[clients.sla_policy]" in tables
    executive = '\n[[clients.people]]\nemail = "chefin@sonnenschein.example"\nrole = "executive"\n'
    spec, problems = parse_tenant_file(base + executive + "\n" + tables, "README.md")
    assert problems == []
    assert spec is not None
    (client,) = spec.clients
    assert client.sla_policy is not None
    assert client.templates[0].approved_by == "chefin@sonnenschein.example"
    assert client.emergency_plan is not None
    assert len(client.emergency_plan.steps) == 3
    assert client.rota is not None
    assert client.rota.layers[0].participants == ("chefin@sonnenschein.example",)


def test_a_minimal_file_gets_the_defaults() -> None:
    spec = parsed(MINIMAL)
    assert spec.agency.plan is None  # billing's choice stands unless the file sets one
    assert spec.demo_password is None
    assert spec.people == (
        PersonSpec(email="owner@nordlicht.example", role="owner", name="", locale=None, line=6),
    )
    assert spec.clients == ()


def test_values_are_normalised() -> None:
    spec = parsed(
        """
        [agency]
        slug = "nordlicht"
        name = "  Nordlicht Digital "

        [[people]]
        email = " Owner@Nordlicht.EXAMPLE "
        name = "Nora Petersen"
        role = "owner"

        [[clients]]
        slug = "c"
        name = "C"
        timezone = "Europe/Berlin"
        """
    )
    assert spec.agency.name == "Nordlicht Digital"
    assert spec.people[0].email == "owner@nordlicht.example"
    assert spec.clients[0].locale == "de"


def test_one_person_may_work_at_agency_and_client_level() -> None:
    spec = parsed(
        MINIMAL
        + """
        [[clients]]
        slug = "c"
        name = "C"
        timezone = "Europe/Berlin"

        [[clients.people]]
        email = "owner@nordlicht.example"
        role = "viewer"
        """
    )
    assert spec.clients[0].people[0].email == spec.people[0].email


# --- problems, with their lines -----------------------------------------------------------

BROKEN = """\
[demo]
password = "demo"

[agency]
slug = "Nordlicht"
name = "Nordlicht Digital"
plna = "starter"

[[people]]
email = "owner@nordlicht.example"
role = "owner"

[[people]]
email = "not-an-email"
role = "approver"

[[people]]
email = "OWNER@nordlicht.example"
role = "editor"
locale = "fr"

[[clients]]
slug = "baeckerei"
name = "Bäckerei"
timezone = "Europe/Hamburg"

[[clients.people]]
email = "freigabe@baeckerei.example"
role = "owner"

[[clients.people]]
name = "Nobody"
role = "approver"

[[clients]]
slug = "baeckerei"
timezone = "Europe/Berlin"
"""


def test_a_broken_file_reports_every_problem_at_its_line() -> None:
    _, problems = parse_tenant_file(BROKEN, "broken.toml", environment="production")
    assert [str(p) for p in problems] == [
        "broken.toml:1: demo: a [demo] table (with its shared password) is refused in production",
        'broken.toml:5: agency.slug: "Nordlicht" is not a slug: lowercase letters, digits'
        " and inner hyphens, 1-63 long",
        'broken.toml:7: agency.plna: unknown key; did you mean "plan"? expected name, plan, slug',
        'broken.toml:14: people[1].email: "not-an-email" is not an e-mail address',
        'broken.toml:15: people[1].role: "approver" is a client role; agency staff ([[people]])'
        " can be admin, editor, owner",
        "broken.toml:18: people[2].email: owner@nordlicht.example is already listed on line 10",
        'broken.toml:20: people[2].locale: "fr" is not one of de, en',
        'broken.toml:25: clients[0].timezone: "Europe/Hamburg" is not an IANA time zone'
        ' like "Europe/Berlin"',
        'broken.toml:29: clients[0].people[0].role: "owner" is an agency role;'
        " a client's people can be approver, client_admin, executive, viewer",
        "broken.toml:31: clients[0].people[1].email: is required",
        "broken.toml:35: clients[1].name: is required",
    ]


BROKEN_ESCALATION = """\
[agency]
slug = "a"
name = "A"

[[people]]
email = "owner@a.example"
role = "owner"

[[clients]]
slug = "c"
name = "C"
timezone = "Europe/Berlin"

[[clients.people]]
email = "chefin@c.example"
role = "executive"

[[clients.people]]
email = "freigabe@c.example"
role = "approver"

[clients.sla_policy]
timezone = "Europe/Hamburg"
reminder_at = 2
holidays = [2026-12-25, "Weihnachten"]

[clients.sla_policy.targets]
normal = { minutes = "4h" }
urgent = { minutes = 5 }

[clients.sla_policy.hours]
mon = "08:00-18:00"
tue = "8 bis 18"
wen = "08:00-18:00"

[[clients.templates]]
name = "Haltestatement"
body = "Wir melden uns."
approved_by = "freigabe@c.example"

[[clients.templates]]
name = "Geschlossen"
body = "  "

[[clients.templates]]
name = "Frei"
body = "Frei."

[[clients.templates]]
name = "Frei"
body = "Doppelt."

[[clients.emergency_plan.steps]]
after_minutes = 0
notify = ["on_duty", "boss"]
users = ["nobody@c.example"]

[[clients.emergency_plan.steps]]
after_minutes = "15"
notify = ["executives"]
fallback = { action = "publish_template", template = "Unbekannt" }
"""


def test_broken_escalation_tables_report_every_problem_at_its_line() -> None:
    spec, problems = parse_tenant_file(BROKEN_ESCALATION, "esc.toml")
    assert spec is None
    assert [str(p) for p in problems] == [
        'esc.toml:23: clients[0].sla_policy.timezone: "Europe/Hamburg" is not an IANA time zone',
        "esc.toml:25: clients[0].sla_policy.holidays: 'Weihnachten' is not a date like 2026-12-25",
        "esc.toml:28: clients[0].sla_policy.targets.normal.minutes: must be a whole number"
        " of minutes",
        "esc.toml:29: clients[0].sla_policy.targets.urgent: unknown key;"
        " expected crisis, high, normal",
        'esc.toml:33: clients[0].sla_policy.hours.tue: must be "HH:MM-HH:MM" like'
        ' "08:00-18:00", or a list of them',
        'esc.toml:34: clients[0].sla_policy.hours.wen: unknown key; did you mean "wed"?'
        " expected fri, mon, sat, sun, thu, tue, wed",
        "esc.toml:39: clients[0].templates[0].approved_by: freigabe@c.example is not one of"
        " this client's people with the role client_admin or executive",
        "esc.toml:43: clients[0].templates[1].body: must not be blank",
        'esc.toml:50: clients[0].templates[3].name: a template "Frei" is already defined'
        " on line 46",
        'esc.toml:55: clients[0].emergency_plan.steps[0].notify: "boss" is not one of'
        " all_approvers, deputies, executives, on_duty, users",
        "esc.toml:56: clients[0].emergency_plan.steps[0].users: nobody@c.example is not one"
        " of this client's people",
        "esc.toml:59: clients[0].emergency_plan.steps[1].after_minutes: must be a whole number"
        " of minutes",
        "esc.toml:61: clients[0].emergency_plan.steps[1].fallback.template: no"
        ' [[clients.templates]] of this client is named "Unbekannt"',
    ]


ESCALATION_RULES = """\
[agency]
slug = "a"
name = "A"

[[people]]
email = "owner@a.example"
role = "owner"

[[clients]]
slug = "c"
name = "C"
timezone = "Europe/Berlin"

[[clients.people]]
email = "chefin@c.example"
role = "executive"

[clients.sla_policy]
reminder_at = 2

[clients.sla_policy.targets]
crisis = { minutes = 0, business_hours_only = false }

[clients.sla_policy.hours]
mon = ["08:00-12:00", "11:00-18:00"]
tue = "18:00-08:00"

[[clients.templates]]
name = "Entwurf"
body = "Noch nicht freigegeben."

[clients.emergency_plan]

[[clients.emergency_plan.steps]]
after_minutes = 0
notify = ["on_duty"]
users = ["chefin@c.example"]
fallback = { action = "hide_item" }

[[clients.emergency_plan.steps]]
after_minutes = 30
notify = ["executives"]
fallback = { action = "publish_template", template = "Entwurf" }
"""


def test_the_escalation_rules_are_the_apis_with_file_lines() -> None:
    _, problems = parse_tenant_file(ESCALATION_RULES, "esc.toml")
    assert [str(p) for p in problems] == [
        "esc.toml:19: clients[0].sla_policy.reminder_at: must be between 0.1 and 0.95",
        "esc.toml:22: clients[0].sla_policy.targets.crisis.minutes: must be 1 minute to 7 days",
        'esc.toml:25: clients[0].sla_policy.hours.mon: overlaps mon "08:00-12:00"',
        "esc.toml:26: clients[0].sla_policy.hours.tue: must close after it opens",
        "esc.toml:36: clients[0].emergency_plan.steps[0].notify: name the users exactly when"
        " notifying users",
        "esc.toml:38: clients[0].emergency_plan.steps[0].fallback: the first step must notify"
        " a human before any fallback",
        "esc.toml:38: clients[0].emergency_plan.steps[0].fallback: a fallback ends the"
        " escalation: only the last step",
        "esc.toml:43: clients[0].emergency_plan.steps[1].fallback.template: is not a template"
        " the client approved",
    ]


ROTA_PROBLEMS = """\
[agency]
slug = "a"
name = "A"

[[people]]
email = "owner@a.example"
role = "owner"

[[clients]]
slug = "c"
name = "C"
timezone = "Europe/Berlin"

[[clients.people]]
email = "freigabe@c.example"
role = "approver"

[[clients.people]]
email = "leser@c.example"
role = "viewer"

[clients.rota]
gap_contact = "freigabe@c.example"

[[clients.rota.layers]]
participants = ["freigabe@c.example"]
starts_at = 2026-01-05T09:00:00
rotation = "monthly"
handoff = "9 Uhr"
"""

ROTA_RULES = """\
[agency]
slug = "a"
name = "A"

[[people]]
email = "owner@a.example"
role = "owner"

[[clients]]
slug = "c"
name = "C"
timezone = "Europe/Berlin"

[[clients.people]]
email = "freigabe@c.example"
role = "approver"

[[clients.people]]
email = "leser@c.example"
role = "viewer"

[[clients.rota.layers]]
participants = ["freigabe@c.example", "Leser@c.example", "fremd@c.example"]
starts_at = 2026-01-05T09:00:00+01:00
ends_at = 2026-01-01T09:00:00+01:00
rotation = "daily"
handoff = "09:00"
"""


def test_rota_problems_carry_their_lines() -> None:
    _, problems = parse_tenant_file(ROTA_PROBLEMS, "rota.toml")
    assert [str(p) for p in problems] == [
        "rota.toml:23: clients[0].rota.gap_contact: freigabe@c.example is not one of this"
        " client's people with the role client_admin or executive",
        "rota.toml:27: clients[0].rota.layers[0].starts_at: must be a date and time with its"
        " UTC offset: 2026-01-05T09:00:00+01:00",
        'rota.toml:28: clients[0].rota.layers[0].rotation: "monthly" is not one of daily, weekly',
        'rota.toml:29: clients[0].rota.layers[0].handoff: must be a time "HH:MM" like "09:00"',
    ]
    _, problems = parse_tenant_file(ROTA_RULES, "rota.toml")
    assert [str(p) for p in problems] == [
        "rota.toml:23: clients[0].rota.layers[0].participants: leser@c.example is not an"
        " approver or executive of this client",
        "rota.toml:23: clients[0].rota.layers[0].participants: fremd@c.example is not an"
        " approver or executive of this client",
        "rota.toml:25: clients[0].rota.layers[0].ends_at: must be after starts_at",
    ]


def test_opening_hours_are_ordered_as_export_writes_them() -> None:
    spec = parsed(
        MINIMAL
        + """
        [[clients]]
        slug = "c"
        name = "C"
        timezone = "Europe/Berlin"

        [clients.sla_policy.hours]
        sat = "07:00-13:00"
        mon = ["13:00-18:00", "06:00-12:00"]
        """
    )
    policy = spec.clients[0].sla_policy
    assert policy is not None
    assert [(h.weekday, esc_rules.format_clock(h.opens)) for h in policy.hours] == [
        (0, "06:00"),
        (0, "13:00"),
        (5, "07:00"),
    ]


def test_a_plan_step_needs_whom_to_notify() -> None:
    text = (
        MINIMAL
        + """
        [[clients]]
        slug = "c"
        name = "C"
        timezone = "Europe/Berlin"

        [[clients.emergency_plan.steps]]
        after_minutes = 0
        """
    )
    assert problems_of(text) == [
        (
            14,  # the step's header: the key is missing
            "clients[0].emergency_plan.steps[0].notify: is required;"
            " any of all_approvers, deputies, executives, on_duty, users",
        )
    ]


def test_left_out_sla_keys_take_the_apis_defaults() -> None:
    spec = parsed(
        MINIMAL
        + """
        [[clients]]
        slug = "c"
        name = "C"
        timezone = "Europe/Vienna"

        [clients.sla_policy]
        """
    )
    policy = spec.clients[0].sla_policy
    assert policy is not None
    defaults = esc_rules.DEFAULT_SLA_POLICY
    assert policy.policy("Europe/Vienna") == dataclasses.replace(
        defaults, calendar=dataclasses.replace(defaults.calendar, timezone="Europe/Vienna")
    )


def test_a_broken_file_yields_no_spec() -> None:
    spec, problems = parse_tenant_file(BROKEN, "broken.toml")
    assert spec is None
    assert problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "[agency]\nslug = 1\nname = true\n",
            [
                (2, "agency.slug: must be a string in quotes"),
                (3, "agency.name: must be a string in quotes"),
            ],
            id="types",
        ),
        pytest.param(
            '[agency]\nslug = "a"\nname = "  "\n',
            [(3, "agency.name: must not be blank")],
            id="blank",
        ),
        pytest.param(
            f'[agency]\nslug = "a"\nname = "{"x" * 201}"\n',
            [(3, "agency.name: must be at most 200 characters long")],
            id="too-long",
        ),
        pytest.param(
            '[agency]\nslug = "a"\nname = "A"\nplan = "Gold Plan"\n',
            [(4, 'agency.plan: "Gold Plan" is not a plan name (lowercase, like "starter")')],
            id="plan",
        ),
        pytest.param(
            'agency = "nordlicht"\n',
            [(1, "agency: must be a table")],
            id="agency-not-a-table",
        ),
        pytest.param(
            '[[people]]\nemail = "a@b.example"\nrole = "ownr"\n[agency]\nslug = "a"\nname = "A"\n',
            [(3, 'people[0].role: "ownr" is not a role; expected admin, editor, owner')],
            id="unknown-role",
        ),
        pytest.param(
            '[agncy]\nslug = "a"\n',
            [
                (
                    1,
                    'agncy: unknown key; did you mean "agency"?'
                    " expected agency, clients, demo, people",
                ),
                (1, "agency: the [agency] table is missing"),
            ],
            id="typo-top-level",
        ),
    ],
)
def test_single_problems(text: str, expected: list[tuple[int, str]]) -> None:
    owner = '\n[[people]]\nemail = "owner@x.example"\nrole = "owner"\n'
    assert problems_of(text + owner) == expected


def test_people_must_be_an_array_of_tables() -> None:
    assert problems_of('people = "owner@x.example"\n[agency]\nslug = "a"\nname = "A"\n') == [
        (1, "people: must be an array of tables, written [[people]]"),
    ]


def test_a_broken_owner_entry_is_not_also_reported_as_a_missing_owner() -> None:
    assert problems_of('[agency]\nslug = "a"\nname = "A"\n[[people]]\nrole = "owner"\n') == [
        (4, "people[0].email: is required")
    ]


def test_a_file_must_name_an_owner() -> None:
    text = """\
        [agency]
        slug = "a"
        name = "A"

        [[people]]
        email = "editor@x.example"
        role = "editor"
        """
    assert problems_of(text) == [
        (5, 'people: the agency needs at least one [[people]] entry with role "owner"')
    ]


def test_without_any_people_the_owner_problem_points_at_the_agency() -> None:
    assert problems_of('[agency]\nslug = "a"\nname = "A"\n') == [
        (1, 'agency: the agency needs at least one [[people]] entry with role "owner"')
    ]


def test_duplicate_client_slugs_and_emails_per_client() -> None:
    text = (
        MINIMAL
        + """
        [[clients]]
        slug = "c"
        name = "C"
        timezone = "Europe/Berlin"

        [[clients.people]]
        email = "a@c.example"
        role = "approver"

        [[clients.people]]
        email = "A@c.example"
        role = "viewer"

        [[clients]]
        slug = "d"
        name = "D"
        timezone = "Europe/Berlin"

        [[clients.people]]
        email = "a@c.example"
        role = "approver"

        [[clients]]
        slug = "c"
        name = "C again"
        timezone = "Europe/Berlin"
        """
    )
    assert problems_of(text) == [
        (19, "clients[0].people[1].email: a@c.example is already listed on line 15"),
        (32, 'clients[2].slug: client "c" is already defined on line 10'),
    ]


def test_demo_table_problems() -> None:
    assert problems_of('[demo]\npassword = ""\n' + MINIMAL) == [
        (2, "demo.password: must be a non-empty string in quotes")
    ]
    assert problems_of('[demo]\npasword = "demo"\n' + MINIMAL) == [
        (1, "demo.password: must be a non-empty string in quotes"),
        (2, 'demo.pasword: unknown key; did you mean "password"? expected password'),
    ]


def test_demo_is_fine_outside_production() -> None:
    for environment in ("demo", "test"):
        assert problems_of('[demo]\npassword = "demo"\n' + MINIMAL, environment=environment) == []


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[agency]\nslug = "a\n', 2, "TOML syntax: Illegal character '\\n' (column 10)"),
        ("[agency]\nslug = \n", 2, "TOML syntax: Invalid value (column 8)"),
        (
            '[agency]\nslug = "a"\nslug = "b"\n',
            3,
            "TOML syntax: Cannot overwrite a value (column 11)",
        ),
        ('[agency]\nnote = """\nopen', 3, "TOML syntax: Unterminated string at the end"),
    ],
)
def test_toml_syntax_errors_carry_their_line(text: str, line: int, message: str) -> None:
    assert problems_of(text) == [(line, message)]


# --- several files ------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(source(text), encoding="utf-8")
    return path


def test_the_same_agency_in_two_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", MINIMAL)
    second = write(tmp_path, "b.toml", "# the same agency again\n\n" + MINIMAL)
    assert [str(p) for p in validate_tenant_files([first, second])] == [
        f'{second}:4: agency.slug: agency "nordlicht" is also defined in {first}:2'
    ]


def test_one_person_has_one_name_and_locale_across_files(tmp_path: Path) -> None:
    first = write(
        tmp_path,
        "a.toml",
        MINIMAL.replace('role = "owner"', 'role = "owner"\nname = "Nora"\nlocale = "de"'),
    )
    second = write(
        tmp_path,
        "b.toml",
        MINIMAL.replace("nordlicht", "other", 1).replace(
            'role = "owner"', 'role = "owner"\nname = "Nora P."\nlocale = "en"'
        ),
    )
    assert [str(p) for p in validate_tenant_files([first, second])] == [
        f'{second}:6: owner@nordlicht.example has the name "Nora P." here but "Nora" at'
        f" {first}:6; one person has one name",
        f'{second}:6: owner@nordlicht.example has the locale "en" here but "de" at'
        f" {first}:6; one person has one locale",
    ]


def test_problems_come_file_by_file_in_line_order(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.toml", '[agency]\nslug = "X"\nname = "X"\n')
    missing = tmp_path / "missing.toml"
    good = write(tmp_path, "good.toml", MINIMAL)
    problems = validate_tenant_files([bad, missing, good])
    assert [(p.file, p.line) for p in problems] == [(str(bad), 1), (str(bad), 2), (str(missing), 1)]
    assert problems[2].message.startswith("cannot read the file: ")


def test_load_raises_with_every_problem(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.toml", '[agency]\nslug = "X"\n')
    with pytest.raises(TenantFileInvalid) as raised:
        load_tenant_files([bad])
    assert [p.line for p in raised.value.problems] == [1, 1, 2]
    assert str(raised.value).splitlines() == [str(p) for p in raised.value.problems]


def test_production_refuses_the_demo_files() -> None:
    with pytest.raises(TenantFileInvalid) as raised:
        load_tenant_files(DEMO_FILES, environment="production")
    assert {(Path(p.file).name, p.line) for p in raised.value.problems} == {
        ("nordlicht.toml", 6),
        ("wellenreiter.toml", 6),
    }


def test_problem_prints_as_file_line_message() -> None:
    assert (
        str(Problem("t.toml", 3, "agency.slug: is required"))
        == "t.toml:3: agency.slug: is required"
    )


# --- rendering ----------------------------------------------------------------------------


def without_lines(spec: TenantSpec) -> TenantSpec:
    def person(p: PersonSpec) -> PersonSpec:
        return dataclasses.replace(p, line=0)

    return dataclasses.replace(
        spec,
        file="",
        agency=dataclasses.replace(spec.agency, line=0),
        people=tuple(person(p) for p in spec.people),
        clients=tuple(
            dataclasses.replace(c, line=0, people=tuple(person(p) for p in c.people))
            for c in spec.clients
        ),
    )


@pytest.mark.parametrize("path", DEMO_FILES, ids=lambda p: p.name)
def test_rendering_parses_back_to_the_same_spec(path: Path) -> None:
    (spec,) = load_tenant_files([path])
    text = render_tenant_file(spec, comment="exported\nfor a test")
    assert text.startswith("# exported\n# for a test\n\n[demo]\n")
    again, problems = parse_tenant_file(text, "again.toml")
    assert problems == []
    assert again is not None
    assert without_lines(again) == without_lines(spec)


@given(st.text())
def test_toml_strings_survive_any_text(value: str) -> None:
    assert tomllib.loads(f"key = {toml_string(value)}")["key"] == value


# --- editors' client assignments ------------------------------------------------------

ASSIGNMENTS = """\
[agency]
slug = "nordlicht"
name = "Nordlicht Digital"

[[people]]
email = "owner@nordlicht.example"
role = "owner"
clients = ["baeckerei"]

[[people]]
email = "editor@nordlicht.example"
role = "editor"
clients = ["baeckerei", "nirgendwo", "baeckerei"]

[[clients]]
slug = "baeckerei"
name = "Bäckerei"
timezone = "Europe/Berlin"

[[clients.people]]
email = "freigabe@baeckerei.example"
role = "approver"
clients = ["baeckerei"]
"""


def test_an_editor_names_the_clients_they_work_for() -> None:
    text = ASSIGNMENTS.replace(
        'clients = ["baeckerei", "nirgendwo", "baeckerei"]', 'clients = ["baeckerei"]'
    )
    text = text.replace('role = "owner"\nclients = ["baeckerei"]\n', 'role = "owner"\n')
    text = text.replace('role = "approver"\nclients = ["baeckerei"]\n', 'role = "approver"\n')
    spec = parsed(text)
    assert [(p.role, p.clients) for p in spec.people] == [("owner", ()), ("editor", ("baeckerei",))]


def test_assignments_only_for_editors_and_only_the_files_clients() -> None:
    assert problems_of(ASSIGNMENTS) == [
        (8, "people[0].clients: only editors are assigned to clients; an owner sees every client"),
        (13, 'people[1].clients: "nirgendwo" is not one of baeckerei'),
        (13, "people[1].clients: names a client twice"),
        (23, "clients[0].people[0].clients: unknown key; expected email, locale, name, role"),
    ]


CLIENT_WITH_DOMAINS = (
    MINIMAL
    + """
[[clients]]
slug = "baeckerei"
name = "Bäckerei"
timezone = "Europe/Berlin"
verified_domains = {domains}
"""
)


def test_verified_domains_are_normalised_sorted_and_render_back() -> None:
    spec = parsed(CLIENT_WITH_DOMAINS.format(domains='["Zeta.example", "bäckerei.example"]'))
    assert spec.clients[0].verified_domains == ("xn--bckerei-5wa.example", "zeta.example")
    assert parsed(render_tenant_file(spec)) == spec
    without = parsed(CLIENT_WITH_DOMAINS.replace("verified_domains = {domains}\n", ""))
    assert without.clients[0].verified_domains is None  # apply leaves the app's alone


def test_a_bad_verified_domain_is_reported_on_its_line() -> None:
    problems = problems_of(CLIENT_WITH_DOMAINS.format(domains='["ok.example", "no domain"]'))
    assert problems == [
        (13, 'clients[0].verified_domains: "no domain" is not a domain name like "example.com"')
    ]


def test_a_missing_owner_is_reported_even_when_other_entries_are_broken() -> None:
    """Issue #14, item 13: one broken editor used to hide that nobody owns the agency."""
    text = """\
        [agency]
        slug = "a"
        name = "A"

        [[people]]
        email = "not-an-address"
        role = "editor"

        [[people]]
        email = "admin@a.example"
        role = "admin"
        """
    messages = messages_of(text)
    assert any("is not an e-mail address" in m for m in messages), messages
    assert 'people: the agency needs at least one [[people]] entry with role "owner"' in messages
