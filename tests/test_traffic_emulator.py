"""The emulator's "prometheus" usage mode over HTTP: the real server's extrapolated answers,
computed from scraped samples like Prometheus 2.42's ``increase()``."""

from collections.abc import AsyncIterator

import aiohttp
import pytest

from vpn.emulator import RunningEmulator, start_emulator
from vpn.emulator.traffic import UP

START = 1_699_999_980.0  # a multiple of 60: scrapes fall at START + 20 + 60 k


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def prom(clock: Clock) -> AsyncIterator[RunningEmulator]:
    running = await start_emulator(usage="prometheus", clock=clock, scrape_offset=20.0)
    yield running
    await running.stop()


async def get(running: RunningEmulator, path: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(running.api_url + path) as resp:
        return resp.status, await resp.json()


async def transfer(running: RunningEmulator) -> dict[str, int]:
    status, body = await get(running, "/metrics/transfer")
    assert status == 200
    return body["bytesTransferredByUserId"]


async def since(running: RunningEmulator, seconds: int) -> dict[int, float]:
    status, body = await get(running, f"/experimental/server/metrics?since={seconds}s")
    assert status == 200
    return {e["accessKeyId"]: e["dataTransferred"]["bytes"] for e in body["accessKeys"]}


async def test_a_fresh_keys_first_burst_never_shows_until_it_moves_again(
    prom: RunningEmulator, clock: Clock
) -> None:
    emu = prom.emulator
    emu.add_traffic("1", 5_010_879, at=START + 5)
    emu.add_traffic("1", 5_011_015, at=START + 30)
    emu.add_traffic("2", 5_010_879, at=START + 5)
    clock.now = START + 79
    assert await transfer(prom) == {}  # one sample only
    clock.now = START + 81  # one second after the second scrape
    first_sample, delta, sampled = 5_010_879, 5_011_015, 60.0
    # E_start is the zero point: sampled * v1 / delta = 59.997 s (< 66 s), so v1 is added.
    expected = delta * (sampled + sampled * first_sample / delta + 1) / sampled
    assert await transfer(prom) == {"1": round(expected)}  # key 2: no increase, ever
    assert 2.0 < expected / delta < 2.1  # the README's measured 2.03


async def test_readings_rise_between_scrapes_and_drop_back_at_the_next(
    prom: RunningEmulator, clock: Clock
) -> None:
    emu = prom.emulator
    emu.add_traffic("1", 300, at=START + 1)  # prime the series with a tiny transfer
    emu.add_traffic("1", 5_000_000, at=START + 30)
    readings = []
    for moment in (START + 81, START + 110, START + 139, START + 141):
        clock.now = moment
        readings.append((await transfer(prom))["1"])
    assert readings[0] < readings[1] < readings[2]
    assert readings[3] < readings[2]
    # A tiny first sample: its zero point is 0.0036 s back; 1 s after the scrape.
    assert readings[0] == round(5_000_000 * (60 + 60 * 300 / 5_000_000 + 1) / 60)


async def test_short_windows_are_empty_and_values_are_floats(
    prom: RunningEmulator, clock: Clock
) -> None:
    emu = prom.emulator
    emu.add_traffic("5", 1_000, at=START + 1)
    emu.add_traffic("5", 7_777, at=START + 90)
    emu.add_traffic("5", 10, at=START + 90, series=UP)
    clock.now = START + 20 + 120 + 7
    assert set((await since(prom, 60)).values()) <= {0}  # at most one sample in the window
    value = (await since(prom, 3600))[5]
    assert value != int(value)
    # Each series on its own: c<p has samples at +20, +80, +140; p>t only one, at +140.
    assert value == pytest.approx(7_777 * (120 + 120 * 1_000 / 7_777 + 7) / 120)


async def test_each_experimental_query_is_cached_for_five_minutes(
    prom: RunningEmulator, clock: Clock
) -> None:
    emu = prom.emulator
    emu.add_traffic("2", 100, at=START + 1)
    emu.add_traffic("2", 1_000, at=START + 70)
    clock.now = START + 150
    before = await since(prom, 3600)
    emu.add_traffic("2", 50_000, at=START + 151)
    clock.now = START + 450  # new samples, but the same query text within 300 s
    assert await since(prom, 3600) == before
    assert (await since(prom, 3601))[2] > before[2]
    clock.now = START + 451
    assert (await since(prom, 3600))[2] > before[2]


async def test_a_prometheus_restart_misses_scrapes_and_answers_500_while_down(
    prom: RunningEmulator, clock: Clock
) -> None:
    emu = prom.emulator
    emu.add_traffic("3", 100, at=START + 1)
    clock.now = START + 200
    emu.restart_prometheus(down_for=300)
    emu.add_traffic("3", 2_000, at=START + 250)
    clock.now = START + 400
    assert (await get(prom, "/metrics/transfer"))[0] == 500
    assert (await get(prom, "/experimental/server/metrics?since=1h"))[0] == 500
    clock.now = START + 20 + 600 + 1
    # Samples at +20 … +140, then none until +560 (+500 was down): Δ = 2000 over 600 s.
    assert (await transfer(prom))["3"] == round(2_000 * (600 + 600 * 100 / 2_000 + 1) / 600)


async def test_a_proxy_restart_resets_the_counters_and_increase_counts_across_it(
    prom: RunningEmulator, clock: Clock
) -> None:
    emu = prom.emulator
    emu.add_traffic("4", 10_000, at=START + 1)
    emu.add_traffic("4", 5_000, at=START + 30)
    clock.now = START + 100
    emu.restart_proxy()
    emu.add_traffic("4", 3_000, at=START + 110)
    clock.now = START + 20 + 180 + 1
    # Samples 10000, 15000, (restart) 3000, 3000: increase = 5000 + 3000 reset-corrected.
    sampled, delta = 180.0, 8_000
    expected = delta * (sampled + 30 + 1) / sampled  # v1/Δ > 1.1·avg: E_start = avg / 2
    assert (await transfer(prom))["4"] == round(expected)


async def test_a_wiped_metrics_store_forgets_everything_counted_before(
    prom: RunningEmulator, clock: Clock
) -> None:
    emu = prom.emulator
    emu.add_traffic("6", 10_000, at=START + 1)
    emu.add_traffic("6", 10_000, at=START + 61)
    clock.now = START + 100
    assert "6" in await transfer(prom)
    emu.reset_usage()
    assert await transfer(prom) == {}
    assert emu.traffic.total("6", 0, clock.now) == 20_000  # the proxy's own counters stay
