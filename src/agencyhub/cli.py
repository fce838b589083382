"""The ``agencyhub`` command: demo, serve, worker, db, tenants."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click
import structlog

from agencyhub import dbadmin
from agencyhub.config import Settings, SettingsError
from agencyhub.logging import configure_logging

log = structlog.get_logger("agencyhub.cli")

if TYPE_CHECKING:
    from agencyhub.tenantfiles.apply import ApplyReport, TenantSpec

DEMO_TENANTS_DIR = dbadmin.PROJECT_ROOT / "tenants"


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(None, **overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def main() -> None:
    """AgencyHub: approvals, SLAs and emergency plans for agencies and their clients."""


# --- demo / serve / worker -----------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--data-dir",
    default="./var",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SQLite database lives; starting again keeps the data.",
)
def demo(host: str, port: int, data_dir: Path) -> None:
    """Migrate a SQLite file, load the demo tenants, and serve on HOST:PORT."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(environment="demo", log_format="console").with_data_dir(data_dir)
    settings = dataclasses.replace(settings, base_url=demo_base_url(host, port, os.environ))
    configure_logging(settings)
    dbadmin.upgrade(settings)
    files = sorted(DEMO_TENANTS_DIR.glob("*.toml"))
    _apply_tenant_files(settings, files)
    _seed_demo_content(settings)
    _print_demo_logins(settings, files, host, port)
    _serve(settings, host, port)


def demo_base_url(host: str, port: int, environ: Mapping[str, str]) -> str:
    """Where the demo's links point: ``AGENCYHUB_BASE_URL`` when set (a proxy in front),
    else the address it serves on."""
    return environ.get("AGENCYHUB_BASE_URL") or f"http://{host}:{port}"


def _seed_demo_content(settings: Settings) -> None:
    """Inbound items and drafts for the demo clients that have none yet."""
    from agencyhub.approvals.demo import seed_demo_content
    from agencyhub.db import Database, utcnow

    async def seed() -> str:
        database = Database.from_settings(settings)
        try:
            report = await seed_demo_content(database, now=utcnow())
        finally:
            await database.dispose()
        return report.summary()

    click.echo(asyncio.run(seed()))


def _duty_now(settings: Settings) -> dict[str, str]:
    """Each demo person on duty or deputy right now (e-mail → what), so the reader
    watches the inbox the emergency plan pages first."""
    from sqlalchemy import select

    from agencyhub.db import Database, Scope, transaction, utcnow
    from agencyhub.escalation.rota import on_duty_at
    from agencyhub.tenancy.models import Client

    async def read() -> dict[str, str]:
        database = Database.from_settings(settings)
        roles: dict[str, str] = {}
        try:
            async with transaction(database.sessions, Scope.for_system("demo.duty")) as session:
                for client in await session.scalars(select(Client)):
                    duty = await on_duty_at(session, client, utcnow())
                    for deputy in duty.deputies:
                        roles[deputy.email] = "deputy now"
                    if duty.person is not None:
                        until = (
                            duty.until.strftime("%Y-%m-%d %H:%M UTC")
                            if duty.until
                            else "further notice"
                        )
                        roles[duty.person.email] = f"ON DUTY now, until {until}"
        finally:
            await database.dispose()
        return roles

    return asyncio.run(read())


def _print_demo_logins(settings: Settings, files: list[Path], host: str, port: int) -> None:
    from agencyhub.tenantfiles.files import load_tenant_files

    specs = load_tenant_files(files, environment=settings.environment)
    duty = _duty_now(settings)
    click.echo("")
    click.secho(f"AgencyHub demo on http://{host}:{port}  (API docs: /schema)", bold=True)
    for spec in specs:
        click.echo(f"\n  {spec.agency.name} ({spec.agency.slug})")
        for person in spec.people:
            click.echo(f"    {person.email:<36} {person.role}")
        for client in spec.clients:
            for person in client.people:
                note = f" ({duty[person.email]})" if person.email in duty else ""
                click.echo(f"    {person.email:<36} {person.role} at {client.name}{note}")
        if spec.demo_password:
            click.echo(f"    password for every login above: {spec.demo_password}")
    click.echo("")


@main.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of standard output.",
)
def openapi(output: Path | None) -> None:
    """Print the API's OpenAPI document (what /schema/openapi.json serves) as JSON;
    the web app's TypeScript types are generated from it (``make api-types``)."""
    from agencyhub.app import create_app
    from agencyhub.web import openapi_json

    settings = load_settings(environment="test", log_level="WARNING")
    document = openapi_json(create_app(settings))
    if output is None:
        click.echo(document, nl=False)
    else:
        output.write_text(document, encoding="utf-8")


# The sans-I/O implementation writes frames straight to the transport; the legacy one
# runs a task and queues per connection (measured in bench/live).
WEBSOCKET_IMPLEMENTATION = "websockets-sansio"


