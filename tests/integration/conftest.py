"""The real Outline server (``../shared/outline-server``), started by ``.ci/run``.

``OUTLINE_REAL_JSON`` holds the installer line ``{"apiUrl": …, "certSha256": …}`` (or the
path of a file holding it); without it these tests are skipped (failed under
``VPNKEYS_REQUIRE_SERVICES=1``). ``OUTLINE_SERVER_HOME`` is the folder with ``ss-traffic``.
The server is shared by the whole session, so every test deletes the keys it made.
"""

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from db.models import VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.keys import installation, remote
from domain.servers import registry
from tests.conftest import SECRET_MARKERS
from tests.services import unavailable

HOME_CANDIDATES = (
    os.environ.get("OUTLINE_SERVER_HOME", ""),
    str(Path(__file__).resolve().parents[3] / "shared" / "outline-server"),
    "/work/shared/outline-server",
)
SCRAPE_SECONDS = 60.0


@dataclass(frozen=True)
class RealOutline:
    """How to reach the real server, and how to move real bytes through one of its keys."""

    api_url: str = field(repr=False)
    cert_sha256: str
    home: Path

    async def move_bytes(
        self, access_url: str, nbytes: int, *, up: bool = False, give_up_after: float = 60.0
    ) -> dict[str, Any]:
        """Run ``ss-traffic``: its JSON report (``ok`` is false when the bytes did not pass)."""
        args = [
            str(self.home / "ss-traffic"),
            access_url,
            str(nbytes),
            "--timeout",
            str(give_up_after),
        ]
        if up:
            args.append("--up")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        lines = out.decode().strip().splitlines()
        report = json.loads(lines[-1]) if lines else {}
        report.setdefault("ok", False)
        report["ok"] = bool(report["ok"]) and proc.returncode == 0
        return report

    async def passes(self, access_url: str, *, tries: int = 3) -> bool:
        """Whether a few bytes get through ``access_url``, allowing the proxy time to reload.

        shadowbox answers a key or limit change before outline-ss-server has reloaded its
        keys, so the first attempt may still see the old state; a cut key accepts TCP and
        then never answers, so each attempt gives up after a second.
        """
        return await self._settles(access_url, passing=True, tries=tries)

    async def refuses(self, access_url: str, *, tries: int = 3) -> bool:
        """Whether ``access_url`` stops passing bytes (the same allowance as ``passes``)."""
        return not await self._settles(access_url, passing=False, tries=tries)

    async def _settles(self, access_url: str, *, passing: bool, tries: int) -> bool:
        ok = not passing
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(0.3)
            ok = (await self.move_bytes(access_url, 1000, give_up_after=1.0))["ok"]
            if ok == passing:
                break
        return ok


def _installer_line() -> dict[str, Any] | None:
    raw = os.environ.get("OUTLINE_REAL_JSON", "").strip()
    if not raw:
        return None
    if not raw.startswith("{"):
        raw = Path(raw).read_text().strip()
    return json.loads(raw)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``outline_real`` marker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.outline_real)


@pytest.fixture(scope="session")
def real_outline() -> RealOutline:
    """The running real server, or a skip (a failure where services are required)."""
    line = _installer_line()
    if line is None:
        unavailable("OUTLINE_REAL_JSON is not set (start ../shared/outline-server/start)")
        raise AssertionError("unreachable")
    home = next(
        (Path(p) for p in HOME_CANDIDATES if p and (Path(p) / "ss-traffic").exists()), None
    )
    if home is None:
        unavailable("ss-traffic not found; set OUTLINE_SERVER_HOME")
        raise AssertionError("unreachable")
    SECRET_MARKERS.append(urlsplit(line["apiUrl"]).path)
    return RealOutline(line["apiUrl"], line["certSha256"], home)


@asynccontextmanager
async def registered(ctx: Context, real_outline: RealOutline) -> AsyncIterator[VPNServer]:
    """The real server registered (pinned) as ``real``, with no key in this service's id
    schemes on it; afterwards the test's keys and every key in those schemes are deleted."""
    server = await registry.add_server(
        ctx,
        name="real",
        api_url=real_outline.api_url,
        cert_sha256=real_outline.cert_sha256,
        actor=audit.CLI,
    )
    await _delete_keys(ctx, server, set())
    yield server
    rows = await VPNKey.filter(server=server).values_list("remote_id", flat=True)
    await _delete_keys(ctx, server, set(rows))


@pytest.fixture
async def real_server(
    db: str, ctx: Context, real_outline: RealOutline
) -> AsyncIterator[VPNServer]:
    """The real server registered as ``real`` for domain tests (see ``registered``)."""
    async with registered(ctx, real_outline) as server:
        yield server


@pytest.fixture
async def foreign_keys(ctx: Context, real_server: VPNServer) -> AsyncIterator[set[str]]:
    """Ids of keys the test makes on the real server outside the domain; deleted after it."""
    made: set[str] = set()
    yield made
    await _delete_keys(ctx, real_server, made)


def made_by_a_test(remote_id: str) -> bool:
    """Whether a key id is in this service's schemes (any installation's, or the legacy one)."""
    size = len(installation.KeyIds("0" * 6).new())
    return remote_id.isdigit() and (len(remote_id) == size or installation.is_legacy(remote_id))


async def _delete_keys(ctx: Context, server: VPNServer, ids: set[str]) -> None:
    client = remote.backend(ctx, server)
    present = {key.id for key in await remote.call(server, client.list_keys())}
    for remote_id in present & ids | {i for i in present if made_by_a_test(i)}:
        await remote.call(server, remote.forget_missing(client.delete_key(remote_id)))
