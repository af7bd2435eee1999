"""Start-up and command-line behaviour an operator sees: one-line errors, quiet commands,
migrations on start, the demo's own database, JSON logs, reconcile's exit status."""

import json
from pathlib import Path

import aiohttp
import pytest

from db.models import VPNServer
from domain import audit
from domain.context import Context
from domain.keys import installation, issuing
from tests.conftest import ON_POSTGRES, _pg_url
from tests.serving import cli_env, run_main, serving
from vpn.emulator import RunningEmulator, start_emulator


async def test_cli_commands_print_only_their_own_output(empty_database_url: str) -> None:
    code, out, err = await run_main(cli_env(empty_database_url), "migrate")
    assert code == 0 and out.startswith("applied ") and err == ""
    code, out, err = await run_main(cli_env(empty_database_url), "token", "list")
    assert (code, out, err) == (0, "", "")


async def test_serve_on_an_unmigrated_database_says_in_one_line_what_to_run(
    empty_database_url: str,
) -> None:
    code, out, err = await run_main(cli_env(empty_database_url), "serve")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "run `python main.py migrate`" in err, err


async def test_serve_with_migrate_applies_migrations_and_logs_where_it_listens(
    empty_database_url: str,
) -> None:
    async with serving(cli_env(empty_database_url), "serve", "--migrate") as running:
        pass
    log = "\n".join(running.stderr)
    assert "applied " in log and "migration(s)" in log
    assert f"listening on {running.base}" in log
    code, out, _ = await run_main(cli_env(empty_database_url), "migrate")
    assert code == 0 and out.startswith("applied 0 migration")


async def test_migrate_on_start_setting_migrates_before_serving(empty_database_url: str) -> None:
    env = cli_env(empty_database_url, MIGRATE_ON_START="1")
    async with (
        serving(env) as running,
        aiohttp.ClientSession() as session,
        session.get(running.base + "/readyz") as resp,
    ):
        assert (await resp.json())["database"] == "ok"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgres://postgres:hunter2@127.0.0.1:9/vpn", "cannot reach the PostgreSQL database"),
        ("sqlite:///proc/no/such/dir/x.sqlite3", "cannot open the SQLite database"),
    ],
)
@pytest.mark.parametrize("command", [["migrate"], ["serve"], ["token", "list"]])
async def test_an_unusable_database_is_one_clear_line(
    url: str, says: str, command: list[str]
) -> None:
    code, out, err = await run_main(cli_env(url), *command)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {says}"), err
    assert "hunter2" not in err


async def test_migrate_against_a_missing_postgres_database_is_one_line() -> None:
    if not ON_POSTGRES:
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://…)")
    code, _, err = await run_main(cli_env(_pg_url("no_such_db_here")), "migrate")
    assert code == 1 and err.count("\n") == 1
    assert 'database "no_such_db_here" does not exist' in err


async def test_a_bad_setting_is_one_line_per_problem(tmp_path: Path) -> None:
    env = cli_env(f"sqlite://{tmp_path}/x.sqlite3", API_PORT="99999")
    code, out, err = await run_main(env, "migrate")
    assert code == 2 and out == ""
    assert err.startswith("error: configuration: API_PORT:") and err.count("\n") == 1


async def test_demo_leaves_the_default_database_untouched(tmp_path: Path) -> None:
    real = tmp_path / "real.sqlite3"
    async with serving(cli_env(f"sqlite://{real}"), "--demo") as running:
        assert any(line.startswith("API token (shown once): vks_") for line in running.stdout)
        demo_db = next(line for line in running.stdout if line.startswith("Database: "))
    assert not real.exists()
    folder = Path(demo_db.removeprefix("Database: SQLite database ")).parent
    assert not folder.exists(), "the temporary demo database is removed at exit"


async def test_demo_on_a_named_database_keeps_it_and_reuses_its_server(tmp_path: Path) -> None:
    named = f"sqlite://{tmp_path}/demo.sqlite3"
    env = cli_env(f"sqlite://{tmp_path}/real.sqlite3")
    for _ in range(2):
        async with serving(env, "--demo", "--demo-database", named):
            pass
    code, out, _ = await run_main(cli_env(named), "server", "list")
    assert code == 0 and out.startswith("demo\toutline\tactive")
    assert not (tmp_path / "real.sqlite3").exists()


async def test_json_logs_are_one_object_per_line(database_url: str) -> None:
    async with serving(cli_env(database_url, LOG_FORMAT="json")) as running:
        pass
    records = [json.loads(line) for line in running.stderr if line]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["message"] == f"listening on {running.base}" for r in records)


async def test_reconcile_exits_non_zero_when_a_server_cannot_be_checked(
    database_url: str,
) -> None:
    env = cli_env(database_url)
    up, down = await start_emulator(), await start_emulator()
    try:
        for name, running in (("up1", up), ("down1", down)):
            code, _, err = await run_main(env, "server", "add", name, running.api_url)
            assert code == 0, err
        code, out, _ = await run_main(env, "reconcile", "--dry-run")
        assert code == 0, out
        await down.stop()
        code, out, _ = await run_main(env, "reconcile", "--dry-run")
        assert code == 1 and "down1: unreachable" in out and "up1: would repair" in out
    finally:
        await up.stop()


async def test_reconcile_exits_zero_after_it_repaired_drift(
    db: str, ctx: Context, server: VPNServer, outline_server: RunningEmulator
) -> None:
    emulator = outline_server.emulator
    lost = (await issuing.create_key(ctx, server="alpha", actor=audit.CLI)).remote_id
    emulator.delete_key(lost)
    orphan = (await installation.key_ids()).new()
    emulator.create_key(orphan, {"name": "left over"})
    code, out, _ = await run_main(cli_env(db), "reconcile")
    assert code == 0, out
    assert "alpha: repaired 0 unfinished, 1 orphan(s), 1 re-created, 0 re-applied" in out, out
    assert lost in emulator.keys and orphan not in emulator.keys
    code, out, _ = await run_main(cli_env(db), "reconcile", "--dry-run")
    assert code == 0 and "alpha: would repair 0 unfinished, 0 orphan(s), 0 re-created" in out
