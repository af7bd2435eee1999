"""VPN servers: registration (checked live, once per server), re-pointing, look-up, health."""

import json
import re
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from db import reads
from db.models import KeyState, VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.errors import Conflict, DomainError, Invalid, NotFound
from domain.keys import remote
from domain.traffic import history

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# Where a new key may be asked for: the active server with the fewest live keys.
AUTO = "auto"
CERT_RE = re.compile(r"[0-9A-Fa-f]{64}")
KINDS = ("outline",)
TITLE_MAX = 64
_COLUMNS = ", ".join(VPNServer._meta.fields_db_projection.values())


@dataclass(frozen=True, slots=True)
class ServerHealth:
    """One server's reachability as seen just now."""

    name: str
    is_active: bool
    reachable: bool
    latency_ms: float | None
    remote_keys: int | None
    live_keys: int
    error: str | None
    server_id: int = 0
    # What the health watch recorded: down since when (None: up), and a drain in progress.
    down_since: datetime | None = None
    draining: bool = False
    title: str | None = None


def parse_installer_line(text: str) -> tuple[str, str | None]:
    """``(api_url, cert_sha256)`` from the JSON line the Outline installer prints."""
    try:
        data = json.loads(text)
        return str(data["apiUrl"]), data.get("certSha256")
    except (ValueError, KeyError, TypeError):
        raise Invalid('expected the installer\'s JSON: {"apiUrl": …, "certSha256": …}') from None


