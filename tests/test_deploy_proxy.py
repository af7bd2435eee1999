"""deploy/nginx for real: Debian's nginx on loopback with a self-signed certificate in front of
the app in webhook mode (real Redis for the bot's state); updates, dynamic-link fetches and
the API pass through it, everything else is refused, and its limits hold."""

import asyncio
import io
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.bot_fixtures import FakeBotApi
from tests.deploy_fixtures import Certificate, Proxy, nginx_proxy
from tests.serving import Serving, cli_env, free_port, serving
from tests.worker_fixtures import eventually

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


@pytest.fixture
async def site(
    database_url: str,
    bot_api: FakeBotApi,
    redis_url: str,
    certificate: Certificate,
    tmp_path: Path,
) -> AsyncIterator[Site]:
    """The app behind nginx, the way docs/deploy.md sets it up."""
    app_port = free_port()
    async with nginx_proxy(tmp_path, app_port, certificate) as proxy:
        env = cli_env(
            database_url,
            BOT_TOKEN="123456:TEST-token-for-the-proxy",
            WEBHOOK_URL=f"{proxy.https}/telegram/webhook",
            WEBHOOK_SECRET=SECRET,
            TELEGRAM_API_BASE=bot_api.base_url,
            REDIS_URL=redis_url,
        )
        # The certificate is self-signed (no CA to check it against): TLS without verification.
        async with (
            serving(env, port=app_port, wait=240) as app,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http,
        ):
            await bot_api.wait_for("setWebhook")
            yield Site(proxy, app, bot_api, redis_url, http)


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
    secret = "k3y-s3cr3t-0f-a-dynamic-link"
    async with site.http.get(f"{site.proxy.https}/conf/{secret}") as resp:
        assert resp.content_type == "application/json", "answered by the app, not nginx"
        assert resp.status in (200, 404)
    async with site.http.get(f"{site.proxy.https}/healthz") as resp:
        assert resp.status == 200
    await asyncio.sleep(0.2)
    log = site.proxy.access_log.read_text()
    assert "/healthz" in log and secret not in log


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
