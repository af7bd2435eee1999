"""Assertions shared by tests: database and emulator agree."""

from db.models import KeyState, VPNKey, VPNServer
from domain.keys import installation
from domain.keys.installation import is_legacy
from vpn.emulator import OutlineEmulator


async def drift(server: VPNServer, emulator: OutlineEmulator) -> tuple[set[str], set[str]]:
    """(orphans on the server, live database keys missing on the server)."""
    ids = await installation.key_ids()
    live = set(
        await VPNKey.filter(server=server, state=KeyState.LIVE).values_list("remote_id", flat=True)
    )
    remote = {key_id for key_id in emulator.keys if ids.owns(key_id) or is_legacy(key_id)}
    return remote - live, live - remote


async def assert_consistent(server: VPNServer, emulator: OutlineEmulator) -> None:
    """No orphan on the server, no live key missing there, no unfinished row left."""
    orphans, missing = await drift(server, emulator)
    assert (orphans, missing) == (set(), set())
    assert not await VPNKey.filter(server=server, state=KeyState.CREATING).exists()
