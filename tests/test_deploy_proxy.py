"""deploy/nginx for real: Debian's nginx on loopback with a self-signed certificate in front of
the app in webhook mode (real Redis for the bot's state) with dynamic links and the shipped
TRUSTED_PROXIES; updates, real dynamic-link fetches and the API pass through it, everything
else is refused, its limits hold, and each client address has its own link-fetch budget."""

import asyncio
import io
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml

from domain.settings import Settings
from tests.bot_fixtures import FakeBotApi
from tests.conftest import SECRET_MARKERS
from tests.deploy_fixtures import ROOT, Certificate, Proxy, nginx_proxy
from tests.link_fixtures import LINK_SECRET, Tunnel, dynamic_tunnel, static_tunnel
from tests.serving import Serving, cli_env, free_port, run_main, serving
from tests.worker_fixtures import eventually
from vpn.emulator import RunningEmulator

SECRET = "proxy-test-secret"
UPDATE = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 4242, "type": "private", "first_name": "Ann"},
        "from": {"id": 4242, "is_bot": False, "first_name": "Ann", "language_code": "en"},
        "text": "/start",
    },
}


@dataclass
class Site:
    proxy: Proxy
    app: Serving
    bot_api: FakeBotApi
    redis_url: str
    http: aiohttp.ClientSession
    token: str

    async def new_key(self) -> dict[str, Any]:
        """A key on the emulated server ``alpha``, created through the proxy."""
        body = {"command": "create_new_token", "name": "phone"}
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.proxy.https}/api/vpn_token/alpha/"
        async with self.http.post(url, json=body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            return (await resp.json())["vpn_keys"][0]


def shipped_setting(name: str) -> str:
    """The value .env.example gives a setting (the one an operator copies)."""
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f".env.example does not set {name}")


def link_path(key: dict[str, Any]) -> str:
    """The HTTPS path of a key's ``ssconf://`` link (its secret joins the log checks)."""
    path = urlsplit(key["dynamic_url"]).path
    SECRET_MARKERS.append(path.rsplit("/", 1)[1])
    return path


@pytest.fixture
def site_env() -> dict[str, str]:
    """Settings a test changes for its ``site`` (parametrize to override)."""
    return {}


@pytest.fixture
async def site(
    database_url: str,
    bot_api: FakeBotApi,
    redis_url: str,
    certificate: Certificate,
    outline_server: RunningEmulator,
    site_env: dict[str, str],
    tmp_path: Path,
) -> AsyncIterator[Site]:
    """The app behind nginx, the way docs/deploy.md sets it up, with the emulator as
    server ``alpha`` and an API token."""
    app_port = free_port()
    async with nginx_proxy(tmp_path, app_port, certificate) as proxy:
        env = cli_env(
            database_url,
            BOT_TOKEN="123456:TEST-token-for-the-proxy",
            WEBHOOK_URL=f"{proxy.https}/telegram/webhook",
            WEBHOOK_SECRET=SECRET,
            TELEGRAM_API_BASE=bot_api.base_url,
            REDIS_URL=redis_url,
            PUBLIC_URL=proxy.https,
            LINK_SECRET=LINK_SECRET,
            TRUSTED_PROXIES=shipped_setting("TRUSTED_PROXIES"),
            **site_env,
        )
        SECRET_MARKERS.append(urlsplit(outline_server.api_url).path)
        code, _, err = await run_main(env, "server", "add", "alpha", outline_server.api_url)
        assert code == 0, err
        code, out, err = await run_main(env, "token", "create", "proxy-tests")
        assert code == 0, err
        # The certificate is self-signed (no CA to check it against): TLS without verification.
        async with (
            serving(env, port=app_port, wait=240) as app,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http,
        ):
            await bot_api.wait_for("setWebhook")
            yield Site(proxy, app, bot_api, redis_url, http, out.splitlines()[-1])


async def test_updates_links_and_the_api_pass_through_and_nothing_else(site: Site) -> None:
    await webhook_updates_reach_the_bot(site)
    await the_app_s_own_refusals_pass(site)
    await dynamic_links_reach_the_app_and_stay_out_of_the_access_log(site)
    await only_the_public_paths_and_methods_pass(site)


async def webhook_updates_reach_the_bot(site: Site) -> None:
    (registered,) = site.bot_api.called("setWebhook")
    assert registered["url"] == f"{site.proxy.https}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with site.http.post(
        f"{site.proxy.https}/telegram/webhook", json=UPDATE, headers=headers
    ) as resp:
        assert resp.status == 200
    (hello,) = await site.bot_api.wait_for("sendMessage")
    assert hello["chat_id"] == "4242"
    async with aioredis.from_url(site.redis_url) as client:
        stats = await client.info("commandstats")
    assert "cmdstat_get" in stats, "the bot reads its conversation state from Redis"


async def the_app_s_own_refusals_pass(site: Site) -> None:
    async with site.http.post(
        f"{site.proxy.https}/telegram/webhook",
        json=UPDATE,
        headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
    ) as resp:
        assert resp.status == 401
    async with site.http.get(f"{site.proxy.https}/api/user/1/") as resp:
        assert resp.status == 401 and (await resp.json())["status"] == 401


