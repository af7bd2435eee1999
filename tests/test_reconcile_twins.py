"""One Outline server registered twice by an old database (before `server add` checked):
the reconciler deletes neither name's keys, reports the clash, and goes on with the rest."""

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from db.connect import close_database, open_database
from db.models import KeyState, VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.keys import installation, issuing
from domain.keys.reconcile import reconcile
from domain.servers import registry
from domain.servers.drain import drain_server
from tests.conftest import SECRET_MARKERS
from tests.serving import cli_env, run_main
from vpn.emulator import RunningEmulator, start_emulator

CLASH = "server 'beta' is the same Outline server as 'alpha', registered twice"


@pytest.fixture
async def gamma_server() -> AsyncIterator[RunningEmulator]:
    """Another Outline server, reconciled after the clashing pair."""
    running = await start_emulator()
    SECRET_MARKERS.append(urlsplit(running.api_url).path)
    yield running
    await running.stop()


async def register_twice(ctx: Context, alpha: VPNServer, outline_server, gamma) -> None:
    """What a pre-upgrade database holds: ``alpha`` and ``beta`` (the same server by another
    host name), neither with a ``serverId`` kept; and ``gamma``, another server."""
    await registry.add_server(ctx, name="gamma", api_url=gamma.api_url, actor=audit.CLI)
    await VPNServer.filter(id=alpha.id).update(server_uid=None)
    by_name = outline_server.api_url.replace("127.0.0.1", "localhost")
    await VPNServer.create(name="beta", api_url=by_name, kind="outline")


async def test_a_server_registered_twice_keeps_the_keys_of_both_names(
    ctx: Context, server: VPNServer, outline_server, gamma_server
) -> None:
    await register_twice(ctx, server, outline_server, gamma_server)
    key_b = await issuing.create_key(ctx, server="beta", actor=audit.CLI)
    key_a = await issuing.create_key(ctx, server="alpha", actor=audit.CLI)
    ids = await installation.key_ids()
    lost_here, lost_there = ids.new(), ids.new()
    outline_server.emulator.create_key(lost_here, {"name": "held by no row"})
    gamma_server.emulator.create_key(lost_there, {"name": "held by no row"})

    for dry_run in (True, False):
        alpha, beta, gamma = await reconcile(ctx, dry_run=dry_run)
        assert (alpha.server, alpha.error, alpha.orphans_deleted) == ("alpha", None, [lost_here])
        assert beta.error and beta.error.startswith(CLASH) and not beta.unreachable
        assert "server remove beta" in beta.error and beta.error_code == "conflict"
        assert (gamma.error, gamma.orphans_deleted) == (None, [lost_there])  # still reconciled
    assert {key_a.remote_id, key_b.remote_id} <= set(outline_server.emulator.keys)
    assert lost_here not in outline_server.emulator.keys
    assert lost_there not in gamma_server.emulator.keys
    stored = {s.name: s.server_uid for s in await VPNServer.all()}
    assert stored["alpha"] == outline_server.emulator.server_id and stored["beta"] is None


async def test_whichever_name_is_reconciled_first_the_other_is_the_one_reported(
    ctx: Context, server: VPNServer, outline_server, gamma_server
) -> None:
    await register_twice(ctx, server, outline_server, gamma_server)
    key_a = await issuing.create_key(ctx, server="alpha", actor=audit.CLI)
    (beta,) = await reconcile(ctx, server="beta")
    assert (beta.error, beta.orphans_deleted) == (None, [])  # alpha's key is held by a twin
    (alpha,) = await reconcile(ctx, server="alpha")
    assert alpha.error and "'alpha' is the same Outline server as 'beta'" in alpha.error
    assert key_a.remote_id in outline_server.emulator.keys


async def test_the_advice_given_resolves_the_clash(
    ctx: Context, server: VPNServer, outline_server, gamma_server
) -> None:
    await register_twice(ctx, server, outline_server, gamma_server)
    key_b = await issuing.create_key(ctx, server="beta", actor=audit.CLI)
    await issuing.create_key(ctx, server="alpha", actor=audit.CLI)
    report = await drain_server(ctx, name="beta", targets=["alpha"], actor=audit.CLI)
    assert report.complete and report.moved["alpha"] == 1
    await registry.remove_server("beta", actor=audit.CLI)
    reports = await reconcile(ctx)
    assert [(r.server, r.error, r.orphans_deleted) for r in reports] == [
        ("alpha", None, []),
        ("gamma", None, []),
    ]
    live = await VPNKey.filter(state=KeyState.LIVE).select_related("server")
    assert {k.server.name for k in live} == {"alpha"} and len(live) == 2
    assert {k.remote_id for k in live} == set(outline_server.emulator.keys)
    assert key_b.remote_id not in outline_server.emulator.keys  # its old copy, deleted


async def test_reconcile_command_exits_1_and_names_the_server_to_remove(
    database_url: str, ctx: Context, outline_server, gamma_server
) -> None:
    await open_database(database_url)
    try:
        alpha = await registry.add_server(
            ctx, name="alpha", api_url=outline_server.api_url, actor=audit.CLI
        )
        await register_twice(ctx, alpha, outline_server, gamma_server)
        key_b = await issuing.create_key(ctx, server="beta", actor=audit.CLI)
    finally:
        await close_database()
    code, out, err = await run_main(cli_env(database_url), "reconcile")
    assert code == 1 and "Traceback" not in err, err
    assert "alpha: repaired 0 unfinished, 0 orphan(s)" in out
    assert f"beta: not reconciled ({CLASH}" in out and "`server remove beta`" in out
    assert "gamma: repaired 0 unfinished" in out
    assert key_b.remote_id in outline_server.emulator.keys
