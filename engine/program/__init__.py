"""The JSON program language: parse a run request, interpret it, encode its result."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Hashable
from typing import Any

import numpy as np

from ..limits import BUDGET, Budget, Limits
from ..tape import ACTIVE
from .interpret import Interpreter, RunResult
from .parse import parse_request
from .syntax import Request
from .values import decode, encode


def run_program(
    request: dict[str, Any],
    limits: Limits | None = None,
    program_key: Hashable | None = None,
    *,
    functions: Any = None,
) -> RunResult:
    """Parse the whole request (inputs, program, outputs, options) and evaluate it.

    Raises EngineError subclasses carrying `code` and `pointer` (and `call_stack` for a fault
    inside a function). Every limit of `limits` (the defaults when None) is enforced before
    the work it guards is done; the wall-time limit covers parsing too. `program_key`: see
    parse_request. `functions`: the stored functions (engine.functions.Repository) a `call`
    statement may name besides the program's own defs.
    """
    started = time.perf_counter()
    limits = limits or Limits()
    budget = Budget(limits)
    parsed = parse_request(request, limits, program_key=program_key, functions=functions)
    return execute(parsed, budget, started)


def execute(request: Request, budget: Budget, started: float | None = None) -> RunResult:
    """Evaluate a parsed request under `budget`, isolated from any caller's tapes and budget."""
    started = time.perf_counter() if started is None else started
    return contextvars.copy_context().run(_execute, request, budget, started)


def _execute(request: Request, budget: Budget, started: float) -> RunResult:
    BUDGET.set(budget)
    ACTIVE.set(())
    interpreter = Interpreter(request, budget)
    with np.errstate(all="ignore"):  # overflow to infinity is a value, not an error
        outputs = interpreter.run()
    stats = {
        "ops_executed": budget.ops,
        "ops_recorded": interpreter.ops_recorded(),
        "elapsed_ms": round((time.perf_counter() - started) * 1000.0, 3),
    }
    return RunResult(outputs, interpreter.warnings, stats, request.encoding)


def encode_result(result: RunResult) -> dict[str, Any]:
    """The response body of a run (API section 3), ready for JSON (arrays serialize natively)."""
    return {
        "outputs": {name: encode(t, result.encoding) for name, t in result.outputs.items()},
        "warnings": result.warnings,
        "stats": result.stats,
    }


__all__ = [
    "Request",
    "RunResult",
    "decode",
    "encode",
    "encode_result",
    "execute",
    "parse_request",
    "run_program",
]
