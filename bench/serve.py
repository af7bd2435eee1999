"""The service process of the benchmarks: ``python -m bench.serve [--profile FILE]``.

Configured by the environment like ``main.py serve`` (DATABASE_URL, API_PORT, …) and built and
run the same way (``main.build_service``: the API and the worker; the bot too when BOT_TOKEN
is set). ``--profile FILE`` samples the whole process with pyinstrument and writes the text
report to FILE on shutdown (SIGTERM).
"""

import argparse
import sys
from pathlib import Path

from aiohttp import web

from api import serving
from domain.operations.logs import configure_logging
from domain.settings import Settings


def build(settings: Settings) -> web.Application:
    """``main.build_service``, or the API alone while ``main`` cannot be imported."""
    try:
        from main import build_service
    except ImportError as exc:  # a teammate's module may be missing mid-change
        print(f"bench.serve: main.py unusable ({exc}); serving the API alone", file=sys.stderr)
        from api.setup import build_app

        return build_app(settings)
    return build_service(settings)


def add_profiler(app: web.Application, path: str) -> None:
    """Sample from start-up to shutdown; the report goes to ``path``."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")

    async def start(_: web.Application) -> None:
        profiler.start()

    def save() -> None:
        Path(path).write_text(profiler.output_text(unicode=True, color=False, show_all=True))

    async def finish(_: web.Application) -> None:
        profiler.stop()
        save()  # once, at shutdown: blocking the loop here costs nothing measured

    app.on_startup.append(start)
    app.on_shutdown.append(finish)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("--profile", help="write a pyinstrument report here on shutdown")
    args = parser.parse_args()
    settings = Settings()
    configure_logging(settings)  # as ``main.py serve`` does
    app = build(settings)
    if args.profile:
        add_profiler(app, args.profile)
    serving.run(app, settings)


if __name__ == "__main__":
    main()
