"""The OpenAPI document and the Swagger UI page that renders it (assets served locally)."""

from aiohttp import web

from api.app_keys import OPENAPI
from api.responses import json_response

STATIC = "/api/docs/static"
PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>VPN key service API</title>
  <link rel="stylesheet" href="{STATIC}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{STATIC}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "/api/openapi.json", dom_id: "#swagger-ui"}});
  </script>
</body>
</html>
"""


async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API."""
    return json_response(request.app[OPENAPI])


async def get_docs(request: web.Request) -> web.Response:
    """Swagger UI for the OpenAPI document."""
    return web.Response(text=PAGE, content_type="text/html")
