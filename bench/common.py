"""Shared by every benchmark: child processes, ports, percentiles and the results table."""

import asyncio
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from api.eventloop import loop_factory, loop_name
from domain.settings import Settings

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "data" / "bench"
LOGS = RESULTS / "logs"
PY = sys.executable


@dataclass
class Figure:
    """One measured figure with the baseline it is compared with (ratio = value / baseline)."""

    bench: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    ok: bool | None = None
    note: str = ""
    # One ratio per interleaved round; ``ratio`` is their median.
    ratios: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """The median round's ``value / baseline`` (or the one ratio there is)."""
        if self.ratios:
            return statistics.median(self.ratios)
        return self.value / self.baseline if self.baseline else None


def spread(values: Sequence[float]) -> str:
    """``median (min–max)`` of ``values``."""
    return f"{_fmt(statistics.median(values))} ({_fmt(min(values))}–{_fmt(max(values))})"


def rounds_figure(
    bench: str,
    metric: str,
    values: Sequence[float],
    unit: str,
    baselines: Sequence[float],
    baseline_label: str,
    target: str = "",
    ok: Callable[[float, float], bool] | None = None,
    note: str = "",
) -> Figure:
    """A figure from interleaved rounds: medians, per-round ratios, ``ok(value, ratio)``."""
    ratios = [v / b for v, b in zip(values, baselines, strict=True) if b]
    value = statistics.median(values)
    figure = Figure(bench, metric, value, unit, statistics.median(baselines), baseline_label,
                    target, None, note, ratios)  # fmt: skip
    if ok is not None:
        figure.ok = ok(value, figure.ratio or 0.0)
    return figure


async def interleaved(
    rounds: int, runs: dict[str, Callable[[], Awaitable[T]]]
) -> dict[str, list[T]]:
    """Each run once per round, the order rotating, so the machine's other work weighs on
    every run alike; prints each result as it comes."""
    results: dict[str, list[T]] = {name: [] for name in runs}
    names = list(runs)
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            busy = await quiet(max_wait=3)
            results[name].append(await runs[name]())
            got = results[name][-1]
            print(f"  round {number + 1} {name}: {got} (busy {busy:.0%})", flush=True)
    return results


def loop_factory_name() -> str:
    """The event loop the service runs on (``UVLOOP``): baselines use the same one."""
    return loop_name(loop_factory(Settings()))


