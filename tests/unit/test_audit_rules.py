"""The audit trail's pure rules: filters, cursor, visibility and CSV cells."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencyhub.audit import rules
from agencyhub.errors import InvalidInput
from agencyhub.tenancy.rules import Actor, Grant

AGENCY = uuid.UUID(int=1)
CLIENT = uuid.UUID(int=11)


def field_of(error: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(error.value.extra["errors"][0]["field"])


# --- type filter -----------------------------------------------------------------------


def test_types_are_repeatable_and_comma_separated():
    parsed = rules.parse_type_filter(["draft.approved,draft.rejected", " comment.added ", ""])
    assert parsed.exact == ("draft.approved", "draft.rejected", "comment.added")
    assert parsed.prefixes == ()


def test_star_suffix_is_a_prefix_that_ends_at_a_dot():
    parsed = rules.parse_type_filter(["draft.*", "client.created"])
    assert parsed.prefixes == ("draft.",)
    assert parsed.exact == ("client.created",)


def test_duplicates_collapse_and_nothing_is_empty():
    assert rules.parse_type_filter(["a.b", "a.b,a.b"]).exact == ("a.b",)
    assert rules.parse_type_filter([]).is_empty
    assert rules.parse_type_filter([" , "]).is_empty


@pytest.mark.parametrize("bad", ["*", "draft*", "draft.%", "a..b", ".a", "a b", "x" * 65, "é.a"])
def test_malformed_types_name_the_type_parameter(bad):
    with pytest.raises(InvalidInput) as error:
        rules.parse_type_filter([bad])
    assert field_of(error) == "type"


def test_too_many_types_are_refused():
    with pytest.raises(InvalidInput):
        rules.parse_type_filter([",".join(f"t{i}" for i in range(rules.MAX_TYPE_FILTERS + 1))])


# --- instants ----------------------------------------------------------------------------


def test_instants_with_offset_become_utc():
    parsed = rules.parse_instant("2025-05-01T08:00:00+02:00", "from")
    assert parsed == datetime(2025, 5, 1, 6, tzinfo=UTC)
    assert rules.parse_instant("2025-05-01T06:00:00Z", "from") == parsed


def test_an_unencoded_plus_in_the_query_string_still_parses():
    assert rules.parse_instant("2025-05-01T08:00:00 02:00", "to") == datetime(
        2025, 5, 1, 6, tzinfo=UTC
    )


def test_blank_means_no_bound():
    assert rules.parse_instant(None, "from") is None
    assert rules.parse_instant("  ", "from") is None


@pytest.mark.parametrize("naive", ["2025-05-01T08:00:00", "2025-05-01", "2025-05-01 08:00:00"])
def test_naive_instants_are_refused_naming_the_field(naive):
    with pytest.raises(InvalidInput) as error:
        rules.parse_instant(naive, "from")
    assert field_of(error) == "from"
    assert "offset" in error.value.detail


@pytest.mark.parametrize("garbage", ["yesterday", "2025-13-01T00:00:00Z", "1714550400"])
def test_unparseable_instants_name_the_field(garbage):
    with pytest.raises(InvalidInput) as error:
        rules.parse_instant(garbage, "to")
    assert field_of(error) == "to"


@pytest.mark.parametrize("edge", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_instants_that_leave_the_calendar_in_utc_are_refused(edge):
    with pytest.raises(InvalidInput) as error:
        rules.parse_instant(edge, "from")
    assert field_of(error) == "from"


def test_to_must_be_after_from():
    with pytest.raises(InvalidInput) as error:
        rules.event_query(since="2025-05-02T00:00:00Z", until="2025-05-01T00:00:00Z")
    assert field_of(error) == "to"


def test_event_query_collects_every_filter():
    actor, subject = uuid.uuid4(), uuid.uuid4()
    query = rules.event_query(
        types=["draft.*"],
        actor_user_id=str(actor),
        subject_type="draft",
        subject_id=str(subject),
        since="2025-05-01T00:00:00+00:00",
        until="2025-05-02T00:00:00+00:00",
        cursor=rules.encode_cursor(42),
    )
    assert query.types.prefixes == ("draft.",)
    assert (query.actor_user_id, query.subject_type, query.subject_id) == (actor, "draft", subject)
    assert query.until is not None
    assert query.since is not None
    assert query.until - query.since == timedelta(days=1)
    assert query.before_id == 42


@pytest.mark.parametrize(
    ("name", "field"), [("actor_user_id", "actorId"), ("subject_id", "subjectId")]
)
def test_ids_must_be_uuids(name, field):
    with pytest.raises(InvalidInput) as error:
        rules.event_query(**{name: "someone"})
    assert field_of(error) == field


# --- cursor ------------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_cursor_round_trips(event_id):
    cursor = rules.encode_cursor(event_id)
    assert cursor.isascii()
    assert "=" not in cursor
    assert rules.decode_cursor(cursor) == event_id


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad",
    [
        "not a cursor",
        "!!!!",
        "é",
        _b64("42"),
        _b64("v2:42"),
        _b64("v1:0"),
        _b64("v1:-1"),
        _b64("v1:007"),
        _b64(f"v1:{2**63}"),
        _b64("v1:1" + "0" * 30),
        "A" * 200,
    ],
)
def test_malformed_cursors_name_the_cursor_parameter(bad):
    with pytest.raises(InvalidInput) as error:
        rules.decode_cursor(bad)
    assert field_of(error) == "cursor"


@given(st.text(max_size=80))
def test_decoding_any_text_either_works_or_names_the_cursor(text):
    problem = None
    try:
        assert rules.decode_cursor(text) >= 1
    except InvalidInput as error:
        problem = error
    assert problem is None or problem.extra["errors"][0]["field"] == "cursor"


# --- visibility --------------------------------------------------------------------------


def actor(role: str, client_id: uuid.UUID | None) -> Actor:
    return Actor(
        user_id=uuid.uuid4(),
        grants=(
            Grant(membership_id=uuid.uuid4(), agency_id=AGENCY, client_id=client_id, role=role),
        ),
    )


@pytest.mark.parametrize("role", ["owner", "admin", "editor"])
def test_agency_staff_see_internal_events(role):
    assert rules.sees_internal_events(actor(role, None), AGENCY)


@pytest.mark.parametrize("role", ["client_admin", "approver", "executive", "viewer"])
def test_client_roles_never_see_internal_events(role):
    assert not rules.sees_internal_events(actor(role, CLIENT), AGENCY)


def test_staff_of_another_agency_do_not_count():
    assert not rules.sees_internal_events(actor("owner", None), uuid.UUID(int=2))


# --- CSV --------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_cells_get_a_leading_apostrophe(start):
    assert rules.csv_cell(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"


def test_ordinary_cells_are_unchanged():
    assert rules.csv_cell("draft.approved") == "draft.approved"
    assert rules.csv_cell("a=b") == "a=b"
    assert rules.csv_cell(None) == ""
    assert rules.csv_cell(17) == "17"
    assert rules.csv_cell(uuid.UUID(int=5)) == str(uuid.UUID(int=5))


def test_timestamps_are_utc_iso():
    berlin = timezone(timedelta(hours=2))
    assert rules.csv_cell(datetime(2025, 5, 1, 8, tzinfo=berlin)) == "2025-05-01T06:00:00Z"


def test_payload_is_compact_sorted_json():
    assert rules.csv_cell({"b": 1, "a": "=x", "ü": True}) == '{"a":"=x","b":1,"ü":true}'


def test_csv_text_quotes_and_uses_crlf():
    text = rules.csv_text([("id", "note"), (1, 'says "hi", twice\nthen =1+1')])
    assert text.startswith("id,note\r\n")
    assert list(csv.reader(io.StringIO(text))) == [
        ["id", "note"],
        ["1", 'says "hi", twice\nthen =1+1'],
    ]


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_csv_cells_never_start_a_formula_and_survive_a_round_trip(cells):
    text = rules.csv_text([cells])
    (row,) = list(csv.reader(io.StringIO(text, newline="")))
    assert row == [rules.csv_cell(c) for c in cells]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


def test_filename_carries_the_client_slug():
    assert rules.csv_filename("baeckerei-sonnenschein") == "events-baeckerei-sonnenschein.csv"