def _validate(name: str, api_url: str, cert_sha256: str | None, kind: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise Invalid("server name must match [a-z0-9][a-z0-9_-]{0,31}", field="name")
    if name == AUTO:
        raise Invalid(f"'{AUTO}' is reserved: it picks the least loaded server", field="name")
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("API URL must be an http(s) URL", field="api_url")
    if cert_sha256 is not None and not CERT_RE.fullmatch(cert_sha256):
        raise Invalid("certificate fingerprint must be 64 hex digits", field="cert_sha256")
    if kind not in KINDS:
        raise Invalid(f"server kind must be one of {', '.join(KINDS)}", field="kind")


def check_title(title: str | None) -> str | None:
    """A display title stripped and checked (``None`` or blank: show the name instead)."""
    title = (title or "").strip()
    if len(title) > TITLE_MAX:
        raise Invalid(f"server title must be at most {TITLE_MAX} characters", field="title")
    return title or None


def _address(api_url: str) -> tuple[str, int]:
    """``(host, port)`` of an API URL, the default port filled in."""
    parts = urlsplit(api_url)
    return (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


async def _ask_identity(ctx: Context, server: VPNServer) -> str:
    """The ``serverId`` the server reports (checks that it answers with these credentials)."""
    info = await remote.call(server, remote.backend(ctx, server).server_info())
    return info.server_id


async def _refuse_duplicates(ctx: Context, server: VPNServer, server_uid: str) -> None:
    """Refuse ``server`` when another registered server has its address or ``serverId``."""
    others = await VPNServer.exclude(id=server.id) if server.id else await VPNServer.all()
    for other in others:
        if _address(other.api_url) == _address(server.api_url):
            raise Conflict(f"server '{other.name}' already has this address", server=other.name)
        if other.server_uid is None:  # registered before serverIds were kept: ask it now
            with suppress(DomainError):
                await check_identity(ctx, other)
        if other.server_uid == server_uid:
            raise Conflict(
                f"this Outline server is already registered as '{other.name}'", server=other.name
            )


def _registered_twice(server: VPNServer, other: str) -> Conflict:
    return Conflict(
        f"server '{server.name}' is the same Outline server as '{other}', registered twice "
        f"(before `server add` checked); its keys are left alone until one name is gone: "
        f"`server drain {server.name} --to {other}`, then `server remove {server.name}`",
        server=server.name,
    )


async def _fill_identity(server: VPNServer, server_uid: str) -> None:
    """Record the ``serverId`` of a server registered before they were kept."""
    twin = await VPNServer.filter(server_uid=server_uid).exclude(id=server.id).first()
    if twin is None:
        try:
            await VPNServer.filter(id=server.id, server_uid=None).update(server_uid=server_uid)
        except IntegrityError:  # a twin's id was filled just now, by another process
            twin = await VPNServer.filter(server_uid=server_uid).exclude(id=server.id).first()
    if twin is not None:
        raise _registered_twice(server, twin.name)
    server.server_uid = server_uid


async def check_identity(ctx: Context, server: VPNServer) -> None:
    """Make sure ``server`` still is the Outline server registered (fill a missing id);
    a legacy second registration of one server is a ``Conflict``."""
    server_uid = await _ask_identity(ctx, server)
    if server.server_uid is None:
        await _fill_identity(server, server_uid)
    elif server.server_uid != server_uid:
        raise Conflict(
            f"server '{server.name}' answers as another Outline server than the one registered; "
            f"if it was reinstalled, run `server update {server.name} …` first",
            server=server.name,
        )


async def twins(ctx: Context, server: VPNServer) -> list[VPNServer]:
    """The other registrations of ``server``'s Outline server: the same address or
    ``serverId``, or a legacy one (no ``serverId`` kept) that cannot be asked right now."""
    found = []
    for other in await VPNServer.exclude(id=server.id):
        server_uid = other.server_uid
        if server_uid is None:
            with suppress(DomainError):
                server_uid = await _ask_identity(ctx, other)
        same_address = _address(other.api_url) == _address(server.api_url)
        if server_uid is None or server_uid == server.server_uid or same_address:
            found.append(other)
    return found


async def add_server(
    ctx: Context,
    *,
    name: str,
    api_url: str,
    cert_sha256: str | None = None,
    kind: str = "outline",
    title: str | None = None,
    actor: str,
) -> VPNServer:
    """Register a server after checking that it answers and is not registered already."""
    cert_sha256 = cert_sha256.replace(":", "").upper() if cert_sha256 else None
    _validate(name, api_url, cert_sha256, kind)
    title = check_title(title)
    if await VPNServer.exists(name=name):
        raise Conflict(f"server '{name}' already exists", server=name)
    server = VPNServer(name=name, title=title, kind=kind, api_url=api_url, cert_sha256=cert_sha256)
    server.server_uid = await _ask_identity(ctx, server)
    await _refuse_duplicates(ctx, server, server.server_uid)
    try:
        async with in_transaction():
            await server.save()
            await audit.record(actor, "server.added", details={"server": name, "kind": kind})
    except IntegrityError:  # a concurrent `server add` of the same name or server won
        raise Conflict(f"server '{name}' is already registered", server=name) from None
    return server


@dataclass(frozen=True, slots=True)
class ServerUpdate:
    """A re-pointed server, and whether it is another Outline installation than before."""

    server: VPNServer
    reinstalled: bool


async def update_server(
    ctx: Context, *, name: str, api_url: str, cert_sha256: str | None = None, actor: str
) -> ServerUpdate:
    """Point a registered server at a new API URL / certificate, after checking it answers."""
    server = await get_server(name)
    cert_sha256 = cert_sha256.replace(":", "").upper() if cert_sha256 else None
    _validate(name, api_url, cert_sha256, server.kind)
    candidate = VPNServer(
        id=server.id, name=name, kind=server.kind, api_url=api_url, cert_sha256=cert_sha256
    )
    server_uid = await _ask_identity(ctx, candidate)
    await _refuse_duplicates(ctx, candidate, server_uid)
    reinstalled = server.server_uid is not None and server.server_uid != server_uid
    server.api_url, server.cert_sha256, server.server_uid = api_url, cert_sha256, server_uid
    async with in_transaction():
        await server.save(update_fields=["api_url", "cert_sha256", "server_uid"])
        details = {"server": name, "reinstalled": reinstalled}
        await audit.record(actor, "server.updated", details=details)
    return ServerUpdate(server, reinstalled)


async def get_server(name: str) -> VPNServer:
    """The server called ``name`` (one plain query: every key change asks)."""
    rows = await reads.fetch(f"SELECT {_COLUMNS} FROM vpn_servers WHERE name = $1", name)
    if not rows:
        raise NotFound(f"server '{name}' not found", server=name)
    return reads.as_model(VPNServer, rows[0])


async def usable_server(name: str, *, exclude: int | None = None) -> VPNServer:
    """The server called ``name`` (``auto``: the least loaded one), refusing a disabled one."""
    if name == AUTO:
        return await least_loaded(exclude=exclude)
    server = await get_server(name)
    if not server.is_active:
        raise Conflict(f"server '{name}' is disabled", server=name)
    return server


async def live_key_counts() -> dict[int, int]:
    """Live keys per server id."""
    rows = (
        await VPNKey.filter(state=KeyState.LIVE)
        .annotate(n=Count("id"))
        .group_by("server_id")
        .values("server_id", "n")
    )
    return {row["server_id"]: int(row["n"]) for row in rows}


async def least_loaded(*, exclude: int | None = None) -> VPNServer:
    """The active, reachable server (not being drained) with the fewest live keys."""
    candidates = [
        s
        for s in await list_servers(active_only=True)
        if s.reachable and not s.draining and s.id != exclude
    ]
    if not candidates:
        raise Conflict("no active server is available for new keys", server=AUTO)
    counts = await live_key_counts()
    return min(candidates, key=lambda s: (counts.get(s.id, 0), s.name))


async def list_servers(*, active_only: bool = False) -> list[VPNServer]:
    """Every registered server, by name."""
    query = VPNServer.filter(is_active=True) if active_only else VPNServer.all()
    return await query.order_by("name")


async def set_server_active(name: str, active: bool, *, actor: str) -> VPNServer:
    """Enable or disable a server (disabled: no new keys, no changes to its keys)."""
    server = await get_server(name)
    async with in_transaction():
        server.is_active = active
        await server.save(update_fields=["is_active"])
        action = "server.enabled" if active else "server.disabled"
        await audit.record(actor, action, details={"server": name})
    return server


async def set_server_title(name: str, title: str | None, *, actor: str) -> VPNServer:
    """Set the title users see for the server (blank: they see its name)."""
    server = await get_server(name)
    async with in_transaction():
        server.title = check_title(title)
        await server.save(update_fields=["title"])
        await audit.record(actor, "server.titled", details={"server": name, "title": server.title})
    return server


async def remove_server(name: str, *, actor: str) -> None:
    """Forget a server that holds no live keys (its deleted keys' history goes with it)."""
    server = await get_server(name)
    if await VPNKey.filter(server=server).exclude(state=KeyState.DELETED).exists():
        raise Conflict(f"server '{name}' still has live keys; delete them first", server=name)
    async with in_transaction():
        await history.forget_keys(server.id)
        await VPNKey.filter(server=server).delete()
        await server.delete()
        await audit.record(actor, "server.removed", details={"server": name})


async def check_health(ctx: Context, server: VPNServer) -> ServerHealth:
    """Ask one server for its keys and time the answer."""
    live = await VPNKey.filter(server=server, state=KeyState.LIVE).count()
    recorded = {
        "server_id": server.id,
        "down_since": server.down_since,
        "draining": server.draining,
        "title": server.title,
    }
    started = time.perf_counter()
    try:
        keys = await remote.call(server, remote.backend(ctx, server).list_keys())
    except DomainError as exc:
        return ServerHealth(
            server.name, server.is_active, False, None, None, live, exc.message, **recorded
        )
    latency = (time.perf_counter() - started) * 1000
    return ServerHealth(
        server.name, server.is_active, True, latency, len(keys), live, None, **recorded
    )
