"""Declarative tenant files: the public entry points, parsing, validation, rendering.

A tenant file describes one agency, its staff, its client companies and their people
(the format is documented in ``tenants/README.md``). This module turns files into
:class:`TenantSpec` values and reports *every* problem it finds, each with the file
and the line of the offending key, so one run of ``agencyhub tenants validate`` shows
all that needs fixing. Reading and checking are pure functions of the text; the only
I/O here is reading the files and the thin :func:`apply_tenant_specs` and
:func:`export_agency`, which hand over to ``tenantfiles.apply`` (the database side; it
also defines the spec types, so imports point one way: this module -> that one).

tomllib gives no positions, so :class:`Locator` scans the source once and maps key
paths such as ``clients[1].people[0].role`` to lines (see its docstring).

The per-client tables ``sla_policy``, ``templates``, ``emergency_plan`` and ``rota``
are read here too: structure and types by the :class:`_Reader`, then the escalation
feature's own pure rules (``escalation.rules``, ``escalation.plan``) on the values,
with stand-in ids for the people and templates the file names (``file_id``); their
spec types and database side are in ``tenantfiles.escalation``. Adding another
per-client table: add its key to ``CLIENT_TABLES``, write a ``_read_<table>``
function that reports through the :class:`_Reader`, add a field to ``ClientSpec``,
to ``_render_client`` (so export round-trips it) and to the applier.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from agencyhub.config import Settings
from agencyhub.db import Database, utcnow
from agencyhub.escalation import plan as plan_rules
from agencyhub.escalation import rules as esc_rules
from agencyhub.escalation.service import GAP_CONTACT_ROLES, ON_DUTY_ROLES
from agencyhub.tenancy import rules
from agencyhub.tenancy.secrets import Passwords
from agencyhub.tenantfiles.apply import (
    DEFAULT_LOCALE,
    AgencySpec,
    ApplyReport,
    ClientSpec,
    PersonSpec,
    Problem,
    TenantFileConflict,
    TenantFileInvalid,
    TenantSpec,
    apply_specs,
    read_agency_spec,
)
from agencyhub.tenantfiles.escalation import (
    WEEKDAYS,
    LayerSpec,
    PlanSpec,
    RotaSpec,
    SlaPolicySpec,
    StepSpec,
    TemplateSpec,
    file_id,
)

__all__ = [
    "AgencySpec",
    "ApplyReport",
    "ClientSpec",
    "Locator",
    "PersonSpec",
    "Problem",
    "TenantFileConflict",
    "TenantFileInvalid",
    "TenantSpec",
    "apply_tenant_specs",
    "export_agency",
    "load_tenant_files",
    "parse_tenant_file",
    "problems_across_files",
    "render_tenant_file",
    "validate_tenant_files",
]

TOP_LEVEL_KEYS = ("demo", "agency", "people", "clients")
DEMO_KEYS = ("password",)
AGENCY_KEYS = ("slug", "name", "plan")
PERSON_KEYS = ("email", "name", "role", "locale")
AGENCY_PERSON_KEYS = (*PERSON_KEYS, "clients")
CLIENT_TABLES = ("people", "sla_policy", "templates", "emergency_plan", "rota")
CLIENT_KEYS = ("slug", "name", "timezone", "locale", "verified_domains", *CLIENT_TABLES)
SLA_KEYS = ("timezone", "reminder_at", "holidays", "targets", "hours")
TARGET_KEYS = ("minutes", "business_hours_only")
TEMPLATE_KEYS = ("name", "body", "approved_by")
PLAN_KEYS = ("steps",)
STEP_KEYS = ("after_minutes", "notify", "users", "channels", "fallback")
FALLBACK_KEYS = ("action", "template", "wait_minutes")
ROTA_KEYS = ("layers", "gap_contact")
LAYER_KEYS = ("participants", "starts_at", "rotation", "handoff", "timezone", "ends_at")
MAX_NAME_LENGTH = 200  # the models' name columns
MAX_EMAIL_LENGTH = 320
PLAN_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # fits Agency.plan, String(32)
DEMO_REFUSED = "a [demo] table (with its shared password) is refused in production"
EXPORT_COMMENT = """Agency {name}, exported from AgencyHub.
No passwords and no pending invitations: applying this file invites
everyone who has no password yet."""


# --- entry points -------------------------------------------------------------------------


async def apply_tenant_specs(
    db: Database,
    passwords: Passwords,
    settings: Settings,
    specs: Sequence[TenantSpec],
    *,
    prune: bool = False,
    dry_run: bool = False,
) -> ApplyReport:
    """Create or update what the specs declare, all in one transaction; with ``prune``,
    also remove what they no longer name; with ``dry_run``, report and roll back.

    Raises :class:`TenantFileInvalid` for problems between the specs, or a demo
    password in production, and :class:`TenantFileConflict` when the database
    disagrees (nothing is written then).
    """
    problems = problems_across_files(specs) + _demo_in_production(specs, settings.environment)
    if problems:
        raise TenantFileInvalid(problems)
    return await apply_specs(db, passwords, settings, specs, prune=prune, dry_run=dry_run)


async def export_agency(db: Database, slug: str) -> str:
    """The agency as tenant-file text, without passwords; NotFound for an unknown slug."""
    spec = await read_agency_spec(db, slug)
    return render_tenant_file(spec, comment=EXPORT_COMMENT.format(name=spec.agency.name))


def validate_tenant_files(paths: Sequence[Path], *, environment: str = "demo") -> list[Problem]:
    """Every problem in every file, including those between files."""
    _, problems = _read_files(paths, environment)
    return problems


def load_tenant_files(paths: Sequence[Path], *, environment: str = "demo") -> list[TenantSpec]:
    """The specs of all files, or :class:`TenantFileInvalid` listing every problem."""
    specs, problems = _read_files(paths, environment)
    if problems:
        raise TenantFileInvalid(problems)
    return specs


def _read_files(paths: Sequence[Path], environment: str) -> tuple[list[TenantSpec], list[Problem]]:
    specs: list[TenantSpec] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), 1, f"cannot read the file: {exc}"))
            continue
        spec, file_problems = parse_tenant_file(source, str(path), environment=environment)
        problems.extend(file_problems)
        if spec is not None:
            specs.append(spec)
    problems.extend(problems_across_files(specs))
    order = {str(path): index for index, path in enumerate(paths)}
    problems.sort(key=lambda p: (order.get(p.file, len(order)), p.line))
    return specs, problems


def parse_tenant_file(
    source: str, file: str, *, environment: str = "demo"
) -> tuple[TenantSpec | None, list[Problem]]:
    """One file's spec (``None`` if it has problems) and its problems, by line."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        return None, [_syntax_problem(file, source, exc)]
    reader = _Reader(file, Locator(source))
    spec = _read_tenant(reader, data, environment)
    problems = sorted(reader.problems, key=lambda p: p.line)
    return (spec if not problems else None), problems