async def dynamic_links_reach_the_app_and_stay_out_of_the_access_log(site: Site) -> None:
    key = await site.new_key()
    assert key["dynamic_url"].startswith(f"ssconf://{urlsplit(site.proxy.https).netloc}/conf/")
    path = link_path(key)
    async with site.http.get(site.proxy.https + path) as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        assert dynamic_tunnel(await resp.text()) == static_tunnel(key["access_url"])
    unknown = "k3y-s3cr3t-0f-a-dynamic-link"
    async with site.http.get(f"{site.proxy.https}/conf/{unknown}") as resp:
        assert resp.content_type == "application/json", "answered by the app, not nginx"
        assert resp.status == 404 and "error" in await resp.json()
    async with site.http.get(f"{site.proxy.https}/healthz") as resp:
        assert resp.status == 200
    await asyncio.sleep(0.2)
    log = site.proxy.access_log.read_text()
    assert "/healthz" in log and "/conf/" not in log
    assert path not in "\n".join(site.app.stderr), "nor in the app's own log"


async def only_the_public_paths_and_methods_pass(site: Site) -> None:
    expected = {
        ("GET", "/telegram/webhook"): 403,
        ("POST", "/conf/abc"): 403,
        ("GET", "/anything-else"): 404,
        ("GET", "/api/openapi.json"): 200,
        ("GET", "/metrics"): 200,  # from 127.0.0.1 only
    }
    for (method, path), status in expected.items():
        async with site.http.request(method, site.proxy.https + path) as resp:
            assert resp.status == status, (method, path)
    async with site.http.get(f"{site.proxy.http}/api/", allow_redirects=False) as resp:
        assert resp.status == 301 and resp.headers["Location"].startswith("https://")


async def test_the_proxy_limits_body_size_and_dynamic_link_rate(site: Site) -> None:
    big = io.BytesIO(json.dumps({"update_id": 2, "padding": "x" * 2**21}).encode())
    async with site.http.post(
        f"{site.proxy.https}/telegram/webhook",
        data=big,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 413
    assert not site.bot_api.called("sendMessage")

    async def fetch() -> int:
        async with site.http.get(f"{site.proxy.https}/conf/rate") as resp:
            return resp.status

    statuses = await asyncio.gather(*(fetch() for _ in range(60)))
    assert 429 in statuses and statuses.count(429) < 60


async def test_the_proxy_caps_open_requests_per_client_address(site: Site) -> None:
    """50 requests held open (headers sent, body never) fill the address's share; the next is
    a 429 until they close."""
    parts = urlsplit(site.proxy.https)
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    head = (
        b"POST /telegram/webhook HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    held = []
    for _ in range(50):
        _, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=tls)
        writer.write(head)
        await writer.drain()
        held.append(writer)

    async def refused() -> bool:
        async with site.http.get(f"{site.proxy.https}/healthz") as resp:
            return resp.status == 429

    async def admitted() -> bool:
        return not await refused()

    await eventually(refused, within=30, every=0.1)  # once nginx has read every held head
    for writer in held:
        writer.close()
    await eventually(admitted, within=30, every=0.1)


async def fetch_from(site: Site, address: str, path: str) -> tuple[int, Tunnel | None]:
    """GET ``path`` through the proxy from the loopback ``address`` (all of 127/8 is ours)."""
    connector = aiohttp.TCPConnector(ssl=False, local_addr=(address, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(site.proxy.https + path) as resp,
    ):
        body = await resp.text()
        return resp.status, dynamic_tunnel(body) if resp.status == 200 else None


@pytest.mark.parametrize("site_env", [{"LINK_FETCHES_PER_MINUTE": "5"}])
async def test_each_client_address_behind_the_proxy_has_its_own_link_budget(site: Site) -> None:
    """With the shipped TRUSTED_PROXIES the app counts fetches per client (from nginx's
    X-Forwarded-For), not per proxy: one client past its budget leaves the other's intact."""
    key = await site.new_key()
    path, tunnel = link_path(key), static_tunnel(key["access_url"])
    for _ in range(5):
        assert await fetch_from(site, "127.0.0.2", path) == (200, tunnel)
    status, _ = await fetch_from(site, "127.0.0.2", path)
    assert status == 429, "the sixth fetch of 127.0.0.2 within a minute"
    for _ in range(5):
        assert await fetch_from(site, "127.0.0.3", path) == (200, tunnel)
    assert (await fetch_from(site, "127.0.0.3", path))[0] == 429
    assert (await fetch_from(site, "127.0.0.2", path))[0] == 429


def test_the_shipped_settings_trust_the_shipped_proxies() -> None:
    """.env.example trusts the host's nginx (vpnkeys.conf's upstream is on loopback), and
    compose.yaml the private networks its nginx container reaches the app from."""
    shipped = Settings(_env_file=None, trusted_proxies=shipped_setting("TRUSTED_PROXIES"))
    assert any(ip_address("127.0.0.1") in net for net in shipped.trusted_proxies)
    app = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["app"]
    compose = Settings(_env_file=None, trusted_proxies=app["environment"]["TRUSTED_PROXIES"])
    for bridge in ("172.18.0.5", "10.89.0.3", "192.168.16.4"):  # docker's and podman's pools
        assert any(ip_address(bridge) in net for net in compose.trusted_proxies), bridge
    assert "ports" not in app, "the app is reachable only through the proxy"
    snippet = (ROOT / "deploy" / "nginx" / "vpnkeys-proxy.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in snippet
