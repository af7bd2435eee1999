"""Operations endpoints that need no token: liveness, readiness, Prometheus metrics."""

import asyncio
import logging

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from api.app_keys import CONTEXT, METRICS
from api.responses import Envelope, ReadyEnvelope, ServerState, reply
from db.models import VPNServer
from domain.context import Context
from domain.servers import registry, stats

logger = logging.getLogger(__name__)

# A readiness probe must answer quickly even when a VPN server hangs.
PROBE_SECONDS = 3.0


async def get_health(request: web.Request) -> web.Response:
    """The process is up and serving."""
    return reply(Envelope(status=200, details="alive"))


async def _probe(ctx: Context, server: VPNServer) -> ServerState:
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            health = await registry.check_health(ctx, server)
    except TimeoutError:
        error = f"VPN server '{server.name}' did not answer within {PROBE_SECONDS:g}s"
        return ServerState(name=server.name, reachable=False, latency_ms=None, error=error)
    latency = None if health.latency_ms is None else round(health.latency_ms, 1)
    return ServerState(
        name=health.name, reachable=health.reachable, latency_ms=latency, error=health.error
    )


async def get_ready(request: web.Request) -> web.Response:
    """Ready when the database answers and at least one active VPN server does (else 503)."""
    try:
        active = await registry.list_servers(active_only=True)
        states = list(await asyncio.gather(*(_probe(request.app[CONTEXT], s) for s in active)))
    except Exception as exc:  # whatever the driver raises, the database is not usable
        logger.warning("readiness: database unavailable (%s)", type(exc).__name__)
        down = "the database is unavailable"
        return reply(ReadyEnvelope(status=503, details=down, database="unavailable", servers=[]))
    answering = sum(state.reachable for state in states)
    if not states:
        status, details = 503, "no active VPN server is registered"
    elif not answering:
        status, details = 503, "no active VPN server answers"
    else:
        status, details = 200, f"ready: {answering} of {len(states)} active server(s) answer"
    return reply(ReadyEnvelope(status=status, details=details, database="ok", servers=states))


async def get_metrics(request: web.Request) -> web.Response:
    """Prometheus exposition: requests, Outline calls and live keys per server."""
    metrics = request.app[METRICS]
    try:
        metrics.set_keys((await stats.collect_stats()).servers)
    except Exception as exc:  # keep serving the other metrics while the database is down
        logger.warning("metrics: key counts unavailable (%s)", type(exc).__name__)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(metrics.registry), headers={"Content-Type": content_type})
