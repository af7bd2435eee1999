"""podman for the container tests: an engine configured for this machine, the stand-in base
images (tests/containers/standin-images.sh), the image built from the Dockerfile, and a VPN
server (the emulator) inside a container to make `/readyz` ready."""

import asyncio
import hashlib
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services import require_binary, unavailable

ROOT = Path(__file__).resolve().parent.parent
# One tag per checkout, so test runs in two worktrees never run each other's image.
IMAGE = "localhost/vpnkeys-test:" + hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]
BUILD_SECONDS = 1200  # the stand-ins from scratch, then the image; on a shared 2-core machine
# Serves the emulator on the container's loopback and writes the installer's JSON line.
EMULATOR = """
import asyncio, json
from vpn.emulator.runner import start_emulator

async def main() -> None:
    emulator = await start_emulator("127.0.0.1", 9443, tls=True)
    line = {"apiUrl": emulator.api_url, "certSha256": emulator.cert_sha256}
    with open("/tmp/emulator.json", "w") as out:
        json.dump(line, out)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@dataclass
class Engine:
    """How to call podman here: its path and the environment it needs."""

    podman: str
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        """``podman ARGS`` to the end (blocking: for fixtures); its stdout."""
        done = subprocess.run(
            [self.podman, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(f"podman {args[0]} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    async def call(
        self,
        *args: str,
        program: str | None = None,
        cwd: Path | None = None,
        seconds: float = 300,
        check: bool = True,
    ) -> tuple[int, str, str]:
        """``podman ARGS`` (or ``program ARGS``) without blocking the event loop."""
        proc = await asyncio.create_subprocess_exec(
            program or self.podman, *args, env=self.env, cwd=cwd,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(seconds):
            out, err = await proc.communicate()
        code = proc.returncode or 0
        if check and code != 0:
            raise AssertionError(
                f"{program or 'podman'} {args[0]} failed ({code}): {err.decode()}"
            )
        return code, out.decode(), err.decode()

    async def with_emulator(self, container: str) -> None:
        """Start the emulator inside ``container`` and register it as server ``emu``."""
        await self.call("exec", "-d", container, "python", "-c", EMULATOR)
        line = "/tmp/emulator.json"
        add = f'test -s {line} && python main.py server add emu "$(cat {line})"'
        for _ in range(300):
            code, _, _ = await self.call("exec", container, "sh", "-c", add, check=False)
            if code == 0:
                return
            await asyncio.sleep(0.2)
        raise AssertionError("the emulator did not start in the container")


def containers_conf(path: Path) -> Path:
    """Settings this machine needs: ulimits no higher than ours (podman's defaults exceed what
    a root without CAP_SYS_RESOURCE may set) and runc where crun refuses hybrid cgroups."""
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 16384)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 16384)
    lines = [
        "[containers]",
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]',
    ]
    hybrid = not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    if hybrid and shutil.which("runc"):
        lines += ["[engine]", 'runtime = "runc"']
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare_engine(tmp: Path) -> Engine:
    """podman, able to run a container here, with the stand-in base images in place."""
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is not installed")  # a plain skip, even in CI: it is optional
    require_binary("podman", podman)
    require_binary("mmdebstrap")
    conf = containers_conf(tmp / "containers.conf")
    # Docker's image format keeps the Dockerfile's HEALTHCHECK (OCI's has no such field).
    env = {**os.environ, "CONTAINERS_CONF": str(conf), "BUILDAH_FORMAT": "docker"}
    script = ROOT / "tests" / "containers" / "standin-images.sh"
    done = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, timeout=BUILD_SECONDS
    )
    if done.returncode != 0:
        unavailable(f"the stand-in base images could not be built: {done.stderr[-2000:]}")
    probe = subprocess.run(
        [podman, "run", "--rm", "docker.io/library/python:3.11-slim", "true"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if probe.returncode != 0:
        unavailable(f"podman cannot run a container here: {probe.stderr.strip()}")
    return Engine(podman, env)


def build_image(engine: Engine) -> str:
    """This checkout's Dockerfile, built."""
    engine.run("build", "--tag", IMAGE, str(ROOT), timeout=BUILD_SECONDS)
    return IMAGE
