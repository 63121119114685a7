"""Admission of evaluations: the inline trial on the event loop for small quick programs, and
the gate (a limiter sized to the cores, plus a small queue) for the rest."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request
from starlette.responses import Response

from app import metrics, problems
from app.body import Body, decode_body, read_body
from app.logging import REQUEST
from app.render import render
from engine import EngineError, LimitError, Limits
from engine.program.values import ROUNDED_INTEGERS_POSSIBLE, RoundedIntegers

T = TypeVar("T")


# ----- admission: a limiter sized to the cores, plus a small queue -----
class Gate:
    """Runs evaluations in worker threads, at most `concurrency` at once and `queue` waiting;
    beyond that a request is refused at once (503 with Retry-After)."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.capacity = concurrency + queue
        self.admitted = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.admitted >= self.capacity:
            raise problems.over_capacity()
        self.admitted += 1
        metrics.IN_PROGRESS.inc()
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)
        finally:
            self.admitted -= 1
            metrics.IN_PROGRESS.dec()


def count(seconds: float, outcome: str, ops: int | None) -> None:
    """Record one evaluation in the metrics and in the request's log line."""
    metrics.child(metrics.PROGRAMS, outcome).inc()
    metrics.EVALUATION_SECONDS.observe(seconds)
    if ops is not None:
        metrics.OPS_EXECUTED.inc(ops)
        info = REQUEST.get()
        if info is not None:
            info.ops_executed = ops


# An engine entry point for a route: (request, limits, msgpack_out) -> the response object.
Engine = Callable[[dict[str, Any], Limits, bool], dict[str, Any]]


def evaluate(fn: Engine, body: Body, limits: Limits, *, trial: bool = False) -> Response | None:
    """Decode, run, encode: the whole evaluation. A trial gives None where a limit stops it."""
    request = decode_body(body)
    start = time.perf_counter()
    try:
        rounded = ROUNDED_INTEGERS_POSSIBLE.set(not body.msgpack_in)
        try:
            encoded = fn(request, limits, body.msgpack_out)
        except RoundedIntegers:  # a float beyond 2**63 in a tensor: maybe a rounded integer
            ROUNDED_INTEGERS_POSSIBLE.set(False)
            encoded = fn(decode_body(body, exact=True), limits, body.msgpack_out)
        finally:
            ROUNDED_INTEGERS_POSSIBLE.reset(rounded)
    except LimitError:
        if trial:
            return None
        count(time.perf_counter() - start, "limit_exceeded", None)
        raise
    except EngineError as exc:
        count(time.perf_counter() - start, exc.code, None)
        raise
    count(time.perf_counter() - start, "ok", encoded["stats"].get("ops_executed"))
    return render(encoded, body.msgpack_out)


# A small request is first tried on the event loop under limits that keep the attempt within
# a few milliseconds (no thread hop for the common tiny program). One that passes any of them
# runs again in a worker thread under the service's own limits: programs are pure, so the
# second run answers exactly as a first would have.
INLINE_BODY_BYTES = 16 * 1024
INLINE = Limits(
    max_elements_per_tensor=4_096,
    max_live_elements=65_536,
    max_ops=2_000,
    max_iterations=500,
    max_call_depth=16,
    max_nesting_depth=16,
    timeout_s=0.004,
    max_statements=500,
    max_outputs=100,
    max_output_elements=65_536,
)


def inline_limits(limits: Limits) -> Limits:
    """The inline attempt's limits: INLINE, and never looser than the service's own."""
    return Limits(
        **{
            f.name: min(getattr(limits, f.name), getattr(INLINE, f.name))
            for f in dataclasses.fields(Limits)
        }
    )


async def serve(request: Request, fn: Engine) -> Response:
    """What every evaluating route does: read the body, then evaluate it inline if it is small
    and quick, else off the loop through the gate. (No FastAPI dependencies on this path: each
    would cost a resolution per request.)"""
    state = request.app.state
    body = await read_body(request)
    if len(body.raw) <= INLINE_BODY_BYTES:
        response = evaluate(fn, body, state.inline_limits, trial=True)
        if response is not None:
            return response
    result = await state.gate.run(evaluate, fn, body, state.limits)
    assert result is not None  # only a trial gives None
    return result
