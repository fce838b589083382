"""The draft life cycle (DESIGN §4) and the client's approval policy, as pure functions.

No I/O and no clock: the service loads the facts, asks :func:`apply_action`, and
stores what it answers. Everything that is not explicitly allowed is refused with a
reason, so the same function guards every endpoint.

Authority: only client roles decide, and only the system (the publishing and
escalation features) schedules, publishes or takes a fallback. No agency role can
move a draft to approved, scheduled or published, whatever it sends.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from agencyhub.tenancy.rules import AGENCY_ROLES, Role, role_phrase


class Status(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"
    FALLBACK_TAKEN = "fallback_taken"


class Action(StrEnum):
    REVISE = "revise"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"
    WITHDRAW = "withdraw"
    SCHEDULE = "schedule"
    PUBLISH = "publish"
    TAKE_FALLBACK = "take_fallback"


class Severity(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    CRISIS = "crisis"


class Kind(StrEnum):
    POST = "post"
    REPLY = "reply"


FINAL_STATES = frozenset(
    {Status.REJECTED, Status.PUBLISHED, Status.WITHDRAWN, Status.FALLBACK_TAKEN}
)
ALL_STATES = frozenset(Status)
# Before any decision: content and severity may still change.
OPEN_STATES = frozenset({Status.DRAFT, Status.PENDING, Status.CHANGES_REQUESTED})
DECISIONS = frozenset({Action.APPROVE, Action.REJECT, Action.REQUEST_CHANGES})
SYSTEM_ACTIONS = frozenset({Action.SCHEDULE, Action.PUBLISH, Action.TAKE_FALLBACK})
# Soonest-first ordering of the queue puts crisis before high before normal.
SEVERITY_ORDER = {Severity.CRISIS: 0, Severity.HIGH: 1, Severity.NORMAL: 2}

# Who may write drafts: agency staff, and client staff who draft for themselves.
DRAFTING_ROLES = frozenset(
    {Role.OWNER, Role.ADMIN, Role.EDITOR, Role.CLIENT_ADMIN, Role.APPROVER, Role.EXECUTIVE}
)
# Roles that can ever count towards an approval; the policy narrows it per severity.
DECIDING_ROLES = frozenset({Role.APPROVER, Role.EXECUTIVE})
MAX_WORDINGS = 3


@dataclass(frozen=True, slots=True)
class Who:
    """The one acting: a person with their role for this draft's client, or the system."""

    user_id: uuid.UUID | None
    role: str | None
    is_system: bool = False

    @classmethod
    def system(cls) -> Who:
        return cls(user_id=None, role=None, is_system=True)

    @property
    def is_agency(self) -> bool:
        return self.role in AGENCY_ROLES


def sees_draft(who: Who, *, submitted: bool, author_id: uuid.UUID | None) -> bool:
    """The client sees a draft from its first submission on; before that it is the
    agency's unfinished work (its own author, client staff drafting for themselves,
    sees it too)."""
    return who.is_agency or submitted or (who.user_id is not None and who.user_id == author_id)


# --- approval policy -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """Any one alternative suffices; an alternative is {role: approvals needed}."""

    alternatives: tuple[Mapping[str, int], ...]

    def roles(self) -> frozenset[str]:
        return frozenset(role for alt in self.alternatives for role in alt)

    def is_met(self, approvals: Sequence[Approval]) -> bool:
        return any(_alternative_met(alt, approvals) for alt in self.alternatives)


def _alternative_met(alternative: Mapping[str, int], approvals: Sequence[Approval]) -> bool:
    for role, needed in alternative.items():
        distinct = {a.user_id for a in approvals if a.role == role}
        if len(distinct) < needed:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Policy:
    requirements: Mapping[str, Requirement]
    four_eyes: bool = True

    def requirement(self, severity: str) -> Requirement:
        return self.requirements[severity]


DEFAULT_POLICY = Policy(
    requirements={
        Severity.NORMAL: Requirement(({Role.APPROVER: 1}, {Role.EXECUTIVE: 1})),
        Severity.HIGH: Requirement(({Role.APPROVER: 1}, {Role.EXECUTIVE: 1})),
        Severity.CRISIS: Requirement(({Role.EXECUTIVE: 1}, {Role.APPROVER: 2})),
    },
    four_eyes=True,
)


