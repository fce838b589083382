"""Settings come from AGENCYHUB_* variables, with safe production checks."""

from __future__ import annotations

import dataclasses

import pytest

from agencyhub.config import Settings, SettingsError
from tests.conftest import REPO_ROOT


def test_defaults_run_the_embedded_demo() -> None:
    settings = Settings.from_env({})
    assert settings.environment == "demo"
    assert settings.is_sqlite
    assert not settings.secure_cookies
    assert settings.effective_migration_url == settings.database_url


def test_variables_override_and_are_typed() -> None:
    settings = Settings.from_env(
        {
            "AGENCYHUB_LOGIN_FREE_ATTEMPTS_PER_ACCOUNT": "3",
            "AGENCYHUB_REDIS_URL": "redis://127.0.0.1:6379/0",
            "AGENCYHUB_MIGRATION_DATABASE_URL": "sqlite+aiosqlite:///owner.db",
        }
    )
    assert settings.login_free_attempts_per_account == 3
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.effective_migration_url == "sqlite+aiosqlite:///owner.db"


def test_a_malformed_number_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="AGENCYHUB_SESSION_MAX_AGE_SECONDS"):
        Settings.from_env({"AGENCYHUB_SESSION_MAX_AGE_SECONDS": "twelve hours"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGENCYHUB_ENVIRONMENT": "production"}, "AGENCYHUB_SECRET_KEY"),
        (
            {"AGENCYHUB_ENVIRONMENT": "production", "AGENCYHUB_SECRET_KEY": "x" * 40},
            "PostgreSQL",
        ),
        ({"AGENCYHUB_ENVIRONMENT": "staging"}, "AGENCYHUB_ENVIRONMENT"),
        ({"AGENCYHUB_LOG_FORMAT": "xml"}, "AGENCYHUB_LOG_FORMAT"),
    ],
)
def test_unsafe_or_unknown_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_production_with_postgres_and_a_secret_is_accepted() -> None:
    settings = Settings.from_env(
        {
            "AGENCYHUB_ENVIRONMENT": "production",
            "AGENCYHUB_SECRET_KEY": "s" * 48,
            "AGENCYHUB_DATABASE_URL": "postgresql+asyncpg://agencyhub_app@db/agencyhub",
        }
    )
    assert settings.secure_cookies


def test_the_readme_lists_every_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"AGENCYHUB_{f.name.upper()}"
        for f in dataclasses.fields(Settings)
        if f"`AGENCYHUB_{f.name.upper()}`" not in readme
    ]
    assert missing == []


def test_the_demo_links_follow_agencyhub_base_url_when_it_is_set() -> None:
    """Issue #14, item 13: invitation links pointed at the demo's own port even behind a
    proxy named in AGENCYHUB_BASE_URL."""
    from agencyhub.cli import demo_base_url

    assert demo_base_url("127.0.0.1", 8123, {}) == "http://127.0.0.1:8123"
    proxied = {"AGENCYHUB_BASE_URL": "https://hub.example"}
    assert demo_base_url("127.0.0.1", 8123, proxied) == "https://hub.example"
