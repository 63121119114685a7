"""The published conventions of the reduction and linear-algebra ops, value for value: ties,
zeros and other points where the derivative needs a choice (API section 5); and NumPy's shape
conventions (1-D operands, broadcast batches) that one table row per op cannot all cover."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engine import OPS, Budget, LimitError, Limits, Tape, Tensor
from engine.gradcheck import check_grads
from engine.limits import BUDGET


def grads(fn: Callable[..., Any], *values: Any) -> list[np.ndarray]:
    """The gradient of sum(fn(*xs)) w.r.t. each x, as arrays."""
    xs = [Tensor(np.asarray(v, dtype=np.float64)) for v in values]
    with Tape() as tape:
        tape.watch(xs)
        out = fn(*xs)
    return [np.asarray(g.value) for g in tape.gradient(out, xs)]


def second(fn: Callable[..., Any], value: Any) -> np.ndarray:
    """d/dx of sum(d sum(fn(x)) / dx): the Hessian's row sums, through nested tapes."""
    x = Tensor(np.asarray(value, dtype=np.float64))
    with Tape() as outer:
        outer.watch(x)
        with Tape() as inner:
            inner.watch(x)
            y = fn(x)
        (dx,) = inner.gradient(y, [x])
    (d2x,) = outer.gradient(dx, [x])
    return np.asarray(d2x.value)


# ----- the convention table is published -----


@pytest.mark.parametrize("name", ["max", "min", "norm"])
def test_kink_conventions_are_published(name: str) -> None:
    conventions = OPS[name].info()["conventions"]
    assert conventions
    assert all(isinstance(v, str) and v for v in conventions.values())


# ----- max / min reductions: ties share the gradient evenly -----


def test_max_ties_share_evenly() -> None:
    (g,) = grads(OPS["max"], [1.0, 3.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5])


def test_min_ties_share_evenly() -> None:
    (g,) = grads(OPS["min"], [2.0, 1.0, 1.0, 5.0, 1.0])
    np.testing.assert_allclose(g, [0.0, 1 / 3, 1 / 3, 0.0, 1 / 3], rtol=0, atol=1e-15)


def test_max_ties_share_evenly_per_slice() -> None:
    x = [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, 5.0, 1.0]]
    (g,) = grads(lambda t: OPS["max"](t, axis=1, keepdims=True), x)
    expected = [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]]
    np.testing.assert_allclose(g, expected, rtol=0, atol=1e-15)


def test_max_tie_gradient_sums_to_the_cotangent() -> None:
    x = np.array([[4.0, 4.0], [4.0, 4.0]])
    (g,) = grads(lambda t: OPS["max"](t) * 6.0, x)
    np.testing.assert_array_equal(g, np.full((2, 2), 1.5))


# ----- norm at 0: the minimum-norm subgradient, 0, never NaN -----


def test_norm_at_zero_has_zero_gradient() -> None:
    (g,) = grads(OPS["norm"], np.zeros((2, 3)))
    np.testing.assert_array_equal(g, np.zeros((2, 3)))


def test_norm_at_zero_per_slice() -> None:
    (g,) = grads(lambda t: OPS["norm"](t, axis=1), [[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]], rtol=0, atol=1e-15)


def test_norm_at_zero_second_order_is_finite() -> None:
    assert np.isfinite(second(OPS["norm"], np.zeros(3))).all()


def test_std_of_equal_elements_has_zero_gradient() -> None:
    (g,) = grads(lambda t: OPS["std"](t, axis=0), [[2.0, 1.0], [2.0, 3.0]])
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g[:, 0], [0.0, 0.0], rtol=0, atol=0)
    np.testing.assert_allclose(g[:, 1], [-0.5, 0.5], rtol=0, atol=1e-15)


# ----- prod with zeros: the product of the other entries -----


def test_prod_gradient_at_one_zero() -> None:
    (g,) = grads(OPS["prod"], [2.0, 0.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0])


