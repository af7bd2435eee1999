"""The OpenAPI 3.1 document, generated from the endpoint table and its pydantic models."""

import functools
from importlib import metadata
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.responses import ErrorEnvelope
from api.routes import ENDPOINTS, Endpoint

REF = "#/components/schemas/{model}"
ERRORS = {
    400: "Malformed JSON, missing or unknown `command`, wrong types or out-of-range values",
    401: "Missing, unknown or revoked API token",
    404: "Unknown user, server or key, or a key that is not on the named server",
    409: "Demo already issued, key bound to another user, key deleted, server disabled, "
    "payment refunded already, or refunds asked for without the bot (no `BOT_TOKEN`)",
    502: "The VPN server failed; nothing was changed",
    503: "Not ready: the database or every active VPN server is unavailable",
    504: "The VPN server did not answer in time; nothing was changed",
}
RAW_SCHEMAS = {"text/plain": {"type": "string"}, "text/html": {"type": "string"}}
SECURITY = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from `python main.py token create NAME`. "
        "`Authorization: Token <token>` is accepted too.",
    }
}


def _version() -> str:
    try:
        return metadata.version("vpnkeys")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _parameters(model: type[BaseModel], where: str = "path") -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", ())) if where == "query" else set(schema["properties"])
    parameters = []
    for name, prop in schema["properties"].items():
        prop = _optional(prop) if where == "query" else prop
        parameters.append(
            {
                "name": name,
                "in": where,
                "required": name in required,
                "description": prop.pop("description", name),
                "schema": prop,
            }
        )
    return parameters


def _optional(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without the `null` an optional model field allows."""
    options = [o for o in prop.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) == 1 and "anyOf" in prop:
        rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
        return {**options[0], **rest}
    return {k: v for k, v in prop.items() if not (k == "default" and v is None)}


def _content(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {media_type: {"schema": schema}}


def _operation(endpoint: Endpoint, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if endpoint.response is not None:
        schema = refs[(endpoint.response, "serialization")]
    else:
        schema = RAW_SCHEMAS.get(endpoint.media_type, {"type": "object"})
    success: dict[str, Any] = {
        "description": "Success",
        "content": _content(endpoint.media_type, schema),
    }
    if endpoint.links:
        success["links"] = {
            name: {"operationId": operation, "parameters": dict(parameters)}
            for name, (operation, parameters) in endpoint.links.items()
        }
    responses: dict[str, Any] = {str(endpoint.status): success}
    error_model = endpoint.response if endpoint.status_on_error else ErrorEnvelope
    for code in endpoint.errors:
        error_schema = refs[(error_model, "serialization")]
        responses[str(code)] = {
            "description": ERRORS[code],
            "content": _content("application/json", error_schema),
        }
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "security": [{"bearer": []}] if endpoint.auth else [],
        "responses": responses,
    }
    parameters = []
    if endpoint.params is not None:
        parameters += _parameters(endpoint.params)
    if endpoint.query is not None:
        parameters += _parameters(endpoint.query, "query")
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        body_schema = refs[(endpoint.body, "validation")]
        operation["requestBody"] = {
            "required": True,
            "content": _content("application/json", body_schema),
        }
    return operation


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once; the table and models do not change at run time)."""
    models: set[tuple[type[BaseModel], JsonSchemaMode]] = {(ErrorEnvelope, "serialization")}
    for endpoint in ENDPOINTS:
        if endpoint.response is not None:
            models.add((endpoint.response, "serialization"))
        if endpoint.body is not None:
            models.add((endpoint.body, "validation"))
    refs, definitions = models_json_schema(
        sorted(models, key=lambda item: item[0].__name__), ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        item = paths.setdefault(endpoint.openapi_path, {})
        item[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "VPN key service API",
            "version": _version(),
            "description": "Users and Outline VPN keys for billing, support and admin tools. "
            "Every response is JSON with `status` (the HTTP status) and `details`.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": SECURITY,
        },
    }
