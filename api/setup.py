"""``build_app()``: the aiohttp application of the HTTP API, its resources and routes."""

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from api.app_keys import CONTEXT, LINK_LIMITER, METRICS, OPENAPI, POOL, SETTINGS, TOKENS
from api.metrics import Metrics
from api.middlewares import body_timeout_middleware, error_middleware, metrics_middleware
from api.openapi import openapi_document
from api.ratelimit import ClientLimiter
from api.routes import setup_routes
from api.views.links import setup_link_routes
from db.connect import close_database, open_database
from domain.accounts.tokens import TokenCache
from domain.context import Context
from domain.settings import Settings
from vpn.pool import BackendPool

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def resources_ctx(settings: Settings, pool: BackendPool | None) -> CleanupCtx:
    """Open the database and the VPN client pool; close them (a given pool stays open)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await open_database(settings.database_url)
        backends = pool or BackendPool(
            timeout=settings.outline_timeout_seconds, observe=app[METRICS].observe_outline
        )
        app[POOL] = backends
        app[CONTEXT] = Context.from_settings(settings, backends)
        try:
            yield
        finally:
            if pool is None:
                await backends.close()
            await close_database()

    return ctx


def build_app(settings: Settings, *, pool: BackendPool | None = None) -> web.Application:
    """The API app; the worker and the bot attach their own ``cleanup_ctx`` after this one."""
    read_body = body_timeout_middleware(settings.api_body_timeout_seconds)
    app = web.Application(middlewares=[metrics_middleware, error_middleware, read_body])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[TOKENS] = TokenCache(settings.api_token_cache_seconds)
    app[OPENAPI] = openapi_document()
    app.cleanup_ctx.append(resources_ctx(settings, pool))
    setup_routes(app)
    if settings.public_url:
        app[LINK_LIMITER] = ClientLimiter(settings.link_fetches_per_minute)
        setup_link_routes(app)
    return app
