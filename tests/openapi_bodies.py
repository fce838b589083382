"""The smallest request that the OpenAPI document accepts, for tests that walk every route.

A body that fails the schema would be refused (400) before the handler looks anything
up, and prove nothing about isolation; so each route gets a body that passes it.
"""

from __future__ import annotations

import uuid
from typing import Any

_STRING_FORMATS = {
    "uuid": lambda: str(uuid.uuid4()),
    "date-time": lambda: "2030-01-07T09:00:00+00:00",
    "date": lambda: "2030-01-07",
    "time": lambda: "09:00",
    "email": lambda: "someone@example.com",
    "uri": lambda: "https://example.com/",
}


def minimal_instance(
    schema: dict[str, Any], components: dict[str, Any], *, longest: bool = False
) -> Any:
    """A value valid against ``schema``: required properties only, minimal sizes; with
    ``longest``, every property, and strings and numbers at their upper bound."""
    if "$ref" in schema:
        target = components[schema["$ref"].rsplit("/", 1)[-1]]
        return minimal_instance(target, components, longest=longest)
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            options = [o for o in schema[combinator] if o.get("type") != "null"]
            return minimal_instance(options[0], components, longest=longest) if options else None
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        names = list(properties) if longest else schema.get("required", [])
        return {
            name: minimal_instance(properties[name], components, longest=longest) for name in names
        }
    if kind == "array":
        item = schema.get("items", {})
        count = max(schema.get("minItems", 0), 1 if longest else 0)
        return [minimal_instance(item, components, longest=longest) for _ in range(count)]
    if kind == "string":
        if schema.get("format") in _STRING_FORMATS:
            return _STRING_FORMATS[schema["format"]]()
        if longest and "maxLength" in schema:
            return "ä" * schema["maxLength"]
        return "a" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return int(schema.get("maximum" if longest else "minimum", 1))
    if kind == "number":
        return float(schema.get("maximum" if longest else "minimum", 1))
    if kind == "boolean":
        return False
    return None


def request_body(
    operation: dict[str, Any], components: dict[str, Any], *, longest: bool = False
) -> Any:
    """The minimal JSON body of an operation, or ``None`` when it takes none."""
    body = operation.get("requestBody")
    if not body:
        return None
    schema = body["content"]["application/json"]["schema"]
    return minimal_instance(schema, components, longest=longest)


def required_query(operation: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    return {
        p["name"]: minimal_instance(p.get("schema", {}), components)
        for p in operation.get("parameters", [])
        if p.get("in") == "query" and p.get("required")
    }
