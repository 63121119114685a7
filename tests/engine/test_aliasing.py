"""One tensor in two argument places: `(x, stop_gradient(x))`, `(stop_gradient(x), x)`,
`(x, identity(x))` and `(x, x)`, for every differentiable op with two or more floating inputs.

A VJP must not infer anything about the tape from the identity of the arrays it is handed:
`stop_gradient(x)` and `identity(x)` may share x's array, and only the tape knows which of them
carries a gradient. Each pattern is checked against central differences at first order (nothing
records the backward pass, so the raw VJPs run) and at second order (an outer tape records it),
and the first-order gradient of the raw pass is compared with the recorded pass's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engine import OPS, EngineError, Tape, Tensor
from engine.gradcheck import check_grads
from engine.tensor import FLOATING

from .cases import load_cases

CASES = load_cases()

# Ops whose table inputs cannot stand for each other (a matrix product of non-square operands):
# the floating inputs every pattern uses instead. An op that takes two or more floating inputs
# and has neither a table sample nor a row here that fits fails test_every_op_is_covered.
ALIAS_INPUTS: dict[str, Callable[[np.random.Generator], list[np.ndarray]]] = {
    "matmul": lambda rng: [rng.uniform(-1, 1, (3, 3))] * 2,
    "dot": lambda rng: [rng.uniform(-1, 1, (3, 3))] * 2,
    "tensordot": lambda rng: [rng.uniform(-1, 1, (3, 3))] * 2,
    "solve": lambda rng: [np.eye(3) * 3 + rng.uniform(-0.5, 0.5, (3, 3))] * 2,
    "conv": lambda rng: [rng.uniform(-1, 1, (2, 2, 3, 3))] * 2,
    "conv_transpose": lambda rng: [rng.uniform(-1, 1, (4, 4, 2, 2))] * 2,
    "scatter_add": lambda rng: [rng.uniform(-1, 1, (2, 3))] * 2,  # x and the updates alike
}

# Ops for which x against itself sits on a kink or a jump (a tie of maximum, x mod x, clip at its
# own bound): finite differences say nothing there, so only the published convention binds, and
# the aliased op must still agree with the same op on an equal but separate array.
AT_A_KINK = {"maximum", "minimum", "mod", "floor_divide", "clip"}

PATTERNS: dict[str, Callable[[Tensor], tuple[Tensor, Tensor]]] = {
    "x, stop_gradient(x)": lambda x: (x, OPS["stop_gradient"](x)),
    "stop_gradient(x), x": lambda x: (OPS["stop_gradient"](x), x),
    "x, identity(x)": lambda x: (x, OPS["identity"](x)),
    "x, x": lambda x: (x, x),
}


def _sample(name: str, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = CASES[name].sample(rng)
    if name in ALIAS_INPUTS:
        floating = [k for k, a in enumerate(inputs) if np.asarray(a).dtype in FLOATING]
        for k, a in zip(floating, ALIAS_INPUTS[name](rng), strict=False):
            inputs[k] = a
    return [np.asarray(a) for a in inputs]


def _aliased(
    name: str, i: int, j: int, pattern: str, attrs: dict[str, Any], frozen: np.ndarray | None = None
) -> Callable[..., Any]:
    """f(x, *rest): the op with x's two roles at places i and j, rest filling the others. With
    `frozen`, the stopped role holds that constant instead: the function finite differences
    see, since moving x does not move what stop_gradient cut."""
    op, make = OPS[name], PATTERNS[pattern]

    def f(x: Tensor, *rest: Tensor) -> Any:
        args: list[Tensor] = list(rest)
        a, b = make(x)
        if frozen is not None and pattern.startswith("stop"):
            a = Tensor(frozen)
        elif frozen is not None and "stop" in pattern:
            b = Tensor(frozen)
        args.insert(i, a)
        args.insert(j, b)
        return op(*args, **attrs)

    return f


def _pairs(name: str) -> list[tuple[int, int, dict[str, Any], list[np.ndarray]]]:
    """The (i, j, attrs, inputs) on which x can stand at places i and j: x takes place i's
    sample, and the op must accept it at place j too."""
    out = []
    for k, attrs in enumerate(CASES[name].attrs):
        inputs = _sample(name, 1000 + k)
        floating = [p for p, a in enumerate(inputs) if a.dtype in FLOATING]
        for p, i in enumerate(floating):
            for j in floating[p + 1 :]:
                x = inputs[i]
                trial = [a for q, a in enumerate(inputs) if q not in (i, j)]
                try:
                    _aliased(name, i, j, "x, x", attrs)(Tensor(x), *map(Tensor, trial))
                except (EngineError, ValueError):
                    continue
                out.append((i, j, attrs, [x, *trial]))
    return out


MULTI_INPUT = sorted(
    n
    for n, c in CASES.items()
    if c.differentiable
    and sum(np.asarray(a).dtype in FLOATING for a in c.sample(np.random.default_rng(0))) >= 2
)


def test_every_op_is_covered() -> None:
    uncovered = [n for n in MULTI_INPUT if not _pairs(n)]
    assert not uncovered, f"no input pair can alias for {uncovered}: add ALIAS_INPUTS rows"


def _derivatives(f: Callable[..., Any], xs: list[np.ndarray]) -> list[np.ndarray]:
    """d <u, f> / d x by the raw pass (no outer tape) and by the recorded one (an outer tape),
    and d <w, d <u, f> / d x> / d x through the recorded one: the first and second order."""
    rng = np.random.default_rng(11)
    tensors = [Tensor(a) for a in xs]
    u = Tensor(rng.standard_normal(np.shape(f(*tensors).value)))
    w = Tensor(rng.standard_normal(xs[0].shape))

    def grad() -> Tensor:
        with Tape() as tape:
            tape.watch(tensors[0])
            out = OPS["sum"](OPS["multiply"](f(*tensors), u))
        (g,) = tape.gradient(out, [tensors[0]], unconnected_gradients="zero")
        return g

    raw = grad()
    with Tape() as outer:
        outer.watch(tensors[0])
        recorded = grad()
        second_target = OPS["sum"](OPS["multiply"](recorded, w))
    (second,) = outer.gradient(second_target, [tensors[0]], unconnected_gradients="zero")
    return [raw.value, recorded.value, second.value]


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("name", MULTI_INPUT)
def test_aliased_inputs(name: str, pattern: str) -> None:
    """The aliased op's derivatives equal those of the function finite differences check (the
    op with the stopped role frozen, or the op itself where nothing is stopped)."""
    case = CASES[name]
    for i, j, attrs, xs in _pairs(name):
        f = _aliased(name, i, j, pattern, attrs)
        reference = _aliased(name, i, j, pattern, attrs, frozen=xs[0])
        where = f"{name}{attrs or ''} with ({pattern}) at places {i}, {j}"
        try:
            if name not in AT_A_KINK:
                check_grads(
                    reference,
                    xs,
                    order=case.order,
                    rng=np.random.default_rng(5),
                    rtol=case.rtol,
                    atol=case.atol,
                )
        except AssertionError as exc:
            raise AssertionError(f"{where}, the reference: {exc}") from exc
        got, want = _derivatives(f, xs), _derivatives(reference, xs)
        for what, a, b in zip(("raw", "recorded", "second order"), got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{where}: {what}")


def test_the_tutorial_case_gives_three() -> None:
    """x * stop_gradient(x) at x = 3: the gradient is the stopped factor, 3.0 (not 6.0)."""
    x = Tensor(np.float64(3.0))
    with Tape() as tape:
        tape.watch(x)
        y = OPS["multiply"](x, OPS["stop_gradient"](x))
    (g,) = tape.gradient(y, [x])
    assert g.value == 3.0
