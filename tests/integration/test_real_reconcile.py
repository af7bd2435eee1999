"""The reconciler against the real Outline server: orphans, lost keys, drift, foreign keys."""

from db.models import VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.keys import changes, installation, issuing, provisioning, reconcile, remote
from domain.keys.provisioning import KeySpec
from tests.integration.conftest import RealOutline
from vpn.backends import Backend

GIGABYTE = 10**9


def client_of(ctx: Context, server: VPNServer) -> Backend:
    """The pooled client of the real server."""
    return remote.backend(ctx, server)


async def capped_key(ctx: Context, name: str) -> VPNKey:
    """A live key with a 1 GB allowance on the real server."""
    return await issuing.create_key(
        ctx, server="real", name=name, traffic_limit=GIGABYTE, actor=audit.CLI
    )


async def test_an_orphan_in_our_scheme_is_deleted_and_foreign_keys_are_untouched(
    real_server: VPNServer, ctx: Context, foreign_keys: set[str]
) -> None:
    client = client_of(ctx, real_server)
    ours = await installation.key_ids()
    orphan = ours.new()
    await client.create_key(orphan, name="orphan", limit=None)
    other = "100000" if ours.prefix != "100000" else "100001"
    legacy = "73" + "1" * 13  # the scheme before installations: perhaps another one's key
    # Outline's counter ids, another installation's key, a legacy one this database never
    # held, a look-alike of the wrong length and a name-like id.
    foreign = ["7", installation.KeyIds(other).new(), legacy, "73" + "0" * 12, "vpn-manager"]
    for remote_id in foreign:
        foreign_keys.add(remote_id)
        await client.create_key(remote_id, name="not ours", limit=1000)
    kept = await issuing.create_key(ctx, server="real", name="kept", actor=audit.CLI)

    [dry] = await reconcile.reconcile(ctx, server="real", dry_run=True)
    assert dry.orphans_deleted == [orphan]
    assert orphan in {k.id for k in await client.list_keys()}

    [report] = await reconcile.reconcile(ctx, server="real", actor=audit.CLI)
    assert report.orphans_deleted == [orphan] and report.error is None
    assert report.unclaimed == [legacy]
    assert not (report.recreated or report.reapplied or report.missing)
    held = {k.id: k for k in await client.list_keys()}
    assert orphan not in held and kept.remote_id in held
    assert all((held[i].name, held[i].limit) == ("not ours", 1000) for i in foreign)


async def test_a_key_deleted_behind_our_back_comes_back_with_the_same_access_url(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    key = await capped_key(ctx, "lost")
    client = client_of(ctx, real_server)
    await client.delete_key(key.remote_id)
    assert await real_outline.refuses(key.access_url or "")

    [report] = await reconcile.reconcile(ctx, server="real", actor=audit.CLI)
    assert report.recreated == [key.id] and report.missing == []
    held = await client.get_key(key.remote_id)
    assert (held.access_url, held.name, held.limit) == (key.access_url, "lost", GIGABYTE)
    moved = await real_outline.move_bytes(key.access_url or "", 200_000)
    assert moved["ok"] and moved["bytes_moved"] == 200_000, moved


async def test_a_disabled_key_deleted_behind_our_back_comes_back_still_cut(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    key = await issuing.create_key(ctx, server="real", name="off", actor=audit.CLI)
    await changes.set_active(ctx, key_id=key.id, server="real", is_active=False, actor=audit.CLI)
    await client_of(ctx, real_server).delete_key(key.remote_id)

    [report] = await reconcile.reconcile(ctx, server="real", actor=audit.CLI)
    assert report.recreated == [key.id]
    assert (await client_of(ctx, real_server).get_key(key.remote_id)).limit == 0
    assert await real_outline.refuses(key.access_url or "")


async def test_a_drifted_name_and_limit_are_applied_again(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    key = await capped_key(ctx, "intended")
    client = client_of(ctx, real_server)
    await client.rename_key(key.remote_id, "tampered")
    await client.set_limit(key.remote_id, 0)
    assert await real_outline.refuses(key.access_url or "")

    [report] = await reconcile.reconcile(ctx, server="real", actor=audit.CLI)
    assert report.reapplied == [key.id]
    held = await client.get_key(key.remote_id)
    assert (held.name, held.limit) == ("intended", GIGABYTE)
    assert await real_outline.passes(key.access_url or "")
    [again] = await reconcile.reconcile(ctx, server="real", actor=audit.CLI)
    assert not again.changed


async def test_an_unfinished_creation_is_rolled_back_on_the_server_and_in_the_database(
    real_server: VPNServer, ctx: Context
) -> None:
    staged = await provisioning.stage(real_server, KeySpec(name="half made"))
    client = client_of(ctx, real_server)
    await client.create_key(staged.remote_id, name="half made", limit=None)
    # The creating process died here; its lease on the staged row has run out since.
    await VPNKey.filter(id=staged.id).update(lock_holder=None, lock_expires_at=None)

    [report] = await reconcile.reconcile(ctx, server="real", actor=audit.CLI)
    assert report.rolled_back == [staged.id]
    assert staged.remote_id not in {k.id for k in await client.list_keys()}
    assert not await VPNKey.exists(id=staged.id)