def _serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    from agencyhub.app import create_app

    if workers > 1:
        # Each worker process builds its own app (and engine) from the environment.
        uvicorn.run(
            "agencyhub.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,  # our request middleware logs every request
            proxy_headers=False,
            ws=WEBSOCKET_IMPLEMENTATION,
        )
        return
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        ws=WEBSOCKET_IMPLEMENTATION,
    )


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)  # noqa: S104 - a server binds all
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Web processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Production web server (PostgreSQL + Redis from AGENCYHUB_* variables)."""
    settings = load_settings()
    configure_logging(settings)
    _serve(settings, host, port, workers)


@main.command()
@click.option("--threads", default=4, show_default=True, type=int)
def worker(threads: int) -> None:
    """Background worker: runs the Dramatiq actors on the Redis broker."""
    settings = load_settings()
    configure_logging(settings)
    if not settings.redis_url:
        raise click.ClickException("AGENCYHUB_REDIS_URL must be set for `agencyhub worker`.")
    from agencyhub.tasks import run_worker

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    run_worker(settings, threads=threads, stop=stop)


# --- db ----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema and roles."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate to REVISION (as the owner), then grant the application role."""
    settings = load_settings()
    configure_logging(settings)
    dbadmin.upgrade(settings, revision)
    click.echo(f"database at {dbadmin.current_revision(settings)}")


@db.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (for example -1 or base)."""
    settings = load_settings()
    configure_logging(settings)
    dbadmin.downgrade(settings, revision)
    click.echo(f"database at {dbadmin.current_revision(settings) or 'base'}")


@db.command("current")
def db_current() -> None:
    """Print the schema revision."""
    settings = load_settings()
    click.echo(dbadmin.current_revision(settings) or "base (empty database)")


@db.command("create-app-role")
def db_create_app_role() -> None:
    """Create the PostgreSQL application role (NOBYPASSRLS) named in AGENCYHUB_DATABASE_URL."""
    settings = load_settings()
    configure_logging(settings)
    if settings.is_sqlite:
        raise click.ClickException("Roles exist only on PostgreSQL.")
    role = asyncio.run(dbadmin.create_app_role(settings))
    click.echo(f"role {role} is ready; run `agencyhub db upgrade` to grant it the tables")


# --- tenants -------------------------------------------------------------------------


@main.group()
def tenants() -> None:
    """Declarative tenant files (see tenants/README.md)."""


_FILES = click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


@tenants.command("validate")
@_FILES
@click.option(
    "--environment",
    type=click.Choice(["demo", "test", "production"]),
    help="Validate as for this environment (default: AGENCYHUB_ENVIRONMENT, else demo).",
)
def tenants_validate(files: tuple[Path, ...], environment: str | None) -> None:
    """Report every problem in FILES with file and line; exit 1 if there is any."""
    from agencyhub.tenantfiles.files import validate_tenant_files

    environment = environment or os.environ.get("AGENCYHUB_ENVIRONMENT", "demo")
    problems = validate_tenant_files(list(files), environment=environment)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{len(files)} file(s) valid")


@tenants.command("apply")
@_FILES
@click.option(
    "--prune",
    is_flag=True,
    help="Also remove what the files no longer name in their agencies: memberships, "
    "editor assignments, pending invitations; clients are archived. Prints the "
    "removals first.",
)
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
def tenants_apply(files: tuple[Path, ...], prune: bool, dry_run: bool) -> None:
    """Create or update what FILES describe, in one transaction; idempotent."""
    settings = load_settings()
    configure_logging(settings)
    _apply_tenant_files(settings, list(files), prune=prune, dry_run=dry_run)


def _apply_tenant_files(
    settings: Settings, files: list[Path], *, prune: bool = False, dry_run: bool = False
) -> None:
    from agencyhub.db import Database
    from agencyhub.tenancy.secrets import Passwords
    from agencyhub.tenantfiles.files import (
        TenantFileInvalid,
        apply_tenant_specs,
        load_tenant_files,
    )

    async def run(specs: list[TenantSpec], *, dry: bool) -> ApplyReport:
        database = Database.from_settings(settings)
        try:
            return await apply_tenant_specs(
                database, Passwords(settings), settings, specs, prune=prune, dry_run=dry
            )
        finally:
            await database.dispose()

    async def apply() -> None:
        specs = load_tenant_files(files, environment=settings.environment)
        if prune and not dry_run:
            # Deleting is not undone by the next apply: say what goes before it goes.
            plan = await run(specs, dry=True)
            if plan.removals:
                click.echo(
                    f"--prune removes {len(plan.removals)} thing(s) the files no longer name:"
                )
                for removal in plan.removals:
                    click.echo(f"  {removal}")
        report = await run(specs, dry=dry_run)
        _print_report(report)

    try:
        asyncio.run(apply())
    except TenantFileInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1) from exc


def _print_report(report: ApplyReport) -> None:
    verb = "would make" if report.dry_run else "applied:"
    if not report.changed:
        state = "would change nothing" if report.dry_run else "applied: no changes"
        click.echo(f"tenant files {state} (already up to date)")
        return
    click.echo(f"tenant files {verb} {len(report.changes)} change(s)")
    for change in report.changes:
        click.echo(f"  {change}")
    for email, url in report.invitations:
        click.echo(f"  invitation for {email}: {url}")
    if report.dry_run:
        click.echo("dry run: nothing was changed")


@tenants.command("export")
@click.argument("agency")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write."
)
def tenants_export(agency: str, output: Path | None) -> None:
    """Write AGENCY (its slug) as a tenant file (no passwords)."""
    from agencyhub.db import Database
    from agencyhub.errors import NotFound
    from agencyhub.tenantfiles.files import export_agency

    settings = load_settings()

    async def export() -> str:
        database = Database.from_settings(settings)
        try:
            return await export_agency(database, agency)
        finally:
            await database.dispose()

    try:
        text = asyncio.run(export())
    except NotFound as exc:
        raise click.ClickException(exc.detail) from exc
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
