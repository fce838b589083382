"""Domain errors and their one mapping to ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from agencyhub.headers import security_headers

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://agencyhub.example/problems/"


class DomainError(Exception):
    """Base of every error the service layer raises on purpose."""

    status_code = 400
    problem = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    status_code = 404
    problem = "not-found"
    title = "Not found"


class Unauthenticated(DomainError):
    status_code = 401
    problem = "unauthenticated"
    title = "Sign-in required"


class Forbidden(DomainError):
    status_code = 403
    problem = "forbidden"
    title = "Not allowed"


class Conflict(DomainError):
    status_code = 409
    problem = "conflict"
    title = "Conflict"


class PolicyWouldBreak(Conflict):
    """A membership change that would leave the client's approval policy impossible;
    sent again with ``force=true`` it goes ahead."""

    problem = "policy-impossible"
    title = "The approval policy could no longer be met"


class FourEyes(Conflict):
    """The four-eyes rule: the author of a revision does not approve it."""

    problem = "four-eyes"
    title = "Four-eyes rule"


class InvalidInput(DomainError):
    """A request that parsed but breaks a rule; ``field`` names the culprit."""

    status_code = 422
    problem = "validation"
    title = "Invalid input"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if field is not None:
            self.extra["errors"] = [{"field": field, "message": detail}]


class Gone(DomainError):
    status_code = 410
    problem = "gone"
    title = "No longer valid"


class TooManyRequests(DomainError):
    status_code = 429
    problem = "rate-limited"
    title = "Too many attempts"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Busy(DomainError):
    """The server has no capacity for this now; try again in ``retry_after`` seconds."""

    status_code = 503
    problem = "busy"
    title = "Busy"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LimitReached(DomainError):
    status_code = 402
    problem = "limit-reached"
    title = "Plan limit reached"


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    problem: str,
    title: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + problem,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        body["requestId"] = request_id
    body.update(extra or {})
    # Answers no route produced (an unknown /api path) pass no middleware: they get the
    # security headers here.
    runtime = getattr(request.app.state, "runtime", None)
    production = getattr(getattr(runtime, "settings", None), "environment", "") == "production"
    all_headers = {**security_headers(request.url.path, production=production), **(headers or {})}
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=all_headers)


def handle_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    log.info("request.refused", problem=exc.problem, status=exc.status_code, detail=exc.detail)
    headers = None
    if isinstance(exc, TooManyRequests | Busy):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem_response(
        request,
        status=exc.status_code,
        problem=exc.problem,
        title=exc.title,
        detail=exc.detail,
        extra=exc.extra,
        headers=headers,
    )


def handle_validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    """Body/query validation → 422 naming the field; a malformed path id → 404."""
    errors = exc.extra if isinstance(exc.extra, list) else []
    if any(isinstance(e, dict) and e.get("source") == "path" for e in errors):
        return handle_domain_error(request, NotFound("No such resource."))
    fields = [_field_error(e) for e in errors if isinstance(e, dict)]
    if not fields:
        return handle_http_error(request, exc)
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    log.info("request.invalid", status=422, detail=detail)
    return problem_response(
        request,
        status=422,
        problem="validation",
        title="Invalid input",
        detail=detail,
        extra={"errors": fields},
    )


_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")


def _field_error(error: dict[str, Any]) -> dict[str, str]:
    """Name the missing or unknown field itself rather than the body that holds it."""
    message = str(error.get("message", ""))
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        return {"field": unknown.group(1), "message": "is not a field of this request"}
    missing = _MISSING_FIELD.search(message)
    field = missing.group(1) if missing else _camel(str(error.get("key", "")))
    return {"field": field, "message": message}


def _camel(name: str) -> str:
    """Query parameters are reported by their Python name; the wire name is camelCase."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_HTTP_PROBLEMS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Sign-in required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
}


def handle_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        return handle_unexpected_error(request, exc)
    problem, title = _HTTP_PROBLEMS.get(status, ("http-error", "Request failed"))
    detail = exc.detail or title
    if status == 400 and isinstance(exc.__cause__, SerializationException):
        detail = f"The request body is not valid JSON ({detail})."
    if status == 413:
        detail = "The request body is larger than the 1 MiB limit."
    log.info("request.refused", problem=problem, status=status, detail=detail)
    return problem_response(
        request,
        status=status,
        problem=problem,
        title=title,
        detail=detail,
        headers=dict(exc.headers or {}),
    )


def handle_unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Log the traceback server-side; the client sees only the request id."""
    log.error("request.failed", exc_info=exc)
    return problem_response(
        request,
        status=HTTP_500_INTERNAL_SERVER_ERROR,
        problem="internal",
        title="Internal error",
        detail="Something went wrong on our side. Quote the request id when reporting it.",
    )


def handle_recursion_error(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """JSON nested deeper than the decoder's stack (``[[[[…`` 100,000 deep) is the
    caller's mistake; any other recursion error is ours."""
    if "deserializ" not in str(exc):
        return handle_unexpected_error(request, exc)
    detail = "The request body is not valid JSON (nested too deeply)."
    log.info("request.refused", problem="bad-request", status=400, detail=detail)
    return problem_response(
        request, status=400, problem="bad-request", title="Bad request", detail=detail
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: handle_domain_error,
    ValidationException: handle_validation_error,
    NotAuthorizedException: handle_http_error,
    PermissionDeniedException: handle_http_error,
    NotFoundException: handle_http_error,
    HTTPException: handle_http_error,
    RecursionError: handle_recursion_error,
    Exception: handle_unexpected_error,
}

__all__ = [
    "EXCEPTION_HANDLERS",
    "PROBLEM_JSON",
    "Busy",
    "Conflict",
    "DomainError",
    "Forbidden",
    "Gone",
    "InvalidInput",
    "LimitReached",
    "NotFound",
    "TooManyRequests",
    "Unauthenticated",
]