_ERROR_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _syntax_problem(file: str, source: str, exc: tomllib.TOMLDecodeError) -> Problem:
    """tomllib (3.11) puts the position only into the message; move it to the line."""
    message = str(exc)
    match = _ERROR_POSITION.search(message)
    if match is not None:
        detail = message[: match.start()]
        return Problem(file, int(match[1]), f"TOML syntax: {detail} (column {match[2]})")
    detail = message.removesuffix(" (at end of document)")
    return Problem(file, max(1, len(source.splitlines())), f"TOML syntax: {detail} at the end")


# --- locating keys ------------------------------------------------------------------------

_ARRAY_HEADER = re.compile(r"^\[\[\s*(?P<name>[^\[\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\[\s*(?P<name>[^\[\]]+?)\s*\]")
_KEY_LINE = re.compile(r"^(?P<key>[^=#\[\]{},\"']+?|\"[^\"]*\"|'[^']*')\s*=")
_LAST_SEGMENT = re.compile(r"(?:\.[^.\[\]]+|\[\d+\])$")


class Locator:
    """Maps key paths to 1-based source lines, because tomllib gives no positions.

    A path names a key the way the parsed data nests it: ``agency.slug``,
    ``clients[1].people[0].role`` (0-based indexes into arrays of tables). One scan
    of the source follows ``[table]`` and ``[[array]]`` headers — each ``[[clients]]``
    starts the next client, each ``[[clients.people]]`` the next person of the latest
    client — and records the line of every header and every ``key =`` line. A path
    that was not recorded (a missing key, a key inside an inline table) falls back to
    its nearest recorded ancestor, usually the table header, and finally to line 1.
    It is a locator, not a parser: the source has already parsed, so it can be simple.
    """

    def __init__(self, source: str) -> None:
        self._lines: dict[str, int] = {}
        self._scan(source)

    def line_of(self, path: str) -> int:
        while path:
            line = self._lines.get(path)
            if line is not None:
                return line
            parent = _LAST_SEGMENT.sub("", path)
            path = "" if parent == path else parent
        return 1

    def _scan(self, source: str) -> None:
        current = ""  # the concrete path of the table that keys go into
        latest: dict[str, str] = {}  # array name ("clients.people") -> its latest element
        counts: dict[str, int] = {}  # concrete array ("clients[1].people") -> elements
        multiline: str | None = None
        for number, raw in enumerate(source.splitlines(), start=1):
            if multiline is not None:
                # A multi-line string may hold "key = value" text that is not a key.
                if multiline in raw:
                    multiline = None
                continue
            line = raw.strip()
            if array := _ARRAY_HEADER.match(line):
                parts = _key_parts(array["name"])
                array_path = _resolve(parts, latest)
                index = counts.get(array_path, 0)
                counts[array_path] = index + 1
                current = f"{array_path}[{index}]"
                generic = ".".join(parts)
                latest = {k: v for k, v in latest.items() if not k.startswith(generic + ".")}
                latest[generic] = current
                self._record(array_path, number)
                self._record(current, number)
            elif table := _TABLE_HEADER.match(line):
                current = _resolve(_key_parts(table["name"]), latest)
                self._record(current, number)
            elif key := _KEY_LINE.match(line):
                self._record(_join(current, *_key_parts(key["key"])), number)
                multiline = _opened_multiline(line[key.end() :])

    def _record(self, path: str, line: int) -> None:
        self._lines.setdefault(path, line)


def _key_parts(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in dotted.split(".")]


def _resolve(parts: list[str], latest: Mapping[str, str]) -> str:
    """The concrete path of a header: each enclosing array means its latest element."""
    path = ""
    for depth, part in enumerate(parts[:-1], start=1):
        generic = ".".join(parts[:depth])
        path = latest.get(generic, _join(path, part))
    return _join(path, parts[-1])


def _opened_multiline(value: str) -> str | None:
    for delimiter in ('"""', "'''"):
        if value.count(delimiter) % 2 == 1:
            return delimiter
    return None


def _join(path: str, *keys: str) -> str:
    return ".".join([path, *keys]) if path else ".".join(keys)


# --- reading and validating ---------------------------------------------------------------


