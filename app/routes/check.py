"""POST /v1/check: a program's gradients beside central differences (API.md section 7)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import APIRouter
from starlette.responses import Response

from app.routes.run import Body, BodyDep, GateDep, count, decode_body, render
from app.schemas import CheckResponse, json_request_body, problem_responses
from app.settings import SettingsDep
from engine import EngineError, Limits
from engine.program.check import check_program

router = APIRouter(tags=["check"])

Engine = Callable[[dict[str, Any], Limits], dict[str, Any]]


def evaluate_with(fn: Engine, body: Body, limits: Limits) -> Response:
    """Decode the body, run one engine function on it, render its result (in a worker thread)."""
    request = decode_body(body)
    start = time.perf_counter()
    try:
        encoded = fn(request, limits)
    except EngineError as exc:
        count(time.perf_counter() - start, exc.code, None)
        raise
    count(time.perf_counter() - start, "ok", encoded["stats"].get("ops_executed"))
    return render(_lists(encoded) if body.msgpack_out else encoded, body.msgpack_out)


def _lists(value: Any) -> Any:
    """Arrays as nested lists, for msgpack (orjson serializes them natively)."""
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
    responses={**problem_responses(400, 401, 413, 422, 503)},
    openapi_extra={
        "requestBody": json_request_body(
            "CheckRequest", 'A run request plus `"check": {"eps", "rtol", "atol"}`.'
        )
    },
)
async def check(body: BodyDep, settings: SettingsDep, gate: GateDep) -> Response:
    """Run the program in float64 and compare every gradient, jacobian and batch_jacobian
    result with central differences of the program re-run with each input element moved by
    +-eps (at most 64 elements per input, sampled deterministically). Sources that are not
    inputs are reported with `"skipped": "intermediate source"`. The request's limits cover
    all the runs together."""
    return await gate.run(evaluate_with, check_program, body, settings.limits())
