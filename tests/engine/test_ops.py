"""The registry-wide op table: every op has a row; every differentiable op is checked against
central differences at order 1 and 2; non-differentiable ops are checked not to be recorded."""

from __future__ import annotations

import numpy as np
import pytest

from engine import OPS, EngineError, Tape, Tensor
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
        check_grads(
            lambda *xs, attrs=attrs: op(*xs, **attrs),
            inputs,
            order=order,
            rng=rng,
            rtol=case.rtol,
            atol=case.atol,
        )


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
        vs_reverse, vs_numeric = check_jvp(
            lambda *xs, attrs=attrs: op(*xs, **attrs),
            inputs,
            rng=rng,
            rtol=case.rtol,
            atol=case.atol,
        )
        assert vs_reverse.passed, (
            f"<u, Jv> {vs_reverse.analytic} vs <J^T u, v> {vs_reverse.numeric}"
        )
        assert vs_numeric.passed, (
            f"<u, Jv> {vs_numeric.analytic} vs differences {vs_numeric.numeric}"
        )


RAW = sorted(n for n, op in OPS.items() if op.raw_vjp is not None)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", RAW)
def test_raw_vjp_matches_the_vjp(name: str, dtype: type) -> None:
    """The NumPy VJP (first-order passes) gives what the catalog-op VJP gives: same inputs
    answered, same shapes and dtypes, same values, for each `needs` pattern it takes."""
    case = CASES[name]
    op = OPS[name]
    for k, attrs in enumerate(case.attrs):
        rng = np.random.default_rng(3000 + k)
        inputs = [Tensor(x.astype(dtype) if x.dtype.kind == "f" else x) for x in case.sample(rng)]
        out = op(*inputs, **attrs)
        g = Tensor(rng.uniform(-1.0, 1.0, size=out.shape).astype(out.dtype))
        patterns = [None]
        if op.raw_needs:
            patterns = [tuple(bool(b) for b in bits) for bits in np.ndindex(*[2] * len(inputs))]
        for needs in patterns:
            extra = {} if needs is None else {"needs": needs}
            expected = op.vjp(g, out, *inputs, **extra, **attrs)
            got = op.raw_vjp(g.value, out.value, *[x.value for x in inputs], **extra, **attrs)
            assert len(got) == len(expected) == len(inputs)
            for i, (e, r) in enumerate(zip(expected, got, strict=True)):
                assert (e is None) == (r is None), f"input {i}, needs {needs}"
                if e is None:
                    continue
                r = np.asarray(r)
                assert r.shape == e.shape, f"input {i}: {r.shape} vs {e.shape}"
                assert r.dtype == e.dtype, f"input {i}: {r.dtype} vs {e.dtype}"
                np.testing.assert_allclose(
                    r,
                    np.asarray(e.value),
                    rtol=1e-6 if dtype is np.float32 else 1e-13,
                    atol=0,
                    err_msg=f"input {i}",
                )


def test_first_order_gradients_take_the_raw_path_and_higher_orders_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.ops import elementwise

    calls: list[int] = []
    cos = elementwise.cos

    def counted_cos(x: Tensor) -> Tensor:  # what sin's catalog-op VJP calls
        calls.append(1)
        return cos(x)

    monkeypatch.setattr(elementwise, "cos", counted_cos)
    sin = OPS["sin"]
    x = Tensor(np.array([0.3, -1.2]))
    with Tape() as tape:
        tape.watch(x)
        y = sin(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), np.cos(x.value))
    assert calls == [], "nothing recorded the pass: sin's raw VJP answers"
    with Tape() as outer:
        outer.watch(x)
        with Tape() as inner:
            inner.watch(x)
            y = sin(x)
        dy = inner.gradient(y, x)  # recorded by the outer tape: catalog ops
    assert calls == [1]
    np.testing.assert_allclose(outer.gradient(dy, x).numpy(), -np.sin(x.value))


SHAPES = [(), (1,), (3,), (2, 1), (2, 3), (0,), (2, 0), (1, 3)]
DTYPES = [np.float64, np.float32, np.float16, np.int64]
BINARY_RAW = sorted(
    n
    for n in RAW
    if OPS[n].min_inputs == OPS[n].max_inputs == 2
    and not OPS[n].attrs
    and n not in ("matmul", "dot")
)


@pytest.mark.parametrize("name", BINARY_RAW)
def test_raw_binary_vjps_match_across_broadcasts_empties_and_dtypes(name: str) -> None:
    """Every pair of shapes that broadcast (empty ones included) and of dtypes: the raw VJP
    answers as the catalog-op VJP does, or fails as it does."""
    op = OPS[name]
    rng = np.random.default_rng(4000)
    checked = 0
    for sa in SHAPES:
        for sb in SHAPES:
            for da in DTYPES:
                for db in DTYPES:
                    a = Tensor(rng.uniform(1.0, 3.0, size=sa).astype(da))
                    b = Tensor(rng.uniform(1.0, 3.0, size=sb).astype(db))
                    try:
                        out = op(a, b)
                    except EngineError:
                        continue  # shapes that do not broadcast, labels unlike logits
                    if out.dtype.kind != "f":
                        continue
                    g = Tensor(rng.uniform(-1.0, 1.0, size=out.shape).astype(out.dtype))
                    extra = {"needs": (True, True)} if op.raw_needs else {}
                    expected = op.vjp(g, out, a, b, **extra)
                    got = op.raw_vjp(g.value, out.value, a.value, b.value, **extra)
                    for e, r in zip(expected, got, strict=True):
                        assert (e is None) == (r is None)
                        if e is not None:
                            where = f"{sa} {da.__name__}, {sb} {db.__name__}"
                            assert np.shape(r) == e.shape, where
                            assert np.asarray(r).dtype == e.dtype, where
                            np.testing.assert_allclose(r, e.value, rtol=1e-3, err_msg=where)
                    checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    "dtype", [np.bool_, np.int32, np.int64, np.float16, np.float32, np.float64]
)
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_answers_as_np_sum(dtype: type, axis: object, keepdims: bool) -> None:
    # sum's forward is np.add.reduce (np.sum without its dispatch): the same dtypes and values
    x = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    got = OPS["sum"](Tensor(x), axis=axis, keepdims=keepdims).value
    want = np.sum(x, axis=axis, keepdims=keepdims)
    assert got.dtype == want.dtype and np.shape(got) == np.shape(want)
    np.testing.assert_array_equal(got, want)
