"""Keys belong to one installation; one Outline server is registered once; re-pointing."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.connect import close_database, open_database
from db.models import KeyState, VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.errors import Conflict
from domain.keys import changes, installation, issuing
from domain.keys.reconcile import reconcile
from domain.servers import registry
from tests.conftest import fresh_database

ACTOR = "api:test"


@pytest.fixture
async def other_database(template_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second fresh database: another installation."""
    async with fresh_database(template_url, tmp_path / "other.sqlite3") as url:
        yield url


async def switch_to(url: str) -> None:
    await close_database()
    await open_database(url)


async def test_key_ids_carry_the_installation_prefix_and_stay_below_2_53(
    ctx: Context, server: VPNServer
) -> None:
    ids = await installation.key_ids()
    assert ids == await installation.key_ids()  # made once, then kept
    keys = [await issuing.create_key(ctx, server="alpha", actor=ACTOR) for _ in range(3)]
    for key in keys:
        assert len(key.remote_id) == 16 and key.remote_id.startswith(ids.prefix)
        assert int(key.remote_id) < 2**53 and ids.owns(key.remote_id)
    assert not ids.owns("730000000000001") and not ids.owns("7")


async def test_two_installations_on_one_server_leave_each_others_keys_alone(
    ctx: Context, db: str, server: VPNServer, outline_server, other_database: str
) -> None:
    mine = await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    await switch_to(other_database)
    shared = await registry.add_server(
        ctx, name="shared", api_url=outline_server.api_url, actor=audit.CLI
    )
    theirs = await issuing.create_key(ctx, server="shared", actor=ACTOR)
    assert (await installation.key_ids()).prefix != mine.remote_id[:6]
    (report,) = await reconcile(ctx)
    assert (report.orphans_deleted, report.recreated, report.error) == ([], [], None)
    assert report.unclaimed == []  # the other side's keys are not even old-scheme ones
    await switch_to(db)
    (report,) = await reconcile(ctx)
    assert (report.orphans_deleted, report.recreated, report.error) == ([], [], None)
    assert {mine.remote_id, theirs.remote_id} <= set(outline_server.emulator.keys)
    assert shared.server_uid == server.server_uid  # the same server, twice, in two databases


async def test_legacy_keys_keep_working_and_only_our_own_are_ever_deleted(
    ctx: Context, server: VPNServer, outline_server
) -> None:
    emulator = outline_server.emulator

    async def make_legacy(legacy_id: str) -> VPNKey:
        key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, name=legacy_id)
        record = emulator.keys.pop(key.remote_id)
        record["id"] = legacy_id
        emulator.keys[legacy_id] = record
        await VPNKey.filter(id=key.id).update(remote_id=legacy_id)
        return key

    live = await make_legacy("730000000000001")
    ours_deleted = await make_legacy("730000000000002")
    await VPNKey.filter(id=ours_deleted.id).update(state=KeyState.DELETED)
    emulator.create_key("730000000000003", {"name": "another installation's"})

    await changes.rename_key(ctx, key_id=live.id, server="alpha", name="still mine", actor=ACTOR)
    assert emulator.keys["730000000000001"].name == "still mine"
    (report,) = await reconcile(ctx, dry_run=True)
    assert (report.orphans_deleted, report.unclaimed) == (["730000000000002"], ["730000000000003"])
    (report,) = await reconcile(ctx)
    assert (report.orphans_deleted, report.unclaimed) == (["730000000000002"], ["730000000000003"])
    assert set(emulator.keys) == {"730000000000001", "730000000000003"}


async def test_the_same_server_is_refused_under_a_second_name(
    ctx: Context, server: VPNServer, outline_server
) -> None:
    with pytest.raises(Conflict, match="already has this address"):
        await registry.add_server(ctx, name="b", api_url=outline_server.api_url, actor=audit.CLI)
    by_name = outline_server.api_url.replace("127.0.0.1", "localhost")
    with pytest.raises(Conflict, match="already registered as 'alpha'"):
        await registry.add_server(ctx, name="b", api_url=by_name, actor=audit.CLI)
    assert await VPNServer.all().count() == 1


async def test_a_server_registered_before_server_ids_is_still_recognised(
    ctx: Context, server: VPNServer, outline_server
) -> None:
    await VPNServer.filter(id=server.id).update(server_uid=None)
    by_name = outline_server.api_url.replace("127.0.0.1", "localhost")
    with pytest.raises(Conflict, match="already registered as 'alpha'"):
        await registry.add_server(ctx, name="b", api_url=by_name, actor=audit.CLI)
    stored = await VPNServer.get(id=server.id)
    assert stored.server_uid == outline_server.emulator.server_id


async def test_reconcile_leaves_a_server_that_answers_as_another_one_alone(
    ctx: Context, server: VPNServer, outline_server
) -> None:
    orphan = (await installation.key_ids()).new()
    outline_server.emulator.create_key(orphan, {"name": "lost"})
    outline_server.emulator.server_id = str(uuid.uuid4())  # reinstalled at the same address
    (report,) = await reconcile(ctx)
    assert report.error and "server update alpha" in report.error
    assert orphan in outline_server.emulator.keys


async def test_server_update_repoints_a_reinstalled_server(
    ctx: Context, server: VPNServer, outline_server, outline_tls_server
) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    update = await registry.update_server(
        ctx,
        name="alpha",
        api_url=outline_tls_server.api_url,
        cert_sha256=outline_tls_server.cert_sha256,
        actor=audit.CLI,
    )
    assert update.reinstalled
    (report,) = await reconcile(ctx)
    assert report.recreated == [key.id]
    assert outline_tls_server.emulator.keys[key.remote_id].access_url == key.access_url


async def test_server_update_to_the_same_server_is_not_a_reinstall(
    ctx: Context, server: VPNServer, outline_server
) -> None:
    by_name = outline_server.api_url.replace("127.0.0.1", "localhost")
    update = await registry.update_server(ctx, name="alpha", api_url=by_name, actor=audit.CLI)
    assert not update.reinstalled
    assert (await VPNServer.get(id=server.id)).api_url == by_name


async def test_server_update_refuses_another_registered_server(
    ctx: Context, server: VPNServer, outline_server, outline_tls_server
) -> None:
    await registry.add_server(
        ctx,
        name="beta",
        api_url=outline_tls_server.api_url,
        cert_sha256=outline_tls_server.cert_sha256,
        actor=audit.CLI,
    )
    with pytest.raises(Conflict, match="'beta'"):
        await registry.update_server(
            ctx,
            name="alpha",
            api_url=outline_tls_server.api_url,
            cert_sha256=outline_tls_server.cert_sha256,
            actor=audit.CLI,
        )
