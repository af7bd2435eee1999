"""The deployment files, checked without a container engine (tests/test_deploy_container.py
runs the image and the stack where podman is installed): the systemd unit by systemd-analyze,
the compose file by parsing it and by docker-compose's own validation, the Dockerfile's
promises, and the image's entrypoint run for real."""

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml

from domain.settings import Settings
from tests.bot_fixtures import FakeBotApi
from tests.services import require_binary
from tests.serving import cli_env, serving

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze", "/usr/bin/systemd-analyze")
    unit = (ROOT / "deploy" / "systemd" / "vpnkeys.service").read_text()
    # Where the unit expects the installation, this checkout stands in (verify checks paths).
    (tmp_path / "vpnkeys.service").write_text(unit.replace("/opt/vpnkeys", str(ROOT)))
    venv = ROOT / ".venv" / "bin" / "python"
    if not venv.exists():
        pytest.skip("needs the project's .venv")
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / "vpnkeys.service")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    complaints = [line for line in done.stderr.splitlines() if "vpnkeys.service" in line]
    assert done.returncode == 0 and not complaints, done.stderr
    for hardening in ("DynamicUser=yes", "ProtectSystem=strict", "Restart=on-failure"):
        assert hardening in unit


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_the_compose_stack_has_the_app_its_databases_and_a_tls_proxy() -> None:
    services = compose()["services"]
    assert set(services) == {"app", "postgres", "redis", "proxy"}
    app = services["app"]
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    env = app["environment"]
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["REDIS_URL"] == "redis://redis:6379/0" and env["MIGRATE_ON_START"] == "1"
    assert "backups:/backups" in app["volumes"] and "/healthz" in str(app["healthcheck"])
    proxy = services["proxy"]
    assert "443:443" in proxy["ports"]
    for mount in proxy["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./deploy/"):
            assert (ROOT / source).is_file(), mount
    assert {"postgres", "backups"} <= set(compose()["volumes"])


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    command = [binary] if binary else None
    if command is None and shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        command = ["docker", "compose"] if probe.returncode == 0 else None
    if command is None:
        require_binary("docker-compose", "/usr/bin/docker-compose")
        return
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    done = subprocess.run(
        [*command, "-f", "compose.yaml", "config"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "postgres://vpnkeys:change-me@postgres:5432/vpnkeys" in done.stdout


def test_the_dockerfile_builds_a_slim_non_root_image_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[1-3]-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert "MIGRATE_ON_START=1" in text and 'ENTRYPOINT ["vpnkeys-entrypoint"]' in text
    for source in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", ".env"} <= set(ignored)


def test_the_image_and_the_package_hold_every_package_of_the_service() -> None:
    packages = {init.parent.name for init in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    copied = set(re.findall(r"^COPY (\S+) ", (ROOT / "Dockerfile").read_text(), re.M))
    assert packages <= copied
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {f"{name}*" for name in packages} <= set(found["packages"]["find"]["include"])


def test_the_dockerfile_installs_exactly_the_project_dependencies(tmp_path: Path) -> None:
    line = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if "tomllib" in line
    )
    script = re.search(r'python -c "(.*)" >', line)
    assert script, line
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", script[1]], cwd=tmp_path, capture_output=True, text=True
    )
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert done.stdout.split("\n")[: len(wanted)] == wanted


def test_env_example_names_only_real_settings() -> None:
    names = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    known = {n.upper() for n in Settings.model_fields} | {"POSTGRES_PASSWORD"}
    assert names and set(names) <= known, set(names) - known


def entrypoint_env(database_url: str, **extra: str) -> dict[str, str]:
    """The container's environment, with this venv's python first on PATH."""
    env = cli_env(database_url, **extra)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


async def run_entrypoint(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "sh", str(ENTRYPOINT), *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_entrypoint_runs_main_commands_and_other_programs(tmp_path: Path) -> None:
    env = entrypoint_env(f"sqlite://{tmp_path}/x.sqlite3")
    code, out, err = await run_entrypoint(env, "migrate")
    assert code == 0 and out.startswith("applied "), err
    code, out, _ = await run_entrypoint(env, "echo", "from the shell")
    assert (code, out) == (0, "from the shell\n")
    code, out, _ = await run_entrypoint(env, "token", "list")
    assert (code, out) == (0, "")


async def test_the_container_start_up_against_real_postgres_and_redis(
    empty_database_url: str, redis_url: str, bot_api: FakeBotApi
) -> None:
    """What the image does at start (entrypoint, no arguments, MIGRATE_ON_START=1), with the
    database and Redis of the kind compose runs, installed from Debian's packages."""
    env = entrypoint_env(
        empty_database_url,
        MIGRATE_ON_START="1",
        REDIS_URL=redis_url,
        BOT_TOKEN="123456:TEST-token-for-start-up",
        TELEGRAM_API_BASE=bot_api.base_url,
    )
    async with serving(env, command=("sh", str(ENTRYPOINT)), wait=240) as running:
        async with aiohttp.ClientSession() as http, http.get(running.base + "/readyz") as resp:
            assert (await resp.json())["database"] == "ok"
        await bot_api.wait_for("deleteWebhook")
    log = "\n".join(running.stderr)
    assert "applied " in log and f"listening on {running.base}" in log
    async with aioredis.from_url(redis_url) as client:
        assert await client.ping()