@dataclass
class _Reader:
    """Reads one file's parsed data, collecting problems at the lines of their keys."""

    file: str
    locator: Locator
    problems: list[Problem] = field(default_factory=list)

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.locator.line_of(path), f"{path}: {message}"))

    def table(self, value: object, path: str, keys: Collection[str]) -> Mapping[str, object] | None:
        if not isinstance(value, dict):
            self.report(path, "must be a table")
            return None
        self._check_keys(value, path, keys)
        return value

    def tables(self, parent: Mapping[str, object], path: str, key: str) -> list[tuple[str, object]]:
        """The items of an array of tables (``[[key]]``) with their paths; may be empty."""
        value = parent.get(key, [])
        array_path = _join(path, key)
        if not isinstance(value, list):
            self.report(array_path, f"must be an array of tables, written [[{key}]]")
            return []
        return [(f"{array_path}[{index}]", item) for index, item in enumerate(value)]

    def text(
        self,
        table: Mapping[str, object],
        path: str,
        key: str,
        *,
        required: bool,
        max_length: int = MAX_NAME_LENGTH,
    ) -> str | None:
        """A non-blank string, stripped; ``None`` if absent (reported when required)."""
        value = table.get(key)
        key_path = _join(path, key)
        if value is None:
            if required:
                self.report(key_path, "is required")
            return None
        if not isinstance(value, str):
            self.report(key_path, "must be a string in quotes")
            return None
        if not value.strip():
            self.report(key_path, "must not be blank")
            return None
        if len(value) > max_length:
            self.report(key_path, f"must be at most {max_length} characters long")
            return None
        return value.strip()

    def choice(
        self, table: Mapping[str, object], path: str, key: str, choices: Collection[str]
    ) -> str | None:
        value = self.text(table, path, key, required=False)
        if value is not None and value not in choices:
            self.report(_join(path, key), f'"{value}" is not one of {_listing(choices)}')
            return None
        return value

    def _check_keys(self, table: Mapping[str, object], path: str, keys: Collection[str]) -> None:
        for key in table:
            if key not in keys:
                guess = difflib.get_close_matches(key, keys, n=1)
                hint = f'did you mean "{guess[0]}"? ' if guess else ""
                self.report(_join(path, key), f"unknown key; {hint}expected {_listing(keys)}")


