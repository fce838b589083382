"""The role rules of DESIGN §2, exhaustively and as properties."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencyhub.tenancy import rules
from agencyhub.tenancy.rules import (
    AGENCY_ROLES,
    ALL_ROLES,
    CLIENT_ROLES,
    Actor,
    Grant,
    Role,
)

AGENCY = uuid.UUID(int=1)
OTHER_AGENCY = uuid.UUID(int=2)
CLIENT = uuid.UUID(int=11)
OTHER_CLIENT = uuid.UUID(int=12)


def actor_with(*grants: tuple[uuid.UUID, uuid.UUID | None, str]) -> Actor:
    return Actor(
        user_id=uuid.uuid4(),
        grants=tuple(
            Grant(membership_id=uuid.uuid4(), agency_id=a, client_id=c, role=r)
            for a, c, r in grants
        ),
    )


def agency_staff(role: str) -> Actor:
    return actor_with((AGENCY, None, role))


def client_person(role: str, client: uuid.UUID = CLIENT) -> Actor:
    return actor_with((AGENCY, client, role))


def editor_assigned_to(*clients: uuid.UUID) -> Actor:
    grant = Grant(uuid.uuid4(), AGENCY, None, Role.EDITOR, frozenset(clients))
    return Actor(user_id=uuid.uuid4(), grants=(grant,))


@pytest.mark.parametrize("role", sorted(rules.AGENCY_MANAGERS))
def test_agency_managers_see_every_client_of_their_agency_only(role: str) -> None:
    actor = agency_staff(role)
    assert rules.can_view_client(actor, AGENCY, CLIENT)
    assert rules.can_view_client(actor, AGENCY, OTHER_CLIENT)
    assert not rules.can_view_client(actor, OTHER_AGENCY, CLIENT)
    grant = actor.agency_grant(AGENCY)
    assert grant is not None
    assert grant.sees_every_client


def test_an_editor_sees_and_acts_for_the_assigned_clients_only() -> None:
    actor = editor_assigned_to(CLIENT)
    assert rules.can_view_agency(actor, AGENCY)
    assert rules.can_view_client(actor, AGENCY, CLIENT)
    assert rules.role_at_client(actor, AGENCY, CLIENT) == Role.EDITOR
    assert not rules.can_view_client(actor, AGENCY, OTHER_CLIENT)
    assert rules.role_at_client(actor, AGENCY, OTHER_CLIENT) is None
    grant = actor.agency_grant(AGENCY)
    assert grant is not None
    assert not grant.sees_every_client


def test_an_unassigned_editor_sees_the_agency_but_no_client() -> None:
    actor = agency_staff(Role.EDITOR)
    assert rules.can_view_agency(actor, AGENCY)
    assert not rules.can_view_client(actor, AGENCY, CLIENT)
    assert not rules.can_assign_editors(actor, AGENCY)


def test_an_assignment_in_one_agency_reaches_no_client_of_another() -> None:
    grant = Grant(uuid.uuid4(), OTHER_AGENCY, None, Role.EDITOR, frozenset({CLIENT}))
    actor = Actor(user_id=uuid.uuid4(), grants=(grant,))
    assert not rules.can_view_client(actor, AGENCY, CLIENT)


@given(
    role=st.sampled_from(sorted(AGENCY_ROLES)),
    assigned=st.frozensets(st.sampled_from([CLIENT, OTHER_CLIENT])),
    client=st.sampled_from([CLIENT, OTHER_CLIENT]),
)
def test_an_agency_role_reaches_a_client_exactly_when_managing_or_assigned(
    role: str, assigned: frozenset[uuid.UUID], client: uuid.UUID
) -> None:
    grant = Grant(uuid.uuid4(), AGENCY, None, role, assigned)
    actor = Actor(user_id=uuid.uuid4(), grants=(grant,))
    expected = role in rules.AGENCY_MANAGERS or client in assigned
    assert rules.can_view_client(actor, AGENCY, client) is expected
    assert (rules.role_at_client(actor, AGENCY, client) == role) is expected


def test_only_editors_are_assignable() -> None:
    assert rules.is_assignable(Role.EDITOR, None)
    assert not rules.is_assignable(Role.ADMIN, None)
    assert not rules.is_assignable(Role.OWNER, None)
    assert not rules.is_assignable(Role.APPROVER, CLIENT)


@pytest.mark.parametrize("role", sorted(CLIENT_ROLES))
def test_client_people_see_only_their_own_client(role: str) -> None:
    actor = client_person(role)
    assert rules.can_view_client(actor, AGENCY, CLIENT)
    assert not rules.can_view_client(actor, AGENCY, OTHER_CLIENT)
    assert not rules.can_view_agency(actor, AGENCY)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.OWNER, True), (Role.ADMIN, True), (Role.EDITOR, False)],
)
def test_only_owner_and_admin_manage_clients(role: str, allowed: bool) -> None:
    assert rules.can_manage_client_record(agency_staff(role), AGENCY) is allowed


def test_client_admin_cannot_manage_the_client_record() -> None:
    assert not rules.can_manage_client_record(client_person(Role.CLIENT_ADMIN), AGENCY)


@pytest.mark.parametrize(
    ("actor", "client", "has_admin", "expected"),
    [
        (agency_staff(Role.OWNER), None, False, AGENCY_ROLES),
        (agency_staff(Role.ADMIN), None, False, frozenset({Role.ADMIN, Role.EDITOR})),
        (agency_staff(Role.EDITOR), None, False, frozenset()),
        # The agency invites only a client's first admin, and only while it has none.
        (agency_staff(Role.OWNER), CLIENT, False, frozenset({Role.CLIENT_ADMIN})),
        (agency_staff(Role.ADMIN), CLIENT, False, frozenset({Role.CLIENT_ADMIN})),
        (agency_staff(Role.OWNER), CLIENT, True, frozenset()),
        (agency_staff(Role.ADMIN), CLIENT, True, frozenset()),
        (agency_staff(Role.EDITOR), CLIENT, False, frozenset()),
        (client_person(Role.CLIENT_ADMIN), CLIENT, True, CLIENT_ROLES),
        (client_person(Role.CLIENT_ADMIN), OTHER_CLIENT, True, frozenset()),
        (client_person(Role.CLIENT_ADMIN), None, False, frozenset()),
        (client_person(Role.APPROVER), CLIENT, True, frozenset()),
        (client_person(Role.EXECUTIVE), CLIENT, True, frozenset()),
        (client_person(Role.VIEWER), CLIENT, True, frozenset()),
    ],
)
def test_invitable_roles(
    actor: Actor, client: uuid.UUID | None, has_admin: bool, expected: frozenset[str]
) -> None:
    assert rules.invitable_roles(actor, AGENCY, client, client_has_admin=has_admin) == expected


def test_the_agency_invites_a_first_admin_only_to_the_clients_verified_domains() -> None:
    owner = agency_staff(Role.OWNER)
    domains = frozenset({"baeckerei.example"})
    assert rules.address_allowed(owner, AGENCY, CLIENT, "anna@baeckerei.example", domains)
    assert not rules.address_allowed(owner, AGENCY, CLIENT, "puppet@agentur.example", domains)
    assert not rules.address_allowed(owner, AGENCY, CLIENT, "x@sub.baeckerei.example", domains)
    assert not rules.address_allowed(owner, AGENCY, CLIENT, "anna@baeckerei.example", frozenset())
    admin = client_person(Role.CLIENT_ADMIN)
    assert rules.address_allowed(admin, AGENCY, CLIENT, "anyone@elsewhere.example", frozenset())
    assert rules.address_allowed(owner, AGENCY, None, "staff@agentur.example", frozenset())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Baeckerei.Example.", "baeckerei.example"),
        (" bäckerei.example ", "xn--bckerei-5wa.example"),
        ("localhost", None),
        ("-bad.example", None),
        ("a..example", None),
        ("exa mple.com", None),
        ("nul\x00.example", None),
        ("x" * 64 + ".example", None),
    ],
)
def test_domains_are_normalised_or_refused(text: str, expected: str | None) -> None:
    assert rules.normalize_domain(text) == expected


def test_the_agency_removes_client_people_only_while_the_client_has_no_admin() -> None:
    owner = agency_staff(Role.OWNER)
    approver = Grant(uuid.uuid4(), AGENCY, CLIENT, Role.APPROVER)
    assert rules.can_change_membership(owner, approver, None, client_has_admin=False)
    assert not rules.can_change_membership(owner, approver, None, client_has_admin=True)
    assert not rules.can_change_membership(owner, approver, Role.EXECUTIVE, client_has_admin=False)
    admin = client_person(Role.CLIENT_ADMIN)
    assert rules.can_change_membership(admin, approver, Role.EXECUTIVE, client_has_admin=True)


def test_only_another_confirmed_client_admin_confirms_an_agency_membership() -> None:
    target = Grant(uuid.uuid4(), AGENCY, CLIENT, Role.EXECUTIVE, confirmed=False)
    assert rules.can_confirm_membership(client_person(Role.CLIENT_ADMIN), target)
    assert not rules.can_confirm_membership(agency_staff(Role.OWNER), target)
    assert not rules.can_confirm_membership(client_person(Role.EXECUTIVE), target)
    assert not rules.can_confirm_membership(client_person(Role.CLIENT_ADMIN, OTHER_CLIENT), target)
    unconfirmed_admin = Actor(
        uuid.uuid4(), (Grant(uuid.uuid4(), AGENCY, CLIENT, Role.CLIENT_ADMIN, confirmed=False),)
    )
    assert not rules.can_confirm_membership(unconfirmed_admin, target)
    itself = Actor(uuid.uuid4(), (target,))
    assert not rules.can_confirm_membership(itself, target)
    assert not rules.can_confirm_membership(
        client_person(Role.CLIENT_ADMIN), Grant(uuid.uuid4(), AGENCY, CLIENT, Role.APPROVER)
    )


def test_an_unconfirmed_agency_membership_awaits_confirmation() -> None:
    grant = Grant(uuid.uuid4(), AGENCY, CLIENT, Role.EXECUTIVE, confirmed=False)
    assert rules.awaits_confirmation(Actor(uuid.uuid4(), (grant,)), AGENCY, CLIENT)
    assert not rules.awaits_confirmation(client_person(Role.EXECUTIVE), AGENCY, CLIENT)


grants = st.lists(
    st.tuples(
        st.sampled_from([AGENCY, OTHER_AGENCY]),
        st.sampled_from([None, CLIENT, OTHER_CLIENT]),
        st.sampled_from(sorted(ALL_ROLES)),
    ).filter(lambda g: rules.role_fits_scope(g[2], g[1])),
    max_size=4,
)


@given(grants, st.sampled_from(sorted(ALL_ROLES)), st.sampled_from([None, CLIENT]))
def test_no_client_role_ever_grants_agency_roles_or_reaches_other_agencies(
    held: list[tuple[uuid.UUID, uuid.UUID | None, str]], role: str, client: uuid.UUID | None
) -> None:
    actor = actor_with(*[g for g in held if g[1] is not None])  # client people only
    assert not rules.can_grant(actor, AGENCY, None, role, client_has_admin=False)
    assert not rules.can_manage_agency(actor, AGENCY)
    if client is not None and rules.can_grant(actor, AGENCY, client, role, client_has_admin=True):
        assert role in CLIENT_ROLES
        assert actor.client_role(AGENCY, client) == Role.CLIENT_ADMIN


@given(grants, st.sampled_from(sorted(ALL_ROLES)), st.sampled_from([None, CLIENT, OTHER_CLIENT]))
def test_nobody_grants_anything_in_an_agency_they_do_not_belong_to(
    held: list[tuple[uuid.UUID, uuid.UUID | None, str]], role: str, client: uuid.UUID | None
) -> None:
    actor = actor_with(*[g for g in held if g[0] == OTHER_AGENCY])
    assert not rules.can_grant(actor, AGENCY, client, role, client_has_admin=True)
    assert not rules.can_view_agency(actor, AGENCY)
    if client is not None:
        assert not rules.can_view_client(actor, AGENCY, client)


@given(grants, st.sampled_from(sorted(ALL_ROLES)))
def test_granted_roles_always_fit_their_scope(
    held: list[tuple[uuid.UUID, uuid.UUID | None, str]], role: str
) -> None:
    actor = actor_with(*held)
    for client in (None, CLIENT):
        if rules.can_grant(actor, AGENCY, client, role, client_has_admin=True):
            assert rules.role_fits_scope(role, client)


def test_the_last_owner_cannot_be_removed_or_demoted() -> None:
    owner = Grant(uuid.uuid4(), AGENCY, None, Role.OWNER)
    assert rules.would_orphan_agency(owner, None, owner_count=1)
    assert rules.would_orphan_agency(owner, Role.ADMIN, owner_count=1)
    assert not rules.would_orphan_agency(owner, Role.OWNER, owner_count=1)
    assert not rules.would_orphan_agency(owner, None, owner_count=2)
    admin = Grant(uuid.uuid4(), AGENCY, None, Role.ADMIN)
    assert not rules.would_orphan_agency(admin, None, owner_count=1)


def test_admin_cannot_touch_an_owner() -> None:
    owner = Grant(uuid.uuid4(), AGENCY, None, Role.OWNER)
    assert not rules.can_change_membership(
        agency_staff(Role.ADMIN), owner, None, client_has_admin=False
    )
    assert not rules.can_change_membership(
        agency_staff(Role.ADMIN), owner, Role.EDITOR, client_has_admin=False
    )
    assert rules.can_change_membership(
        agency_staff(Role.OWNER), owner, Role.ADMIN, client_has_admin=False
    )


def test_invitation_states() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    later = now + timedelta(hours=1)
    assert rules.invitation_state(now=now, expires_at=later, accepted_at=None, revoked_at=None) == (
        "pending"
    )
    assert rules.invitation_state(
        now=later, expires_at=later, accepted_at=None, revoked_at=None
    ) == ("expired")
    assert rules.invitation_state(now=now, expires_at=later, accepted_at=now, revoked_at=None) == (
        "accepted"
    )
    assert rules.invitation_state(now=now, expires_at=later, accepted_at=None, revoked_at=now) == (
        "revoked"
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("baeckerei-sonnenschein", True),
        ("a", True),
        ("-leading", False),
        ("trailing-", False),
        ("Upper", False),
        ("ümlaut", False),
        ("x" * 64, False),
    ],
)
def test_slugs(value: str, ok: bool) -> None:
    assert rules.is_valid_slug(value) is ok


def test_email_time_zone_and_password_checks() -> None:
    assert rules.is_valid_email(rules.normalize_email("  Chefin@Sonnenschein.Example "))
    assert not rules.is_valid_email("no-at-sign")
    assert rules.is_known_timezone("Europe/Berlin")
    assert not rules.is_known_timezone("Europe/Atlantis")
    assert rules.password_problem("short") is not None
    assert rules.password_problem("long enough password") is None


THROTTLE = rules.ThrottlePolicy(
    free=5, max_delay=timedelta(minutes=15), forget_after=timedelta(hours=24)
)
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_the_free_attempts_have_no_wait_then_each_wait_doubles_up_to_the_cap() -> None:
    waits = [rules.throttle_delay(n, THROTTLE).total_seconds() for n in range(1, 18)]
    assert waits[:4] == [0, 0, 0, 0]
    assert waits[4:14] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert waits[14:] == [900, 900, 900]
    assert rules.throttle_delay(10_000, THROTTLE) == timedelta(minutes=15)


def test_an_attempt_inside_the_wait_is_refused_and_not_counted() -> None:
    state = rules.ThrottleState()
    for _n in range(5):
        decision = rules.admit_attempt(state, THROTTLE, T0)
        assert isinstance(decision, rules.Admitted)
        state = decision.state
    assert state.attempts == 5
    assert state.blocked_until == T0 + timedelta(seconds=1)
    refused = rules.admit_attempt(state, THROTTLE, T0 + timedelta(milliseconds=200))
    assert refused == rules.Refused(retry_after_seconds=1)
    later = rules.admit_attempt(state, THROTTLE, T0 + timedelta(seconds=1))
    assert isinstance(later, rules.Admitted)
    assert later.state.attempts == 6
    assert later.state.blocked_until == T0 + timedelta(seconds=3)


def test_a_quiet_spell_forgets_the_count_and_the_right_password_takes_one_back() -> None:
    state = rules.ThrottleState(
        attempts=12, blocked_until=T0 + timedelta(minutes=5), last_attempt_at=T0
    )
    assert isinstance(
        rules.admit_attempt(state, THROTTLE, T0 + timedelta(minutes=4)), rules.Refused
    )
    fresh = rules.admit_attempt(state, THROTTLE, T0 + timedelta(hours=24))
    assert isinstance(fresh, rules.Admitted)
    assert fresh.state.attempts == 1
    assert fresh.state.blocked_until is None
    assert rules.forgive_attempt(rules.ThrottleState(5, T0, T0), THROTTLE).blocked_until is None
    assert rules.forgive_attempt(rules.ThrottleState(7, T0, T0), THROTTLE) == rules.ThrottleState(
        6, T0, T0
    )


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=2_000_000), min_size=1, max_size=60),
)
def test_no_sequence_of_attempts_gets_more_checks_than_the_waits_allow(gaps: list[int]) -> None:
    """However the attempts are spaced (milliseconds apart), the checks admitted beyond
    the free ones each waited at least the doubling delay since the one before."""
    state, now, admitted = rules.ThrottleState(), T0, []
    for gap in gaps:
        now += timedelta(milliseconds=gap)
        decision = rules.admit_attempt(state, THROTTLE, now)
        if isinstance(decision, rules.Admitted):
            if admitted and now - admitted[-1] < THROTTLE.forget_after:
                wait = rules.throttle_delay(state.attempts, THROTTLE)
                assert now - admitted[-1] >= wait
            admitted.append(now)
            state = decision.state
        else:
            assert decision.retry_after_seconds >= 1
            assert state.blocked_until is not None
            assert now < state.blocked_until


@pytest.mark.parametrize(
    ("method", "route_scope", "scopes", "allowed"),
    [
        ("GET", None, frozenset({"read"}), True),
        ("GET", None, frozenset({"decide"}), True),
        ("POST", None, frozenset({"read"}), False),
        ("DELETE", None, frozenset({"decide"}), False),
        ("PATCH", None, frozenset({"manage"}), True),
        ("POST", "decide", frozenset({"manage"}), False),
        ("POST", "decide", frozenset({"decide"}), True),
        ("POST", rules.NEVER_BY_TOKEN, frozenset(rules.TOKEN_SCOPES), False),
    ],
)
def test_token_scopes(method, route_scope, scopes, allowed) -> None:
    assert rules.token_may(scopes, rules.scope_needed(method, route_scope)) is allowed


@pytest.mark.parametrize(
    ("role", "start", "expected"),
    [
        (Role.OWNER, True, "An owner"),
        (Role.ADMIN, False, "an admin"),
        (Role.EDITOR, True, "An editor"),
        (Role.CLIENT_ADMIN, False, "a client admin"),
        (Role.APPROVER, False, "an approver"),
        (Role.EXECUTIVE, True, "An executive"),
        (Role.VIEWER, True, "A viewer"),
        (None, True, "Someone without a role here"),
    ],
)
def test_roles_read_well_in_a_sentence(role: str | None, start: bool, expected: str) -> None:
    """Issue #14, item 12: not "A owner…" or "You may not invite a owner."."""
    assert rules.role_phrase(role, start=start) == expected
