"""Central finite differences, first and second order: one notion of "correct" for the test
suite and for POST /v1/check (autograd's test_util method: random u and v, <J^T u, v> against
the directional difference of <u, f>)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tape import Tape
from .tensor import FLOATING, Tensor

Fn = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Comparison:
    """An analytic value beside its finite-difference estimate."""

    analytic: float
    numeric: float
    abs_err: float
    rel_err: float
    passed: bool


class GradcheckError(AssertionError):
    pass


def _outputs(out: Any) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    return [o for o in out if o is not None]


def vjp(fn: Fn, xs: Sequence[Tensor], u: Sequence[np.ndarray]) -> list[Tensor]:
    """J^T u of fn at xs (zeros where unconnected), as tensors recorded on any open tape."""
    with Tape() as tape:
        tape.watch(list(xs))
        outs = _outputs(fn(*xs))
    seeds = [Tensor(ui) for ui in u]
    grads = tape.gradient(outs, list(xs), output_gradients=seeds, unconnected_gradients="zero")
    return list(grads)


def compare(analytic: float, numeric: float, rtol: float, atol: float) -> Comparison:
    abs_err = abs(analytic - numeric)
    rel_err = abs_err / max(abs(numeric), abs(analytic), 1e-300)
    passed = bool(abs_err <= atol + rtol * abs(numeric))
    return Comparison(float(analytic), float(numeric), float(abs_err), float(rel_err), passed)


def check_vjp(
    fn: Fn,
    xs: Sequence[np.ndarray],
    *,
    rng: np.random.Generator | None = None,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> Comparison:
    """Compare <J^T u, v> with (<u, f(x + eps v)> - <u, f(x - eps v)>) / 2 eps, u and v random.

    Only floating inputs move; the others (conditions, indices) are held fixed."""
    rng = rng or np.random.default_rng(0)
    arrays = [np.asarray(x) for x in xs]
    moving = [a.dtype in FLOATING for a in arrays]
    tensors = [Tensor(a) for a in arrays]
    outs = _outputs(fn(*tensors))
    u = [
        rng.standard_normal(o.shape).astype(o.dtype) if o.dtype in FLOATING else np.zeros(o.shape)
        for o in outs
    ]
    v = [
        rng.standard_normal(a.shape) if m else np.zeros(a.shape)
        for a, m in zip(arrays, moving, strict=True)
    ]
    grads = vjp(fn, list(tensors), u)
    analytic = sum(
        float(np.sum(np.asarray(g.value, dtype=np.float64) * vi))
        for g, vi, m in zip(grads, v, moving, strict=True)
        if m
    )

    def inner(sign: float) -> float:
        shifted = [
            Tensor(a + sign * eps * vi) if m else Tensor(a)
            for a, vi, m in zip(arrays, v, moving, strict=True)
        ]
        return sum(
            float(np.sum(np.asarray(o.value, dtype=np.float64) * ui))
            for o, ui in zip(_outputs(fn(*shifted)), u, strict=True)
            if o.dtype in FLOATING
        )

    numeric = (inner(1.0) - inner(-1.0)) / (2.0 * eps)
    return compare(analytic, numeric, rtol, atol)


def check_grads(
    fn: Fn,
    xs: Sequence[np.ndarray],
    *,
    order: int = 2,
    rng: np.random.Generator | None = None,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Check fn's VJP against central differences to `order` (the VJP map differentiated again,
    so a gradient that escaped the catalog fails at order 2). Raises GradcheckError."""
    rng = rng or np.random.default_rng(0)
    f = fn
    for k in range(1, order + 1):
        result = check_vjp(f, xs, rng=rng, eps=eps, rtol=rtol, atol=atol)
        if not result.passed:
            raise GradcheckError(
                f"order {k}: analytic {result.analytic!r} vs numeric {result.numeric!r} "
                f"(abs err {result.abs_err:.3g}, rel err {result.rel_err:.3g})"
            )
        if k < order:
            f = _vjp_map(f, xs, rng)


def _vjp_map(fn: Fn, xs: Sequence[np.ndarray], rng: np.random.Generator) -> Fn:
    """xs -> J^T u for a fixed random u: the map whose VJP is a second-order quantity."""
    outs = _outputs(fn(*[Tensor(np.asarray(x)) for x in xs]))
    u = [
        rng.standard_normal(o.shape).astype(o.dtype) if o.dtype in FLOATING else np.zeros(o.shape)
        for o in outs
    ]

    def grad_map(*ts: Tensor) -> tuple[Tensor, ...]:
        return tuple(vjp(fn, list(ts), u))

    return grad_map


def check_jvp(
    fn: Fn,
    xs: Sequence[np.ndarray],
    *,
    rng: np.random.Generator | None = None,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> tuple[Comparison, Comparison]:
    """Forward mode against reverse mode and against central differences: <u, J v> computed by a
    ForwardAccumulator, beside <J^T u, v> from a tape and the directional difference of <u, f>.
    Returns (forward vs reverse, forward vs finite differences)."""
    from .forward import ForwardAccumulator

    rng = rng or np.random.default_rng(0)
    arrays = [np.asarray(x) for x in xs]
    moving = [a.dtype in FLOATING for a in arrays]
    tensors = [Tensor(a) for a in arrays]
    v = [
        rng.standard_normal(a.shape) if m else np.zeros(a.shape)
        for a, m in zip(arrays, moving, strict=True)
    ]
    primals = [t for t, m in zip(tensors, moving, strict=True) if m]
    tangents = [Tensor(vi) for vi, m in zip(v, moving, strict=True) if m]
    with ForwardAccumulator(primals, tangents) as acc:
        outs = _outputs(fn(*tensors))
    u = [rng.standard_normal(o.shape) if o.dtype in FLOATING else np.zeros(o.shape) for o in outs]
    jv = acc.jvp(outs, unconnected_gradients="zero")
    forward = sum(
        float(np.sum(np.asarray(t.value, dtype=np.float64) * ui))
        for t, ui, o in zip(jv, u, outs, strict=True)
        if o.dtype in FLOATING
    )
    grads = vjp(
        fn,
        tensors,
        [ui.astype(o.dtype) if o.dtype in FLOATING else ui for ui, o in zip(u, outs, strict=True)],
    )
    reverse = sum(
        float(np.sum(np.asarray(g.value, dtype=np.float64) * vi))
        for g, vi, m in zip(grads, v, moving, strict=True)
        if m
    )

    def inner(sign: float) -> float:
        shifted = [
            Tensor(a + sign * eps * vi) if m else Tensor(a)
            for a, vi, m in zip(arrays, v, moving, strict=True)
        ]
        return sum(
            float(np.sum(np.asarray(o.value, dtype=np.float64) * ui))
            for o, ui in zip(_outputs(fn(*shifted)), u, strict=True)
            if o.dtype in FLOATING
        )

    numeric = (inner(1.0) - inner(-1.0)) / (2.0 * eps)
    return (compare(forward, reverse, 1e-9, 1e-10), compare(forward, numeric, rtol, atol))
