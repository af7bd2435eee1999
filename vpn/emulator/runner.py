"""Serving the emulator over real HTTP(S) on loopback, for tests and ``main.py --demo``."""

import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from vpn.backends import ServerConfig
from vpn.emulator.app import build_app
from vpn.emulator.state import OutlineEmulator
from vpn.emulator.tls import server_tls


@dataclass
class RunningEmulator:
    """A served emulator: its secret ``api_url``, pinned ``cert_sha256`` and state."""

    api_url: str = field(repr=False)
    cert_sha256: str | None
    emulator: OutlineEmulator = field(repr=False)
    prefix: str = field(repr=False)
    _runner: web.AppRunner = field(repr=False)

    def config(self, name: str = "emulator", kind: str = "outline") -> ServerConfig:
        """How the service reaches this server."""
        return ServerConfig(name, kind, self.api_url, self.cert_sha256)

    async def stop(self) -> None:
        """Wake hanging calls and shut the server down."""
        self.emulator.faults.release()
        await self._runner.cleanup()


async def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tls: bool = False,
    prefix: str | None = None,
    **opts: Any,
) -> RunningEmulator:
    """Serve a new ``OutlineEmulator(**opts)`` under a random secret prefix."""
    emulator = OutlineEmulator(**opts)
    prefix = "/" + (prefix or secrets.token_urlsafe(16)).strip("/")
    # No access log: request lines carry the secret prefix.
    runner = web.AppRunner(build_app(emulator, prefix), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    context, fingerprint = server_tls(host) if tls else (None, None)
    site = web.TCPSite(runner, host, port, ssl_context=context)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    scheme = "https" if tls else "http"
    api_url = f"{scheme}://{host}:{bound_port}{prefix}"
    return RunningEmulator(api_url, fingerprint, emulator, prefix, runner)
