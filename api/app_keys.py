"""Typed keys for the shared resources stored on the aiohttp application and request."""

from aiohttp import web

from api.metrics import Metrics
from api.ratelimit import ClientLimiter
from domain.accounts.tokens import TokenCache
from domain.billing.gateway import StarsGateway
from domain.context import Context
from domain.settings import Settings
from vpn.pool import BackendPool

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", BackendPool)
CONTEXT = web.AppKey("context", Context)
METRICS = web.AppKey("metrics", Metrics)
# Telegram Stars calls (refunds): present only when the bot is configured.
STARS = web.AppKey("stars", StarsGateway)
TOKENS = web.AppKey("tokens", TokenCache)
# The audit actor of an authenticated request (``api:<token name>``).
ACTOR = web.RequestKey("actor", str)
# The OpenAPI document, generated once from the route table.
OPENAPI = web.AppKey("openapi", dict)
# Dynamic link fetches per client address.
LINK_LIMITER = web.AppKey("link_limiter", ClientLimiter)
