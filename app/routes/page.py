"""GET /: a one-page playground for the API (app/static/index.html), open like the health routes.

The page is a single self-contained HTML file (inline CSS and JavaScript, no external URLs), so
it works offline. At serve time the route embeds into it the tutorial programs of
`engine.program.schema.example_requests()` and the POST endpoints this app serves (`/v1/run`,
and `/v1/minimize` and `/v1/check` when the app's OpenAPI schema lists them); the page then
calls the API from the browser, with the user's API key if one is given. The page itself is
left out of the OpenAPI schema.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from engine.program.schema import example_requests

router = APIRouter(tags=["page"])

ENDPOINTS = ("/v1/run", "/v1/minimize", "/v1/check")
EXAMPLES_SLOT = "/*__GRADTAPE_EXAMPLES__*/null"
ENDPOINTS_SLOT = "/*__GRADTAPE_ENDPOINTS__*/null"


@cache
def _template() -> str:
    return resources.files("app").joinpath("static/index.html").read_text(encoding="utf-8")


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element (no `</script>` or `<!--` can close or open it)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")


def pretty(value: Any, indent: int = 0, lead: int = 0, width: int = 64) -> str:
    """JSON for people: a value that fits in the line stays on it, larger ones are broken up
    (`lead`: characters already on the line). Python's encoder keeps `1.0` a float on the wire
    (JavaScript's would print `1`, an int, and change the tensor's dtype)."""
    flat = json.dumps(value, separators=(", ", ": "))
    if indent + lead + len(flat) <= width or not isinstance(value, dict | list) or not value:
        return flat
    inner = " " * (indent + 2)
    if isinstance(value, dict):
        items = [
            f"{json.dumps(k)}: {pretty(v, indent + 2, len(json.dumps(k)) + 2, width)}"
            for k, v in value.items()
        ]
        open_, close = "{", "}"
    else:
        items = [pretty(v, indent + 2, 0, width) for v in value]
        open_, close = "[", "]"
    body = ",\n".join(inner + item for item in items)
    return f"{open_}\n{body}\n{' ' * indent}{close}"


def _posts(schema: dict[str, Any]) -> list[str]:
    """The endpoints of ENDPOINTS that the app serves (as its OpenAPI schema lists them)."""
    paths = schema.get("paths", {})
    return [path for path in ENDPOINTS if "post" in paths.get(path, {})]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request) -> HTMLResponse:
    """The playground page: pick a tutorial example (or paste a request), choose the endpoint,
    run it, and see the outputs, warnings, stats and errors, and for /v1/minimize the loss
    curve. The examples and the available endpoints are embedded in the page."""
    examples = {name: pretty(body) for name, body in example_requests().items()}
    html = _template().replace(EXAMPLES_SLOT, _script_json(examples), 1)
    html = html.replace(ENDPOINTS_SLOT, _script_json(_posts(request.app.openapi())), 1)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})
