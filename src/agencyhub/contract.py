"""The OpenAPI document as a contract (issue #13, item 13).

Litestar documents each route's success answer from its signature. This completes the
document from what the app really does, in one place rather than on ~80 decorators:

* security schemes: the session cookie (plus the CSRF header on writes) and the
  bearer token with its scopes (``read``, ``decide``, ``manage``; tenancy.rules);
* every problem status a route can answer, each as ``application/problem+json`` with
  one ``Problem`` schema (agencyhub.errors), derived from the route: who may call it,
  what it takes (path ids, query, body) and its extra statuses (``opt["problems"]``);
* ``additionalProperties: false`` on request bodies, which refuse unknown fields
  (``schemas.Camel``'s ``forbid_unknown_fields``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    PathItem,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.routes import HTTPRoute

from agencyhub.errors import PROBLEM_JSON
from agencyhub.tenancy import rules

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION, CSRF, BEARER = "session", "csrf", "bearer"

PROBLEM_DESCRIPTIONS = {
    400: "The body is not valid JSON.",
    401: "Not signed in: no or an unknown session cookie or bearer token.",
    402: "The agency's plan does not include this.",
    403: "Signed in, but not allowed: the role, the token's scopes or a missing CSRF token.",
    404: "No such object, or it belongs to another tenant (the answer is the same).",
    409: "The object changed meanwhile or the change conflicts with its state.",
    410: "The link was used, revoked or has expired.",
    413: "The request body is larger than the server accepts.",
    422: "A field breaks a rule; `errors` names each field.",
    429: "Too many attempts: wait the `Retry-After` seconds.",
    503: "Busy: try again after the `Retry-After` seconds.",
}

PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details.",
    required=["type", "title", "status"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "instance": Schema(type=OpenAPIType.STRING),
        "requestId": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "message"],
                properties={
                    "field": Schema(type=OpenAPIType.STRING),
                    "message": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
)

SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    SESSION: SecurityScheme(
        type="apiKey",
        name="agencyhub_session",
        security_scheme_in="cookie",
        description="The browser's session, from POST /api/v1/auth/login.",
    ),
    CSRF: SecurityScheme(
        type="apiKey",
        name="X-CSRF-Token",
        security_scheme_in="header",
        description="With the session cookie on every write: the csrfToken of the sign-in.",
    ),
    BEARER: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="aht_…",
        description=(
            "A personal API token (POST /api/v1/tokens). Its scopes, listed per operation:"
            " read (every GET), decide (the decision routes), manage (every other write);"
            " no token creates tokens."
        ),
    ),
}


class _ContractOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, completing the document when it is first built."""

    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        document = super()._build_openapi()
        complete_contract(document, self.app)
        return document


def serve_contract(app: Litestar) -> None:
    """Serve the completed document. It is built on first use, not at start-up (it costs
    ~0.2 s), so the app's own plugin instance takes the subclass's behaviour."""
    app.plugins.get(OpenAPIPlugin).__class__ = _ContractOpenAPIPlugin


def complete_contract(document: OpenAPI, app: Litestar) -> None:
    components = document.components
    if isinstance(components, list):  # Litestar allows a list; the app makes one object
        components = components[0]
    assert isinstance(components, Components)
    components.schemas = {**(components.schemas or {}), "Problem": PROBLEM}
    components.security_schemes = dict(SECURITY_SCHEMES)
    handlers = dict(_handlers(app))
    for path, method, operation in _operations(document):
        handler = handlers.get((path, method))
        if handler is None:
            continue
        _document(operation, handler, method)
    _close_request_bodies(document, components.schemas)


def _handlers(app: Litestar) -> Iterator[tuple[tuple[str, str], HTTPRouteHandler]]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                yield (route.path_format, method.upper()), handler


def _operations(document: OpenAPI) -> Iterator[tuple[str, str, Operation]]:
    for path, item in (document.paths or {}).items():
        assert isinstance(item, PathItem)
        for method in ("get", "put", "post", "delete", "patch", "head", "options"):
            operation = getattr(item, method)
            if isinstance(operation, Operation):
                yield path, method.upper(), operation


def is_public(handler: HTTPRouteHandler) -> bool:
    """A route that does not ask who is calling (sign-in, invitation links, health); a
    route that checks the caller itself says so with ``opt["signed_in"]``."""
    if handler.opt.get("signed_in"):
        return False
    return "actor" not in handler.parsed_fn_signature.parameters


def _document(operation: Operation, handler: HTTPRouteHandler, method: str) -> None:
    public = is_public(handler)
    operation.security = [] if public else _security(handler, method)
    statuses = set(_problem_statuses(operation, handler, method, public))
    responses = dict(operation.responses or {})
    responses.pop("400", None)  # Litestar's own, replaced below when a route has a body
    for status in sorted(statuses):
        if str(status) in responses:
            continue  # the route documents its own answer (e.g. /readyz's 503)
        responses[str(status)] = OpenAPIResponse(
            description=PROBLEM_DESCRIPTIONS[status],
            content={
                PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))
            },
        )
    if handler.opt.get("csv_variant") and "200" in responses:
        success = responses["200"]
        assert isinstance(success, OpenAPIResponse)
        success.content = {
            **(success.content or {}),
            "text/csv": OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description="RFC 4180 CSV, UTF-8.")
            ),
        }
    operation.responses = responses


def _security(handler: HTTPRouteHandler, method: str) -> list[dict[str, list[str]]]:
    needed = rules.scope_needed(method, handler.opt.get("token_scope"))
    cookie: dict[str, list[str]] = {SESSION: []}
    if method not in SAFE_METHODS:
        cookie[CSRF] = []
    if needed == rules.NEVER_BY_TOKEN:
        return [cookie]
    return [cookie, {BEARER: [needed]}]


def _problem_statuses(
    operation: Operation, handler: HTTPRouteHandler, method: str, public: bool
) -> Iterable[int]:
    parameters = operation.parameters or []
    has_path = any(getattr(p, "param_in", None) == "path" for p in parameters)
    has_query = any(getattr(p, "param_in", None) == "query" for p in parameters)
    has_body = operation.request_body is not None
    if not public:
        yield from (401, 403, 404)
    elif has_path:
        yield 404
    if has_body:
        yield from (400, 413, 422)
    elif has_query or has_path:
        yield 422
    if method not in SAFE_METHODS and not public:
        yield 409
    yield from handler.opt.get("problems", ())


def _close_request_bodies(document: OpenAPI, schemas: dict[str, Any]) -> None:
    """``additionalProperties: false`` on every schema a request body reaches."""
    seen: set[str] = set()
    pending = [
        media.schema
        for _path, _method, operation in _operations(document)
        if operation.request_body is not None and not isinstance(operation.request_body, Reference)
        for media in (operation.request_body.content or {}).values()
    ]
    while pending:
        node = pending.pop()
        if isinstance(node, Reference):
            name = node.ref.rsplit("/", 1)[-1]
            if name in seen or name not in schemas:
                continue
            seen.add(name)
            node = schemas[name]
        if not isinstance(node, Schema):
            continue
        if node.type == OpenAPIType.OBJECT and node.properties is not None:
            node.additional_properties = False
        pending.extend((node.properties or {}).values())
        pending.extend(node.one_of or [])
        pending.extend(node.any_of or [])
        pending.extend(node.all_of or [])
        if node.items is not None:
            pending.append(node.items)