def policy_problems(policy: Policy) -> list[tuple[str, str]]:
    """(field, message) for each way a policy is unusable."""
    problems: list[tuple[str, str]] = []
    for severity in Severity:
        requirement = policy.requirements.get(severity)
        if requirement is None or not requirement.alternatives:
            problems.append((f"{severity}", "needs at least one way to approve"))
            continue
        for index, alternative in enumerate(requirement.alternatives):
            where = f"{severity}[{index}]"
            if not alternative:
                problems.append((where, "names no role"))
            for role, count in alternative.items():
                if role not in DECIDING_ROLES:
                    problems.append((where, f"'{role}' cannot approve (approver or executive)"))
                if not 1 <= count <= 10:
                    problems.append((where, f"'{role}' needs between 1 and 10 approvals"))
    extra = set(policy.requirements) - {s.value for s in Severity}
    problems.extend((name, "is not a severity") for name in sorted(extra))
    return problems


def unreachable_problems(policy: Policy, deciders: Mapping[str, int]) -> list[tuple[str, str]]:
    """(severity, message) for each severity whose every way to approve needs more
    people than the client has who can decide (``deciders``: role → how many)."""
    problems: list[tuple[str, str]] = []
    for severity in Severity:
        requirement = policy.requirements.get(severity)
        if requirement is None or any(
            all(deciders.get(role, 0) >= needed for role, needed in alternative.items())
            for alternative in requirement.alternatives
        ):
            continue
        have = _people_phrase({role: deciders.get(role, 0) for role in sorted(requirement.roles())})
        if len(requirement.alternatives) == 1:
            needs = _people_phrase(requirement.alternatives[0])
            message = f"needs {needs}, but the client has {have} who can decide"
        else:
            message = (
                f"none of its ways to approve can be met: the client has {have} who can decide"
            )
        problems.append((f"{severity}", message))
    return problems


def _people_phrase(counts: Mapping[str, int]) -> str:
    """``{"approver": 2, "executive": 1}`` → "2 approvers and 1 executive"."""
    parts = [f"{n} {role}" + ("" if n == 1 else "s") for role, n in sorted(counts.items())]
    return " and ".join(parts) if parts else "nobody"


# --- the state machine ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Approval:
    user_id: uuid.UUID
    role: str


@dataclass(frozen=True, slots=True)
class DraftFacts:
    """What the rules need to know about a draft right now."""

    status: Status
    severity: Severity
    current_revision_id: uuid.UUID | None
    current_revision_author_id: uuid.UUID | None
    approvals_on_current: tuple[Approval, ...] = ()
    scheduled: bool = False  # a post with a publish time in the future
    created_by_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Request:
    action: Action
    who: Who
    # The revision a decision was made on; it must be the current one.
    revision_id: uuid.UUID | None = None
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    records_decision: bool = False
    policy_met: bool = False
    restarts_approval: bool = False


class Refused(Exception):
    """The action is not allowed; ``reason`` says why, ``kind`` how to answer."""

    def __init__(self, reason: str, kind: str = "conflict") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "forbidden", "conflict", "four_eyes" or "invalid"


@dataclass(frozen=True, slots=True)
class _Edge:
    sources: frozenset[Status]
    target: Status | None  # None: decided by the approval policy


_EDGES: dict[Action, _Edge] = {
    Action.REVISE: _Edge(frozenset({Status.DRAFT, Status.PENDING, Status.CHANGES_REQUESTED}), None),
    Action.SUBMIT: _Edge(frozenset({Status.DRAFT}), Status.PENDING),
    Action.APPROVE: _Edge(frozenset({Status.PENDING}), None),
    Action.REJECT: _Edge(frozenset({Status.PENDING}), Status.REJECTED),
    Action.REQUEST_CHANGES: _Edge(frozenset({Status.PENDING}), Status.CHANGES_REQUESTED),
    Action.WITHDRAW: _Edge(
        frozenset(
            {
                Status.DRAFT,
                Status.PENDING,
                Status.CHANGES_REQUESTED,
                Status.APPROVED,
                Status.SCHEDULED,
            }
        ),
        Status.WITHDRAWN,
    ),
    Action.SCHEDULE: _Edge(frozenset({Status.APPROVED}), Status.SCHEDULED),
    Action.PUBLISH: _Edge(frozenset({Status.APPROVED, Status.SCHEDULED}), Status.PUBLISHED),
    Action.TAKE_FALLBACK: _Edge(frozenset({Status.PENDING}), Status.FALLBACK_TAKEN),
}


