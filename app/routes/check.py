"""POST /v1/check: a program's gradients beside central differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.admission import Engine, serve
from app.schemas import CheckResponse, json_request_body, msgpack_response, problem_responses
from engine import Limits
from engine.program.check import check_program

router = APIRouter(tags=["check"])


def lists_for_msgpack(fn: Callable[[dict[str, Any], Limits], dict[str, Any]]) -> Engine:
    """An engine function whose result holds arrays, as a route's Engine: arrays become nested
    lists for msgpack (orjson serializes them natively)."""

    def engine(request: dict[str, Any], limits: Limits, msgpack_out: bool) -> dict[str, Any]:
        encoded = fn(request, limits)
        return _lists(encoded) if msgpack_out else encoded

    return engine


def _lists(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lists(v) for v in value]
    return value


@router.post(
    "/check",
    response_model=CheckResponse,
    summary="Check gradients against central differences",
    responses={
        200: msgpack_response("CheckResponse"),
        **problem_responses(400, 401, 413, 422, 503),
    },
    openapi_extra={
        "requestBody": json_request_body(
            "CheckRequest", 'A run request plus `"check": {"eps", "rtol", "atol"}`.'
        )
    },
)
async def check(request: Request) -> Response:
    """Run the program in float64 and compare every gradient, jacobian and batch_jacobian
    result with central differences of the program re-run with each input element moved by
    +-eps (at most 64 elements per input, sampled deterministically). Sources that are not
    inputs are reported with `"skipped": "intermediate source"`. The request's limits cover
    all the runs together."""
    return await serve(request, CHECK)


CHECK = lists_for_msgpack(check_program)
