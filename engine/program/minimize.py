"""Gradient descent on the server (API section 10): a loss minimized by a Keras optimizer.

Each step runs the program with the current variables under a tape that watches them, takes the
gradient of the loss, and applies one optimizer update. The update rules, hyperparameter names
and defaults are Keras 3's (`keras/src/optimizers/{sgd,adam,rmsprop,adagrad}.py`). The optimizer
state is plain float64 arrays that no tape ever sees, so the updates are written in NumPy; a
variable keeps its dtype (its new value is cast back to it after each update).
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydantic import BaseModel

from ..errors import EngineError, LimitError, OpError, ProgramError
from ..limits import BUDGET, Budget, Limits
from ..tape import ACTIVE, Tape
from ..tensor import FLOATING, Variable
from .envelope import OPTIMIZER_MODELS, MinimizeRequest, StopCriteria, validate
from .interpret import Interpreter
from .parse import parse_envelope
from .syntax import Input, Request
from .values import encode, pointer_to

Array = np.ndarray
# name -> hyperparameter -> default, read off the request's models (envelope.py: Keras 3's names
# and defaults).
OPTIMIZERS: dict[str, dict[str, float | bool]] = {
    name: {key: field.default for key, field in model.model_fields.items() if key != "name"}
    for name, model in OPTIMIZER_MODELS.items()
}


# ----- optimizers: one update of one variable, Keras' rule -----
@dataclass
class Optimizer:
    """An optimizer's hyperparameters and its per-variable state (slots), keyed by name."""

    name: str
    hyper: dict[str, Any]
    iterations: int = 0  # updates applied so far (Keras' `optimizer.iterations`)
    slots: dict[str, dict[str, Array]] = field(default_factory=dict)

    def apply(self, grads: dict[str, Array], values: dict[str, Array]) -> dict[str, Array]:
        """One step over every variable: the new values (float64)."""
        rule = UPDATES[self.name]
        out = {}
        for name, g in grads.items():
            slots = self.slots.setdefault(name, {})
            out[name] = rule(self.hyper, slots, self.iterations, g, values[name])
        self.iterations += 1
        return out


def _sgd(h: dict[str, Any], s: dict[str, Array], _: int, g: Array, x: Array) -> Array:
    lr, momentum = h["learning_rate"], h["momentum"]
    if momentum == 0:
        return np.asarray(x - g * lr)
    m = s.get("momentum", np.zeros_like(x))
    s["momentum"] = m = m * momentum - g * lr
    return np.asarray(x + (m * momentum - g * lr if h["nesterov"] else m))


def _adam(h: dict[str, Any], s: dict[str, Array], iterations: int, g: Array, x: Array) -> Array:
    beta_1, beta_2 = h["beta_1"], h["beta_2"]
    step = iterations + 1
    m = s.get("m", np.zeros_like(x))
    v = s.get("v", np.zeros_like(x))
    s["m"] = m = m + (g - m) * (1 - beta_1)
    s["v"] = v = v + (g * g - v) * (1 - beta_2)
    alpha = h["learning_rate"] * math.sqrt(1 - beta_2**step) / (1 - beta_1**step)
    return np.asarray(x - m * alpha / (np.sqrt(v) + h["epsilon"]))


def _rmsprop(h: dict[str, Any], s: dict[str, Array], _: int, g: Array, x: Array) -> Array:
    rho = h["rho"]
    s["velocity"] = velocity = rho * s.get("velocity", np.zeros_like(x)) + (1 - rho) * (g * g)
    if h["centered"]:
        average = rho * s.get("average_gradient", np.zeros_like(x)) + (1 - rho) * g
        s["average_gradient"] = average
        denominator = velocity - average * average + h["epsilon"]
    else:
        denominator = velocity + h["epsilon"]
    increment = h["learning_rate"] * g / np.sqrt(denominator)
    if h["momentum"] > 0:
        s["momentum"] = m = h["momentum"] * s.get("momentum", np.zeros_like(x)) + increment
        return np.asarray(x - m)
    return np.asarray(x - increment)


def _adagrad(h: dict[str, Any], s: dict[str, Array], _: int, g: Array, x: Array) -> Array:
    initial = np.full_like(x, h["initial_accumulator_value"])
    s["accumulator"] = accumulator = s.get("accumulator", initial) + g * g
    return np.asarray(x - h["learning_rate"] * g / np.sqrt(accumulator + h["epsilon"]))


UPDATES: dict[str, Callable[[dict[str, Any], dict[str, Array], int, Array, Array], Array]] = {
    "sgd": _sgd,
    "adam": _adam,
    "rmsprop": _rmsprop,
    "adagrad": _adagrad,
}


def make_optimizer(spec: BaseModel) -> Optimizer:
    """An optimizer from its validated request model (envelope.Optimizer)."""
    hyper = spec.model_dump()
    return Optimizer(hyper.pop("name"), hyper)


# ----- the request -----
@dataclass(frozen=True, slots=True)
class Plan:
    """A validated minimize request."""

    request: Request
    loss: str
    variables: tuple[str, ...]
    optimizer: Optimizer
    steps: int
    grad_norm: float | None
    loss_delta: float | None


def parse_minimize(raw: Any, limits: Limits) -> Plan:
    """Validate the request (envelope.MinimizeRequest, then the program and the variables)."""
    envelope = validate(MinimizeRequest, raw)
    request = parse_envelope(envelope, limits)
    if envelope.steps > limits.max_iterations:
        raise LimitError(
            f"{envelope.steps} steps asked for; the limit is {limits.max_iterations}",
            pointer="/steps",
        )
    variables = _variables(envelope.variables, request)
    stop = envelope.stop or StopCriteria()
    # Every variable becomes a tf.Variable: the step's tape watches it when an op reads it.
    inputs = {
        name: replace(inp, variable=True) if name in variables else inp
        for name, inp in request.inputs.items()
    }
    return Plan(
        replace(request, inputs=inputs),
        envelope.loss,
        variables,
        make_optimizer(envelope.optimizer),
        envelope.steps,
        stop.grad_norm,
        stop.loss_delta,
    )


