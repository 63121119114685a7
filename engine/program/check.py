"""POST /v1/check (API section 7): every gradient and jacobian statement beside central differences.

The program runs once in float64 (floating inputs are cast) while every gradient, jacobian and
batch_jacobian statement that runs is recorded: its targets, seeds, sources and results. Then,
for each source that is a program input, the whole program runs again with one element of that
input moved by +eps and by -eps, and the same statement's targets are read in those runs (the
k-th run of a statement is matched with the k-th, so statements in loops and functions are
checked at every occurrence). The estimate of a gradient element is the central difference of
<seed, target> (seed = output_gradients, or ones); a jacobian's column is the central difference
of the target itself. At most MAX_CHECKED elements of each input are moved (a deterministic
sample when the input is larger); the other elements of `numeric` are NaN.

A source that is an intermediate value (not an input) cannot be moved without changing what
computes it, so its result is reported with `"numeric": null, "skipped": "intermediate source"`;
integer and bool sources are skipped as `"non_floating source"`. Skipped results have
`"passed": null` and do not fail the check. Analytic and numeric are compared element by element
with engine.gradcheck.compare, the same rule the test suite uses. All runs share one budget, so
the request's limits (ops, loop iterations, wall time) bound the whole check.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..gradcheck import compare
from ..limits import BUDGET, Budget, Limits
from ..tape import ACTIVE
from ..tensor import FLOATING, Tensor
from .envelope import CheckRequest, validate
from .interpret import Interpreter, Scope
from .parse import parse_envelope
from .syntax import GradientStmt, JacobianStmt, Request
from .trampoline import Step
from .values import encode

Array = np.ndarray
MAX_CHECKED = 64  # elements of one input moved per check (a deterministic sample beyond that)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One run of a gradient or jacobian statement, as the unperturbed program ran it."""

    pointer: str
    index: int  # the statement's index-th run (loops, repeated calls)
    kind: str  # "gradient", "jacobian" or "batch_jacobian"
    targets: tuple[Array | None, ...]  # None: a non-floating target (no gradient flows)
    seeds: tuple[Array, ...] | None
    sources: tuple[tuple[str, str | None, Tensor], ...]  # (name, input it is or None, value)
    results: tuple[Tensor | None, ...]


class _Recorder(Interpreter):
    """The interpreter, noting the targets (and more, when `full`) of each gradient statement."""

    def __init__(self, request: Request, budget: Budget, full: bool) -> None:
        super().__init__(request, budget)
        self.full = full
        self.occurrences: dict[tuple[str, int], Occurrence] = {}
        self.counts: dict[str, int] = {}
        self.input_ids: dict[int, str] | None = None

    def exec_block(self, block: Any, scope: Scope) -> Step[None]:
        if self.input_ids is None:  # the first block is the program, right after inputs bind
            self.input_ids = {id(self.top.vars[n]): n for n in self.request.inputs}
        return super().exec_block(block, scope)

    def gradient(self, stmt: GradientStmt, scope: Scope) -> None:
        targets = [self.read(n, scope) for n in stmt.targets]
        seeds = None
        if stmt.output_gradients is not None:
            seeds = tuple(_f64(self.read(n, scope)) for n in stmt.output_gradients)
        sources = [self.read(n, scope) for n in stmt.sources]
        super().gradient(stmt, scope)
        self.note(stmt, "gradient", targets, seeds, sources, scope)

    def jacobian(self, stmt: JacobianStmt, scope: Scope) -> None:
        target = self.read(stmt.target, scope)
        sources = [self.read(n, scope) for n in stmt.sources]
        super().jacobian(stmt, scope)
        kind = "batch_jacobian" if stmt.batch else "jacobian"
        self.note(stmt, kind, [target], None, sources, scope)

    def note(
        self,
        stmt: GradientStmt | JacobianStmt,
        kind: str,
        targets: list[Tensor],
        seeds: tuple[Array, ...] | None,
        sources: list[Tensor],
        scope: Scope,
    ) -> None:
        index = self.counts.get(stmt.pointer, 0)
        self.counts[stmt.pointer] = index + 1
        values = tuple(_f64(t) if t.dtype in FLOATING else None for t in targets)
        if not self.full:
            self.occurrences[(stmt.pointer, index)] = Occurrence(
                stmt.pointer, index, kind, values, None, (), ()
            )
            return
        ids = self.input_ids or {}
        named = tuple(
            (ref.name, ids.get(id(s)), s) for ref, s in zip(stmt.sources, sources, strict=True)
        )
        results = tuple(scope.vars.get(name) for name in stmt.out)
        self.occurrences[(stmt.pointer, index)] = Occurrence(
            stmt.pointer, index, kind, values, seeds, named, results
        )


