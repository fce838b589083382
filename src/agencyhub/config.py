"""Settings, read once from ``AGENCYHUB_*`` environment variables.

Every setting has a documented default that makes the embedded demo work with no
configuration; production overrides them (see README "Configuration").
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Environment = Literal["demo", "test", "production"]
LogFormat = Literal["console", "json"]

DEMO_SECRET_KEY = "demo-insecure-secret-key-change-me"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """All runtime configuration. Build with :meth:`from_env` or directly in tests."""

    environment: Environment = "demo"
    database_url: str = "sqlite+aiosqlite:///./var/agencyhub.db"
    # Migrations run as the schema owner; the app connects as a role without BYPASSRLS.
    migration_database_url: str = ""
    redis_url: str = ""
    # The Redis key prefix of the background queues: deployments (or test runs) that
    # share one Redis keep their messages apart.
    broker_namespace: str = "dramatiq"
    secret_key: str = DEMO_SECRET_KEY
    base_url: str = "http://127.0.0.1:8000"
    log_format: LogFormat = "console"
    log_level: str = "INFO"
    session_max_age_seconds: int = 12 * 3600
    invitation_ttl_hours: int = 72
    api_token_default_ttl_days: int = 90
    # The sign-in throttle (tenancy.rules): free password checks per account and
    # address, and per address across accounts, then doubling delays up to the maximum.
    login_free_attempts_per_account: int = 5
    login_free_attempts_per_address: int = 20
    login_max_delay_seconds: int = 900
    login_forget_after_seconds: int = 86_400
    # Password hashing runs in worker threads, this many at once (0: cores - 1, min 1);
    # beyond this many waiting, a sign-in answers 503 at once.
    password_check_workers: int = 0
    password_check_queue: int = 16
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    max_request_body_bytes: int = 1_048_576
    trusted_proxy_count: int = 0
    database_pool_size: int = 10
    # The live relay looks for new events this often even when nobody pokes it.
    live_poll_ms: int = 500
    # The interactive API docs under /schema: "auto" (on, except in production), "on",
    # "off". /schema/openapi.json is served either way.
    api_docs: str = "auto"
    # The built web app (``frontend/dist``); empty: the checkout's own build.
    web_app_dir: str = ""
    # Where e-mail goes until the mail feature lands: one .eml file per message.
    # Empty: ./var/outbox outside production; in production, no e-mail is written.
    outbox_dir: str = ""

    @property
    def effective_migration_url(self) -> str:
        return self.migration_database_url or self.database_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def api_docs_enabled(self) -> bool:
        return self.api_docs == "on" or (
            self.api_docs == "auto" and self.environment != "production"
        )

    @property
    def effective_outbox_dir(self) -> Path | None:
        if self.outbox_dir:
            return Path(self.outbox_dir)
        return None if self.environment == "production" else Path("var/outbox")

    @property
    def secure_cookies(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        for spec in dataclasses.fields(cls):
            raw = source.get(f"AGENCYHUB_{spec.name.upper()}")
            if raw is not None:
                values[spec.name] = _coerce(spec.name, spec.type, raw)
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.environment not in ("demo", "test", "production"):
            raise SettingsError("AGENCYHUB_ENVIRONMENT must be demo, test or production")
        if self.api_docs not in ("auto", "on", "off"):
            raise SettingsError("AGENCYHUB_API_DOCS must be auto, on or off")
        if self.log_format not in ("console", "json"):
            raise SettingsError("AGENCYHUB_LOG_FORMAT must be console or json")
        if self.environment == "production":
            if self.secret_key == DEMO_SECRET_KEY or len(self.secret_key) < 32:
                raise SettingsError(
                    "AGENCYHUB_SECRET_KEY must be set to a random value of 32+ characters "
                    "in production"
                )
            if self.is_sqlite:
                raise SettingsError("AGENCYHUB_DATABASE_URL must point to PostgreSQL in production")

    def with_data_dir(self, data_dir: Path) -> Settings:
        """The demo's settings: a SQLite file inside ``data_dir``."""
        url = f"sqlite+aiosqlite:///{(data_dir / 'agencyhub.db').resolve()}"
        outbox = self.outbox_dir or str((data_dir / "outbox").resolve())
        return dataclasses.replace(
            self, database_url=url, migration_database_url="", outbox_dir=outbox
        )


def _coerce(name: str, annotation: object, raw: str) -> object:
    if annotation in ("int", int):
        try:
            return int(raw)
        except ValueError as exc:
            raise SettingsError(f"AGENCYHUB_{name.upper()} must be a whole number") from exc
    return raw
