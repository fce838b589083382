"""Demo content: channels, inbound items and drafts in every state the API can reach.

``agencyhub demo`` calls :func:`seed_demo_content` after applying the demo tenant
files, so the queue is alive on first start. Nothing here writes rows itself: every
channel, item, draft, decision and comment goes through the real services, acting as
the real demo people, each person's step in its own transaction — so the rules, the
four-eyes check and the event log are exactly those of the product.

A client is seeded only while it has no drafts; restarting the demo adds nothing.
``scheduled``, ``published`` and ``fallback_taken`` are left out on purpose: only the
system (publishing and escalation, not built yet) can reach them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals import service
from agencyhub.approvals.models import Draft
from agencyhub.approvals.rules import Action, Kind
from agencyhub.db import Database, Scope, transaction
from agencyhub.errors import DomainError
from agencyhub.publishing import service as publishing
from agencyhub.publishing.models import Channel
from agencyhub.publishing.schemas_internal import InboundData
from agencyhub.tenancy.auth import load_actor
from agencyhub.tenancy.models import Agency, Client, User
from agencyhub.tenancy.rules import Actor

__all__ = ["DEMO_CONTENT", "SeedReport", "Skipped", "seed_demo_content"]

log = structlog.get_logger(__name__)


# --- the script's vocabulary -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelSeed:
    platform: str
    handle: str
    display_name: str


@dataclass(frozen=True, slots=True)
class InboundSeed:
    key: str
    channel: str  # handle of one of the client's channels
    kind: str
    author: str
    author_handle: str
    body: str
    severity: str = "normal"
    minutes_ago: int = 30


@dataclass(frozen=True, slots=True)
class Submit:
    by: str


@dataclass(frozen=True, slots=True)
class Decide:
    by: str
    decision: Action
    comment: str = ""
    wording: int | None = None


@dataclass(frozen=True, slots=True)
class Revise:
    by: str
    body: str
    alternatives: tuple[str, ...] = ()
    rationale: str = ""


@dataclass(frozen=True, slots=True)
class Withdraw:
    by: str


@dataclass(frozen=True, slots=True)
class Remark:
    by: str
    body: str
    visibility: str = "shared"


Step = Submit | Decide | Revise | Withdraw | Remark


@dataclass(frozen=True, slots=True)
class DraftSeed:
    """A draft's first revision and what happens to it afterwards, step by step."""

    by: str
    title: str
    body: str
    channel: str | None = None  # a post's channel handle
    answers: str | None = None  # a reply's inbound item key
    alternatives: tuple[str, ...] = ()
    rationale: str = ""
    severity: str | None = None  # a reply takes its item's
    story: tuple[Step, ...] = ()

    @property
    def kind(self) -> Kind:
        return Kind.REPLY if self.answers else Kind.POST


@dataclass(frozen=True, slots=True)
class ClientSeed:
    agency: str  # slugs, as in the demo tenant files
    client: str
    connects_channels: str  # an agency owner or admin
    records_inbound: str
    channels: tuple[ChannelSeed, ...]
    inbound: tuple[InboundSeed, ...]
    drafts: tuple[DraftSeed, ...]

    def people(self) -> frozenset[str]:
        steps = (step for draft in self.drafts for step in draft.story)
        return frozenset(
            {self.connects_channels, self.records_inbound}
            | {draft.by for draft in self.drafts}
            | {step.by for step in steps}
        )


# --- the report --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Skipped:
    client: str
    reason: str


@dataclass(frozen=True, slots=True)
class SeedReport:
    seeded: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    channels: int = 0
    inbound_items: int = 0
    drafts: int = 0

    def summary(self) -> str:
        """One line for the console."""
        kept = f"{len(self.skipped)} client(s) kept as they are"
        if not self.seeded:
            return f"demo content: nothing to seed ({kept})"
        line = (
            f"demo content: seeded {', '.join(self.seeded)} with {self.channels} channels,"
            f" {self.inbound_items} inbound items and {self.drafts} drafts"
        )
        return f"{line}; {kept}" if self.skipped else line


@dataclass(frozen=True, slots=True)
class _Seeded:
    client: str
    channels: int
    inbound_items: int
    drafts: int