def _f64(t: Tensor) -> Array:
    return np.asarray(t.value, dtype=np.float64)


def _run(request: Request, budget: Budget, full: bool) -> _Recorder:
    interpreter = _Recorder(request, budget, full)

    def go() -> None:
        BUDGET.set(budget)
        ACTIVE.set(())
        with np.errstate(all="ignore"):
            interpreter.run()

    contextvars.copy_context().run(go)
    return interpreter


def _sample(size: int) -> Array:
    if size <= MAX_CHECKED:
        return np.arange(size)
    return np.sort(np.random.default_rng(0).choice(size, MAX_CHECKED, replace=False))


def check_program(
    request: dict[str, Any],
    limits: Limits | None = None,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> dict[str, Any]:
    """Run the program and compare each gradient/jacobian result with central differences.

    `request` is a run request plus an optional `"check": {"eps", "rtol", "atol"}` (defaults:
    the arguments). Returns `{"passed", "results": [...], "warnings", "stats"}`; each result has
    `pointer`, `occurrence`, `kind`, `source`, `analytic`, `numeric`, `checked_elements`,
    `max_abs_err`, `max_rel_err` and `passed` (see the module docstring for skipped sources).
    """
    started = time.perf_counter()
    limits = limits or Limits()
    budget = Budget(limits)
    envelope = validate(CheckRequest, request)
    given = envelope.check
    opts = {"eps": eps, "rtol": rtol, "atol": atol}
    if given is not None:
        opts.update(given.model_dump(include=given.model_fields_set))
    parsed = parse_envelope(envelope, limits)
    inputs = {
        n: replace(inp, value=inp.value.astype(np.float64)) if inp.value.dtype in FLOATING else inp
        for n, inp in parsed.inputs.items()
    }
    parsed = replace(parsed, inputs=inputs)
    base = _run(parsed, budget, full=True)

    moved = sorted(
        {inp for occ in base.occurrences.values() for _, inp, s in occ.sources
         if inp is not None and s.dtype in FLOATING}
    )  # fmt: skip
    # perturbed[input][(element, sign)] -> the targets of every occurrence in that run
    perturbed: dict[str, dict[tuple[int, int], dict[tuple[str, int], Occurrence]]] = {}
    runs = 1
    for name in moved:
        value = inputs[name].value
        perturbed[name] = {}
        for element in _sample(value.size).tolist():
            for sign in (1, -1):
                shifted = value.copy()
                shifted.flat[element] += sign * opts["eps"]
                moved_inputs = {**inputs, name: replace(inputs[name], value=shifted)}
                run = _run(replace(parsed, inputs=moved_inputs), budget, full=False)
                perturbed[name][(element, sign)] = run.occurrences
                runs += 1

    results = []
    for key, occ in base.occurrences.items():
        for i, (source, inp, tensor) in enumerate(occ.sources):
            results.append(
                _result(occ, key, i, source, inp, tensor, perturbed.get(inp or ""), opts,
                        parsed.encoding)
            )  # fmt: skip
    return {
        "passed": all(r["passed"] is not False for r in results),
        "results": results,
        "warnings": base.warnings,
        "stats": {
            "ops_executed": budget.ops,
            "runs": runs,
            "elapsed_ms": round((time.perf_counter() - started) * 1000.0, 3),
        },
    }


def _result(
    occ: Occurrence,
    key: tuple[str, int],
    i: int,
    source: str,
    inp: str | None,
    value: Tensor,
    runs: dict[tuple[int, int], dict[tuple[str, int], Occurrence]] | None,
    opts: dict[str, float],
    encoding: str,
) -> dict[str, Any]:
    analytic = occ.results[i] if i < len(occ.results) else None
    out: dict[str, Any] = {
        "pointer": occ.pointer,
        "occurrence": occ.index,
        "kind": occ.kind,
        "source": source,
        "analytic": encode(analytic, encoding),
    }
    skipped = None
    if value.dtype not in FLOATING:
        skipped = "non_floating source"
    elif inp is None or runs is None:
        skipped = "intermediate source"
    if skipped is not None or runs is None:
        return {**out, "numeric": None, "skipped": skipped, "checked_elements": 0,
                "max_abs_err": None, "max_rel_err": None, "passed": None}  # fmt: skip
    shape = _result_shape(occ, value)
    a = np.zeros(shape) if analytic is None else _f64(analytic).reshape(shape)
    numeric = np.full(shape, np.nan)
    objective = _objective(occ)
    elements = sorted({element for element, _ in runs})
    for element in elements:
        plus = runs[(element, 1)].get(key)
        minus = runs[(element, -1)].get(key)
        if plus is None or minus is None:
            continue  # the statement did not run this time: control flow depends on the input
        diff = (objective(plus) - objective(minus)) / (2.0 * opts["eps"])
        _place(numeric, diff, occ.kind, element, value.shape)
    mask = _checked_mask(shape, occ.kind, elements, value.shape)
    comparisons = [
        compare(x, y, opts["rtol"], opts["atol"])
        for x, y in zip(a[mask].tolist(), numeric[mask].tolist(), strict=True)
    ]
    return {
        **out,
        "numeric": encode(numeric, encoding),
        "checked_elements": len(elements),
        "max_abs_err": _finite_max(c.abs_err for c in comparisons),
        "max_rel_err": _finite_max(c.rel_err for c in comparisons),
        "passed": all(c.passed for c in comparisons),
    }


def _result_shape(occ: Occurrence, source: Tensor) -> tuple[int, ...]:
    if occ.kind == "gradient":
        return source.shape
    target = occ.targets[0]
    tshape = () if target is None else target.shape
    if occ.kind == "jacobian":
        return tshape + source.shape
    return tshape + source.shape[1:]


def _objective(occ: Occurrence) -> Callable[[Occurrence], Array]:
    """What is differentiated: <seed, targets> for a gradient, the target for a jacobian."""
    if occ.kind != "gradient":
        return lambda o: o.targets[0] if o.targets[0] is not None else np.zeros(())

    def inner(o: Occurrence) -> Array:
        total = np.zeros(())
        for j, t in enumerate(o.targets):
            if t is None:
                continue
            seed = occ.seeds[j] if occ.seeds is not None else 1.0
            total = total + np.sum(np.asarray(seed) * t)
        return total

    return inner


def _place(numeric: Array, diff: Array, kind: str, element: int, shape: tuple[int, ...]) -> None:
    """Write the estimate for one moved source element into the result array."""
    index: tuple[Any, ...] = tuple(int(i) for i in np.unravel_index(element, shape))
    if kind == "gradient":
        numeric[index] = diff
    elif kind == "jacobian":
        numeric[(Ellipsis, *index)] = diff
    else:  # batch_jacobian: example b's outputs by its own inputs
        b, rest = index[0], index[1:]
        numeric[(b, Ellipsis, *rest)] = diff[b]


def _checked_mask(
    shape: tuple[int, ...], kind: str, elements: list[int], source: tuple[int, ...]
) -> Array:
    mask = np.zeros(shape, dtype=bool)
    fill = np.zeros(source, dtype=bool)
    fill.flat[elements] = True
    if kind == "gradient":
        return fill
    if kind == "jacobian":
        mask[...] = fill
        return mask
    for b, *rest in zip(*np.nonzero(fill), strict=True):
        where: tuple[Any, ...] = (int(b), Ellipsis, *(int(r) for r in rest))
        mask[where] = True
    return mask


def _finite_max(values: Any) -> float | str | None:
    items = list(values)
    if not items:
        return None
    worst = max(items, key=lambda v: math.inf if math.isnan(v) else v)
    if math.isnan(worst):
        return "NaN"
    return "Infinity" if math.isinf(worst) else worst