def _listing(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _read_tenant(
    reader: _Reader, data: Mapping[str, object], environment: str
) -> TenantSpec | None:
    reader.table(data, "", TOP_LEVEL_KEYS)
    demo_password = _read_demo(reader, data, environment)
    agency = _read_agency(reader, data)
    people = _read_people(reader, data, "", scope="agency", client_slugs=_client_slugs(data))
    if "agency" in data:
        _check_has_owner(reader, people, data)
    clients = _read_clients(reader, data)
    if agency is None:
        return None
    return TenantSpec(
        file=reader.file,
        agency=agency,
        people=tuple(people),
        clients=tuple(clients),
        demo_password=demo_password,
    )


def _client_slugs(data: Mapping[str, object]) -> frozenset[str]:
    """The slugs the file's clients claim, for the editors' ``clients`` lists; a
    client's own slug problems are reported where it is read."""
    clients = data.get("clients")
    if not isinstance(clients, list):
        return frozenset()
    return frozenset(
        c["slug"] for c in clients if isinstance(c, dict) and isinstance(c.get("slug"), str)
    )


def _read_demo(reader: _Reader, data: Mapping[str, object], environment: str) -> str | None:
    if "demo" not in data:
        return None
    table = reader.table(data["demo"], "demo", DEMO_KEYS)
    if environment == "production":
        reader.report("demo", DEMO_REFUSED)
    if table is None:
        return None
    password = table.get("password")
    if not isinstance(password, str) or not password:
        reader.report("demo.password", "must be a non-empty string in quotes")
        return None
    return password  # not stripped: a password is exactly what it says


def _read_agency(reader: _Reader, data: Mapping[str, object]) -> AgencySpec | None:
    if "agency" not in data:
        reader.report("agency", "the [agency] table is missing")
        return None
    table = reader.table(data["agency"], "agency", AGENCY_KEYS)
    if table is None:
        return None
    slug = _read_slug(reader, table, "agency")
    name = reader.text(table, "agency", "name", required=True)
    plan = reader.text(table, "agency", "plan", required=False)
    if plan is not None and not PLAN_PATTERN.match(plan):
        reader.report("agency.plan", f'"{plan}" is not a plan name (lowercase, like "starter")')
    if slug is None or name is None:
        return None
    return AgencySpec(slug=slug, name=name, plan=plan, line=reader.locator.line_of("agency.slug"))


def _read_clients(reader: _Reader, data: Mapping[str, object]) -> list[ClientSpec]:
    clients: list[ClientSpec] = []
    first_path: dict[str, str] = {}
    for path, item in reader.tables(data, "", "clients"):
        client = _read_client(reader, item, path)
        if client is None:
            continue
        if client.slug in first_path:
            earlier = reader.locator.line_of(first_path[client.slug] + ".slug")
            reader.report(
                f"{path}.slug", f'client "{client.slug}" is already defined on line {earlier}'
            )
            continue
        first_path[client.slug] = path
        clients.append(client)
    return clients


def _read_client(reader: _Reader, item: object, path: str) -> ClientSpec | None:
    table = reader.table(item, path, CLIENT_KEYS)
    if table is None:
        return None
    slug = _read_slug(reader, table, path)
    name = reader.text(table, path, "name", required=True)
    timezone = reader.text(table, path, "timezone", required=True)
    if timezone is not None and not rules.is_known_timezone(timezone):
        reader.report(
            f"{path}.timezone", f'"{timezone}" is not an IANA time zone like "Europe/Berlin"'
        )
        timezone = None
    locale = reader.choice(table, path, "locale", rules.SUPPORTED_LOCALES)
    verified_domains = _read_domains(reader, table, path)
    people = _read_people(reader, table, path, scope="client")
    roles = {person.email: person.role for person in people}
    sla_policy = _read_sla_policy(reader, table, path, timezone)
    templates = _read_templates(reader, table, path, roles)
    emergency_plan = _read_emergency_plan(reader, table, path, roles, templates)
    rota = _read_rota(reader, table, path, roles, timezone)
    if slug is None or name is None or timezone is None:
        return None
    return ClientSpec(
        slug=slug,
        name=name,
        timezone=timezone,
        locale=locale or DEFAULT_LOCALE,
        people=tuple(people),
        line=reader.locator.line_of(f"{path}.slug"),
        sla_policy=sla_policy,
        templates=tuple(templates),
        emergency_plan=emergency_plan,
        rota=rota,
        verified_domains=verified_domains,
    )


def _read_domains(
    reader: _Reader, table: Mapping[str, object], path: str
) -> tuple[str, ...] | None:
    """``verified_domains = ["baeckerei.example"]``: normalised and sorted; absent: None."""
    if "verified_domains" not in table:
        return None
    domains = set()
    for text in _strings(reader, table, path, "verified_domains", None):
        domain = rules.normalize_domain(text)
        if domain is None:
            reader.report(
                f"{path}.verified_domains", f'"{text}" is not a domain name like "example.com"'
            )
        else:
            domains.add(domain)
    if len(domains) > rules.MAX_VERIFIED_DOMAINS:
        reader.report(
            f"{path}.verified_domains", f"names at most {rules.MAX_VERIFIED_DOMAINS} domains"
        )
    return tuple(sorted(domains))


# --- the client's SLA policy, templates, emergency plan and rota -------------------------

_HOURS_FORMAT = 'must be "HH:MM-HH:MM" like "08:00-18:00", or a list of them'


def _read_sla_policy(
    reader: _Reader, client: Mapping[str, object], path: str, client_timezone: str | None
) -> SlaPolicySpec | None:
    """``[clients.sla_policy]``; what is left out takes the API's defaults."""
    if "sla_policy" not in client:
        return None
    where = f"{path}.sla_policy"
    table = reader.table(client["sla_policy"], where, SLA_KEYS)
    if table is None:
        return None
    before = len(reader.problems)
    timezone = reader.text(table, where, "timezone", required=False)
    if timezone is not None and not rules.is_known_timezone(timezone):
        reader.report(f"{where}.timezone", f'"{timezone}" is not an IANA time zone')
    reminder_at = table.get("reminder_at", esc_rules.DEFAULT_SLA_POLICY.reminder_at)
    if isinstance(reminder_at, bool) or not isinstance(reminder_at, int | float):
        reader.report(f"{where}.reminder_at", "must be a number like 0.75")
        reminder_at = 0.75
    targets = _read_targets(reader, table, where)
    hours, hour_paths = _read_hours(reader, table, where)
    holidays = _read_holidays(reader, table, where)
    if len(reader.problems) > before or client_timezone is None:
        return None
    spec = SlaPolicySpec(
        targets=targets,
        hours=hours,
        holidays=holidays,
        reminder_at=float(reminder_at),
        timezone=timezone,
        line=reader.locator.line_of(where),
    )
    for name, message in esc_rules.sla_policy_problems(spec.policy(client_timezone), utcnow()):
        message = _HOURS_INDEX.sub(lambda m: _describe_hours(hours[int(m[1])]), message)
        reader.report(_sla_field_path(where, name, hour_paths), message)
    return spec if len(reader.problems) == before else None


_HOURS_INDEX = re.compile(r"hours\[(\d+)\]")


def _describe_hours(hours: esc_rules.OpeningHours) -> str:
    opens, closes = esc_rules.format_clock(hours.opens), esc_rules.format_clock(hours.closes)
    return f'{WEEKDAYS[hours.weekday]} "{opens}-{closes}"'


def _sla_field_path(where: str, name: str, hour_paths: Sequence[str]) -> str:
    """The file path of a field the rules name in the API's words."""
    if match := _HOURS_INDEX.match(name):
        return hour_paths[int(match[1])]
    return f"{where}.{name.replace('reminderAt', 'reminder_at')}"


def _read_targets(
    reader: _Reader, table: Mapping[str, object], where: str
) -> tuple[tuple[str, int, bool], ...]:
    defaults = esc_rules.DEFAULT_SLA_POLICY.targets
    given: Mapping[str, object] = {}
    if "targets" in table:
        given = reader.table(table["targets"], f"{where}.targets", esc_rules.SEVERITIES) or {}
    targets = []
    for severity in esc_rules.SEVERITIES:
        default = defaults[severity]
        minutes = int(default.response.total_seconds() // 60)
        business_hours_only = default.business_hours_only
        if severity in given:
            target_path = f"{where}.targets.{severity}"
            target = reader.table(given[severity], target_path, TARGET_KEYS) or {}
            value = target.get("minutes")
            if isinstance(value, bool) or not isinstance(value, int):
                reader.report(f"{target_path}.minutes", "must be a whole number of minutes")
            else:
                minutes = value
            flag = target.get("business_hours_only", business_hours_only)
            if not isinstance(flag, bool):
                reader.report(f"{target_path}.business_hours_only", "must be true or false")
            else:
                business_hours_only = flag
        targets.append((severity, minutes, business_hours_only))
    return tuple(targets)


def _read_hours(
    reader: _Reader, table: Mapping[str, object], where: str
) -> tuple[tuple[esc_rules.OpeningHours, ...], list[str]]:
    """``[clients.sla_policy.hours]``: ``mon = "08:00-18:00"``; absent: Mon-Fri 8-18."""
    if "hours" not in table:
        default = esc_rules.DEFAULT_CALENDAR.hours
        return default, [f"{where}.hours"] * len(default)
    days = reader.table(table["hours"], f"{where}.hours", WEEKDAYS)
    if days is None:
        return (), []
    hours: list[esc_rules.OpeningHours] = []
    paths: list[str] = []
    for weekday, day in enumerate(WEEKDAYS):
        if day not in days:
            continue
        day_path = f"{where}.hours.{day}"
        value = days[day]
        intervals = value if isinstance(value, list) else [value]
        for interval in intervals:
            parsed = _parse_interval(interval)
            if parsed is None:
                reader.report(day_path, _HOURS_FORMAT)
                continue
            hours.append(esc_rules.OpeningHours(weekday, *parsed))
            paths.append(day_path)
    # Stored in the order export writes them back, so that a round trip changes nothing.
    ordered = sorted(zip(hours, paths, strict=True), key=lambda pair: pair[0].opens)
    ordered.sort(key=lambda pair: pair[0].weekday)
    return tuple(h for h, _ in ordered), [p for _, p in ordered]


def _parse_interval(value: object) -> tuple[time, time] | None:
    if not isinstance(value, str):
        return None
    opens_text, dash, closes_text = value.strip().partition("-")
    opens = esc_rules.parse_clock(opens_text.strip())
    closes = esc_rules.parse_clock(closes_text.strip(), end_of_day=True)
    if not dash or opens is None or closes is None:
        return None
    return opens, closes


def _read_holidays(reader: _Reader, table: Mapping[str, object], where: str) -> tuple[date, ...]:
    value = table.get("holidays", [])
    if not isinstance(value, list):
        reader.report(f"{where}.holidays", "must be a list of dates like [2026-12-25]")
        return ()
    holidays: set[date] = set()
    for item in value:
        if isinstance(item, date) and not isinstance(item, datetime):
            holidays.add(item)
        else:
            reader.report(f"{where}.holidays", f"{item!r} is not a date like 2026-12-25")
    return tuple(sorted(holidays))


def _read_templates(
    reader: _Reader, client: Mapping[str, object], path: str, roles: Mapping[str, str]
) -> list[TemplateSpec]:
    """``[[clients.templates]]``: one name once; approved by an executive or admin."""
    templates: list[TemplateSpec] = []
    first_path: dict[str, str] = {}
    for item_path, item in reader.tables(client, path, "templates"):
        table = reader.table(item, item_path, TEMPLATE_KEYS)
        if table is None:
            continue
        before = len(reader.problems)
        name, body = table.get("name"), table.get("body")
        for key, value in (("name", name), ("body", body)):
            if value is None:
                reader.report(f"{item_path}.{key}", "is required")
            elif not isinstance(value, str):
                reader.report(f"{item_path}.{key}", "must be a string in quotes")
        if not (isinstance(name, str) and isinstance(body, str)):
            continue
        for key, message in esc_rules.template_problems(name, body):
            reader.report(f"{item_path}.{key}", message)
        approved_by = _read_approver(reader, table, item_path, roles)
        if len(reader.problems) > before:
            continue
        if name.strip() in first_path:
            earlier = reader.locator.line_of(first_path[name.strip()] + ".name")
            reader.report(
                f"{item_path}.name",
                f'a template "{name.strip()}" is already defined on line {earlier}',
            )
            continue
        first_path[name.strip()] = item_path
        line = reader.locator.line_of(item_path)
        templates.append(TemplateSpec(name.strip(), body.strip(), approved_by, line=line))
    return templates


def _read_approver(
    reader: _Reader, table: Mapping[str, object], path: str, roles: Mapping[str, str]
) -> str | None:
    raw = reader.text(table, path, "approved_by", required=False, max_length=MAX_EMAIL_LENGTH)
    if raw is None:
        return None
    email = rules.normalize_email(raw)
    if roles.get(email) not in esc_rules.TEMPLATE_APPROVERS:
        reader.report(
            f"{path}.approved_by",
            f"{email} is not one of this client's people with the role "
            f"{' or '.join(sorted(esc_rules.TEMPLATE_APPROVERS))}",
        )
        return None
    return email


def _read_emergency_plan(
    reader: _Reader,
    client: Mapping[str, object],
    path: str,
    roles: Mapping[str, str],
    templates: Sequence[TemplateSpec],
) -> PlanSpec | None:
    """``[clients.emergency_plan]`` with its ``[[clients.emergency_plan.steps]]``."""
    if "emergency_plan" not in client:
        return None
    where = f"{path}.emergency_plan"
    table = reader.table(client["emergency_plan"], where, PLAN_KEYS)
    if table is None:
        return None
    before = len(reader.problems)
    known = {template.name for template in templates}
    steps = [
        _read_step(reader, item, item_path, roles, known)
        for item_path, item in reader.tables(table, where, "steps")
    ]
    if len(reader.problems) > before:
        return None
    spec = PlanSpec(tuple(s for s in steps if s is not None), line=reader.locator.line_of(where))
    approved = {t.name: file_id("template", t.name) for t in templates if t.approved_by}
    ids = {name: approved.get(name, file_id("template", name)) for name in known}
    plan = spec.plan(ids, {email: file_id("user", email) for email in roles})
    for name, message in plan_rules.plan_problems(plan, approved.values()):
        name = (
            name.replace("afterMinutes", "after_minutes")
            .replace("templateId", "template")
            .replace("waitMinutes", "wait_minutes")
        )
        reader.report(f"{where}.{name}", message)
    return spec if len(reader.problems) == before else None


def _read_step(
    reader: _Reader,
    item: object,
    path: str,
    roles: Mapping[str, str],
    templates: Collection[str],
) -> StepSpec | None:
    table = reader.table(item, path, STEP_KEYS)
    if table is None:
        return None
    after = table.get("after_minutes")
    if isinstance(after, bool) or not isinstance(after, int):
        reader.report(f"{path}.after_minutes", "must be a whole number of minutes")
    targets = [t.value for t in plan_rules.Target]
    notify = _strings(reader, table, path, "notify", targets)
    if "notify" not in table:
        reader.report(f"{path}.notify", f"is required; any of {_listing(targets)}")
    channels = _strings(reader, table, path, "channels", sorted(plan_rules.CHANNELS))
    users = []
    for raw in _strings(reader, table, path, "users", None):
        email = rules.normalize_email(raw)
        if email not in roles:
            reader.report(f"{path}.users", f"{email} is not one of this client's people")
        users.append(email)
    action, template, wait = _read_fallback(reader, table, path, templates)
    if not isinstance(after, int) or isinstance(after, bool):
        return None
    return StepSpec(
        after_minutes=after,
        notify=tuple(notify),
        users=tuple(dict.fromkeys(users)),
        channels=tuple(dict.fromkeys(channels)) if "channels" in table else ("in_app",),
        fallback=action,
        template=template,
        fallback_wait=wait,
        line=reader.locator.line_of(path),
    )


def _read_fallback(
    reader: _Reader, table: Mapping[str, object], path: str, templates: Collection[str]
) -> tuple[str | None, str | None, int]:
    """The fallback's action, template name and wait in minutes (default 5)."""
    default_wait = int(plan_rules.DEFAULT_FALLBACK_WAIT.total_seconds() // 60)
    if "fallback" not in table:
        return None, None, default_wait
    where = f"{path}.fallback"
    fallback = reader.table(table["fallback"], where, FALLBACK_KEYS)
    if fallback is None:
        return None, None, default_wait
    wait = fallback.get("wait_minutes", default_wait)
    if isinstance(wait, bool) or not isinstance(wait, int):
        reader.report(f"{where}.wait_minutes", "must be a whole number of minutes")
        wait = default_wait
    actions = [a.value for a in plan_rules.FallbackAction]
    action = reader.choice(fallback, where, "action", actions)
    if action is None and "action" not in fallback:
        reader.report(f"{where}.action", f"is required; one of {_listing(actions)}")
    template = reader.text(fallback, where, "template", required=False)
    if template is not None and template not in templates:
        reader.report(
            f"{where}.template", f'no [[clients.templates]] of this client is named "{template}"'
        )
    return action, template, wait


def _read_rota(
    reader: _Reader,
    client: Mapping[str, object],
    path: str,
    roles: Mapping[str, str],
    client_timezone: str | None,
) -> RotaSpec | None:
    """``[clients.rota]`` with its ``[[clients.rota.layers]]`` and the gap contact."""
    if "rota" not in client:
        return None
    where = f"{path}.rota"
    table = reader.table(client["rota"], where, ROTA_KEYS)
    if table is None:
        return None
    before = len(reader.problems)
    layers = [
        _read_layer(reader, item, item_path)
        for item_path, item in reader.tables(table, where, "layers")
    ]
    gap_contact = None
    raw = reader.text(table, where, "gap_contact", required=False, max_length=MAX_EMAIL_LENGTH)
    if raw is not None:
        gap_contact = rules.normalize_email(raw)
        if roles.get(gap_contact) not in GAP_CONTACT_ROLES:
            reader.report(
                f"{where}.gap_contact",
                f"{gap_contact} is not one of this client's people with the role "
                f"{' or '.join(sorted(GAP_CONTACT_ROLES))}",
            )
    if len(reader.problems) > before or client_timezone is None:
        return None
    spec = RotaSpec(
        tuple(layer for layer in layers if layer is not None),
        gap_contact=gap_contact,
        line=reader.locator.line_of(where),
    )
    eligible = frozenset(file_id("user", e) for e, role in roles.items() if role in ON_DUTY_ROLES)
    # Someone who is not one of the client's people at all is no eligible id either.
    ids = {email: file_id("user", email) for layer in spec.layers for email in layer.participants}
    file_layers = spec.rota_layers(client_timezone, ids)
    for name, message in esc_rules.layer_problems(file_layers, eligible):
        if match := _PARTICIPANT.match(name):
            email = spec.layers[int(match[1])].participants[int(match[2])]
            name, message = f"layers[{match[1]}].participants", f"{email} {message}"
        name = name.replace("startsAt", "starts_at").replace("endsAt", "ends_at")
        reader.report(f"{where}.{name}", message.replace("startsAt", "starts_at"))
    return spec if len(reader.problems) == before else None


_PARTICIPANT = re.compile(r"layers\[(\d+)\]\.participants\[(\d+)\]$")


def _read_layer(reader: _Reader, item: object, path: str) -> LayerSpec | None:
    table = reader.table(item, path, LAYER_KEYS)
    if table is None:
        return None
    before = len(reader.problems)
    participants = [
        rules.normalize_email(raw) for raw in _strings(reader, table, path, "participants", None)
    ]
    if "participants" not in table:
        reader.report(f"{path}.participants", "is required")
    starts_at = _read_instant(reader, table, path, "starts_at", required=True)
    ends_at = _read_instant(reader, table, path, "ends_at", required=False)
    rotations = [r.value for r in esc_rules.Rotation]
    rotation = reader.choice(table, path, "rotation", rotations)
    if "rotation" not in table:
        reader.report(f"{path}.rotation", f"is required; one of {_listing(rotations)}")
    handoff_text = reader.text(table, path, "handoff", required=True)
    handoff = esc_rules.parse_clock(handoff_text) if handoff_text is not None else None
    if handoff_text is not None and handoff is None:
        reader.report(f"{path}.handoff", 'must be a time "HH:MM" like "09:00"')
    timezone = reader.text(table, path, "timezone", required=False)
    if timezone is not None and not rules.is_known_timezone(timezone):
        reader.report(f"{path}.timezone", f'"{timezone}" is not an IANA time zone')
    if len(reader.problems) > before or starts_at is None or rotation is None or handoff is None:
        return None
    return LayerSpec(
        participants=tuple(participants),
        starts_at=starts_at,
        rotation=rotation,
        handoff=handoff,
        timezone=timezone,
        ends_at=ends_at,
        line=reader.locator.line_of(path),
    )


def _read_instant(
    reader: _Reader, table: Mapping[str, object], path: str, key: str, *, required: bool
) -> datetime | None:
    """A TOML offset date-time such as ``2026-01-05T09:00:00+01:00`` (no quotes)."""
    value = table.get(key)
    if value is None:
        if required:
            reader.report(f"{path}.{key}", "is required")
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        reader.report(
            f"{path}.{key}",
            "must be a date and time with its UTC offset: 2026-01-05T09:00:00+01:00",
        )
        return None
    return value


def _strings(
    reader: _Reader,
    table: Mapping[str, object],
    path: str,
    key: str,
    choices: Collection[str] | None,
) -> list[str]:
    """A list of strings (each one of ``choices`` when given); reported otherwise."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        reader.report(f"{path}.{key}", "must be a list of strings in quotes")
        return []
    items = [v.strip() for v in value]
    if choices is not None:
        for item in items:
            if item not in choices:
                reader.report(f"{path}.{key}", f'"{item}" is not one of {_listing(choices)}')
        items = [item for item in items if item in choices]
    return items


_SCOPE_ROLES = {"agency": rules.AGENCY_ROLES, "client": rules.CLIENT_ROLES}


def _read_people(
    reader: _Reader,
    parent: Mapping[str, object],
    path: str,
    *,
    scope: str,
    client_slugs: frozenset[str] = frozenset(),
) -> list[PersonSpec]:
    """The ``people`` of the agency or of one client; an e-mail once per place."""
    people: list[PersonSpec] = []
    first_path: dict[str, str] = {}
    for item_path, item in reader.tables(parent, path, "people"):
        person = _read_person(reader, item, item_path, scope=scope, client_slugs=client_slugs)
        if person is None:
            continue
        if person.email in first_path:
            earlier = reader.locator.line_of(first_path[person.email] + ".email")
            reader.report(
                f"{item_path}.email", f"{person.email} is already listed on line {earlier}"
            )
            continue
        first_path[person.email] = item_path
        people.append(person)
    return people


def _read_person(
    reader: _Reader, item: object, path: str, *, scope: str, client_slugs: frozenset[str]
) -> PersonSpec | None:
    table = reader.table(item, path, AGENCY_PERSON_KEYS if scope == "agency" else PERSON_KEYS)
    if table is None:
        return None
    email = _read_email(reader, table, path)
    name = reader.text(table, path, "name", required=False)
    role = _read_role(reader, table, path, scope)
    locale = reader.choice(table, path, "locale", rules.SUPPORTED_LOCALES)
    clients = (
        _read_assigned_clients(reader, table, path, role, client_slugs) if scope == "agency" else ()
    )
    if email is None or role is None:
        return None
    line = reader.locator.line_of(f"{path}.email")
    return PersonSpec(
        email=email, role=role, name=name or "", locale=locale, line=line, clients=clients
    )


def _read_assigned_clients(
    reader: _Reader,
    table: Mapping[str, object],
    path: str,
    role: str | None,
    client_slugs: frozenset[str],
) -> tuple[str, ...]:
    """An agency editor's ``clients``: slugs of clients in this file, each once."""
    if "clients" not in table:
        return ()
    if role is not None and not rules.is_assignable(role, None):
        reader.report(
            f"{path}.clients",
            f"only editors are assigned to clients; an {role} sees every client"
            if role in rules.AGENCY_MANAGERS
            else "only editors are assigned to clients",
        )
        return ()
    if not client_slugs:
        reader.report(f"{path}.clients", "names clients, but the file has no [[clients]]")
        return ()
    slugs = _strings(reader, table, path, "clients", client_slugs)
    if len(set(slugs)) != len(slugs):
        reader.report(f"{path}.clients", "names a client twice")
    return tuple(dict.fromkeys(slugs))


def _read_slug(reader: _Reader, table: Mapping[str, object], path: str) -> str | None:
    slug = reader.text(table, path, "slug", required=True)
    if slug is not None and not rules.is_valid_slug(slug):
        reader.report(
            f"{path}.slug",
            f'"{slug}" is not a slug: lowercase letters, digits and inner hyphens, 1-63 long',
        )
        return None
    return slug


def _read_email(reader: _Reader, table: Mapping[str, object], path: str) -> str | None:
    raw = reader.text(table, path, "email", required=True, max_length=MAX_EMAIL_LENGTH)
    if raw is None:
        return None
    email = rules.normalize_email(raw)
    if not rules.is_valid_email(email):
        reader.report(f"{path}.email", f'"{raw}" is not an e-mail address')
        return None
    return email


def _read_role(reader: _Reader, table: Mapping[str, object], path: str, scope: str) -> str | None:
    role = reader.text(table, path, "role", required=True)
    if role is None:
        return None
    allowed = _SCOPE_ROLES[scope]
    if role in allowed:
        return role
    if role in rules.ALL_ROLES:
        if scope == "agency":
            kind, where = "a client role", "agency staff ([[people]])"
        else:
            kind, where = "an agency role", "a client's people"
        message = f'"{role}" is {kind}; {where} can be {_listing(allowed)}'
    else:
        message = f'"{role}" is not a role; expected {_listing(allowed)}'
    reader.report(f"{path}.role", message)
    return None


def _check_has_owner(
    reader: _Reader, people: Sequence[PersonSpec], data: Mapping[str, object]
) -> None:
    """An agency must keep an owner (rules.would_orphan_agency); a file must name one.

    Reported whatever else is wrong, unless an entry says ``role = "owner"`` but is
    broken otherwise (its own problem is reported where it is).
    """
    if any(person.role == rules.Role.OWNER for person in people):
        return
    entries = data.get("people")
    if entries is not None and not isinstance(entries, list):
        return  # not a [[people]] array at all: reported as such
    named = isinstance(entries, list) and any(
        isinstance(entry, Mapping) and entry.get("role") == rules.Role.OWNER for entry in entries
    )
    if not named:
        where = "people" if "people" in data else "agency"
        reader.report(where, 'the agency needs at least one [[people]] entry with role "owner"')


def problems_across_files(specs: Sequence[TenantSpec]) -> list[Problem]:
    """What is only wrong together: one agency in two files, one person named twice."""
    problems: list[Problem] = []
    agency_at: dict[str, TenantSpec] = {}
    for spec in specs:
        first = agency_at.setdefault(spec.agency.slug, spec)
        if first is not spec:
            problems.append(
                Problem(
                    spec.file,
                    spec.agency.line,
                    f'agency.slug: agency "{spec.agency.slug}" is also defined in '
                    f"{first.file}:{first.agency.line}",
                )
            )
    problems.extend(_disagreeing_people(specs))
    return problems


def _demo_in_production(specs: Sequence[TenantSpec], environment: str) -> list[Problem]:
    """Loading already refuses it; specs built elsewhere must not slip past."""
    if environment != "production":
        return []
    message = f"demo: {DEMO_REFUSED}"
    return [Problem(spec.file, 1, message) for spec in specs if spec.demo_password is not None]


def _disagreeing_people(specs: Sequence[TenantSpec]) -> list[Problem]:
    """A user is global: where one e-mail appears twice, its name and locale must agree."""
    problems: list[Problem] = []
    first_seen: dict[tuple[str, str], tuple[str, str, int]] = {}  # (email, key) -> value, at
    for spec in specs:
        for person in _all_people(spec):
            for key, value in (("name", person.name), ("locale", person.locale or "")):
                if not value:
                    continue
                earlier = first_seen.setdefault(
                    (person.email, key), (value, spec.file, person.line)
                )
                if earlier[0] != value:
                    message = (
                        f'{person.email} has the {key} "{value}" here but "{earlier[0]}" '
                        f"at {earlier[1]}:{earlier[2]}; one person has one {key}"
                    )
                    problems.append(Problem(spec.file, person.line, message))
    return problems


def _all_people(spec: TenantSpec) -> Iterable[PersonSpec]:
    yield from spec.people
    for client in spec.clients:
        yield from client.people


# --- rendering (export) -------------------------------------------------------------------


def render_tenant_file(spec: TenantSpec, *, comment: str = "") -> str:
    """The TOML text of a spec, in the documented layout; parses back to the same spec."""
    blocks: list[list[str]] = []
    if comment:
        blocks.append([f"# {line}".rstrip() for line in comment.splitlines()])
    if spec.demo_password is not None:
        blocks.append(["[demo]", _pair("password", spec.demo_password)])
    agency = ["[agency]", _pair("slug", spec.agency.slug), _pair("name", spec.agency.name)]
    if spec.agency.plan is not None:
        agency.append(_pair("plan", spec.agency.plan))
    blocks.append(agency)
    blocks.extend(_render_person("people", person) for person in spec.people)
    for client in spec.clients:
        blocks.extend(_render_client(client))
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def _render_client(client: ClientSpec) -> list[list[str]]:
    header = [
        "[[clients]]",
        _pair("slug", client.slug),
        _pair("name", client.name),
        _pair("timezone", client.timezone),
        _pair("locale", client.locale),
    ]
    if client.verified_domains:
        listed = ", ".join(toml_string(domain) for domain in client.verified_domains)
        header.append(f"verified_domains = [{listed}]")
    blocks = [header, *(_render_person("clients.people", person) for person in client.people)]
    if client.sla_policy is not None:
        blocks.extend(_render_sla_policy(client.sla_policy))
    blocks.extend(_render_template(template) for template in client.templates)
    if client.emergency_plan is not None:
        blocks.append(["[clients.emergency_plan]"])
        blocks.extend(_render_step(step) for step in client.emergency_plan.steps)
    if client.rota is not None:
        rota = ["[clients.rota]"]
        if client.rota.gap_contact is not None:
            rota.append(_pair("gap_contact", client.rota.gap_contact))
        blocks.append(rota)
        blocks.extend(_render_layer(layer) for layer in client.rota.layers)
    return blocks


def _render_layer(layer: LayerSpec) -> list[str]:
    lines = [
        "[[clients.rota.layers]]",
        f"participants = {_string_list(layer.participants)}",
        f"starts_at = {layer.starts_at.isoformat()}",
        _pair("rotation", layer.rotation),
        _pair("handoff", esc_rules.format_clock(layer.handoff)),
    ]
    if layer.timezone is not None:
        lines.append(_pair("timezone", layer.timezone))
    if layer.ends_at is not None:
        lines.append(f"ends_at = {layer.ends_at.isoformat()}")
    return lines


def _render_sla_policy(policy: SlaPolicySpec) -> list[list[str]]:
    table = ["[clients.sla_policy]"]
    if policy.timezone is not None:
        table.append(_pair("timezone", policy.timezone))
    table.append(f"reminder_at = {policy.reminder_at!r}")
    if policy.holidays:
        table.append("holidays = [")
        table.extend(f"  {day.isoformat()}," for day in policy.holidays)
        table.append("]")
    else:
        table.append("holidays = []")
    targets = ["[clients.sla_policy.targets]"]
    for severity, minutes, business_hours_only in policy.targets:
        flag = "true" if business_hours_only else "false"
        targets.append(f"{severity} = {{ minutes = {minutes}, business_hours_only = {flag} }}")
    hours = ["[clients.sla_policy.hours]"]
    for weekday, day in enumerate(WEEKDAYS):
        intervals = [
            toml_string(f"{esc_rules.format_clock(h.opens)}-{esc_rules.format_clock(h.closes)}")
            for h in policy.hours
            if h.weekday == weekday
        ]
        if len(intervals) == 1:
            hours.append(f"{day} = {intervals[0]}")
        elif intervals:
            hours.append(f"{day} = [{', '.join(intervals)}]")
    return [table, targets, hours]


def _render_template(template: TemplateSpec) -> list[str]:
    lines = ["[[clients.templates]]", _pair("name", template.name), _pair("body", template.body)]
    if template.approved_by is not None:
        lines.append(_pair("approved_by", template.approved_by))
    return lines


def _render_step(step: StepSpec) -> list[str]:
    lines = [
        "[[clients.emergency_plan.steps]]",
        f"after_minutes = {step.after_minutes}",
        f"notify = {_string_list(step.notify)}",
    ]
    if step.users:
        lines.append(f"users = {_string_list(step.users)}")
    lines.append(f"channels = {_string_list(step.channels)}")
    if step.fallback is not None:
        fallback = f"action = {toml_string(step.fallback)}"
        if step.template is not None:
            fallback += f", template = {toml_string(step.template)}"
        fallback += f", wait_minutes = {step.fallback_wait}"
        lines.append(f"fallback = {{ {fallback} }}")
    return lines


def _string_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(toml_string(value) for value in values) + "]"


def _render_person(array: str, person: PersonSpec) -> list[str]:
    lines = [f"[[{array}]]", _pair("email", person.email)]
    if person.name:
        lines.append(_pair("name", person.name))
    lines.append(_pair("role", person.role))
    if person.locale is not None:
        lines.append(_pair("locale", person.locale))
    if person.clients:
        lines.append(f"clients = {_string_list(person.clients)}")
    return lines


def _pair(key: str, value: str) -> str:
    return f"{key} = {toml_string(value)}"


_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = []
    for char in value:
        if char in _TOML_ESCAPES:
            escaped.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
