"""deploy/nginx keeps dynamic-link secrets out of every log it writes: Debian's nginx on
loopback in front of the app, its access and error logs in files at the most verbose level,
link fetches refused by its rate limit, by method, and failed because the app is down."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from domain import audit
from domain.context import Context
from domain.keys import issuing
from domain.links.signing import LinkSigner
from tests.deploy_fixtures import Certificate, render_site, stop, wait_for_port
from tests.link_fixtures import LINK_SECRET, PUBLIC_URL
from tests.services import require_binary
from tests.serving import cli_env, free_port, serving

SNIPPET = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "vpnkeys-proxy.conf"
BURST = 60  # past nginx's burst of 20 at 10 a second


@dataclass(frozen=True)
class LoggingProxy:
    """nginx with the site, writing every log it has to files under ``logs``."""

    https: str
    logs: Path


@asynccontextmanager
async def nginx_logging(
    tmp: Path, upstream: int, cert: Certificate
) -> AsyncIterator[LoggingProxy]:
    """deploy/nginx in front of 127.0.0.1:``upstream``, as ``deploy_fixtures.nginx_proxy``
    runs it but with the error log (and nginx's stderr) in files too."""
    binary = require_binary("nginx", "/usr/sbin/nginx")
    https, http = free_port(), free_port()
    logs = tmp / "logs"
    logs.mkdir()
    (tmp / "site.conf").write_text(render_site(upstream, https, http, cert, SNIPPET))
    (tmp / "nginx.conf").write_text(
        f"""user root;
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {logs}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {logs}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
"""
    )
    with (logs / "stderr.log").open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(logs / "error.log"),
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
        try:
            await wait_for_port(https, proc)
            yield LoggingProxy(f"https://127.0.0.1:{https}", logs)
        finally:
            await stop(proc)


async def statuses(http: aiohttp.ClientSession, method: str, url: str, n: int = 1) -> set[int]:
    async def one() -> int:
        async with http.request(method, url) as response:
            return response.status

    return set(await asyncio.gather(*(one() for _ in range(n))))


async def test_no_nginx_log_holds_a_link_secret(
    database_url: str, server, ctx: Context, certificate: Certificate, tmp_path: Path
) -> None:
    key = await issuing.create_key(ctx, server="alpha", name="phone", actor=audit.CLI)
    secret = LinkSigner(PUBLIC_URL, LINK_SECRET.encode()).secret(key)
    assert secret and key.link_id
    tag = secret.removeprefix(key.link_id)
    app_port = free_port()
    env = cli_env(database_url, PUBLIC_URL=PUBLIC_URL, LINK_SECRET=LINK_SECRET)
    async with (
        nginx_logging(tmp_path, app_port, certificate) as proxy,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http,
    ):
        link = f"{proxy.https}/conf/{secret}"
        async with serving(env, port=app_port, wait=240) as app:
            assert await statuses(http, "GET", link) == {200}
            assert await statuses(http, "POST", link) == {403}
            assert 429 in await statuses(http, "GET", link, BURST)  # nginx's limit
        await asyncio.sleep(3)  # nginx's limit lets a fetch through again
        assert await statuses(http, "GET", link) == {502}  # the app is down
        assert await statuses(http, "GET", f"{proxy.https}/healthz") == {502}
    logs = {path.name: path.read_text() for path in proxy.logs.iterdir()}
    assert "limiting requests" not in logs["error.log"]  # not even a line without the secret
    assert "connect() failed" in logs["error.log"] and "/healthz" in logs["error.log"]
    assert "/healthz" in logs["access.log"]
    for name, text in logs.items():
        assert tag not in text and "/conf/" not in text, f"nginx's {name} holds a link path"
    assert tag not in "\n".join(app.stdout + app.stderr)  # the app's log: the route template
