"""The floor for bench/service.py: a minimal FastAPI app that parses a body and sends it back.

`POST /json` parses the body with orjson and dumps it again; `POST /b64` does the same and also
decodes every base64 tensor to bytes and encodes it again, with the service's own base64 codec
(pybase64); `POST /raw` echoes the raw bytes (for msgpack bodies). No validation, no engine: what
any service on the same stack spends just to read and write the same payload (with the
service's allocator setting, see below).
"""

from __future__ import annotations

from typing import Any

import orjson
import pybase64
from fastapi import FastAPI, Request
from fastapi.responses import Response

from app.memory import keep_freed_memory

# The service's own allocator setting (GRADTAPE_MALLOC_KEEP_MB's default): without it, glibc
# serves each 8 MB body from a fresh mmap or trims it back, and this floor's time for the same
# echo swings between about 4 and 12 ms from one run to the next.
keep_freed_memory(64 * 1024 * 1024)

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/json")
async def echo_json(request: Request) -> Response:
    """Parse the JSON body and return it."""
    body = orjson.loads(await request.body())
    return Response(orjson.dumps(body), media_type="application/json")


def _b64_echo(value: Any) -> Any:
    if isinstance(value, dict):
        if isinstance(value.get("b64"), str):
            raw = pybase64.b64decode(value["b64"], validate=True)
            return {**value, "b64": pybase64.b64encode_as_string(raw)}
        return {k: _b64_echo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_b64_echo(v) for v in value]
    return value


@app.post("/b64")
async def echo_b64(request: Request) -> Response:
    """Parse the JSON body, decode and re-encode its base64 tensors, and return it."""
    body = _b64_echo(orjson.loads(await request.body()))
    return Response(orjson.dumps(body), media_type="application/json")


@app.post("/raw")
async def echo_raw(request: Request) -> Response:
    """Return the body's bytes unchanged."""
    return Response(await request.body(), media_type="application/octet-stream")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
