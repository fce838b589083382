"""Declarative tenant files: the public entry points, parsing, validation, rendering.

A tenant file describes one agency, its staff, its client companies and their people
(the format is documented in ``tenants/README.md``). This module turns files into
:class:`TenantSpec` values and reports *every* problem it finds, each with the file
and the line of the offending key, so one run of ``agencyhub tenants validate`` shows
all that needs fixing. Reading and checking are pure functions of the text; the only
I/O here is reading the files and the thin :func:`apply_tenant_specs` and
:func:`export_agency`, which hand over to ``tenantfile_apply`` (the database side; it
also defines the spec types, so imports point one way: this module -> that one).

tomllib gives no positions, so :class:`Locator` scans the source once and maps key
paths such as ``clients[1].people[0].role`` to lines (see its docstring).

Adding a per-client table later (``sla_policy``, ``emergency_plan``, ``rota``,
``templates``): add its key to ``CLIENT_KEYS``, write a ``_read_<table>`` function
that reports through the :class:`_Reader`, add a field to ``ClientSpec``, to
``_render_client`` (so export round-trips it) and to the applier.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agencyhub.config import Settings
from agencyhub.db import Database
from agencyhub.tenancy import rules
from agencyhub.tenancy.secrets import Passwords
from agencyhub.tenancy.tenantfile_apply import (
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
CLIENT_KEYS = ("slug", "name", "timezone", "locale", "people")
MAX_NAME_LENGTH = 200  # the models' name columns
MAX_EMAIL_LENGTH = 320
PLAN_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # fits Agency.plan, String(32)
DEMO_REFUSED = "a [demo] table (with its shared password) is refused in production"
EXPORT_COMMENT = """Agency {name}, exported from AgencyHub.
No passwords and no pending invitations: applying this file invites
everyone who has no password yet."""


# --- entry points -------------------------------------------------------------------------


async def apply_tenant_specs(
    db: Database, passwords: Passwords, settings: Settings, specs: Sequence[TenantSpec]
) -> ApplyReport:
    """Create or update what the specs declare, all in one transaction; never deletes.

    Raises :class:`TenantFileInvalid` for problems between the specs, or a demo
    password in production, and :class:`TenantFileConflict` when the database
    disagrees (nothing is written then).
    """
    problems = problems_across_files(specs) + _demo_in_production(specs, settings.environment)
    if problems:
        raise TenantFileInvalid(problems)
    return await apply_specs(db, passwords, settings, specs)


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
    problems_so_far = len(reader.problems)
    people = _read_people(reader, data, "", scope="agency")
    if len(reader.problems) == problems_so_far and "agency" in data:
        # Only when every entry read cleanly: a broken owner entry is reported already.
        _check_has_owner(reader, people, has_people_table="people" in data)
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
    people = _read_people(reader, table, path, scope="client")
    if slug is None or name is None or timezone is None:
        return None
    return ClientSpec(
        slug=slug,
        name=name,
        timezone=timezone,
        locale=locale or DEFAULT_LOCALE,
        people=tuple(people),
        line=reader.locator.line_of(f"{path}.slug"),
    )


_SCOPE_ROLES = {"agency": rules.AGENCY_ROLES, "client": rules.CLIENT_ROLES}


def _read_people(
    reader: _Reader, parent: Mapping[str, object], path: str, *, scope: str
) -> list[PersonSpec]:
    """The ``people`` of the agency or of one client; an e-mail once per place."""
    people: list[PersonSpec] = []
    first_path: dict[str, str] = {}
    for item_path, item in reader.tables(parent, path, "people"):
        person = _read_person(reader, item, item_path, scope=scope)
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


def _read_person(reader: _Reader, item: object, path: str, *, scope: str) -> PersonSpec | None:
    table = reader.table(item, path, PERSON_KEYS)
    if table is None:
        return None
    email = _read_email(reader, table, path)
    name = reader.text(table, path, "name", required=False)
    role = _read_role(reader, table, path, scope)
    locale = reader.choice(table, path, "locale", rules.SUPPORTED_LOCALES)
    if email is None or role is None:
        return None
    line = reader.locator.line_of(f"{path}.email")
    return PersonSpec(email=email, role=role, name=name or "", locale=locale, line=line)


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
    reader: _Reader, people: Sequence[PersonSpec], *, has_people_table: bool
) -> None:
    """An agency must keep an owner (rules.would_orphan_agency); a file must name one."""
    if not any(person.role == rules.Role.OWNER for person in people):
        where = "people" if has_people_table else "agency"
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
    return [header, *(_render_person("clients.people", person) for person in client.people)]


def _render_person(array: str, person: PersonSpec) -> list[str]:
    lines = [f"[[{array}]]", _pair("email", person.email)]
    if person.name:
        lines.append(_pair("name", person.name))
    lines.append(_pair("role", person.role))
    if person.locale is not None:
        lines.append(_pair("locale", person.locale))
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
