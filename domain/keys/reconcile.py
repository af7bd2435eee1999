"""Repairing drift between the database and each server.

* ``creating`` rows older than ``ctx.stale_after`` are rolled back (server key and row);
* moves to the server still ``pending`` after ``ctx.stale_after`` are rolled back (the new
  copy is deleted; the key never left its old server), fresher ones are left alone;
* server keys of this installation that no live row holds are deleted (orphans); so are
  legacy-scheme keys (``73…``) whose row here says they were deleted; a key that a row of
  another registration of the same Outline server holds (a legacy database may have one
  server under two names) is never an orphan;
* live keys missing on the server are re-created with the same credentials, or flagged;
* live keys whose name or limit differ on the server get the database's values again.
Other keys are never touched: legacy-scheme keys this database never held may be another
installation's and are only reported (``unclaimed``). A server that answers with another
``serverId`` than the one registered, or that is registered twice, is not touched at all
(see ``server update`` and ``server remove``).
"""

import logging
from dataclasses import dataclass, field

from db.models import KeyState, VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.errors import DomainError, NotFound, ServerTimeout, ServerUnavailable
from domain.keys import installation, moves, provisioning, remote
from domain.keys.locks import KeyBusy, key_lock
from domain.servers import registry
from vpn.backends import Backend, RemoteKey
from vpn.ssurl import parse_access_url

logger = logging.getLogger(__name__)
_UNREACHABLE = {ServerUnavailable.code, ServerTimeout.code}


@dataclass
class ReconcileReport:
    """What the reconciler found and did on one server (key ids / remote ids)."""

    server: str
    rolled_back: list[int] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    recreated: list[int] = field(default_factory=list)
    reapplied: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    unclaimed: list[str] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None

    @property
    def changed(self) -> bool:
        """Whether anything was (or, in a dry run, would be) repaired."""
        return bool(self.rolled_back or self.orphans_deleted or self.recreated or self.reapplied)

    @property
    def unreachable(self) -> bool:
        """Whether the error was the server not answering (rather than a refusal to touch it)."""
        return self.error_code in _UNREACHABLE


async def reconcile(
    ctx: Context, *, server: str | None = None, dry_run: bool = False, actor: str = audit.WORKER
) -> list[ReconcileReport]:
    """Reconcile one server or every active server; a failing server is reported, not raised."""
    targets = (
        [await registry.get_server(server)]
        if server
        else await registry.list_servers(active_only=True)
    )
    reports = []
    for srv in targets:
        report = ReconcileReport(srv.name)
        try:
            await _reconcile_server(ctx, srv, report, dry_run=dry_run, actor=actor)
        except DomainError as exc:
            report.error, report.error_code = exc.message, exc.code
        if report.error and not report.unreachable:  # the operator has to act
            logger.warning("reconcile %s: not reconciled: %s", srv.name, report.error)
        elif report.changed or report.missing or report.unclaimed or report.error:
            logger.info("reconcile %s: %s", srv.name, report)
        reports.append(report)
    return reports


async def _reconcile_server(
    ctx: Context, srv: VPNServer, report: ReconcileReport, *, dry_run: bool, actor: str
) -> None:
    client = remote.backend(ctx, srv)
    await registry.check_identity(ctx, srv)
    remote_keys = {k.id: k for k in await remote.call(srv, client.list_keys())}
    rows = await VPNKey.filter(server=srv).exclude(state=KeyState.DELETED)
    stale_before = ctx.now() - ctx.stale_after
    keep, moved_back = await moves.settle_moves(ctx, srv, dry_run=dry_run)
    report.rolled_back.extend(moved_back)
    for key in rows:
        key.server = srv
        if key.state == KeyState.CREATING:
            if key.created_at > stale_before or not await _roll_back(ctx, key, report, dry_run):
                keep.add(key.remote_id)
            continue
        keep.add(key.remote_id)
        found = remote_keys.get(key.remote_id)
        if dry_run:
            _judge(key, found, report)
        else:
            await _repair(ctx, client, key, found, report, actor)
    unheld = remote_keys.keys() - keep
    unheld -= await _held_by_twins(ctx, srv, unheld)
    await _delete_orphans(srv, client, unheld, report, dry_run=dry_run)


