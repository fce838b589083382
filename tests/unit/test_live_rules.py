"""The live feed's pure rules: who receives what, resume planning, dedupe, wire form."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencyhub.errors import InvalidInput
from agencyhub.live import rules
from agencyhub.tenancy.rules import Actor, Grant

AGENCY = uuid.uuid4()
OTHER_AGENCY = uuid.uuid4()
CLIENT = uuid.uuid4()
OTHER_CLIENT = uuid.uuid4()
NOW = datetime(2025, 5, 2, 15, 0, tzinfo=UTC)


def actor(*grants: tuple[uuid.UUID, uuid.UUID | None, str]) -> Actor:
    return Actor(
        user_id=uuid.uuid4(),
        grants=tuple(Grant(uuid.uuid4(), a, c, role) for a, c, role in grants),
    )


def event(
    id: int = 1,
    *,
    agency: uuid.UUID = AGENCY,
    client: uuid.UUID | None = CLIENT,
    internal: bool = False,
    type: str = "draft.submitted",
    payload: dict[str, object] | None = None,
) -> rules.LiveEvent:
    return rules.live_event(
        id=id,
        type=type,
        agency_id=agency,
        client_id=client,
        subject_type="draft",
        subject_id=uuid.uuid4(),
        payload={"internal": internal, **(payload or {})},
        at=NOW,
    )


STAFF = actor((AGENCY, None, "admin"))
ASSIGNED_EDITOR = Actor(
    user_id=uuid.uuid4(),
    grants=(Grant(uuid.uuid4(), AGENCY, None, "editor", frozenset({CLIENT})),),
)
UNASSIGNED_EDITOR = actor((AGENCY, None, "editor"))
APPROVER = actor((AGENCY, CLIENT, "approver"))
OTHER_CLIENT_APPROVER = actor((AGENCY, OTHER_CLIENT, "approver"))
OTHER_AGENCY_OWNER = actor((OTHER_AGENCY, None, "owner"))


def test_agency_staff_receive_every_event_of_their_agency_internal_included() -> None:
    assert rules.may_receive(STAFF, event())
    assert rules.may_receive(STAFF, event(internal=True))
    assert rules.may_receive(STAFF, event(client=None))


def test_an_editor_receives_the_assigned_clients_and_agency_wide_events_only() -> None:
    assert rules.may_receive(ASSIGNED_EDITOR, event())
    assert rules.may_receive(ASSIGNED_EDITOR, event(internal=True))
    assert rules.may_receive(ASSIGNED_EDITOR, event(client=None))
    assert not rules.may_receive(ASSIGNED_EDITOR, event(client=OTHER_CLIENT))
    assert not rules.may_receive(ASSIGNED_EDITOR, event(client=OTHER_CLIENT, internal=True))
    assert not rules.may_receive(UNASSIGNED_EDITOR, event())
    assert rules.may_receive(UNASSIGNED_EDITOR, event(client=None))


def test_client_people_receive_their_clients_shared_events_only() -> None:
    assert rules.may_receive(APPROVER, event())
    assert not rules.may_receive(APPROVER, event(internal=True))
    assert not rules.may_receive(APPROVER, event(client=None))
    assert not rules.may_receive(OTHER_CLIENT_APPROVER, event())


def test_another_agency_receives_nothing() -> None:
    assert not rules.may_receive(OTHER_AGENCY_OWNER, event())
    assert not rules.may_receive(OTHER_AGENCY_OWNER, event(client=None))


def test_nobody_without_memberships_receives_anything() -> None:
    assert not rules.may_receive(actor(), event())


def test_internal_comment_payload_marks_the_event_internal() -> None:
    comment = event(type="comment.added", payload={"visibility": "internal"})
    assert comment.internal is False  # the flag, not the visibility text, decides
    internal = rules.live_event(
        id=1,
        type="comment.added",
        agency_id=AGENCY,
        client_id=CLIENT,
        subject_type="draft",
        subject_id=None,
        payload={"internal": True, "visibility": "internal", "body": "secret"},
        at=NOW,
    )
    assert internal.internal
    assert "body" not in internal.data
    assert not rules.may_receive(APPROVER, internal)


def test_presence_goes_to_everyone_who_sees_the_client() -> None:
    mark = rules.Presence(
        agency_id=AGENCY,
        client_id=CLIENT,
        draft_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        name="A",
        expires_at=NOW,
    )
    assert rules.may_receive(STAFF, mark)
    assert rules.may_receive(ASSIGNED_EDITOR, mark)
    assert not rules.may_receive(UNASSIGNED_EDITOR, mark)
    assert rules.may_receive(APPROVER, mark)
    assert not rules.may_receive(OTHER_CLIENT_APPROVER, mark)
    assert not rules.may_receive(OTHER_AGENCY_OWNER, mark)


def test_published_form_round_trips_and_keeps_only_small_fields() -> None:
    original = event(payload={"version": 3, "status": "approved", "comment": "long text"})
    decoded = rules.decode(rules.encode(original))
    assert decoded == original
    assert isinstance(decoded, rules.LiveEvent)
    assert decoded.data == {"version": 3, "status": "approved"}
    wire = rules.wire(decoded)
    assert wire["type"] == "event"
    assert wire["id"] == 1
    assert wire["event"] == "draft.submitted"
    assert "internal" not in wire
    assert "agencyId" not in wire


def test_membership_events_name_the_person_concerned() -> None:
    user = uuid.uuid4()
    removed = event(type="membership.removed", payload={"userId": str(user)})
    assert rules.concerns_memberships_of(user, removed)
    assert not rules.concerns_memberships_of(uuid.uuid4(), removed)
    assert not rules.concerns_memberships_of(user, event(payload={"userId": str(user)}))


def test_replay_sends_the_visible_missed_events_in_order() -> None:
    missed = [event(2), event(3, internal=True), event(4, client=OTHER_CLIENT), event(5)]
    plan = rules.plan_replay(APPROVER, 1, missed, head=5)
    assert [e.id for e in plan.events] == [2, 5]
    assert not plan.reload
    assert plan.resume_after == 5


def test_replay_beyond_the_bound_asks_for_a_reload() -> None:
    missed = [event(i) for i in range(2, 2 + 4)]
    plan = rules.plan_replay(STAFF, 1, missed, head=100, limit=3)
    assert plan.reload
    assert plan.events == ()
    assert plan.resume_after == 100


def test_no_resume_point_starts_live_at_the_head() -> None:
    plan = rules.plan_replay(STAFF, None, [], head=42)
    assert plan == rules.ReplayPlan((), reload=False, resume_after=42)


def test_deduplicator_passes_each_id_once_in_increasing_order() -> None:
    dedupe = rules.Deduplicator(3)
    ids = [2, 3, 4, 4, 5, 1, 7]
    assert [i for i in ids if dedupe.admit(event(i))] == [4, 5, 7]


@pytest.mark.parametrize(
    "value", ["abc", "-1", "1.5", "99999999999999999999", "9223372036854775808"]
)
def test_last_event_id_must_be_an_event_id(value: str) -> None:
    with pytest.raises(InvalidInput):
        rules.parse_last_event_id(value)


def test_last_event_id_may_be_absent() -> None:
    assert rules.parse_last_event_id(None) is None
    assert rules.parse_last_event_id(" ") is None
    assert rules.parse_last_event_id("17") == 17


def test_origin_must_be_the_apps_own() -> None:
    allowed = ["https://app.example.com"]
    assert rules.origin_allowed("https://app.example.com", allowed)
    assert rules.origin_allowed("HTTPS://APP.EXAMPLE.COM/", allowed)
    assert not rules.origin_allowed("https://evil.example.com", allowed)
    assert not rules.origin_allowed("http://app.example.com", allowed)
    assert not rules.origin_allowed(None, allowed)


def test_client_messages() -> None:
    draft = uuid.uuid4()
    assert rules.parse_client_message(f'{{"type":"viewing","draftId":"{draft}"}}').draft_id == draft
    assert rules.parse_client_message('{"type":"pong"}').type == "pong"
    for bad in ("nope", '{"type":"viewing"}', '{"type":"shout"}', '{"type":"viewing","draftId":1}'):
        with pytest.raises(InvalidInput):
            rules.parse_client_message(bad)


def test_presence_keeps_the_latest_unexpired_mark_per_person_and_draft() -> None:
    draft, person = uuid.uuid4(), uuid.uuid4()

    def mark(seconds: int, user: uuid.UUID = person) -> rules.Presence:
        return rules.Presence(
            agency_id=AGENCY,
            client_id=CLIENT,
            draft_id=draft,
            user_id=user,
            name="n",
            expires_at=NOW + timedelta(seconds=seconds),
        )

    current = rules.live_presence([mark(10), mark(30), mark(-1, uuid.uuid4())], NOW)
    assert current == [mark(30)]
    assert rules.live_presence([mark(10)], NOW, exclude_user=person) == []


@given(st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_a_first_ping_or_recheck_falls_within_its_period(draw: float) -> None:
    for period in (rules.HEARTBEAT_SECONDS, rules.RECHECK_SECONDS):
        assert period / 10 <= rules.first_due(period, draw) <= period


def test_connections_opened_together_spread_their_first_recheck_over_the_period() -> None:
    # a thousand clients reconnecting after a restart, with evenly spread draws
    dues = sorted(rules.first_due(60.0, k / 1000) for k in range(1000))
    per_second = Counter(int(due) for due in dues)
    assert dues[0] == pytest.approx(6.0)
    assert dues[-1] < 60.0
    assert max(per_second.values()) <= 20  # not all in the same moment


def test_a_connection_joins_its_agencies_and_its_own_user_channel() -> None:
    assert rules.channels_for(APPROVER) == {
        rules.agency_channel(AGENCY),
        rules.user_channel(APPROVER.user_id),
    }


def test_grant_changes_send_one_notice_per_person_on_their_channel() -> None:
    person = uuid.uuid4()
    events = [
        event(1, type="membership.created", payload={"userId": str(person)}),
        event(2, type="assignment.removed", payload={"userId": str(person)}),
        event(3, type="draft.submitted", payload={"userId": str(uuid.uuid4())}),
    ]
    assert rules.grants_notices(events) == [(rules.user_channel(person), rules.GRANTS_CHANGED)]


def test_the_sse_keep_alive_is_a_comment_only() -> None:
    """Issue #14, item 13: an empty ``data:`` line made browsers fire an empty message."""
    from agencyhub.live.api import _sse
    from agencyhub.live.hub import Message

    assert _sse(Message(kind="ping", text="")).encode() == b": ping\r\n\r\n"
    event = _sse(Message(kind="event", text='{"a": 1}', id=7)).encode()
    assert event == b'id: 7\r\nevent: event\r\ndata: {"a": 1}\r\n\r\n'
