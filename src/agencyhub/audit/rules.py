"""Pure rules of the audit trail: filters, the page cursor, visibility, CSV cells.

No I/O here. The service turns an :class:`EventQuery` into SQL; the API turns events
into JSON or CSV rows with :func:`csv_text`.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from agencyhub.errors import InvalidInput
from agencyhub.tenancy.rules import Actor

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
CSV_ROW_CAP = 100_000
"""At most this many rows in one CSV download; the rest continues from ``X-Next-Cursor``."""

MAX_TYPE_FILTERS = 50
INTERNAL_FLAG = "internal"
"""Payload key marking an agency-only event (e.g. an internal comment)."""

_TYPE_NAME = re.compile(r"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*$")
_PREFIX_SUFFIX = ".*"
_CURSOR_TEXT = re.compile(r"^v1:([1-9][0-9]{0,18})$")
_MAX_EVENT_ID = 2**63 - 1
_MAX_CURSOR_LENGTH = 64
# "+02:00" arrives as " 02:00" when a client forgets to percent-encode the plus.
_UNENCODED_PLUS = re.compile(r"(?<=\d) (\d{2}(?::?\d{2})?)$")
# Spreadsheets run cells that start with these as formulas (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --- filters --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeFilter:
    """Event types to keep: exact names, or every type under a prefix (``draft.*``)."""

    exact: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.exact and not self.prefixes


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which events of one client to list; ``since`` inclusive, ``until`` exclusive."""

    types: TypeFilter = TypeFilter()
    actor_user_id: uuid.UUID | None = None
    subject_type: str | None = None
    subject_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None


def parse_type_filter(values: Iterable[str]) -> TypeFilter:
    """``type=a.b&type=c.*`` or ``type=a.b,c.*``; blanks are ignored."""
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if len(names) > MAX_TYPE_FILTERS:
        raise InvalidInput(f"at most {MAX_TYPE_FILTERS} types per request", field="type")
    exact: list[str] = []
    prefixes: list[str] = []
    for name in names:
        is_prefix = name.endswith(_PREFIX_SUFFIX)
        base = name.removesuffix(_PREFIX_SUFFIX)
        if len(base) > 64 or not _TYPE_NAME.match(base):
            raise InvalidInput(
                f"'{name[:70]}' is not an event type (like 'draft.approved' or 'draft.*')",
                field="type",
            )
        (prefixes if is_prefix else exact).append(base + "." if is_prefix else base)
    return TypeFilter(exact=tuple(dict.fromkeys(exact)), prefixes=tuple(dict.fromkeys(prefixes)))


def parse_instant(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 date-time with a UTC offset (``Z`` or ``+02:00``), as UTC."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if "T" in text:
        text = _UNENCODED_PLUS.sub(r"+\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "is not an ISO 8601 date-time (like 2025-05-01T08:00:00+02:00)", field=field
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput("needs a UTC offset (like 2025-05-01T08:00:00+02:00 or …Z)", field=field)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("is outside the years 1 to 9999 in UTC", field=field) from None


def parse_id(value: str | None, field: str) -> uuid.UUID | None:
    if value is None or not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidInput("is not a UUID", field=field) from None


def event_query(
    *,
    types: Sequence[str] = (),
    actor_user_id: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: str | None = None,
) -> EventQuery:
    """Check the raw query parameters; each problem names its parameter."""
    start = parse_instant(since, "from")
    end = parse_instant(until, "to")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("must be later than 'from'", field="to")
    if subject_type is not None and not 0 < len(subject_type) <= 32:
        raise InvalidInput("must be 1 to 32 characters", field="subjectType")
    return EventQuery(
        types=parse_type_filter(types),
        actor_user_id=parse_id(actor_user_id, "actorId"),
        subject_type=subject_type,
        subject_id=parse_id(subject_id, "subjectId"),
        since=start,
        until=end,
        before_id=decode_cursor(cursor) if cursor else None,
    )


# --- paging -----------------------------------------------------------------------------


def encode_cursor(last_id: int) -> str:
    """Opaque to callers: the next page holds the events older than ``last_id``."""
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    match = None
    if len(cursor) <= _MAX_CURSOR_LENGTH:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            match = _CURSOR_TEXT.match(raw.decode("ascii"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            match = None
    if match is None or int(match.group(1)) > _MAX_EVENT_ID:
        raise InvalidInput("is not a cursor from a previous page's nextCursor", field="cursor")
    return int(match.group(1))


# --- visibility -------------------------------------------------------------------------


def sees_internal_events(actor: Actor, agency_id: uuid.UUID) -> bool:
    """Agency staff see agency-internal events; no client role ever does."""
    return actor.agency_role(agency_id) is not None


# --- CSV ----------------------------------------------------------------------------------


def csv_cell(value: object) -> str:
    """One cell as text, neutralised so a spreadsheet never runs it as a formula."""
    if value is None:
        text = ""
    elif isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """RFC 4180 lines (CRLF, quoted where needed) for the given rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def csv_filename(client_slug: str) -> str:
    return f"events-{client_slug}.csv"