def _report(results: Sequence[_Seeded], skipped: Sequence[Skipped]) -> SeedReport:
    return SeedReport(
        seeded=tuple(r.client for r in results),
        skipped=tuple(skipped),
        channels=sum(r.channels for r in results),
        inbound_items=sum(r.inbound_items for r in results),
        drafts=sum(r.drafts for r in results),
    )


# --- seeding -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    client_id: uuid.UUID
    name: str
    has_drafts: bool


async def seed_demo_content(
    db: Database, *, now: datetime, content: Sequence[ClientSeed] = ()
) -> SeedReport:
    """Seed every demo client that exists and has no drafts yet; report what happened.

    ``content`` replaces :data:`DEMO_CONTENT` (tests); ``now`` dates the inbound items.
    """
    scripts = content or DEMO_CONTENT
    targets, people = await _survey(db, scripts)
    results: list[_Seeded] = []
    skipped: list[Skipped] = []
    for script in scripts:
        target = targets.get((script.agency, script.client))
        if target is None:
            continue  # not a client of this database
        reason = _reason_to_skip(script, target, people)
        if reason is None:
            try:
                results.append(await _seed_client(db, script, target, people, now))
                continue
            except DomainError as exc:
                log.warning("demo.seed_failed", client=target.name, detail=exc.detail)
                reason = f"failed: {exc.detail}"
        skipped.append(Skipped(target.name, reason))
    report = _report(results, skipped)
    log.info("demo.seeded", seeded=report.seeded, skipped=[s.client for s in skipped])
    return report


def _reason_to_skip(
    script: ClientSeed, target: _Target, people: Mapping[str, uuid.UUID]
) -> str | None:
    if target.has_drafts:
        return "already has drafts"
    missing = sorted(script.people() - people.keys())
    if missing:
        return f"no such user: {', '.join(missing)}"
    return None


async def _survey(
    db: Database, scripts: Sequence[ClientSeed]
) -> tuple[dict[tuple[str, str], _Target], dict[str, uuid.UUID]]:
    """Which scripted clients exist (and have drafts), and the ids of their people."""
    emails = sorted({email for script in scripts for email in script.people()})
    async with transaction(db.sessions, Scope.for_system("demo.seed")) as session:
        has_drafts = select(Draft.id).where(Draft.client_id == Client.id).exists()
        rows = await session.execute(
            select(Agency.slug, Client.slug, Client.id, Client.name, has_drafts)
            .join(Agency, Agency.id == Client.agency_id)
            .where(Client.archived_at.is_(None))
        )
        targets = {
            (agency, slug): _Target(client_id, name, bool(drafts))
            for agency, slug, client_id, name, drafts in rows
        }
        users = await session.execute(select(User.email, User.id).where(User.email.in_(emails)))
        people = {email: user_id for email, user_id in users}
    return targets, people


@asynccontextmanager
async def _acting_as(db: Database, user_id: uuid.UUID) -> AsyncIterator[tuple[AsyncSession, Actor]]:
    """One person's unit of work, like one request: their memberships, their log context."""
    outer = structlog.contextvars.get_contextvars()
    structlog.contextvars.bind_contextvars(user_id=str(user_id))
    try:
        async with transaction(db.sessions) as session:
            yield session, await load_actor(session, user_id)
    finally:
        # The services bind draft and tenant ids; they must not leak into the next step.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**outer)


async def _seed_client(
    db: Database,
    script: ClientSeed,
    target: _Target,
    people: Mapping[str, uuid.UUID],
    now: datetime,
) -> _Seeded:
    client_id = target.client_id
    channels, connected = await _connect_channels(db, script, client_id, people)
    items, received = await _record_inbound(db, script, client_id, channels, people, now)
    for draft in script.drafts:
        await _play(db, draft, client_id, channels, items, people)
    return _Seeded(target.name, connected, received, len(script.drafts))


async def _connect_channels(
    db: Database, script: ClientSeed, client_id: uuid.UUID, people: Mapping[str, uuid.UUID]
) -> tuple[dict[str, uuid.UUID], int]:
    """Channel ids by handle; channels already there (an earlier partial run) are reused."""
    async with _acting_as(db, people[script.connects_channels]) as (session, actor):
        existing = await publishing.list_channels(session, actor, client_id)
        by_handle = {channel.handle: channel.id for channel in existing}
        created = 0
        for seed in script.channels:
            if seed.handle in by_handle:
                continue
            channel = await _create_channel(session, actor, client_id, seed)
            by_handle[seed.handle] = channel.id
            created += 1
    return by_handle, created


