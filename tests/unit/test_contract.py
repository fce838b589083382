"""The OpenAPI document as a contract (issue #13, item 13), read from the app itself."""

from __future__ import annotations

from typing import Any

import pytest

from agencyhub.app import create_app
from agencyhub.config import Settings

WRITES = ("post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(environment="test")).openapi_schema.to_schema()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_security_schemes_name_the_cookie_the_csrf_header_and_the_bearer_token(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"] == {
        "type": "apiKey",
        "name": "agencyhub_session",
        "in": "cookie",
        "description": schemes["session"]["description"],
    }
    assert schemes["csrf"]["in"] == "header"
    assert schemes["bearer"]["scheme"] == "bearer"


def test_every_signed_in_operation_names_its_token_scope(document):
    seen = set()
    for path, method, operation in operations(document):
        security = operation.get("security")
        assert security is not None, (method, path)
        if not security:
            continue  # public: sign-in, invitation links, health, calendar feeds
        cookie = security[0]
        assert ("csrf" in cookie) is (method in WRITES), (method, path)
        bearer = [s["bearer"] for s in security if "bearer" in s]
        if path == "/api/v1/tokens" and method == "post":
            assert bearer == []  # a token never creates tokens
            continue
        assert len(bearer) == 1, (method, path)
        seen.update(bearer[0])
        if method == "get":
            assert bearer[0] == ["read"]
        elif path.endswith("/decisions"):
            assert bearer[0] == ["decide"]
        else:
            assert bearer[0] == ["manage"]
    assert seen == {"read", "decide", "manage"}


def test_every_problem_is_problem_json_and_signed_in_routes_document_401_403_404(document):
    for path, method, operation in operations(document):
        responses = operation["responses"]
        for status, response in responses.items():
            if int(status) >= 400 and path != "/readyz":
                assert list(response["content"]) == ["application/problem+json"], (path, status)
        if operation["security"]:
            assert {"401", "403", "404"} <= set(responses), (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(responses), (method, path)
    login = document["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"401", "429", "503"} <= set(login)


def test_request_bodies_refuse_unknown_fields_and_the_audit_trail_has_its_csv(document):
    schemas = document["components"]["schemas"]
    for name in ("InvitationCreate", "DecisionCreate", "VerifiedDomainsUpdate"):
        if name in schemas:
            assert schemas[name]["additionalProperties"] is False, name
    events = document["paths"]["/api/v1/clients/{client_id}/events"]["get"]
    assert set(events["responses"]["200"]["content"]) == {"application/json", "text/csv"}
