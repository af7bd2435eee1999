"""The Dockerfile and compose.yaml for real, under podman (skipped where podman is absent).

No registry is reachable here, so the base images they name are local stand-ins built from
Debian's packages (tests/containers/standin-images.sh); the files themselves run unchanged,
except that the stack's published ports move to free loopback ports and its app is built from
this checkout under a test tag. Everything listens on loopback or on the stack's own podman
bridge."""

import asyncio
import json
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.bot_fixtures import FakeBotApi
from tests.conftest import ON_POSTGRES
from tests.container_fixtures import IMAGE, ROOT, Engine, build_image, prepare_engine
from tests.services import require_binary
from tests.serving import free_port
from tests.test_deploy_proxy import UPDATE
from vpn.emulator.tls import self_signed_pem

MIGRATIONS = sorted(p.name for p in (ROOT / "db" / "migrations" / "models").glob("*.py"))
SECRET = "container-test-secret"
PYTHON = "docker.io/library/python:3.11-slim"
WAIT = 180.0  # seconds a container may take to start on a shared machine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    if ON_POSTGRES:  # a minute's work: once per CI run is enough
        pytest.skip("runs in the SQLite run: it brings its own PostgreSQL, not DATABASE_URL's")
    return prepare_engine(tmp_path_factory.mktemp("podman"))


@pytest.fixture(scope="module")
def image(engine: Engine) -> str:
    return build_image(engine)