async def _create_channel(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, seed: ChannelSeed
) -> Channel:
    return await publishing.create_channel(
        session,
        actor,
        client_id,
        platform=seed.platform,
        handle=seed.handle,
        display_name=seed.display_name,
        text_limit=None,
    )


async def _record_inbound(
    db: Database,
    script: ClientSeed,
    client_id: uuid.UUID,
    channels: Mapping[str, uuid.UUID],
    people: Mapping[str, uuid.UUID],
    now: datetime,
) -> tuple[dict[str, uuid.UUID], int]:
    """Inbound item ids by key; recording is idempotent on the external id."""
    items: dict[str, uuid.UUID] = {}
    created = 0
    async with _acting_as(db, people[script.records_inbound]) as (session, actor):
        for seed in script.inbound:
            item, new = await publishing.record_inbound(
                session, actor, client_id, _inbound_data(seed, channels, now)
            )
            items[seed.key] = item.id
            created += int(new)
    return items, created


def _inbound_data(
    seed: InboundSeed, channels: Mapping[str, uuid.UUID], now: datetime
) -> InboundData:
    return InboundData(
        channel_id=channels[seed.channel],
        external_id=f"demo-{seed.key}",
        kind=seed.kind,
        body=seed.body,
        author_name=seed.author,
        author_handle=seed.author_handle,
        severity=seed.severity,
        received_at=now - timedelta(minutes=seed.minutes_ago),
    )


async def _play(
    db: Database,
    seed: DraftSeed,
    client_id: uuid.UUID,
    channels: Mapping[str, uuid.UUID],
    items: Mapping[str, uuid.UUID],
    people: Mapping[str, uuid.UUID],
) -> Draft:
    """Write the draft as its author, then let each step's person act in turn."""
    async with _acting_as(db, people[seed.by]) as (session, actor):
        draft = await service.create_draft(
            session, actor, client_id, _new_draft(seed, channels, items)
        )
    for step in seed.story:
        async with _acting_as(db, people[step.by]) as (session, actor):
            draft = await _take(session, actor, draft, step)
    return draft


def _new_draft(
    seed: DraftSeed, channels: Mapping[str, uuid.UUID], items: Mapping[str, uuid.UUID]
) -> service.NewDraft:
    return service.NewDraft(
        kind=seed.kind,
        content=service.Content(
            body=seed.body, alternatives=seed.alternatives, rationale=seed.rationale
        ),
        channel_id=channels[seed.channel] if seed.channel else None,
        inbound_item_id=items[seed.answers] if seed.answers else None,
        title=seed.title,
        severity=seed.severity,
    )


async def _take(session: AsyncSession, actor: Actor, draft: Draft, step: Step) -> Draft:
    """One step through the service, on the version the person just saw."""
    match step:
        case Submit():
            return await service.submit(session, actor, draft.id, draft.version)
        case Decide(decision=decision, comment=comment, wording=wording):
            return await service.decide(
                session,
                actor,
                draft.id,
                decision=decision,
                version=draft.version,
                comment=comment,
                revision_id=draft.current_revision_id,
                wording=wording,
            )
        case Revise(body=body, alternatives=alternatives, rationale=rationale):
            content = service.Content(body=body, alternatives=alternatives, rationale=rationale)
            return await service.revise(session, actor, draft.id, draft.version, content)
        case Withdraw():
            return await service.withdraw(session, actor, draft.id, draft.version)
        case Remark(body=body, visibility=visibility):
            await service.add_comment(session, actor, draft.id, body, visibility)
            return draft


# --- the content -------------------------------------------------------------------------
#
# People of tenants/nordlicht.toml and tenants/wellenreiter.toml. Under the default
# policy normal and high items need one approver or one executive, a crisis needs one
# executive or two approvers; agency roles never decide.

NORA = "owner@nordlicht.example"  # agency owner: connects channels
JONAS = "editor@nordlicht.example"  # agency editor for the bakery: writes its drafts
LEA = "redaktion@nordlicht.example"  # agency editor for the municipal utility
SABINE = "freigabe@sonnenschein.example"  # approver
TOBIAS = "vertretung@sonnenschein.example"  # deputy approver
MONIKA = "chefin@sonnenschein.example"  # executive, the bakery's owner
FELIX = "admin@sonnenschein.example"  # client admin: drafts, cannot decide
KATRIN = "presse@stadtwerke.example"  # approver, press office
MICHAEL = "vorstand@stadtwerke.example"  # executive, management board
LUKAS = "owner@wellenreiter.example"  # agency owner, drafts himself
ANNA = "freigabe@alpenhof.example"  # approver

