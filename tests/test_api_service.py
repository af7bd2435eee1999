"""Authentication, routing rules, OpenAPI and docs, health, readiness and metrics."""

import io
import re

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.demo import demo_ctx
from api.openapi import openapi_document
from api.routes import ENDPOINTS
from api.schemas import CreateKey, KeyChange, UserBody
from api.setup import build_app
from db.models import ApiToken
from domain.accounts import tokens, users
from domain.servers import registry
from domain.settings import Settings
from tests.api_fixtures import TOKEN_NAME, Api

USER = {"user": {"id": 7, "first_name": None, "last_name": None, "username": None}}


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer vks_unknown", "Basic dXNlcjpwYXNz", "vks_bare"]
)
async def test_a_missing_malformed_or_unknown_token_is_a_401(api: Api, header) -> None:
    data = await api.call("POST", "/api/user/", USER, auth=header, expect=401)
    assert "token" in data["details"].lower() or "authorization" in data["details"].lower()


async def test_a_token_with_bytes_that_are_not_utf8_is_a_401(api: Api) -> None:
    async with api.client.get(
        "/api/user/1/", headers={"Authorization": b"Bearer \xff\xfe".decode("latin-1")}
    ) as resp:
        assert resp.status == 401


async def test_the_django_token_scheme_is_accepted(api: Api) -> None:
    await api.call("POST", "/api/user/", USER, auth=f"Token {api.token}", expect=200)
    await api.call("GET", "/api/user/7/", auth=f"bearer {api.token}", expect=200)


async def test_a_revoked_token_is_a_401(api: Api) -> None:
    await tokens.revoke_token(TOKEN_NAME, actor="cli")
    await api.call("POST", "/api/user/", USER, expect=401)


async def test_using_a_token_records_when_it_was_last_used(api: Api) -> None:
    assert (await ApiToken.get(name=TOKEN_NAME)).last_used_at is None
    await api.call("GET", "/api/user/1/", expect=404)
    assert (await ApiToken.get(name=TOKEN_NAME)).last_used_at is not None


async def test_the_token_is_checked_before_the_body(api: Api) -> None:
    await api.call("POST", "/api/user/", raw=b"{", auth=None, expect=401)


# --- routing ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/user/7/", "/api/user/7"])
async def test_paths_work_with_and_without_the_trailing_slash(api: Api, path: str) -> None:
    await api.call("POST", "/api/user", USER, expect=200)
    await api.call("GET", path, expect=200)


async def test_every_endpoint_answers_without_its_trailing_slash(api: Api) -> None:
    await api.user(7)
    key = await api.new_key()
    without = f"/api/vpn_token/{key['id']}/alpha"
    body = {"command": "token_name", "name": "x"}
    await api.call("PATCH", without, body, expect=200)
    await api.call("GET", "/api/user/7/vpn_keys/alpha", expect=200)
    await api.call("DELETE", without, expect=200)


async def test_a_wrong_method_is_a_405_envelope_with_allow(api: Api) -> None:
    async with api.client.put("/api/user/7/") as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET"
        assert (await resp.json())["status"] == 405
    data = await api.call("GET", "/api/vpn_token/alpha/", expect=405)
    assert "POST" in data["details"]


async def test_an_unknown_path_is_a_404_envelope(api: Api) -> None:
    data = await api.call("GET", "/api/nothing/", expect=404)
    assert "/api/nothing/" in data["details"]


@pytest.mark.parametrize(
    "path",
    [f"/api/user/{2**63}/", f"/api/user/{2**70}/", f"/api/vpn_token/{2**31}/alpha/"],
)
async def test_ids_beyond_the_database_range_are_a_400_not_a_500(api: Api, path) -> None:
    method = "PATCH" if "vpn_token" in path else "GET"
    await api.call(method, path, {"command": "token_name", "name": "x"}, expect=400)


