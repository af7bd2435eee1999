"""The command line, run as a real process against real databases and the emulator."""

import json
from pathlib import Path

import pytest

from db.connect import close_database, open_database
from db.migrate import LOCATION
from domain.accounts import tokens
from domain.errors import Unauthorized
from domain.keys import installation
from tests.serving import cli_env, run_main

MIGRATION_FILES = list(Path(LOCATION, "models").glob("*.py"))


async def run_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    """Run ``python main.py ARGS`` with its own environment; (exit code, stdout, stderr)."""
    return await run_main(cli_env(database_url), *args)


async def test_migrate_creates_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/new/service.sqlite3"
    code, out, _ = await run_cli(url, "migrate")
    migrations = len(MIGRATION_FILES)
    assert code == 0 and f"applied {migrations} migration" in out
    assert (tmp_path / "new" / "service.sqlite3").exists()
    code, out, _ = await run_cli(url, "migrate")
    assert code == 0 and "applied 0 migration" in out


async def test_server_add_with_url_and_fingerprint(database_url: str, outline_tls_server) -> None:
    code, out, err = await run_cli(
        database_url, "server", "add", "tls1", outline_tls_server.api_url,
        "--cert-sha256", outline_tls_server.cert_sha256,
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = await run_cli(database_url, "server", "list")
    assert out.startswith("tls1\toutline\tactive\tpinned")
    secret = outline_tls_server.api_url.rsplit("/", 1)[1]
    assert secret not in out


async def test_server_add_with_installer_json(database_url: str, outline_tls_server) -> None:
    line = json.dumps(
        {"apiUrl": outline_tls_server.api_url, "certSha256": outline_tls_server.cert_sha256}
    )
    code, _, err = await run_cli(database_url, "server", "add", "tls2", line)
    assert code == 0, err


async def test_server_add_refuses_a_wrong_fingerprint(
    database_url: str, outline_tls_server
) -> None:
    code, out, err = await run_cli(
        database_url,
        "server",
        "add",
        "tls3",
        outline_tls_server.api_url,
        "--cert-sha256",
        "AB" * 32,
    )
    assert code == 1 and "fingerprint" in err
    assert outline_tls_server.api_url not in err + out


async def test_server_add_refuses_an_unreachable_server(database_url: str) -> None:
    code, out, err = await run_cli(
        database_url, "server", "add", "gone", "http://127.0.0.1:9/hidden"
    )
    assert code == 1 and "gone" in err and "hidden" not in err + out
    _, out, _ = await run_cli(database_url, "server", "list")
    assert out == ""


async def test_server_disable_enable_remove(database_url: str, outline_server) -> None:
    await run_cli(database_url, "server", "add", "s1", outline_server.api_url)
    assert (await run_cli(database_url, "server", "disable", "s1"))[0] == 0
    assert "disabled" in (await run_cli(database_url, "server", "list"))[1]
    assert (await run_cli(database_url, "server", "enable", "s1"))[0] == 0
    assert (await run_cli(database_url, "server", "remove", "s1"))[0] == 0
    code, _, err = await run_cli(database_url, "server", "remove", "s1")
    assert code == 1 and "not found" in err


async def test_server_title_is_given_at_add_and_changed_later(
    database_url: str, outline_server
) -> None:
    url = outline_server.api_url
    code, _, err = await run_cli(database_url, "server", "add", "fra1", url, "--title", "FRA")
    assert code == 0, err
    code, out, _ = await run_cli(database_url, "server", "title", "fra1", "🇩🇪 Frankfurt")
    assert (code, out) == (0, "server 'fra1' is shown as '🇩🇪 Frankfurt'\n")
    assert (await run_cli(database_url, "server", "list"))[1] == (
        "fra1\toutline\tactive\tnot pinned\t🇩🇪 Frankfurt\n"
    )


async def test_token_create_prints_it_alone_on_the_last_line(database_url: str) -> None:
    code, out, _ = await run_cli(database_url, "token", "create", "billing")
    assert code == 0
    plaintext = out.rstrip("\n").splitlines()[-1]
    assert plaintext.startswith("vks_") and " " not in plaintext
    await open_database(database_url)
    try:
        assert (await tokens.authenticate(plaintext)).name == "billing"
        code, _, _ = await run_cli(database_url, "token", "revoke", "billing")
        assert code == 0
        with pytest.raises(Unauthorized):
            await tokens.authenticate(plaintext)
    finally:
        await close_database()
    _, out, _ = await run_cli(database_url, "token", "list")
    assert out.startswith("billing\trevoked")


async def new_remote_id(database_url: str) -> str:
    """A key id of the installation behind ``database_url``."""
    await open_database(database_url)
    try:
        return (await installation.key_ids()).new()
    finally:
        await close_database()


async def test_reconcile_prints_what_it_did(database_url: str, outline_server) -> None:
    await run_cli(database_url, "server", "add", "s1", outline_server.api_url)
    outline_server.emulator.create_key(await new_remote_id(database_url), {"name": "lost"})
    outline_server.emulator.create_key("730000000000001", {"name": "someone else's"})
    code, out, _ = await run_cli(database_url, "reconcile", "--dry-run")
    assert code == 0 and "s1: would repair 0 unfinished, 1 orphan(s)" in out
    assert "s1: left 1 old-scheme key(s) alone that this database never held" in out


async def test_one_server_cannot_be_registered_twice(database_url: str, outline_server) -> None:
    assert (await run_cli(database_url, "server", "add", "s1", outline_server.api_url))[0] == 0
    code, _, err = await run_cli(database_url, "server", "add", "s2", outline_server.api_url)
    assert code == 1 and "server 's1' already has this address" in err
    other_address = outline_server.api_url.replace("127.0.0.1", "localhost")
    code, _, err = await run_cli(database_url, "server", "add", "s2", other_address)
    assert code == 1 and "this Outline server is already registered as 's1'" in err


async def test_server_update_repoints_and_says_when_the_server_was_reinstalled(
    database_url: str, outline_server, outline_tls_server
) -> None:
    await run_cli(database_url, "server", "add", "s1", outline_server.api_url)
    new = outline_tls_server
    line = json.dumps({"apiUrl": new.api_url, "certSha256": new.cert_sha256})
    code, out, err = await run_cli(database_url, "server", "update", "s1", line)
    assert code == 0, err
    assert "server 's1' updated" in out
    assert "serverId changed" in out and "reconcile --server s1" in out
    assert new.api_url not in out + err
    code, out, _ = await run_cli(database_url, "server", "list")
    assert out.startswith("s1\toutline\tactive\tpinned")


async def test_server_update_refuses_an_address_that_does_not_answer(
    database_url: str, outline_server
) -> None:
    await run_cli(database_url, "server", "add", "s1", outline_server.api_url)
    code, _, err = await run_cli(database_url, "server", "update", "s1", "http://127.0.0.1:9/x")
    assert code == 1 and "s1" in err and "/x" not in err
