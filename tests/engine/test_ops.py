"""The registry-wide op table: every op has a row; every differentiable op is checked against
central differences at order 1 and 2; non-differentiable ops are checked not to be recorded."""

from __future__ import annotations

import numpy as np
import pytest

from engine import OPS, Tape, Tensor
from engine.gradcheck import check_grads, check_jvp

from .cases import load_cases

CASES = load_cases()


def test_every_op_has_a_case() -> None:
    assert set(CASES) == set(OPS), (
        f"missing rows: {sorted(set(OPS) - set(CASES))}; "
        f"stale rows: {sorted(set(CASES) - set(OPS))}"
    )


def test_differentiable_flags_agree() -> None:
    has_vjp = {n for n, op in OPS.items() if op.vjp is not None}
    assert has_vjp == {n for n, c in CASES.items() if c.differentiable}


DIFFERENTIABLE = sorted(n for n, c in CASES.items() if c.differentiable)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_vjp_matches_central_differences(name: str, order: int) -> None:
    case = CASES[name]
    if order > case.order:
        pytest.skip(f"{name} is checked to order {case.order}")
    op = OPS[name]
    for k, attrs in enumerate(case.attrs):
        rng = np.random.default_rng(1000 + k)
        inputs = case.sample(rng)
        check_grads(lambda *xs, attrs=attrs: op(*xs, **attrs), inputs, order=order, rng=rng,
                    rtol=case.rtol, atol=case.atol)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if not c.differentiable))
def test_non_differentiable_ops_are_not_recorded(name: str) -> None:
    case = CASES[name]
    op = OPS[name]
    for attrs in case.attrs:
        inputs = [Tensor(x) for x in case.sample(np.random.default_rng(7))]
        with Tape(persistent=True) as tape:
            tape.watch(inputs)
            out = op(*inputs, **attrs)
        outs = list(out) if isinstance(out, tuple) else [out]
        assert not tape._nodes
        for o in outs:
            grads = tape.gradient(o, inputs)
            assert all(g is None for g in grads)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_jvp_matches_reverse_mode_and_central_differences(name: str) -> None:
    case = CASES[name]
    op = OPS[name]
    for k, attrs in enumerate(case.attrs):
        rng = np.random.default_rng(2000 + k)
        inputs = case.sample(rng)
        vs_reverse, vs_numeric = check_jvp(lambda *xs, attrs=attrs: op(*xs, **attrs), inputs,
                                           rng=rng, rtol=case.rtol, atol=case.atol)
        assert vs_reverse.passed, (
            f"<u, Jv> {vs_reverse.analytic} vs <J^T u, v> {vs_reverse.numeric}"
        )
        assert vs_numeric.passed, (
            f"<u, Jv> {vs_numeric.analytic} vs differences {vs_numeric.numeric}"
        )
