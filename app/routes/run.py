"""POST /v1/run: evaluate a program."""

from __future__ import annotations

from typing import Any

import msgpack
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.admission import serve
from app.render import encode_msgpack, verbatim_b64
from app.schemas import (
    RunResponse,
    msgpack_response,
    problem_responses,
    run_request_body,
)
from engine import Limits
from engine.program import encode_result, run_program

router = APIRouter(tags=["run"])


def run_encoded(
    request: dict[str, Any], limits: Limits, msgpack_out: bool, functions: Any = None
) -> dict[str, Any]:
    """A run; a `call` may name a stored function of `functions` (the app's repository)."""
    result = run_program(request, limits, program_key(request), functions=functions)
    if msgpack_out:
        return encode_msgpack(result)
    encoded = encode_result(result)
    if result.encoding == "base64":
        verbatim_b64(encoded["outputs"])
    return encoded


# cache): clients send the same program again and again with new inputs. msgpack tells apart
# what JSON would not (NaN from null, 1 from 1.0 from true); programs holding binary tensors or
# integers beyond 64 bits do not serialize and are parsed each time.
PROGRAM_KEY_BYTES = 4096


def program_key(request: dict[str, Any]) -> bytes | None:
    try:
        key: bytes = msgpack.packb(request.get("program"))
    except (TypeError, ValueError, OverflowError):
        return None
    return key if len(key) <= PROGRAM_KEY_BYTES else None


@router.post(
    "/run",
    response_model=RunResponse,
    summary="Evaluate a program",
    responses={
        200: msgpack_response("MsgpackRunResponse"),
        **problem_responses(400, 401, 413, 422, 503),
    },
    openapi_extra={"requestBody": run_request_body()},
)
async def run(request: Request) -> Response:
    """Evaluate one program (wire format section 3) and return the requested outputs."""
    functions = request.app.state.functions
    return await serve(
        request, lambda body, limits, msgpack_out: run_encoded(body, limits, msgpack_out, functions)
    )