async def status_of(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    """The status and JSON body (or {}) of GET ``url``; (0, {}) while nothing answers."""
    try:
        async with http.get(url) as resp:
            text = await resp.text()
    except aiohttp.ClientError:
        return 0, {}
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    return resp.status, body if isinstance(body, dict) else {}


async def until_status(http: aiohttp.ClientSession, url: str, *expected: int) -> dict:
    """Poll ``url`` until it answers one of ``expected``; its JSON body."""
    async with asyncio.timeout(WAIT):
        while True:
            status, body = await status_of(http, url)
            if status in expected:
                return body
            await asyncio.sleep(0.5)


async def test_the_image_serves_on_sqlite_as_its_own_user_migrating_on_start(
    engine: Engine, image: str
) -> None:
    port, name = free_port(), f"vpnkeys-test-{uuid.uuid4().hex[:8]}"
    await engine.call("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", image)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await until_status(http, f"{base}/healthz", 200)
            body = await until_status(http, f"{base}/readyz", 503)
            assert body["database"] == "ok" and "no active VPN server" in body["details"]
            await engine.with_emulator(name)
            body = await until_status(http, f"{base}/readyz", 200)
            assert [s["name"] for s in body["servers"]] == ["emu"]
        _, logs, errors = await engine.call("logs", name)
        logs += errors
        assert f"applied {len(MIGRATIONS)} migration(s)" in logs
        assert "listening on http://0.0.0.0:8080" in logs
        _, uid, _ = await engine.call("exec", name, "id", "-u")
        _, top, _ = await engine.call("top", name, "user", "args")
        assert uid.strip() == "10001" and "vpnkeys" in top and "main.py serve" in top
        _, check, _ = await engine.call(
            "inspect", "--format", "{{.Config.Healthcheck.Test}}", name
        )
        assert "/healthz" in check
        await engine.call("healthcheck", "run", name)  # fails unless healthy
    finally:
        await engine.call("rm", "--force", "--volumes", name, check=False)


async def test_without_migrations_on_start_the_image_says_what_to_run(
    engine: Engine, image: str
) -> None:
    volume = f"vpnkeys-test-{uuid.uuid4().hex[:8]}"
    data = f"{volume}:/data"
    try:
        code, _, err = await engine.call(
            "run", "--rm", "-v", data, "-e", "MIGRATE_ON_START=0", image, check=False
        )
        (line,) = [line for line in err.splitlines() if "level=" not in line]
        assert code != 0 and "run `python main.py migrate` first" in line
        _, out, _ = await engine.call("run", "--rm", "-v", data, image, "migrate")
        assert f"applied {len(MIGRATIONS)} migration(s)" in out
        _, out, _ = await engine.call("run", "--rm", "-v", data, image, "server", "list")
        assert out == ""
    finally:
        await engine.call("volume", "rm", "--force", volume, check=False)


@dataclass
class Stack:
    project: str
    https: str
    http_port: int
    monitoring: str
    bot_api: FakeBotApi
    http: aiohttp.ClientSession

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"


def project_files(directory: Path, ports: dict[int, int], env: dict[str, str]) -> None:
    """compose.yaml as written, but published on free loopback ports, built from ROOT and
    tagged as this checkout's test image."""
    spec = yaml.safe_load((ROOT / "compose.yaml").read_text())
    spec["services"]["app"]["build"] = str(ROOT)
    spec["services"]["app"]["image"] = IMAGE
    published = spec["services"]["proxy"]["ports"]
    assert {int(p.split(":")[-1]) for p in published} == set(ports), published
    spec["services"]["proxy"]["ports"] = [f"127.0.0.1:{ports[c]}:{c}" for c in ports]
    (directory / "compose.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (directory / "deploy").symlink_to(ROOT / "deploy")
    (directory / "certs").mkdir()
    cert, key, _ = self_signed_pem("127.0.0.1")
    (directory / "certs" / "fullchain.pem").write_bytes(cert)
    (directory / "certs" / "privkey.pem").write_bytes(key)
    (directory / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))


async def serve_on_bridge(
    engine: Engine, bot_api: FakeBotApi, network: str, holder: str
) -> web.AppRunner:
    """``bot_api`` on the gateway of a new ``network``, where the app's container reaches it.
    The bridge exists while a container uses it: ``holder`` keeps it until the stack joins."""
    await engine.call("network", "create", network)
    await engine.call("run", "-d", "--name", holder, "--network", network, PYTHON, "sleep", "1d")
    _, inspected, _ = await engine.call("network", "inspect", network)
    gateway = json.loads(inspected)[0]["subnets"][0]["gateway"]
    runner = web.AppRunner(bot_api.app, access_log=None)  # its paths hold the token
    await runner.setup()
    await web.TCPSite(runner, gateway, 0).start()
    bot_api.base_url = f"http://{gateway}:{runner.addresses[0][1]}"
    return runner


@pytest.fixture
async def stack(engine: Engine, tmp_path: Path) -> AsyncIterator[Stack]:
    """`podman-compose up` of compose.yaml in webhook mode, a fake Bot API on its bridge."""
    compose = require_binary("podman-compose")
    project = f"vktest{uuid.uuid4().hex[:8]}"
    network, holder = f"{project}_default", f"{project}_holder"
    ports = {443: free_port(), 80: free_port(), 8081: free_port()}
    https = f"https://127.0.0.1:{ports[443]}"
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # self-signed
    bot_api, runner = FakeBotApi(), None
    try:
        runner = await serve_on_bridge(engine, bot_api, network, holder)
        env = {
            "POSTGRES_PASSWORD": "pw-" + uuid.uuid4().hex,
            "BOT_TOKEN": "123456:TEST-token-for-the-stack",
            "WEBHOOK_URL": f"{https}/telegram/webhook",
            "WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE": bot_api.base_url,
        }
        project_files(tmp_path, ports, env)
        await engine.call("-p", project, "up", "-d", "--build", program=compose, cwd=tmp_path)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http:
            monitoring = f"http://127.0.0.1:{ports[8081]}"
            yield Stack(project, https, ports[80], monitoring, bot_api, http)
    finally:
        for service in ("app", "postgres", "proxy"):  # shown when the test fails
            _, out, err = await engine.call("logs", f"{project}_{service}_1", check=False)
            print(f"== {service}\n{out}{err}")
        _, ids, _ = await engine.call(
            "ps", "-aq", "--filter", f"label=io.podman.compose.project={project}", check=False
        )
        if ids.split():  # with their anonymous volumes (the image's /data)
            await engine.call("rm", "--force", "--volumes", *ids.split(), check=False)
        await engine.call("-p", project, "down", "-v", program=compose, cwd=tmp_path, check=False)
        await engine.call("rm", "--force", "--time", "0", holder, check=False)
        await engine.call("network", "rm", "--force", network, check=False)
        if runner is not None:
            await runner.cleanup()


async def test_the_compose_stack_is_ready_on_postgresql_and_redis_behind_tls(
    stack: Stack, engine: Engine
) -> None:
    body = await until_status(stack.http, f"{stack.monitoring}/readyz", 503)
    assert body["database"] == "ok"
    await engine.with_emulator(stack.container("app"))
    body = await until_status(stack.http, f"{stack.monitoring}/readyz", 200)
    assert [s["name"] for s in body["servers"]] == ["emu"]
    query = ["psql", "-U", "vpnkeys", "-d", "vpnkeys", "-Atc", "SELECT name FROM vpn_servers"]
    _, rows, _ = await engine.call("exec", stack.container("postgres"), *query)
    assert rows.split() == ["emu"], "the app keeps its data in the stack's PostgreSQL"

    for service in ("app", "postgres", "redis"):  # fails unless healthy
        await engine.call("healthcheck", "run", stack.container(service))
    status, _ = await status_of(stack.http, f"{stack.https}/healthz")
    assert status == 200, "nginx answers on TLS and passes /healthz"
    plain = f"http://127.0.0.1:{stack.http_port}/healthz"
    async with stack.http.get(plain, allow_redirects=False) as resp:
        assert resp.status == 301 and resp.headers["Location"].startswith("https://")
    status, _ = await status_of(stack.http, f"{stack.https}/readyz")
    assert status == 403, "readiness is not public: only the monitoring port serves it"
    webhook = f"{stack.https}/telegram/webhook"
    (registered,) = await stack.bot_api.wait_for("setWebhook")
    assert registered["url"] == webhook
    for secret, status in (("wrong", 401), (SECRET, 200)):  # the app checks it
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with stack.http.post(webhook, json=UPDATE, headers=headers) as resp:
            assert resp.status == status, secret
    (hello,) = await stack.bot_api.wait_for("sendMessage")
    assert hello["chat_id"] == "4242"
    _, stats, _ = await engine.call(
        "exec", stack.container("redis"), "redis-cli", "info", "commandstats"
    )
    assert "cmdstat_get" in stats, "the bot keeps its state in the stack's Redis"
