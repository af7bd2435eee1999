"""The event loop the service runs on: uvloop when it is installed and ``UVLOOP`` is on."""

import asyncio
from collections.abc import Callable

from domain.settings import Settings

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(settings: Settings) -> LoopFactory:
    """A maker of new event loops for the process: uvloop's, or asyncio's default."""
    if settings.uvloop:
        try:
            import uvloop
        except ImportError:  # an optional speed-up: asyncio's own loop serves too
            pass
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def loop_name(factory: LoopFactory) -> str:
    """``uvloop`` or ``asyncio``, for logs and benchmark reports."""
    return "asyncio" if factory is asyncio.new_event_loop else "uvloop"
