"""HTTP controller of the audit trail: one client's events as JSON pages or CSV."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.audit import rules, service
from agencyhub.audit.models import Event
from agencyhub.audit.schemas import EventOut, EventPage, csv_header
from agencyhub.tenancy.rules import Actor
from agencyhub.web import runtime_of

JSON = "application/json"
CSV = "text/csv"
NEXT_CURSOR_HEADER = "X-Next-Cursor"


def event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        type=event.type,
        actor_user_id=event.actor_user_id,
        actor_kind=event.actor_kind,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        client_id=event.client_id,
        payload=event.payload,
        request_id=event.request_id,
        created_at=event.created_at,
    )


async def csv_chunks(batches: AsyncIterator[list[Event]]) -> AsyncIterator[str]:
    """The header row, then one chunk of CSV lines per batch of events."""
    yield rules.csv_text([csv_header()])
    async for batch in batches:
        yield rules.csv_text(msgspec.structs.astuple(event_out(e)) for e in batch)


def wants_csv(request: Request[Any, Any, Any]) -> bool:
    return request.accept.best_match([JSON, CSV], default=JSON) == CSV


class EventController(Controller):
    path = "/api/v1/clients/{client_id:uuid}/events"
    tags = ["audit"]

    @get(
        "",
        opt={"csv_variant": True},
        responses={
            200: ResponseSpec(
                data_container=EventPage,
                generate_examples=False,
                description="A page of events; with 'Accept: text/csv', a CSV download instead.",
            )
        },
    )
    async def list_events(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        types: Annotated[
            list[str] | None,
            QueryParameter(
                name="type",
                description="Event type, repeatable or comma-separated; 'draft.*' for a prefix.",
            ),
        ] = None,
        actor_id: Annotated[
            str | None,
            QueryParameter(name="actorId", format="uuid", description="The acting user's id."),
        ] = None,
        subject_type: Annotated[
            str | None, QueryParameter(name="subjectType", description="e.g. 'draft'.")
        ] = None,
        subject_id: Annotated[str | None, QueryParameter(name="subjectId", format="uuid")] = None,
        since: Annotated[
            str | None,
            QueryParameter(name="from", description="ISO 8601 with offset; inclusive."),
        ] = None,
        until: Annotated[
            str | None,
            QueryParameter(name="to", description="ISO 8601 with offset; exclusive."),
        ] = None,
        limit: Annotated[
            int,
            QueryParameter(
                name="limit",
                ge=1,
                le=rules.MAX_PAGE_SIZE,
                description="Page size (JSON only; CSV exports every match up to the cap).",
            ),
        ] = rules.DEFAULT_PAGE_SIZE,
        cursor: Annotated[
            str | None,
            QueryParameter(name="cursor", description="nextCursor of the previous page."),
        ] = None,
    ) -> Response[EventPage] | Stream:
        """The client's audit trail, newest first (by id), paged by an opaque cursor.

        Send ``Accept: text/csv`` for a CSV download of every matching event (same
        filters; at most 100,000 rows — when cut, ``X-Next-Cursor`` continues it).
        Client roles never see agency-internal events.
        """
        query = rules.event_query(
            types=types or (),
            actor_user_id=actor_id,
            subject_type=subject_type,
            subject_id=subject_id,
            since=since,
            until=until,
            cursor=cursor,
        )
        if wants_csv(request):
            export = await service.prepare_export(session, actor, client_id, query)
            return csv_response(request, export)
        page = await service.list_events(session, actor, client_id, query, limit=limit)
        body = EventPage(items=[event_out(e) for e in page.items], next_cursor=page.next_cursor)
        return Response(body, headers={"Vary": "Accept"})


def csv_response(request: Request[Any, Any, Any], export: service.EventExport) -> Stream:
    sessions = runtime_of(request.app.state).db.sessions
    headers = {
        "Content-Disposition": f'attachment; filename="{rules.csv_filename(export.client_slug)}"',
        "Vary": "Accept",
    }
    if export.next_cursor is not None:
        headers[NEXT_CURSOR_HEADER] = export.next_cursor
    return Stream(
        csv_chunks(service.export_batches(sessions, export)), media_type=CSV, headers=headers
    )


__all__ = ["EventController"]
