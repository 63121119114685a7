"""Resource limits (numbers only) and the per-request Budget that enforces them before work."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass

from .errors import LimitError


@dataclass(frozen=True, slots=True)
class Limits:
    """Every limit a request runs under; the service builds one from its settings."""

    max_elements_per_tensor: int = 16_777_216
    max_live_elements: int = 67_108_864
    max_ops: int = 1_000_000
    max_iterations: int = 100_000
    max_call_depth: int = 64
    max_nesting_depth: int = 64
    timeout_s: float = 30.0
    max_statements: int = 100_000
    max_outputs: int = 10_000
    max_output_elements: int = 16_777_216  # the response's tensors together


class Budget:
    """Counters of one request, checked before an op allocates and between statements."""

    __slots__ = (
        "deadline",
        "iterations",
        "limits",
        "live",
        "next_check_ops",
        "ops",
        "safe_elements",
    )

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.ops = 0
        self.iterations = 0
        self.live = 0  # elements held by bindings and tapes, maintained by the interpreter
        self.deadline = time.monotonic() + limits.timeout_s
        # An op that stays below both needs none of before_op's checks (Op.__call__ counts it
        # inline): below next_check_ops, no op limit is near and no look at the clock is due; live
        # elements and its own within safe_elements fit both element limits.
        self.next_check_ops = min(0x100, limits.max_ops + 1)
        self.safe_elements = min(limits.max_elements_per_tensor, limits.max_live_elements)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitError(
                f"the request ran past its wall-time limit of {self.limits.timeout_s:g} s"
            )

    def tick_iteration(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.max_iterations:
            raise LimitError(
                f"more than {self.limits.max_iterations} loop iterations in this request"
            )
        if time.monotonic() > self.deadline:
            self.check_time()

    def charge(self, name: str, elements: int) -> None:
        """Count one op application that will create `elements` elements: below
        next_check_ops and within safe_elements no limit is near and no look at the clock is
        due, so the count is all there is to do; else before_op checks every limit."""
        ops = self.ops + 1
        if ops < self.next_check_ops and self.live + elements <= self.safe_elements:
            self.ops = ops
        else:
            self.before_op(name, elements)

    def before_op(self, name: str, elements: int) -> None:
        """Count one op application that will create `elements` elements; refuse it if too big."""
        self.ops += 1
        limits = self.limits
        if self.ops > limits.max_ops:
            raise LimitError(f"more than {limits.max_ops} ops executed in this request")
        if elements > limits.max_elements_per_tensor:
            raise LimitError(
                f"{name} would create {elements} elements; the limit per tensor is "
                f"{limits.max_elements_per_tensor}"
            )
        if self.live + elements > limits.max_live_elements:
            raise LimitError(
                f"{name} would bring the live elements to {self.live + elements}; the limit is "
                f"{limits.max_live_elements}"
            )
        if not self.ops & 0xFF:
            self.check_time()
        self.next_check_ops = min((self.ops | 0xFF) + 1, limits.max_ops + 1)

    def before_backward(self, nodes: int, elements: int) -> None:
        """Count a backward pass over `nodes` tape entries, one op each, before it starts; the
        cotangents it may hold (at most `elements`, what the tape records) must fit beside
        the live elements."""
        self.ops += nodes
        limits = self.limits
        if self.ops > limits.max_ops:
            raise LimitError(
                f"more than {limits.max_ops} ops executed in this request "
                f"(a gradient over {nodes} recorded ops)"
            )
        if self.live + elements > limits.max_live_elements:
            raise LimitError(
                f"the gradient's cotangents ({elements} elements) would bring the live elements "
                f"to {self.live + elements}; the limit is {limits.max_live_elements}"
            )
        self.check_time()

    def check_elements(self, what: str, elements: int) -> None:
        if elements > self.limits.max_elements_per_tensor:
            raise LimitError(
                f"{what} would create {elements} elements; the limit per tensor is "
                f"{self.limits.max_elements_per_tensor}"
            )


# The budget of the request running in this context (None: the Python API, unlimited).
BUDGET: ContextVar[Budget | None] = ContextVar("gradtape_budget", default=None)