async def _held_by_twins(ctx: Context, srv: VPNServer, unheld: set[str]) -> set[str]:
    """The ``unheld`` server keys that a row of another registration of ``srv`` holds."""
    twins = await registry.twins(ctx, srv) if unheld else []
    if not twins:
        return set()
    held = await (
        VPNKey.filter(server_id__in=[twin.id for twin in twins])
        .exclude(state=KeyState.DELETED)
        .values_list("remote_id", flat=True)
    )
    return unheld & set(held)


async def _delete_orphans(
    srv: VPNServer, client: Backend, unheld: set[str], report: ReconcileReport, *, dry_run: bool
) -> None:
    """Delete the unheld server keys that are certainly ours; report unknown legacy ones."""
    ids = await installation.key_ids()
    legacy = [remote_id for remote_id in unheld if installation.is_legacy(remote_id)]
    ours_before = set(
        await VPNKey.filter(server=srv, remote_id__in=legacy, state=KeyState.DELETED).values_list(
            "remote_id", flat=True
        )
    )
    for remote_id in sorted(unheld):
        if ids.owns(remote_id) or remote_id in ours_before:
            report.orphans_deleted.append(remote_id)
            if not dry_run:
                await remote.call(srv, remote.forget_missing(client.delete_key(remote_id)))
        elif remote_id in legacy:
            report.unclaimed.append(remote_id)


async def _roll_back(ctx: Context, key: VPNKey, report: ReconcileReport, dry_run: bool) -> bool:
    """Undo an unfinished creation; ``False`` while its request still holds the key."""
    if dry_run:
        report.rolled_back.append(key.id)
        return True
    try:
        async with key_lock(key.id, wait=0):
            if await VPNKey.exists(id=key.id, state=KeyState.CREATING):
                await provisioning.discard(ctx, key.server, key)
                report.rolled_back.append(key.id)
    except (KeyBusy, NotFound):
        return False
    return True


def _judge(key: VPNKey, found: RemoteKey | None, report: ReconcileReport) -> None:
    if found is None:
        report.recreated.append(key.id)
    elif found.name != key.name or found.limit != remote.server_limit(key):
        report.reapplied.append(key.id)


async def _repair(
    ctx: Context,
    client: Backend,
    key: VPNKey,
    found: RemoteKey | None,
    report: ReconcileReport,
    actor: str,
) -> None:
    try:
        async with key_lock(key.id, wait=0):
            await key.refresh_from_db()  # a change may have landed since the snapshot
            if key.state == KeyState.LIVE:
                await _repair_live(client, key, found, report, actor)
    except KeyBusy:
        pass  # being changed right now: that change leaves it consistent


async def _repair_live(
    client: Backend, key: VPNKey, found: RemoteKey | None, report: ReconcileReport, actor: str
) -> None:
    srv = key.server
    if found is None:
        try:
            creds = parse_access_url(key.access_url or "")
            op = client.create_key(
                key.remote_id,
                name=key.name,
                limit=remote.server_limit(key),
                method=creds.method,
                password=creds.password,
                port=creds.port,
            )
            await remote.call(srv, op)
        except (ValueError, DomainError):
            report.missing.append(key.id)
            return
        report.recreated.append(key.id)
        await audit.record(actor, "key.recreated", key=key)
        return
    if found.name != key.name or found.limit != remote.server_limit(key):
        await remote.call(srv, client.rename_key(key.remote_id, key.name))
        await remote.call(srv, client.set_limit(key.remote_id, remote.server_limit(key)))
        report.reapplied.append(key.id)