_BAECKEREI = ClientSeed(
    agency="nordlicht",
    client="baeckerei-sonnenschein",
    connects_channels=NORA,
    records_inbound=JONAS,
    channels=(
        ChannelSeed("instagram", "@baeckerei.sonnenschein", "Bäckerei Sonnenschein"),
        ChannelSeed("facebook", "BaeckereiSonnenschein", "Bäckerei Sonnenschein"),
    ),
    inbound=(
        InboundSeed(
            "nusszopf",
            "@baeckerei.sonnenschein",
            "comment",
            "Julia Meyer",
            "@julia.meyer.hh",
            "Mein Sohn hat nach eurem Nusszopf eine allergische Reaktion bekommen – am "
            "Schild stand nichts von Haselnüssen! Wir waren in der Notaufnahme. Das teile "
            "ich jetzt überall, damit andere Eltern gewarnt sind.",
            severity="crisis",
            minutes_ago=25,
        ),
        InboundSeed(
            "plastik",
            "BaeckereiSonnenschein",
            "review",
            "Peter Schulz",
            "peter.schulz",
            "1 Stern. Heute im Roggenbrot ein Stück Plastik gefunden. Das geht gar nicht, "
            "ich kaufe hier seit 15 Jahren.",
            severity="high",
            minutes_ago=90,
        ),
        InboundSeed(
            "sonntag",
            "@baeckerei.sonnenschein",
            "comment",
            "Lena Koch",
            "@lenakocht",
            "Gibt es die Dinkelbrötchen auch sonntags? 😊",
            minutes_ago=180,
        ),
        InboundSeed(
            "hochzeitstorte",
            "BaeckereiSonnenschein",
            "direct_message",
            "Familie Yilmaz",
            "yilmaz.familie",
            "Hallo! Nehmt ihr auch Bestellungen für Hochzeitstorten an? Wir heiraten im "
            "September, ca. 80 Gäste.",
            minutes_ago=300,
        ),
        InboundSeed(
            "franzbroetchen",
            "@baeckerei.sonnenschein",
            "mention",
            "Tom Richter",
            "@tom.isst",
            "Beste Franzbrötchen der Stadt, sorry not sorry @baeckerei.sonnenschein 🥐",
            minutes_ago=600,
        ),
    ),
    drafts=(
        DraftSeed(
            by=JONAS,
            title="Antwort: allergische Reaktion nach Nusszopf",
            answers="nusszopf",
            body="Liebe Frau Meyer, es tut uns sehr leid, dass Ihr Sohn in die Notaufnahme "
            "musste – wir hoffen, es geht ihm wieder gut. Die Kennzeichnung am Nusszopf war "
            "unvollständig; wir haben sie heute früh in allen Filialen korrigiert. Bitte "
            "schreiben Sie uns eine Direktnachricht, Frau Sonnenschein ruft Sie persönlich an.",
            alternatives=(
                "Liebe Frau Meyer, das tut uns aufrichtig leid. Die Allergenangabe am "
                "Nusszopf war unvollständig und ist seit heute früh korrigiert. Die Inhaberin "
                "möchte sich gern persönlich bei Ihnen melden – schreiben Sie uns bitte eine "
                "Direktnachricht.",
            ),
            rationale="Der Beitrag wird schnell geteilt: öffentlich Verantwortung übernehmen, "
            "Korrektur belegen, das Gespräch in die Direktnachricht holen. Keine Aussage zur "
            "Haftung.",
            story=(
                Submit(JONAS),
                Remark(
                    NORA,
                    "Monika ist informiert und ruft die Familie an, sobald wir die Nummer "
                    "haben. Bitte heute keine weiteren Posts zum Nusszopf einplanen.",
                    "internal",
                ),
                Remark(
                    FELIX,
                    "Die Schilder sind in allen drei Filialen getauscht, Fotos liegen im "
                    "Ordner „Allergene“.",
                ),
                # A crisis needs the executive or two approvers: one is in, one to go.
                Decide(TOBIAS, Action.APPROVE, "Passt so, Variante 1.", wording=0),
            ),
        ),
        DraftSeed(
            by=JONAS,
            title="Antwort: Plastik im Roggenbrot",
            answers="plastik",
            body="Hallo Herr Schulz, das darf nicht passieren – danke, dass Sie es uns "
            "sagen. Bitte bringen Sie das Brot und das Fundstück in die Filiale oder schicken "
            "Sie uns ein Foto: Wir prüfen die Charge sofort und melden uns bei Ihnen.",
            rationale="Bewertung ist öffentlich sichtbar; schnell und sachlich antworten, "
            "Prüfung zusagen, nichts einräumen, was noch nicht geklärt ist.",
            story=(Submit(JONAS),),
        ),
        DraftSeed(
            by=JONAS,
            title="Wochenangebot: Dinkel-Vollkornbrot",
            channel="@baeckerei.sonnenschein",
            body="Diese Woche im Angebot: unser Dinkel-Vollkornbrot mit Sonnenblumenkernen, "
            "1 kg für 4,20 € statt 4,90 €. Frisch aus dem Steinofen, jeden Morgen ab 6 Uhr. "
            "🌻 #BäckereiSonnenschein #Dinkelbrot",
            rationale="Angebotsposts laufen dienstags am besten; Bild: Brot im Anschnitt.",
            story=(Submit(JONAS),),
        ),
        DraftSeed(
            by=JONAS,
            title="Tag der offenen Backstube",
            channel="BaeckereiSonnenschein",
            body="Am Samstag öffnen wir unsere Backstube! Schauen Sie uns über die Schulter "
            "und probieren Sie frische Brezeln. Wir freuen uns auf Sie!",
            rationale="Nähe zeigen: Handwerk statt Fabrik.",
            story=(
                Submit(JONAS),
                Decide(
                    SABINE,
                    Action.REQUEST_CHANGES,
                    "Bitte die Uhrzeit nennen, und dass Kinder selbst Brezeln formen dürfen – "
                    "das ist der Höhepunkt.",
                ),
                Revise(
                    JONAS,
                    "Am Samstag öffnen wir von 10 bis 14 Uhr unsere Backstube! "
                    "Schauen Sie uns über die Schulter, probieren Sie frische Brezeln – und "
                    "Kinder formen ihre eigene. Wir freuen uns auf Sie!",
                    rationale="Nähe zeigen: Handwerk statt Fabrik. Uhrzeit und Kinderaktion "
                    "ergänzt, wie gewünscht.",
                ),
            ),
        ),
        DraftSeed(
            by=FELIX,
            title="Azubi gesucht",
            channel="@baeckerei.sonnenschein",
            body="Wir suchen Verstärkung! Ausbildung zum Bäcker / zur Bäckerin ab August – "
            "frühes Aufstehen inklusive, gute Laune auch. Bewerbung gern per Direktnachricht.",
            rationale="Von uns selbst geschrieben; bitte einmal gegenlesen.",
            story=(Submit(FELIX),),
        ),
        DraftSeed(
            by=JONAS,
            title="Sommerferien-Öffnungszeiten",
            channel="BaeckereiSonnenschein",
            body="In den Sommerferien haben wir montags bis samstags von 6 bis 13 Uhr für "
            "Sie geöffnet, sonntags von 7 bis 11 Uhr. Schöne Ferien!",
            rationale="Noch offen: ob die Filiale am Markt sonntags öffnet.",
        ),
        DraftSeed(
            by=JONAS,
            title="Neues Dinkel-Vollkornbrot",
            channel="@baeckerei.sonnenschein",
            body="Neu bei uns: das gesündeste Brot der Stadt! Unser Dinkel-Vollkornbrot hält "
            "lange satt und schmeckt nach Sonne. 🌞",
            rationale="Produkteinführung, Fokus auf Gesundheit.",
            story=(
                Submit(JONAS),
                Decide(
                    SABINE,
                    Action.REQUEST_CHANGES,
                    "Bitte nicht „gesündestes Brot der Stadt“ – das ist eine "
                    "Gesundheitsaussage, die wir nicht belegen können.",
                ),
            ),
        ),
        DraftSeed(
            by=JONAS,
            title="Antwort: Dinkelbrötchen am Sonntag",
            answers="sonntag",
            body="Ja! Sonntags von 7 bis 11 Uhr – solange der Vorrat reicht. 😊",
            alternatives=(
                "Klar, sonntags backen wir ab 7 Uhr auch Dinkelbrötchen. Wer sicher gehen "
                "will, bestellt bis Samstag 12 Uhr vor.",
            ),
            rationale="Zwei Varianten: kurz, oder mit Hinweis auf die Vorbestellung.",
            story=(
                Submit(JONAS),
                Decide(SABINE, Action.APPROVE, "Die mit der Vorbestellung, bitte.", wording=1),
            ),
        ),
        DraftSeed(
            by=JONAS,
            title="Black Friday: 50 % auf alles",
            channel="BaeckereiSonnenschein",
            body="BLACK FRIDAY bei Sonnenschein: 50 % auf alles vom Vortag! Nur heute! 🖤",
            rationale="Rabattaktionen bringen Reichweite.",
            story=(
                Submit(JONAS),
                Decide(
                    MONIKA,
                    Action.REJECT,
                    "Machen wir nicht. Ware vom Vortag geben wir an die Tafel, und "
                    "Rabattschlachten passen nicht zu uns.",
                ),
            ),
        ),
        DraftSeed(
            by=JONAS,
            title="Gewinnspiel: Ein Jahr Brötchen gratis",
            channel="@baeckerei.sonnenschein",
            body="Gewinnspiel! Markiert zwei Freunde und gewinnt ein Jahr lang jeden Samstag "
            "sechs Brötchen gratis. 🥖",
            rationale="Reichweite zum Jubiläum.",
            story=(
                Submit(JONAS),
                Remark(
                    JONAS,
                    "Zurückgezogen: Teilnahmebedingungen und Datenschutzhinweis fehlen noch, "
                    "Instagram verlangt sie. Neuer Entwurf folgt nach der Rechtsprüfung.",
                    "internal",
                ),
                Withdraw(JONAS),
            ),
        ),
    ),
)

