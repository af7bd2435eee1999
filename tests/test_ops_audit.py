"""Reading the audit log: ``GET api/audit/`` (filtered, paged) and ``main.py audit``."""

from typing import Any

from db.models import AuditEvent
from tests.api_fixtures import Api
from tests.serving import cli_env, run_main


async def everything(api: Api, query: str) -> list[dict[str, Any]]:
    """Every page of ``api/audit/?query``, following ``next_before``."""
    events: list[dict[str, Any]] = []
    cursor = ""
    while True:
        data = await api.call("GET", f"/api/audit/?{query}{cursor}", expect=200)
        events += data["events"]
        if data["next_before"] is None:
            return events
        cursor = f"&before={data['next_before']}"


async def test_audit_pages_go_newest_first_without_gaps_or_repeats(api: Api) -> None:
    await api.user(42)
    key = await api.new_key(tg_id=42, name="phone")
    await api.call(
        "PATCH", f"/api/vpn_token/{key['id']}/alpha/", {"command": "token_name", "name": "x"},
        expect=200,
    )  # fmt: skip
    paged = await everything(api, "limit=2")
    ids = [e["id"] for e in paged]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert ids == [e.id for e in await AuditEvent.all().order_by("-id")]
    mine = [(e["actor"], e["action"]) for e in paged if e["key_id"] == key["id"]]
    assert mine == [("api:tests", "key.renamed"), ("api:tests", "key.created")]


async def test_audit_filters_by_key_user_action_and_time(api: Api) -> None:
    await api.user(42)
    await api.user(43)
    first = await api.new_key(tg_id=42)
    await api.new_key(tg_id=43)
    by_key = await everything(api, f"key_id={first['id']}")
    assert by_key and {e["key_id"] for e in by_key} == {first["id"]}
    by_user = await everything(api, "tg_id=43")
    assert by_user and {e["tg_id"] for e in by_user} == {43}
    created = await everything(api, "action=key.created&actor=api:tests")
    assert len(created) == 2
    assert await everything(api, "since=2999-01-01") == []
    assert await everything(api, "until=1999-01-01T00:00:00Z") == []
    assert len(await everything(api, "since=2020-01-01&until=8999-01-01")) == len(
        await everything(api, "")
    )


async def test_bad_audit_queries_are_400_and_the_token_is_required(api: Api) -> None:
    for query in ("limit=0", "limit=501", "since=yesterday", "key_id=-1", "colour=red"):
        data = await api.call("GET", f"/api/audit/?{query}", expect=400)
        assert data["errors"]
    await api.call("GET", "/api/audit/", expect=401, auth=None)


async def test_audit_details_never_show_a_url(api: Api) -> None:
    await AuditEvent.create(actor="cli", action="test", details={"note": "see https://x.y/sec"})
    events = await everything(api, "action=test")
    assert events[0]["details"] == {"note": "see <url>"}


async def test_audit_is_documented_in_openapi(api: Api) -> None:
    async with api.client.get("/api/openapi.json") as resp:
        operation = (await resp.json())["paths"]["/api/audit/"]["get"]
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"key_id", "tg_id", "since", "until", "before", "limit"} <= names


async def test_the_audit_command_prints_one_line_per_event(api: Api, database_url: str) -> None:
    await api.user(42)
    key = await api.new_key(tg_id=42)
    code, out, err = await run_main(cli_env(database_url), "audit", "--key", str(key["id"]))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 1 and "\tapi:tests\tkey.created\t" in lines[0]
    code, out, _ = await run_main(cli_env(database_url), "audit", "--user", "42", "--since", "1h")
    assert code == 0 and "user.created" in out and "key.created" in out
    code, _, err = await run_main(cli_env(database_url), "audit", "--since", "soon")
    assert code == 1 and err.startswith("error: not a date")
