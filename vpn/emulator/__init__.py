"""An Outline management API emulator served over real HTTP(S), with fault injection."""

from vpn.emulator.app import build_app
from vpn.emulator.checks import ApiError
from vpn.emulator.faults import Fault, Faults
from vpn.emulator.records import KeyRecord
from vpn.emulator.runner import RunningEmulator, start_emulator
from vpn.emulator.state import OutlineEmulator
from vpn.emulator.tls import server_tls

__all__ = [
    "ApiError",
    "Fault",
    "Faults",
    "KeyRecord",
    "OutlineEmulator",
    "RunningEmulator",
    "build_app",
    "server_tls",
    "start_emulator",
]