_STADTWERKE = ClientSeed(
    agency="nordlicht",
    client="stadtwerke-musterstadt",
    connects_channels=NORA,
    records_inbound=LEA,
    channels=(
        ChannelSeed("x", "@stadtwerke_ms", "Stadtwerke Musterstadt"),
        ChannelSeed("facebook", "StadtwerkeMusterstadt", "Stadtwerke Musterstadt"),
    ),
    inbound=(
        InboundSeed(
            "stromausfall",
            "@stadtwerke_ms",
            "mention",
            "Markus W.",
            "@markus_weststadt",
            "Seit 2 Stunden kein Strom in der ganzen Weststadt und @stadtwerke_ms sagt "
            "NICHTS. Kühlschrank taut ab, Oma hängt am Sauerstoffgerät. #Stromausfall "
            "#Musterstadt",
            severity="crisis",
            minutes_ago=10,
        ),
        InboundSeed(
            "lindenstrasse",
            "@stadtwerke_ms",
            "comment",
            "Sandra Klein",
            "@sandra_k",
            "Lindenstraße auch alles dunkel. Wann geht's weiter?",
            severity="high",
            minutes_ago=15,
        ),
        InboundSeed(
            "abschlag",
            "StadtwerkeMusterstadt",
            "direct_message",
            "Heinz Becker",
            "heinz.becker.52",
            "Guten Tag, mein Abschlag für Strom wurde diesen Monat doppelt abgebucht. "
            "Kundennummer habe ich, an wen wende ich mich?",
            minutes_ago=240,
        ),
        InboundSeed(
            "ladesaeule",
            "StadtwerkeMusterstadt",
            "comment",
            "Ayşe Demir",
            "ayse.demir",
            "Wann kommt endlich die Ladesäule am Marktplatz? Angekündigt war Frühjahr.",
            minutes_ago=1440,
        ),
        InboundSeed(
            "laterne",
            "@stadtwerke_ms",
            "mention",
            "Grundschule Am Park",
            "@gs_ampark",
            "Danke @stadtwerke_ms für die schnelle Reparatur der Laterne vor unserer Schule! 💡",
            minutes_ago=2880,
        ),
    ),
    drafts=(
        DraftSeed(
            by=LEA,
            title="Antwort: Stromausfall Weststadt",
            answers="stromausfall",
            body="Wir wissen vom Stromausfall in der Weststadt, ein Defekt im Umspannwerk "
            "West. Unsere Techniker sind vor Ort. Bitte wählen Sie bei medizinischen "
            "Geräten den Notruf 112. Aktuelle Infos: stadtwerke-musterstadt.example/stoerungen",
            rationale="Krisenfall: Ursache bestätigen, Hilfe bei Lebensgefahr nennen, auf die "
            "Störungsseite verweisen. Keine Uhrzeit versprechen.",
            story=(
                Submit(LEA),
                Remark(
                    NORA,
                    "Netzleitstelle bestätigt: Umspannwerk West, Prognose unsicher. Bitte "
                    "auf keinen Fall eine Uhrzeit nennen.",
                    "internal",
                ),
                Remark(
                    KATRIN,
                    "Inhaltlich ok. Herr Brandt gibt Krisenantworten selbst frei – er ist "
                    "informiert.",
                ),
            ),
        ),
        DraftSeed(
            by=LEA,
            title="Stellungnahme zum Stromausfall",
            channel="StadtwerkeMusterstadt",
            body="Stromausfall in der Weststadt: Seit etwa zwei Stunden sind rund 4.000 "
            "Haushalte ohne Strom. Ursache ist ein Defekt im Umspannwerk West; unsere Teams "
            "arbeiten mit Hochdruck an der Wiederversorgung. Wer auf medizinische Geräte "
            "angewiesen ist, wählt bitte die 112. Laufende Informationen: "
            "stadtwerke-musterstadt.example/stoerungen",
            rationale="Offizielle Stellungnahme, vom Vorstand freizugeben.",
            severity="crisis",
            story=(
                Submit(LEA),
                Decide(MICHAEL, Action.APPROVE, "Freigegeben. Bitte sofort posten."),
            ),
        ),
        DraftSeed(
            by=LEA,
            title="Antwort: Lindenstraße",
            answers="lindenstrasse",
            body="Die Lindenstraße gehört zum betroffenen Gebiet, unsere Techniker sind dran. "
            "Den aktuellen Stand finden Sie hier: stadtwerke-musterstadt.example/stoerungen",
            alternatives=(
                "Ja, die Lindenstraße ist betroffen – Ursache ist ein Defekt im Umspannwerk "
                "West. Stand: stadtwerke-musterstadt.example/stoerungen",
            ),
            story=(
                Submit(LEA),
                Decide(KATRIN, Action.APPROVE, wording=0),
            ),
        ),
        DraftSeed(
            by=LEA,
            title="Antwort: doppelte Abbuchung",
            answers="abschlag",
            body="Guten Tag Herr Becker, das klären wir gern. Bitte schicken Sie uns Ihre "
            "Kundennummer hier per Nachricht, der Kundenservice bucht den doppelten Betrag "
            "umgehend zurück.",
            story=(Submit(LEA),),
        ),
        DraftSeed(
            by=LEA,
            title="Ladesäulen am Marktplatz",
            channel="StadtwerkeMusterstadt",
            body="Bald am Marktplatz: vier neue Ladepunkte mit Ökostrom. Die Bauarbeiten "
            "beginnen im Juli.",
            rationale="Antwortet auf viele Nachfragen; Termin mit der Bauabteilung klären.",
        ),
        DraftSeed(
            by=LEA,
            title="Tag der offenen Tür im Wasserwerk",
            channel="StadtwerkeMusterstadt",
            body="Am Sonntag öffnet unser Wasserwerk seine Türen: Führungen, Wasserbar und "
            "Hüpfburg für die Kleinen. Kommen Sie vorbei!",
            story=(
                Submit(LEA),
                Remark(
                    LEA,
                    "Während des Stromausfalls keine Werbeposts: zurückgezogen, wir planen neu.",
                    "internal",
                ),
                Withdraw(LEA),
            ),
        ),
    ),
)

