"""The endpoint table: routing, authentication and the OpenAPI document all read it."""

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path

from api import schemas as s
from api.auth import require_token
from api.responses import (
    AuditEnvelope,
    Envelope,
    KeysEnvelope,
    PaymentsEnvelope,
    PlansEnvelope,
    ReadyEnvelope,
    UserEnvelope,
)
from api.views import audit, billing, docs, key_changes, keys, service, users

INT = "[0-9]+"
# Errors of every call that reaches a VPN server.
SERVER_ERRORS = (400, 401, 404, 409, 502, 504)


@dataclass(frozen=True)
class Endpoint:
    """One method on one path, with what it reads and answers."""

    method: str
    path: str  # aiohttp syntax, with the trailing slash
    handler: Handler
    summary: str
    tag: str
    response: type[BaseModel] | None = Envelope
    status: int = 200
    body: type[BaseModel] | None = None
    params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = (400, 401)
    auth: bool = True
    media_type: str = "application/json"
    # The error statuses answer with ``response`` itself rather than the error envelope.
    status_on_error: bool = False
    # OpenAPI links from the success response: name -> (operationId, parameter expressions).
    links: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)

    @property
    def openapi_path(self) -> str:
        """The path with ``{name}`` placeholders (regexes dropped)."""
        return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", self.path)


VPN_TOKEN = "/api/vpn_token"
NEW_KEY = "$response.body#/vpn_keys/0"
KEY_LINKS = {
    "ChangeKey": ("patch_key", {"id": f"{NEW_KEY}/id", "srv_name": f"{NEW_KEY}/server"}),
    "DeleteKey": ("delete_key", {"id": f"{NEW_KEY}/id", "srv_name": f"{NEW_KEY}/server"}),
    "RefreshKey": ("post_refresh", {"token_id": f"{NEW_KEY}/id", "srv_name": f"{NEW_KEY}/server"}),
}
USER_LINKS = {"GetUser": ("get_user", {"tg_id": "$response.body#/user/id"})}
TG_ID, TOKEN_ID, ID = f"{{tg_id:{INT}}}", f"{{token_id:{INT}}}", f"{{id:{INT}}}"
ENDPOINTS = [
    Endpoint(
        "POST", "/api/user/", users.post_user, "Create or update a user", "users",
        response=UserEnvelope, body=s.UserBody, links=USER_LINKS,
    ),
    Endpoint(
        "GET", f"/api/user/{TG_ID}/", users.get_user, "Get a user", "users",
        response=UserEnvelope, params=s.UserPath, errors=(400, 401, 404),
    ),
    Endpoint(
        "GET", f"/api/user/{TG_ID}/vpn_keys/{{srv_name}}/", users.get_user_keys,
        "List a user's live keys on a server", "users",
        response=KeysEnvelope, params=s.UserServerPath, errors=(400, 401, 404),
    ),
    Endpoint(
        "POST", f"{VPN_TOKEN}/{ID}/{{srv_name}}/", keys.post_demo_key,
        "Issue the user's one demo key (`create_demo_token`); `id` is the Telegram user id",
        "keys", response=KeysEnvelope, status=201, body=s.CreateDemo, params=s.DemoPath,
        errors=SERVER_ERRORS, links=KEY_LINKS,
    ),
    Endpoint(
        "POST", f"{VPN_TOKEN}/{TOKEN_ID}/refresh/{{srv_name}}/", keys.post_refresh,
        "Replace a leaked key by a new one (`refresh_token`)", "keys",
        response=KeysEnvelope, status=201, body=s.Refresh, params=s.RefreshPath,
        errors=SERVER_ERRORS, links=KEY_LINKS,
    ),
    Endpoint(
        "POST", f"{VPN_TOKEN}/{{srv_name}}/", keys.post_key,
        "Create a new key (`create_new_token`)", "keys",
        response=KeysEnvelope, status=201, body=s.CreateKey, params=s.ServerPath,
        errors=SERVER_ERRORS, links=KEY_LINKS,
    ),
    Endpoint(
        "PATCH", f"{VPN_TOKEN}/{TOKEN_ID}/user/{TG_ID}/{{srv_name}}/", keys.patch_key_owner,
        "Bind a key to a user (`add_user_to_token`)", "keys",
        response=KeysEnvelope, body=s.Bind, params=s.BindPath, errors=(400, 401, 404, 409),
    ),
    Endpoint(
        "PATCH", f"{VPN_TOKEN}/{ID}/{{srv_name}}/", key_changes.patch_key,
        "Change a key (`token_valid_date`, `token_is_active`, `token_name`, "
        "`token_traffic_limit`, `token_server`, `token_traffic_reset`); `id` is the key id",
        "keys",
        response=KeysEnvelope, body=s.KeyChange, params=s.KeyPath, errors=SERVER_ERRORS,
    ),
    Endpoint(
        "DELETE", f"{VPN_TOKEN}/{ID}/{{srv_name}}/", key_changes.delete_key,
        "Delete a key (kept as history); `id` is the key id", "keys",
        params=s.KeyPath, errors=SERVER_ERRORS,
    ),
    Endpoint(
        "GET", "/api/audit/", audit.get_audit,
        "Read the audit log, newest first (filters and `before`/`limit` paging)", "audit",
        response=AuditEnvelope, query=s.AuditQuery,
    ),
    Endpoint(
        "GET", "/api/plans/", billing.get_plans, "List the plans (on sale and retired)",
        "billing", response=PlansEnvelope,
    ),
    Endpoint(
        "GET", f"/api/user/{TG_ID}/payments/", billing.get_user_payments,
        "List a user's Telegram Stars payments", "billing",
        response=PaymentsEnvelope, params=s.UserPath, errors=(400, 401, 404),
    ),
    Endpoint(
        "POST", f"/api/payment/{{payment_id:{INT}}}/refund/", billing.post_refund,
        "Refund a payment (`refund_payment`) and take back the time it bought", "billing",
        response=PaymentsEnvelope, body=s.RefundBody, params=s.PaymentPath,
        errors=(400, 401, 404, 409),
    ),
    Endpoint("GET", "/healthz", service.get_health, "Liveness", "service", errors=(), auth=False),
    Endpoint(
        "GET", "/readyz", service.get_ready,
        "Readiness: the database and at least one active VPN server answer", "service",
        response=ReadyEnvelope, errors=(503,), auth=False, status_on_error=True,
    ),
    Endpoint(
        "GET", "/metrics", service.get_metrics, "Prometheus metrics", "service",
        response=None, errors=(), auth=False, media_type="text/plain",
    ),
    Endpoint(
        "GET", "/api/openapi.json", docs.get_openapi, "This OpenAPI document", "service",
        response=None, errors=(), auth=False,
    ),
    Endpoint(
        "GET", "/api/docs/", docs.get_docs, "Swagger UI for this API", "service",
        response=None, errors=(), auth=False, media_type="text/html",
    ),
]  # fmt: skip


def setup_routes(app: web.Application) -> None:
    """Register every endpoint with and without its trailing slash, plus the Swagger UI assets."""
    by_path: dict[str, list[Endpoint]] = defaultdict(list)
    for endpoint in ENDPOINTS:
        by_path[endpoint.path].append(endpoint)
    for path, endpoints in by_path.items():
        variants = [path, path.rstrip("/")] if path.endswith("/") else [path]
        for variant in variants:
            resource = app.router.add_resource(variant)
            for endpoint in endpoints:
                handler = require_token(endpoint.handler) if endpoint.auth else endpoint.handler
                resource.add_route(endpoint.method, handler)
    app.router.add_static(docs.STATIC, swagger_ui_path)
