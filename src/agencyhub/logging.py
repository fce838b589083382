"""structlog setup: JSON lines in production, a readable console in the demo.

Secrets never reach a log line. First, nothing secret is passed to a log call, and
tracebacks are rendered without the stack frames' local variables (a frame's locals
hold request bodies, cookies, tokens). Second, a processor redacts, at every depth of
the event, any value under a key that looks like a secret and any string that looks
like one of our tokens or a bearer credential.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
import structlog.tracebacks

from agencyhub.config import Settings

SECRET_KEYS = frozenset(
    {"password", "token", "secret", "cookie", "authorization", "csrf", "set-cookie", "api_key"}
)


REDACTED = "[redacted]"
# Session, API, invitation and calendar tokens, and any bearer credential.
_SECRET_TEXT = re.compile(r"\bah[stic]_[A-Za-z0-9_\-]{8,}|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]+")
_MAX_DEPTH = 12


def is_secret_key(key: object) -> bool:
    lowered = str(key).lower()
    return any(secret in lowered for secret in SECRET_KEYS)


def redact(value: Any, depth: int = 0) -> Any:
    """The value with every secret-looking entry replaced, however deep it sits."""
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return _SECRET_TEXT.sub(REDACTED, value)
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_key(key) else redact(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, depth + 1) for item in value]
    return value


def drop_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    redacted: dict[str, Any] = redact(event_dict)
    return redacted


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now, so redirections made later still work."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _traceback_without_locals() -> structlog.tracebacks.ExceptionDictTransformer:
    return structlog.tracebacks.ExceptionDictTransformer(show_locals=False)


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if settings.log_format == "json":
        # The traceback becomes data first, so the redaction below reaches into it.
        shared.append(structlog.processors.ExceptionRenderer(_traceback_without_locals()))
        shared.append(drop_secrets)
        renderer = structlog.processors.JSONRenderer()
    else:
        # A plain traceback (no locals) as text, redacted like everything else.
        shared.append(structlog.processors.format_exc_info)
        shared.append(drop_secrets)
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    # Libraries log through stdlib; keep them quiet unless something is wrong.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
    for noisy in ("uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