@pytest.mark.parametrize(
    "raw",
    [b"[]", b"null", b"5", b'"x"', b'{"user": null}', b"{" * 5000, b'{"user": {"id": 1e999}}'],
)
async def test_odd_bodies_are_a_400_never_a_500(api: Api, raw: bytes) -> None:
    await api.call("POST", "/api/user/", raw=raw, expect=400)


async def test_a_body_over_the_size_limit_is_a_413_envelope(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    body = io.BytesIO(b" " * (2 * 1024**2))
    async with api.client.post("/api/user/", data=body, headers=headers) as resp:
        assert resp.status == 413
        assert (await resp.json())["status"] == 413


async def test_an_unexpected_error_is_a_logged_500_envelope_without_its_message(
    api: Api, monkeypatch, caplog
) -> None:
    async def broken(tg_id: int) -> None:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(users, "user_row", broken)
    data = await api.call("GET", "/api/user/1/", expect=500)
    assert "internal detail" not in data["details"]
    [record] = [r for r in caplog.records if r.name == "api.middlewares"]
    assert record.exc_info is not None and "/api/user/{tg_id}" in record.getMessage()


# --- OpenAPI and docs -------------------------------------------------------------------


async def test_the_openapi_document_covers_every_endpoint(api: Api) -> None:
    async with api.client.get("/api/openapi.json") as resp:
        assert resp.status == 200
        document = await resp.json()
    assert document == openapi_document() and document["openapi"].startswith("3.1")
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert operations == {(e.method, e.openapi_path) for e in ENDPOINTS}
    # The seed's table is nine operations (#8-11 are one PATCH); others come on top of it.
    seed = ("/api/user/", "/api/vpn_token/")
    seed_ops = [op for op in operations if op[1].startswith(seed) and "/payments/" not in op[1]]
    assert len(seed_ops) == 9
    for path, item in document["paths"].items():
        for operation in item.values():
            responses = operation["responses"]
            if operation["security"]:
                assert {"400", "401"} <= set(responses), path
            if "requestBody" in operation:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in document["components"]["schemas"]


async def test_the_openapi_schemas_are_the_models_the_views_use(api: Api) -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert set(schemas["UserBody"]["properties"]) == set(UserBody.model_fields)
    assert set(schemas["CreateKey"]["properties"]) == set(CreateKey.model_fields)
    tags = schemas["KeyChange"]["discriminator"]["mapping"]
    assert sorted(tags) == sorted(
        [
            "token_valid_date",
            "token_is_active",
            "token_name",
            "token_traffic_limit",
            "token_server",
            "token_traffic_reset",
        ]
    )
    assert KeyChange.model_json_schema()["discriminator"]["propertyName"] == "command"


async def test_the_docs_page_renders_the_document_with_local_assets(api: Api) -> None:
    async with api.client.get("/api/docs") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
    assert "/api/openapi.json" in page and "SwaggerUIBundle" in page
    async with api.client.get("/api/docs/static/swagger-ui-bundle.js") as resp:
        assert resp.status == 200


# --- health, readiness, metrics ---------------------------------------------------------


async def test_health_needs_no_token(api: Api) -> None:
    await api.call("GET", "/healthz", auth=None, expect=200)


async def test_ready_when_the_database_and_a_server_answer(api: Api) -> None:
    data = await api.call("GET", "/readyz", auth=None, expect=200)
    assert data["database"] == "ok"
    assert [(s["name"], s["reachable"]) for s in data["servers"]] == [("alpha", True)]


async def test_not_ready_when_no_active_server_answers(api: Api, outline_server) -> None:
    api.emulator.faults.fail_next(2, 500)  # the client retries a failed GET once
    data = await api.call("GET", "/readyz", auth=None, expect=503)
    assert data["servers"][0]["reachable"] is False
    assert outline_server.prefix not in str(data)


async def test_not_ready_without_an_active_server(api: Api) -> None:
    await registry.set_server_active("alpha", False, actor="cli")
    data = await api.call("GET", "/readyz", auth=None, expect=503)
    assert data["servers"] == []


async def test_not_ready_when_the_database_is_down(api: Api, monkeypatch) -> None:
    async def down(**_: object) -> None:
        raise ConnectionRefusedError("database down")

    monkeypatch.setattr(registry, "list_servers", down)
    data = await api.call("GET", "/readyz", auth=None, expect=503)
    assert data["database"] == "unavailable"


async def test_ready_while_one_of_two_servers_answers(api: Api, beta) -> None:
    beta.faults.fail_next(2, 500)
    data = await api.call("GET", "/readyz", auth=None, expect=200)
    assert {s["name"]: s["reachable"] for s in data["servers"]} == {"alpha": True, "beta": False}


async def metrics(api: Api) -> dict[tuple[str, frozenset], float]:
    """Every sample of ``/metrics`` by (name, labels)."""
    async with api.client.get("/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**values: str) -> frozenset:
    return frozenset(values.items())


async def test_metrics_count_requests_by_route_and_status(api: Api) -> None:
    await api.user(7)
    await api.call("GET", "/api/user/8", expect=404)
    samples = await metrics(api)
    ok = labels(method="POST", route="/api/user", status="200")
    assert samples["vpnkeys_http_requests_total", ok] == 1
    missing = labels(method="GET", route="/api/user/{tg_id}", status="404")
    assert samples["vpnkeys_http_requests_total", missing] == 1
    timed = labels(method="POST", route="/api/user")
    assert samples["vpnkeys_http_request_duration_seconds_count", timed] == 1


async def test_metrics_show_outline_latency_errors_and_live_keys(api: Api) -> None:
    await api.new_key()
    key = await api.new_key()
    path = f"/api/vpn_token/{key['id']}/alpha/"
    await api.call("PATCH", path, {"command": "token_is_active", "is_active": False}, expect=200)
    api.emulator.faults.fail_next(1, 500)
    await api.call("DELETE", path, expect=502)
    samples = await metrics(api)
    created = labels(operation="create_key", server="alpha")
    assert samples["vpnkeys_outline_call_duration_seconds_count", created] == 2
    failed = labels(error="VpnUnavailable", operation="delete_key", server="alpha")
    assert samples["vpnkeys_outline_call_errors_total", failed] == 1
    assert samples["vpnkeys_live_keys", labels(server="alpha", state="active")] == 1
    assert samples["vpnkeys_live_keys", labels(server="alpha", state="inactive")] == 1


# --- demo mode --------------------------------------------------------------------------


async def start_demo(settings: Settings, aiohttp_client, capsys) -> tuple[TestClient, str]:
    app = build_app(settings)
    app.cleanup_ctx.insert(1, demo_ctx(settings))
    client = await aiohttp_client(app)
    out = capsys.readouterr().out
    match = re.search(r"^API token \(shown once\): (vks_\S+)$", out, re.M)
    assert match is not None and f"curl -s -H 'Authorization: Bearer {match[1]}'" in out
    return client, match[1]


async def demo_user_gets_a_key(client: TestClient, token: str, tg_id: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    user = {"user": {"id": tg_id, "first_name": None, "last_name": None, "username": None}}
    async with client.post("/api/user/", json=user, headers=headers) as resp:
        assert resp.status == 200
    demo = {"command": "create_demo_token"}
    async with client.post(f"/api/vpn_token/{tg_id}/demo/", json=demo, headers=headers) as resp:
        assert resp.status == 201
        assert (await resp.json())["vpn_keys"][0]["server"] == "demo"


async def test_demo_mode_serves_an_emulator_as_server_demo_across_restarts(
    settings: Settings, aiohttp_client, capsys
) -> None:
    client, token = await start_demo(settings, aiohttp_client, capsys)
    await demo_user_gets_a_key(client, token, 1)
    await client.close()
    client, second = await start_demo(settings, aiohttp_client, capsys)
    assert second != token
    await demo_user_gets_a_key(client, second, 2)
    assert [s.name for s in await registry.list_servers()] == ["demo"]
