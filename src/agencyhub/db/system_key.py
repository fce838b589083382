"""The system scope's token: what lets a transaction see every tenant on PostgreSQL.

Row-level security trusts ``app.system`` only when its SHA-256 matches the digest in
``app_system_key``, a table the application role cannot read, compared by a
``SECURITY DEFINER`` function (migration 0013). The token itself is an HMAC of
``AGENCYHUB_SECRET_KEY`` and never enters the database, so SQL alone (an injection
running as the application role) cannot claim the system scope. ``agencyhub db
upgrade`` records the digest for the secret key it runs with; web processes and
workers must run with the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import weakref

from sqlalchemy.engine import Connection, Dialect, Engine

from agencyhub.config import DEMO_SECRET_KEY

SYSTEM_KEY_TABLE = "app_system_key"
_PURPOSE = b"agencyhub/rls/system-scope/v1"
# Keyed by the engine's dialect: engines made with execution options share it, and it
# outlives ``dispose()``.
_TOKENS: weakref.WeakKeyDictionary[Dialect, str] = weakref.WeakKeyDictionary()


def system_token(secret_key: str) -> str:
    return hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def token_digest(token: str) -> str:
    """What ``app_system_key`` stores: the database never holds the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def use_token(engine: Engine, token: str) -> None:
    _TOKENS[engine.dialect] = token


def token_of(connection: Connection) -> str:
    """The engine's token; an engine made without settings uses the demo key's, which
    a production database never accepts."""
    return _TOKENS.get(connection.dialect) or system_token(DEMO_SECRET_KEY)