_ALPENHOF = ClientSeed(
    agency="wellenreiter",
    client="alpenhof",
    connects_channels=LUKAS,
    records_inbound=LUKAS,
    channels=(
        ChannelSeed("instagram", "@alpenhof.hotel", "Hotel Alpenhof"),
        ChannelSeed("facebook", "HotelAlpenhof", "Hotel Alpenhof"),
    ),
    inbound=(
        InboundSeed(
            "zimmer12",
            "HotelAlpenhof",
            "review",
            "Claudia Berger",
            "claudia.berger",
            "2 Sterne. Zimmer 12 war nicht sauber, Haare im Bad, und an der Rezeption hat "
            "sich niemand zuständig gefühlt. Für den Preis enttäuschend.",
            severity="high",
            minutes_ago=120,
        ),
        InboundSeed(
            "doppelzimmer",
            "@alpenhof.hotel",
            "comment",
            "Marie",
            "@marie.wandert",
            "Habt ihr Mitte Juli noch ein Doppelzimmer frei? 😍",
            minutes_ago=200,
        ),
        InboundSeed(
            "hund",
            "HotelAlpenhof",
            "direct_message",
            "Stefan Huber",
            "stefan.huber.at",
            "Grüß Gott, dürfen wir unseren Hund (Labrador, sehr brav) mitbringen?",
            minutes_ago=400,
        ),
        InboundSeed(
            "tagesgaeste",
            "@alpenhof.hotel",
            "comment",
            "Eva Wimmer",
            "@eva.w",
            "Ist der Wellnessbereich auch für Tagesgäste offen?",
            minutes_ago=1500,
        ),
    ),
    drafts=(
        DraftSeed(
            by=LUKAS,
            title="Antwort: Bewertung Zimmer 12",
            answers="zimmer12",
            body="Liebe Frau Berger, danke für Ihre offenen Worte – so darf ein Zimmer bei "
            "uns nicht aussehen. Wir haben mit dem Housekeeping gesprochen und melden uns "
            "persönlich bei Ihnen, um es wiedergutzumachen. Herzliche Grüße, Anna Gruber",
            rationale="Öffentlich entschuldigen, konkret werden, Wiedergutmachung anbieten.",
            story=(Submit(LUKAS),),
        ),
        DraftSeed(
            by=LUKAS,
            title="Antwort: Doppelzimmer im Juli",
            answers="doppelzimmer",
            body="Liebe Marie, Mitte Juli ist es knapp – schreib uns deine Wunschdaten per "
            "Direktnachricht, wir schauen sofort nach! 🏔️",
            alternatives=(
                "Hallo Marie, für Mitte Juli haben wir noch wenige Zimmer. Am schnellsten "
                "geht's über alpenhof.example/buchen oder per Direktnachricht.",
                "Servus Marie! Schick uns deine Daten per Direktnachricht, dann reservieren "
                "wir dir gleich etwas. 😊",
            ),
            rationale="Drei Tonlagen zur Auswahl: persönlich, informativ, locker.",
            story=(
                Submit(LUKAS),
                Decide(ANNA, Action.APPROVE, "Die lockere passt zu Instagram.", wording=2),
            ),
        ),
        DraftSeed(
            by=LUKAS,
            title="Sommerfrische-Paket",
            channel="@alpenhof.hotel",
            body="Sommerfrische im Alpenhof: 3 Nächte mit Halbpension, Wanderkarte und "
            "Almjause ab 189 €. Jetzt buchen! ⛰️",
            rationale="Paket für Juni und Juli, Bild: Terrasse mit Bergblick.",
            story=(
                Submit(LUKAS),
                Decide(
                    ANNA,
                    Action.REQUEST_CHANGES,
                    "Bitte „ab 189 € pro Person“ schreiben, sonst gibt es Missverständnisse.",
                ),
                Remark(LUKAS, "Mach ich – gilt der Preis auch im August?"),
            ),
        ),
        DraftSeed(
            by=LUKAS,
            title="Antwort: Hund mitbringen",
            answers="hund",
            body="Grüß Gott Herr Huber, brave Vierbeiner sind bei uns willkommen! Wir "
            "berechnen 15 € pro Nacht, Napf und Decke stehen bereit.",
            rationale="Hundepreis noch mit Anna klären.",
        ),
        DraftSeed(
            by=LUKAS,
            title="Herbst im Alpenhof",
            channel="@alpenhof.hotel",
            body="Goldener Herbst, klare Bergluft und danach in die Sauna: Ab September "
            "verwöhnen wir Sie mit unserem Herbstpaket. 🍂",
            story=(Submit(LUKAS),),
        ),
    ),
)

DEMO_CONTENT: tuple[ClientSeed, ...] = (_BAECKEREI, _STADTWERKE, _ALPENHOF)