def _variables(raw: list[str] | None, request: Request) -> tuple[str, ...]:
    inputs = request.inputs
    if raw is None:
        names = tuple(n for n, inp in inputs.items() if inp.variable)
        if not names:
            raise ProgramError(
                'no variables: mark inputs "variable": true or list them in "variables"',
                code="missing_key",
                pointer="/variables",
            )
    else:
        names = tuple(raw)
    for i, name in enumerate(names):
        pointer = f"/variables/{i}" if raw is not None else pointer_to("/inputs", name)
        if not isinstance(name, str) or name not in inputs:
            raise ProgramError(f"{name!r} is not an input", code="unknown_name", pointer=pointer)
        if inputs[name].value.dtype not in FLOATING:
            raise ProgramError(
                f"variable {name!r} is {inputs[name].value.dtype.name}; only floating inputs "
                "can be trained",
                code="dtype_error",
                pointer=pointer,
            )
    if len(set(names)) != len(names):
        raise ProgramError("variables repeats a name", code="bad_value", pointer="/variables")
    return names


# ----- the loop -----
def minimize(request: dict[str, Any], limits: Limits | None = None) -> dict[str, Any]:
    """Run gradient descent (API section 10) and return the response body.

    `{"variables": {name: tensor}, "loss_history": [loss at each step, before its update],
    "steps": updates applied, "stopped": "steps" | "grad_norm" | "loss_delta", "stats"}`.
    A stop criterion is tested on the step's loss and gradient before its update, so a run
    that stops early reports one more loss than updates. The request's limits cover the
    whole run: one budget (ops, loop iterations, wall time) for every step, and each step
    counts as one loop iteration.
    """
    started = time.perf_counter()
    limits = limits or Limits()
    budget = Budget(limits)
    plan = parse_minimize(request, limits)
    return contextvars.copy_context().run(_minimize, plan, budget, started)


def _minimize(plan: Plan, budget: Budget, started: float) -> dict[str, Any]:
    BUDGET.set(budget)
    values = {n: plan.request.inputs[n].value for n in plan.variables}
    history: list[float] = []
    stopped, updates, grad_norm = "steps", 0, math.nan
    for _ in range(plan.steps):
        budget.tick_iteration()
        loss, grads = _evaluate(plan, values, budget)
        grad_norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
        delta = abs(loss - history[-1]) if history else math.inf
        history.append(loss)
        if plan.grad_norm is not None and grad_norm <= plan.grad_norm:
            stopped = "grad_norm"
            break
        if plan.loss_delta is not None and delta <= plan.loss_delta:
            stopped = "loss_delta"
            break
        new = plan.optimizer.apply(grads, {n: v.astype(np.float64) for n, v in values.items()})
        values = {n: new[n].astype(values[n].dtype) for n in values}
        updates += 1
    return {
        "variables": {n: encode(v, plan.request.encoding) for n, v in values.items()},
        "loss_history": [_json_float(x) for x in history],
        "steps": updates,
        "stopped": stopped,
        "stats": {
            "ops_executed": budget.ops,
            "evaluations": len(history),
            "grad_norm": _json_float(grad_norm),
            "elapsed_ms": round((time.perf_counter() - started) * 1000.0, 3),
        },
    }


def _evaluate(
    plan: Plan, values: dict[str, Array], budget: Budget
) -> tuple[float, dict[str, Array]]:
    """The loss and its gradient (float64) with respect to each variable at `values`."""
    inputs: dict[str, Input] = {
        n: replace(inp, value=values[n]) if n in values else inp
        for n, inp in plan.request.inputs.items()
    }
    interpreter = Interpreter(replace(plan.request, inputs=inputs, outputs=()), budget)
    ACTIVE.set(())
    with np.errstate(all="ignore"), Tape() as tape:
        interpreter.run()
    loss = interpreter.top.vars.get(plan.loss)
    if plan.loss not in interpreter.top.vars:
        raise ProgramError(
            f"the program binds no top-level variable {plan.loss!r}",
            code="unknown_name",
            pointer="/loss",
        )
    if loss is None or loss.dtype not in FLOATING:
        kind = "null" if loss is None else loss.dtype.name
        raise ProgramError(
            f"the loss {plan.loss!r} is {kind}; it must be a floating scalar",
            code="dtype_error",
            pointer="/loss",
        )
    if loss.size != 1:
        raise OpError(
            f"the loss {plan.loss!r} has shape {list(loss.shape)}; it must be a scalar",
            code="shape_mismatch",
            pointer="/loss",
        )
    watched = {v.name: v for v in tape.watched_variables() if isinstance(v, Variable)}
    names = [n for n in plan.variables if n in watched]
    try:
        with np.errstate(all="ignore"):
            found = tape.gradient(loss, [watched[n] for n in names], unconnected_gradients="zero")
    except EngineError as err:
        raise err.at("/loss") from None
    grads = {n: np.zeros(values[n].shape) for n in plan.variables}  # unread: no gradient
    for n, g in zip(names, found, strict=True):
        grads[n] = np.asarray(g.value, dtype=np.float64)
    return float(np.asarray(loss.value).reshape(())), grads


def _json_float(x: float) -> float | str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x
