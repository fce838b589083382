"""``create_app(settings) -> Litestar``: wiring only."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    SwaggerRenderPlugin,
)

from agencyhub.approvals.api import ClientDraftsController, DraftController, InboundController
from agencyhub.approvals.queue_api import QueueController
from agencyhub.audit.api import EventController
from agencyhub.config import Settings
from agencyhub.contract import serve_contract
from agencyhub.db import Database
from agencyhub.errors import EXCEPTION_HANDLERS
from agencyhub.escalation.api import (
    CalendarFeedController,
    CrisisController,
    EmergencyPlanController,
    NotificationController,
    RotaChangeController,
    RotaController,
    SlaPolicyController,
    TemplateController,
)
from agencyhub.health import HealthController
from agencyhub.live import LivePlugin
from agencyhub.logging import configure_logging
from agencyhub.publishing.api import ChannelController
from agencyhub.tasks import RunningWorker, setup_broker, start_worker
from agencyhub.tenancy.api import (
    AgencyController,
    AuthController,
    ClientController,
    InvitationController,
    MembershipController,
    provide_actor,
)
from agencyhub.tenancy.secrets import Passwords
from agencyhub.web import (
    Runtime,
    provide_passwords,
    provide_session,
    provide_settings,
    refuse_nul_characters,
    request_logging_middleware,
    security_headers_middleware,
)
from agencyhub.webapp import WebAppController, web_app_dir

API_VERSION = "0.1.0"
EMBEDDED_WORKER_THREADS = 2


log = structlog.get_logger(__name__)


def start_background_work(settings: Settings) -> RunningWorker | None:
    """Bind the actors to the broker; with no Redis (the embedded demo) also run a
    worker with the in-memory broker inside this process.

    Tests (environment "test") start the workers they need themselves.
    """
    broker = setup_broker(settings)
    if settings.redis_url or settings.environment == "test":
        return None  # `agencyhub worker` processes consume; the web only sends
    return start_worker(broker, threads=EMBEDDED_WORKER_THREADS)


def freeze_startup_objects() -> None:
    """Move everything built at start-up (modules, the app, SQLAlchemy's mappers) out of
    the garbage collector's reach: full collections then scan only what requests
    create, instead of pausing every connection of the process for each collection."""
    gc.collect()
    gc.freeze()


def api_docs_plugins(settings: Settings) -> list[OpenAPIRenderPlugin]:
    """The document as JSON always; the Swagger UI page only where the docs are enabled
    (by default not in production), with its scripts from the web app's build."""
    swagger = swagger_ui_assets(settings) if settings.api_docs_enabled else None
    if swagger is None:
        return [JsonRenderPlugin()]
    return [
        SwaggerRenderPlugin(
            js_url=f"{swagger}/swagger-ui-bundle.js",
            css_url=f"{swagger}/swagger-ui.css",
            standalone_preset_js_url=f"{swagger}/swagger-ui-standalone-preset.js",
            path=["/", "/swagger"],
            favicon="<link rel='icon' type='image/svg+xml' href='/favicon.svg'>",
        ),
        JsonRenderPlugin(),
    ]


def swagger_ui_assets(settings: Settings) -> str | None:
    """The URL folder of the Swagger UI files ``make web`` copies into the build (from
    the locked ``swagger-ui-dist``); ``None`` without a build, so no page would load
    anything from elsewhere."""
    found = sorted((web_app_dir(settings) / "assets").glob("swagger-ui-*/swagger-ui-bundle.js"))
    if not found:
        log.warning("api_docs.no_swagger_ui", hint="run `make web` to build the web app")
        return None
    return f"/assets/{found[-1].parent.name}"


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    runtime = Runtime(
        settings=settings, db=Database.from_settings(settings), passwords=Passwords(settings)
    )

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        worker = start_background_work(settings)
        if settings.environment != "test":  # tests build many apps in one process
            freeze_startup_objects()
        try:
            yield
        finally:
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            await runtime.db.dispose()

    app = Litestar(
        route_handlers=[
            HealthController,
            AuthController,
            AgencyController,
            ClientController,
            MembershipController,
            InvitationController,
            ChannelController,
            ClientDraftsController,
            DraftController,
            InboundController,
            EventController,
            QueueController,
            SlaPolicyController,
            RotaController,
            RotaChangeController,
            CalendarFeedController,
            TemplateController,
            EmergencyPlanController,
            NotificationController,
            CrisisController,
            WebAppController,  # last: the shell answers every path nothing else claims
        ],
        dependencies={
            "session": Provide(provide_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "passwords": Provide(provide_passwords, sync_to_thread=False),
            "actor": Provide(provide_actor),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[request_logging_middleware, security_headers_middleware(settings)],
        before_request=refuse_nul_characters,
        lifespan=[lifespan],
        plugins=[LivePlugin(settings, runtime.db)],
        state=State({"runtime": runtime}),
        request_max_body_size=settings.max_request_body_bytes,
        openapi_config=OpenAPIConfig(
            title="AgencyHub API",
            version=API_VERSION,
            path="/schema",
            render_plugins=api_docs_plugins(settings),
        ),
        debug=False,
    )
    serve_contract(app)
    return app