def test_prod_gradient_at_two_zeros() -> None:
    (g,) = grads(lambda t: OPS["prod"](t, axis=1), [[0.0, 0.0, 3.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(g, [[0.0, 0.0, 0.0], [6.0, 3.0, 2.0]])


# ----- slogdet, cholesky -----


def test_slogdet_sign_contributes_nothing() -> None:
    a = np.array([[-2.0, 1.0], [0.5, 3.0]])
    (g_sign,) = grads(lambda t: OPS["slogdet"](t)[0], a)
    np.testing.assert_array_equal(g_sign, np.zeros((2, 2)))
    (g_both,) = grads(lambda t: sum(OPS["slogdet"](t)), a)
    np.testing.assert_allclose(g_both, np.linalg.inv(a).T, rtol=1e-12)


def test_cholesky_matches_numpy_and_has_a_symmetric_gradient() -> None:
    rng = np.random.default_rng(0)
    m = rng.uniform(-1.0, 1.0, size=(4, 4))
    a = m @ m.T + 4.0 * np.eye(4)
    np.testing.assert_array_equal(OPS["cholesky"](Tensor(a)).value, np.linalg.cholesky(a))
    w = rng.standard_normal((4, 4))
    (g,) = grads(lambda t: OPS["cholesky"](t) * Tensor(w), a)
    np.testing.assert_allclose(g, g.T, rtol=0, atol=1e-12)


# ----- NumPy's shape conventions: 1-D operands, broadcast batches, default attrs -----

SHAPE_FAMILIES = [
    ("matmul", [(3, 4), (4,)], {}),
    ("matmul", [(4,), (4,)], {}),
    ("matmul", [(4,), (2, 4, 3)], {}),
    ("matmul", [(2, 3, 4), (4,)], {}),
    ("matmul", [(3, 4), (2, 4, 5)], {}),
    ("matmul", [(4,), (4, 3)], {}),
    ("matmul", [(2, 3), (3, 4)], {}),
    ("dot", [(3, 4), (4,)], {}),
    ("dot", [(4,), (4,)], {}),
    ("dot", [(2, 3), (3, 4)], {}),
    ("outer", [(), (3,)], {}),
    ("tensordot", [(2, 3, 4), (3, 4, 5)], {}),
    ("einsum", [(3, 3)], {"subscripts": "ii->i"}),
    ("einsum", [(3, 3)], {"subscripts": "ii"}),
    ("einsum", [(2, 3)], {"subscripts": "ji"}),
    ("einsum", [(2, 3, 3)], {"subscripts": "...ii->..."}),
    ("einsum", [(3,), (4,), (3, 4)], {"subscripts": "i,j,ij->"}),
    ("trace", [(4, 4)], {"offset": -3}),
    ("diagonal", [(2, 5)], {"offset": 7}),
    ("norm", [(5,)], {"ord": 2}),
    ("cumsum", [(2, 3, 2)], {"axis": 1}),
    ("cumprod", [(2, 3, 2)], {}),
]


@pytest.mark.parametrize(
    ("name", "shapes", "attrs"),
    SHAPE_FAMILIES,
    ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(SHAPE_FAMILIES)],
)
def test_shape_family_matches_central_differences(
    name: str, shapes: list[tuple[int, ...]], attrs: dict[str, Any]
) -> None:
    rng = np.random.default_rng(5)
    inputs = [rng.uniform(0.5, 1.5, size=s) for s in shapes]
    expected = getattr(np, name, None) or getattr(np.linalg, name)
    if name not in ("einsum", "norm"):
        np.testing.assert_allclose(
            OPS[name](*inputs, **attrs).value, expected(*inputs, **attrs), rtol=1e-12
        )
    check_grads(lambda *xs: OPS[name](*xs, **attrs), inputs, order=2, rng=rng)


@pytest.mark.parametrize(
    ("name", "shapes", "attrs"),
    [f for f in SHAPE_FAMILIES if OPS[f[0]].raw_vjp is not None],
    ids=lambda v: str(v) if isinstance(v, str) else "",
)
def test_shape_family_raw_vjp_matches_the_vjp(
    name: str, shapes: list[tuple[int, ...]], attrs: dict[str, Any]
) -> None:
    rng = np.random.default_rng(8)
    op = OPS[name]
    inputs = [Tensor(rng.uniform(0.5, 1.5, size=s)) for s in shapes]
    out = op(*inputs, **attrs)
    g = Tensor(rng.standard_normal(out.shape))
    extra = {"needs": (True,) * len(inputs)} if op.raw_needs else {}
    expected = op.vjp(g, out, *inputs, **extra, **attrs)
    got = op.raw_vjp(g.value, out.value, *[x.value for x in inputs], **extra, **attrs)
    for e, r in zip(expected, got, strict=True):
        assert np.shape(r) == e.shape
        np.testing.assert_allclose(r, e.value, rtol=1e-13, atol=0)


@pytest.mark.parametrize("b_shape", [(3,), (2, 3, 1), (3, 4)])
def test_solve_vector_and_batched_right_hand_sides(b_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(6)
    a = rng.uniform(-1.0, 1.0, size=(2, 3, 3)) + 3.0 * np.eye(3)
    b = rng.standard_normal(b_shape)
    np.testing.assert_allclose(OPS["solve"](a, b).value, np.linalg.solve(a, b), rtol=1e-12)
    check_grads(lambda *xs: OPS["solve"](*xs), [a, b], order=2, rng=rng)


def test_einsum_forward_is_numpys() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal((4, 3, 3))
    for subscripts in ("...ij,...jk->...ik", "aBij,Bjk", "abii,cij->cj"):
        np.testing.assert_allclose(
            OPS["einsum"](a, b, subscripts=subscripts).value,
            np.einsum(subscripts, a, b),
            rtol=1e-12,
        )


# ----- outputs bigger than inputs are refused before NumPy allocates -----


@pytest.mark.parametrize(
    ("name", "shapes", "attrs"),
    [
        ("outer", [(10**6,), (10**6,)], {}),
        ("matmul", [(10**6, 1), (1, 10**6)], {}),
        ("dot", [(10**6, 1), (1, 10**6)], {}),
        ("tensordot", [(10**6,), (10**6,)], {"axes": 0}),
        ("einsum", [(10**6,), (10**6,)], {"subscripts": "i,j->ij"}),
        ("solve", [(10**6, 1, 1), (1, 10**6)], {}),
    ],
)
def test_huge_products_are_refused_before_allocation(
    name: str, shapes: list[tuple[int, ...]], attrs: dict[str, Any]
) -> None:
    inputs = [Tensor(np.ones(s)) for s in shapes]
    assert OPS[name].out_elements(inputs, attrs) == 10**12
    token = BUDGET.set(Budget(Limits()))
    try:
        with pytest.raises(LimitError):
            OPS[name](*inputs, **attrs)
    finally:
        BUDGET.reset(token)
