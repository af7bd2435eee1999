"""Fixtures for VPN tests: the Outline emulator over real HTTP and HTTPS, and a client pool."""

from collections.abc import AsyncIterator

import pytest

from vpn.emulator import RunningEmulator, start_emulator
from vpn.pool import BackendPool


@pytest.fixture
async def outline_server() -> AsyncIterator[RunningEmulator]:
    """An emulated Outline server on plain HTTP (loopback, random port and secret prefix)."""
    running = await start_emulator()
    yield running
    await running.stop()


@pytest.fixture
async def outline_tls_server() -> AsyncIterator[RunningEmulator]:
    """An emulated Outline server on HTTPS with a self-signed certificate to pin."""
    running = await start_emulator(tls=True)
    yield running
    await running.stop()


@pytest.fixture
async def backend_pool() -> AsyncIterator[BackendPool]:
    """A client pool with a 1 s timeout, closed after the test."""
    pool = BackendPool(timeout=1.0)
    yield pool
    await pool.close()