def run_on_service_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on the event loop the service would run on."""
    with asyncio.Runner(loop_factory=loop_factory(Settings())) as runner:
        return runner.run(main)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100, nearest rank) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        values = [int(x) for x in stat.readline().split()[1:]]
    return sum(values), values[3] + values[4]  # total, idle + iowait


async def quiet(max_wait: float = 20, busy_below: float = 0.15) -> float:
    """Wait (at most ``max_wait`` s) until the machine is nearly idle; the busy share seen.

    Other work on a 2-core machine (a test run, say) skews every figure, the baselines too.
    """
    deadline = time.monotonic() + max_wait
    while True:
        total, idle = _cpu_times()
        await asyncio.sleep(1)
        total2, idle2 = _cpu_times()
        busy = 1 - (idle2 - idle) / max(1, total2 - total)
        if busy < busy_below or time.monotonic() > deadline:
            if busy >= busy_below:
                print(f"warning: the machine is {busy:.0%} busy with other work", flush=True)
            return busy


@contextmanager
def profiled(path: Path | None) -> Iterator[None]:
    """Sample the block with pyinstrument and write the text report to ``path`` (if given)."""
    if path is None:
        yield
        return
    from pyinstrument import Profiler

    with Profiler(interval=0.0005, async_mode="disabled") as profiler:
        yield
    path.write_text(profiler.output_text(unicode=True, color=False, show_all=True))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem_kib = int(info.readline().split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kib / 1024**2:.1f} GiB",
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table_rows(figures: Sequence[Figure]) -> list[str]:
    """Markdown rows: metric, value, baseline, ratio, target, verdict."""
    rows = []
    for f in figures:
        baseline = f"{_fmt(f.baseline)} ({f.baseline_label})" if f.baseline_label else "—"
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "—"
        if len(f.ratios) > 1:
            ratio += f" ({min(f.ratios):.2f}–{max(f.ratios):.2f})"
        verdict = {True: "pass", False: "**short**", None: "—"}[f.ok]
        note = f" {f.note}" if f.note else ""
        rows.append(
            f"| {f.bench} | {f.metric}{note} | {_fmt(f.value)} {f.unit} | {baseline} | {ratio} "
            f"| {f.target or '—'} | {verdict} |"
        )
    return rows


TABLE_HEAD = [
    "| bench | figure | value | baseline (same run) | ratio | target | verdict |",
    "|---|---|---|---|---|---|---|",
]


def report(name: str, figures: Sequence[Figure], *, keep: bool = True) -> None:
    """Print the figures and keep them in ``data/bench/<name>.json`` for ``bench.table``
    (not with ``keep=False``: a profiled run's figures are not the product's)."""
    print("\n".join(TABLE_HEAD + table_rows(figures)), flush=True)
    if not keep:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine(), "figures": [asdict(f) for f in figures]}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1))


def each_engine(module: str, argv: Sequence[str] | None, choice: str) -> bool:
    """For ``--db both``, run ``module`` once per engine in a child process (an ORM set up for
    one dialect cannot serve another in the same process); ``False`` when nothing was run."""
    if choice != "both":
        return False
    argv = list(sys.argv[1:] if argv is None else argv)
    for engine in ("sqlite", "postgres"):
        subprocess.run([PY, "-m", module, *argv, "--db", engine], cwd=ROOT, check=False)
    return True


def log_path(name: str) -> Path:
    """Where a child process's output goes."""
    LOGS.mkdir(parents=True, exist_ok=True)
    return LOGS / f"{name}.log"


async def spawn(
    name: str, args: Sequence[str], env: dict[str, str] | None = None, *, ready: bool = False
) -> tuple[asyncio.subprocess.Process, str]:
    """Start ``python ARGS`` in ROOT; with ``ready``, wait for and return its first stdout line."""
    log = log_path(name).open("ab")
    proc = await asyncio.create_subprocess_exec(
        PY,
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=asyncio.subprocess.PIPE if ready else log,
        stderr=log,
    )
    log.close()
    if not ready:
        return proc, ""
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
    except TimeoutError:
        proc.kill()
        raise RuntimeError(f"{name} did not start; see {log_path(name)}") from None
    if not line:
        raise RuntimeError(f"{name} exited at start; see {log_path(name)}")
    return proc, line.decode().strip()


async def stop(proc: asyncio.subprocess.Process, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it lingers; always reaped."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
    await proc.wait()


async def wait_http(url: str, within: float = 30) -> None:
    """Poll ``url`` until it answers at all (any status)."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not answer within {within}s") from None
                await asyncio.sleep(0.1)


@asynccontextmanager
async def service(
    name: str, database_url: str, *, profile: Path | None = None, workers: int = 1, **env: str
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """The real service in its own process (``bench.serve``; ``main.py serve --workers N``
    for several); yields its base URL."""
    port = free_port()
    settings = {"DATABASE_URL": database_url, "API_HOST": "127.0.0.1", "API_PORT": str(port)}
    args = ["-m", "bench.serve"] + (["--profile", str(profile)] if profile else [])
    if workers > 1:
        args = ["main.py", "serve", "--workers", str(workers)]
    proc, _ = await spawn(name, args, {**settings, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_http(f"{base}/healthz")
        yield base, proc
    finally:
        await stop(proc, grace=30)


@asynccontextmanager
async def emulator_process(name: str, *args: str) -> AsyncIterator[tuple[str, int]]:
    """An Outline emulator in its own process; yields its API URL and pid."""
    proc, api_url = await spawn(name, ["-m", "bench.emulator", *args], ready=True)
    try:
        yield api_url, proc.pid
    finally:
        await stop(proc)