def apply_action(facts: DraftFacts, request: Request, policy: Policy) -> Outcome:
    """The outcome of ``request`` on a draft in ``facts``, or :class:`Refused`."""
    _check_actor(facts, request, policy)
    edge = _EDGES[request.action]
    if facts.status not in edge.sources:
        action, status = request.action.replace("_", " "), facts.status.replace("_", " ")
        raise Refused(f"cannot {action} a draft that is {status}")
    if request.action in DECISIONS:
        return _decide(facts, request, policy)
    if request.action is Action.REVISE:
        # A new revision restarts approval; after "changes requested" it goes back
        # into the queue by itself.
        target = Status.DRAFT if facts.status is Status.DRAFT else Status.PENDING
        return Outcome(status=target, restarts_approval=facts.status is not Status.DRAFT)
    if request.action is Action.SUBMIT and facts.current_revision_id is None:
        raise Refused("a draft needs a revision before it can be submitted", "invalid")
    assert edge.target is not None
    return Outcome(status=edge.target)


def _check_actor(facts: DraftFacts, request: Request, policy: Policy) -> None:
    who, action = request.who, request.action
    if action in SYSTEM_ACTIONS:
        if not who.is_system:
            raise Refused(f"only the system can {action.replace('_', ' ')}", "forbidden")
        return
    if who.is_system:
        raise Refused(f"the system does not {action.replace('_', ' ')}", "forbidden")
    if action in DECISIONS:
        if who.role not in policy.requirement(facts.severity).roles():
            raise Refused(
                f"{role_phrase(who.role)} cannot decide {facts.severity} items for this client",
                "forbidden",
            )
        return
    if who.role not in DRAFTING_ROLES:
        raise Refused(
            f"{role_phrase(who.role)} cannot {action.replace('_', ' ')} drafts", "forbidden"
        )
    if not who.is_agency and who.user_id != facts.created_by_id:
        # Client staff may draft for themselves, but the agency's drafts stay the
        # agency's: a client decides on them, it does not rewrite or withdraw them.
        raise Refused(
            f"only the agency or the draft's author can {action.replace('_', ' ')} it",
            "forbidden",
        )


def _decide(facts: DraftFacts, request: Request, policy: Policy) -> Outcome:
    if request.revision_id != facts.current_revision_id:
        raise Refused("the decision was made on an older revision; review the current one")
    if request.action in (Action.REJECT, Action.REQUEST_CHANGES) and not request.comment.strip():
        raise Refused("say why: a comment is required", "invalid")
    if policy.four_eyes and request.who.user_id == facts.current_revision_author_id:
        raise Refused(
            "four-eyes rule: you wrote this revision, someone else must decide", "four_eyes"
        )
    if request.action is Action.REJECT:
        return Outcome(status=Status.REJECTED, records_decision=True)
    if request.action is Action.REQUEST_CHANGES:
        return Outcome(status=Status.CHANGES_REQUESTED, records_decision=True)
    assert request.who.user_id is not None
    assert request.who.role is not None
    if any(a.user_id == request.who.user_id for a in facts.approvals_on_current):
        raise Refused("you already approved this revision")
    approvals = (*facts.approvals_on_current, Approval(request.who.user_id, request.who.role))
    met = policy.requirement(facts.severity).is_met(approvals)
    return Outcome(
        status=Status.APPROVED if met else Status.PENDING, records_decision=True, policy_met=met
    )


# --- content checks --------------------------------------------------------------------


def content_problems(
    *, kind: Kind, wordings: Sequence[str], text_limit: int | None
) -> list[tuple[str, str]]:
    """(field, message) for bodies that are empty, too many, or over the channel limit."""
    problems: list[tuple[str, str]] = []
    allowed = MAX_WORDINGS if kind is Kind.REPLY else 1
    if not wordings:
        problems.append(("body", "must not be empty"))
    if len(wordings) > allowed:
        what = "a reply offers at most 3 wordings" if kind is Kind.REPLY else "a post has one body"
        problems.append(("alternatives", what))
    for index, text in enumerate(wordings):
        name = "body" if index == 0 else f"alternatives[{index - 1}]"
        if not text.strip():
            problems.append((name, "must not be blank"))
        elif text_limit is not None and len(text) > text_limit:
            problems.append(
                (name, f"is {len(text)} characters; the channel allows at most {text_limit}")
            )
    return problems


_TOKEN = re.compile(r"\s+|[^\s]+")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level diff as (op, text) with op in ``equal``, ``insert``, ``delete``."""
    before, after = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    parts: list[tuple[str, str]] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            parts.append(("equal", "".join(before[a0:a1])))
            continue
        if a1 > a0:
            parts.append(("delete", "".join(before[a0:a1])))
        if b1 > b0:
            parts.append(("insert", "".join(after[b0:b1])))
    return parts
