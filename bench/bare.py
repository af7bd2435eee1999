"""The baseline server: a bare aiohttp handler answering fixed JSON from memory.

``python -m bench.bare PORT BODY_FILE`` serves BODY_FILE's bytes at every GET path.
"""

import sys

from aiohttp import web


def build(body: bytes) -> web.Application:
    """An app whose only handler returns ``body`` as JSON."""

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def main() -> None:
    port, body_file = int(sys.argv[1]), sys.argv[2]
    with open(body_file, "rb") as body:
        app = build(body.read())
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
