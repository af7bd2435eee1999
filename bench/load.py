"""Load generators: wrk when installed (C, leaves the CPU to the server), else aiohttp."""

import asyncio
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from bench.common import percentile

# A request: (session, worker number, request number) -> HTTP status
Request = Callable[[aiohttp.ClientSession, int, int], Awaitable[int]]

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %.0f, '
    .. '"p99_us": %.0f, "max_us": %.0f, "status": %d, "transport": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class LoadResult:
    """What one load run saw: counts, duration and latency percentiles."""

    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int = 0  # non-2xx answers and transport failures
    statuses: Counter[int] = field(default_factory=Counter)  # 0 = transport failure

    @property
    def rps(self) -> float:
        """Requests per second over the run."""
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    """Whether ``wrk`` is on PATH."""
    return shutil.which("wrk") is not None


async def wrk(url: str, headers: dict[str, str], connections: int, seconds: float) -> LoadResult:
    """GET ``url`` with wrk (one thread) for ``seconds`` over ``connections`` connections."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        args = ["-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "5s"]
        args += ["-s", script.name]
        for name, value in headers.items():
            args += ["-H", f"{name}: {value}"]
        proc = await asyncio.create_subprocess_exec(
            "wrk", *args, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), seconds + 30)
    line = next((x for x in out.decode().splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {err.decode()[-500:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    errors = data["status"] + data["transport"]
    return LoadResult(
        "wrk",
        data["requests"],
        data["duration_us"] / 1e6,
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
        data["max_us"] / 1000,
        errors=errors,
    )


async def run_load(
    request: Request, *, concurrency: int, seconds: float, max_requests: int = 10**9
) -> LoadResult:
    """Run ``request`` from ``concurrency`` workers until ``seconds`` or ``max_requests``."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    issued = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(number: int, session: aiohttp.ClientSession) -> None:
        nonlocal issued
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            started = time.perf_counter()
            try:
                status = await request(session, number, issued)
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(n, session) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    errors = sum(n for status, n in statuses.items() if not 200 <= status < 300)
    ms = [x * 1000 for x in latencies]
    return LoadResult(
        "aiohttp",
        len(latencies),
        elapsed,
        percentile(ms, 50),
        percentile(ms, 99),
        max(ms, default=0.0),
        errors=errors,
        statuses=statuses,
    )


def get(url: str, headers: dict[str, str] | None = None) -> Request:
    """A request that GETs ``url`` and reads the whole answer."""

    async def request(session: aiohttp.ClientSession, worker: int, number: int) -> int:
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            return resp.status

    return request


async def read_load(
    url: str, headers: dict[str, str], *, connections: int, seconds: float, tool: str
) -> LoadResult:
    """GET load with ``tool`` (``wrk``, ``aiohttp`` or ``auto``: wrk when installed)."""
    if tool == "wrk" or (tool == "auto" and wrk_available()):
        return await wrk(url, headers, connections, seconds)
    return await run_load(get(url, headers), concurrency=connections, seconds=seconds)
