"""An Outline emulator process for the benchmarks: ``python -m bench.emulator [options]``.

Prints its API URLs (one per server, space-separated) on the first stdout line when ready.
Options inject random faults (``--fail-rate``: answer 500/503 without acting; ``--drop-rate``:
act, then drop the connection) and pre-fill keys and traffic straight into the state (no
HTTP). SIGUSR1 switches the random faults off, so a reconcile after the load sees a healthy
server; SIGUSR2 gives every pre-filled key more traffic (a steady-state sync); SIGTERM stops
it.
"""

import argparse
import asyncio
import gc
import random
import signal

from vpn.emulator import Fault, Faults, OutlineEmulator, RunningEmulator, start_emulator
from vpn.emulator.records import KeyRecord, complete

SEED_PREFIX = "73"


def seed_id(server: int, index: int) -> str:
    """The remote id of pre-filled key ``index`` on server ``server`` (service id scheme)."""
    return f"{SEED_PREFIX}{server:03d}{index:010d}"


class RandomFaults(Faults):
    """The emulator's fault rules, plus a random failure or drop of any call."""

    def __init__(self, fail_rate: float, drop_rate: float, seed: int) -> None:
        super().__init__()
        self.fail_rate, self.drop_rate = fail_rate, drop_rate
        self.rng = random.Random(seed)
        self.injected = {"fail": 0, "drop": 0}

    def off(self) -> None:
        """No more random faults."""
        self.fail_rate = self.drop_rate = 0.0

    def take(self, method: str, path: str) -> Fault | None:
        """A queued rule first; otherwise a random fault at the configured rates."""
        rule = super().take(method, path)
        if rule is not None:
            return rule
        roll = self.rng.random()
        if roll < self.fail_rate:
            self.injected["fail"] += 1
            return Fault("fail", 1, status=self.rng.choice((500, 503)))
        if roll < self.fail_rate + self.drop_rate:
            self.injected["drop"] += 1
            return Fault("drop", 1)
        return None


def prefill(emulator: OutlineEmulator, server: int, keys: int, traffic: bool) -> None:
    """Put ``keys`` keys (and some traffic for each) straight into the state."""
    for index in range(keys):
        key_id = seed_id(server, index)
        record = KeyRecord(id=key_id, name=f"k{index}", password=f"p{server}-{index}")
        emulator.keys[key_id] = complete(record, key_id, emulator.hostname, 4000)
        if traffic:
            emulator.add_traffic(key_id, 1000 + index)


def more_traffic(running: list[RunningEmulator], keys: int) -> None:
    """Some new traffic for every pre-filled key of every server."""
    for server, emu in enumerate(running):
        for index in range(keys):
            emu.emulator.add_traffic(seed_id(server, index), 500 + index)


async def serve(args: argparse.Namespace) -> None:
    running: list[RunningEmulator] = []
    random_faults: list[RandomFaults] = []
    for server in range(args.servers):
        emu = await start_emulator()
        faults = RandomFaults(args.fail_rate, args.drop_rate, args.seed + server)
        emu.emulator.faults = faults
        prefill(emu.emulator, server, args.keys, args.traffic)
        running.append(emu)
        random_faults.append(faults)
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    loop.add_signal_handler(signal.SIGINT, stopped.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: [f.off() for f in random_faults])
    loop.add_signal_handler(signal.SIGUSR2, lambda: more_traffic(running, args.keys))
    # The pre-filled state lives as long as the process: the collector need not walk it again
    # and again (a real server's state is not this process's garbage either).
    gc.freeze()
    print(" ".join(emu.api_url for emu in running), flush=True)
    await stopped.wait()
    for emu in running:
        await emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.emulator")
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--keys", type=int, default=0, help="keys to pre-fill per server")
    parser.add_argument("--traffic", action="store_true", help="give pre-filled keys traffic")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
