"""Reductions over axes (axis=None reduces every axis), and scans."""

from __future__ import annotations

import math

import numpy as np

from ..errors import OpError
from ..registry import Axes, Bool, Int, OptInt, defop
from ..tensor import Tensor
from . import elementwise, shape

Array = np.ndarray


def kept_dims_shape(
    in_shape: tuple[int, ...], axis: int | tuple[int, ...] | None
) -> tuple[int, ...]:
    """in_shape with the reduced axes kept as size 1 (the shape of keepdims=True)."""
    n = len(in_shape)
    if axis is None or n == 0:  # (NumPy takes axis 0 or -1 of a rank-0 array: itself)
        return (1,) * n
    axes = {a % n for a in ((axis,) if isinstance(axis, int) else axis)}
    return tuple(1 if i in axes else d for i, d in enumerate(in_shape))


def reduced_count(in_shape: tuple[int, ...], axis: int | tuple[int, ...] | None) -> int:
    """How many elements each output of a reduction over `axis` combines."""
    return math.prod(in_shape) // max(math.prod(kept_dims_shape(in_shape, axis)), 1)


# ----- helpers (written in catalog ops, so they differentiate too) -----


def _kept(t: Tensor, x: Tensor, axis: Axes, keepdims: bool) -> Tensor:
    """A reduction's output (or cotangent) with the reduced axes back as size 1."""
    return t if keepdims else shape.reshape(t, shape=kept_dims_shape(x.shape, axis))


def _spread(g: Tensor, x: Tensor, axis: Axes, keepdims: bool) -> Tensor:
    """A reduction's cotangent broadcast back over the reduced axes, to x's shape."""
    return shape.broadcast_to(_kept(g, x, axis, keepdims), shape=x.shape)


def _safe(t: Tensor) -> Tensor:
    """t with its zeros replaced by ones: a denominator that is never 0."""
    return elementwise.where(t == 0.0, 1.0, t)


def _spread_raw(g: Array, x: Array, axis: Axes, keepdims: bool) -> Array:
    """_spread on values."""
    if not g.ndim:  # a reduction over every axis (the usual loss): a cheaper broadcast
        return broadcast_scalar(g, x.shape)
    if not keepdims:
        g = g.reshape(kept_dims_shape(x.shape, axis))
    return np.broadcast_to(g, x.shape)


def broadcast_scalar(g: Array, shape: tuple[int, ...]) -> Array:
    """The one value of g as a read-only view of the given shape (every stride 0), like
    np.broadcast_to(g, shape) at a third of its cost."""
    a = np.asarray(g)
    if not shape:
        return a
    view = np.ndarray(shape, a.dtype, a, 0, (0,) * len(shape))
    view.flags.writeable = False
    return view


def _flip(t: Tensor, axis: int) -> Tensor:
    """t reversed along `axis` (a basic-indexing view, so the VJP is indexing again)."""
    axis %= t.ndim
    return shape.getitem(t, index=(slice(None),) * axis + (slice(None, None, -1),))


# ----- reductions -----


def _sum_forward(x: Array, *, axis: Axes = None, keepdims: Bool = False) -> Array:
    # np.sum's answer (dtypes included) without its dispatch layer, which costs as much again
    return np.add.reduce(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload]


def _sum_vjp(
    g: Tensor, out: Tensor, x: Tensor, *, axis: Axes = None, keepdims: bool = False
) -> tuple[Tensor]:
    if not keepdims:
        g = shape.reshape(g, shape=kept_dims_shape(x.shape, axis))  # reduced axes back as 1
    return (shape.broadcast_to(g, shape=x.shape),)


sum_ = defop(
    "sum",
    _sum_forward,
    _sum_vjp,
    aliases=("reduce_sum",),
    doc="sum over axes",
    raw=lambda g, out, x, *, axis=None, keepdims=False: (_spread_raw(g, x, axis, keepdims),),
)


def _mean_forward(x: Array, *, axis: Axes = None, keepdims: Bool = False) -> Array:
    return np.mean(x, axis=axis, keepdims=keepdims)


mean = defop(
    "mean",
    _mean_forward,
    lambda g, out, x, *, axis=None, keepdims=False: (
        _spread(g, x, axis, keepdims) * (1.0 / max(reduced_count(x.shape, axis), 1)),
    ),
    raw=lambda g, out, x, *, axis=None, keepdims=False: (
        _spread_raw(g, x, axis, keepdims) * (1.0 / max(reduced_count(x.shape, axis), 1)),
    ),
    aliases=("reduce_mean",),
    doc="arithmetic mean over axes",
)


def _prod_forward(x: Array, *, axis: Axes = None, keepdims: Bool = False) -> Array:
    return np.prod(x, axis=axis, keepdims=keepdims)


def _prod_vjp(
    g: Tensor, out: Tensor, x: Tensor, *, axis: Axes = None, keepdims: bool = False
) -> tuple[Tensor]:
    # d out / d x_i is the product of the others: out / x_i without a zero, the product of the
    # nonzero entries at the only zero, and 0 everywhere when two or more entries are 0.
    zero = x == 0.0
    nonzero = elementwise.where(zero, 1.0, x)
    zeros = sum_(elementwise.cast(zero, dtype=x.dtype.name), axis=axis, keepdims=True)
    p = prod(nonzero, axis=axis, keepdims=True)
    at_zero = elementwise.where(elementwise.logical_and(zeros == 1.0, zero), p, 0.0)
    others = elementwise.where(zeros == 0.0, p / nonzero, at_zero)
    return (_spread(g, x, axis, keepdims) * others,)


prod = defop("prod", _prod_forward, _prod_vjp, aliases=("reduce_prod",), doc="product over axes")


def _max_forward(x: Array, *, axis: Axes = None, keepdims: Bool = False) -> Array:
    return np.max(x, axis=axis, keepdims=keepdims)


def _min_forward(x: Array, *, axis: Axes = None, keepdims: Bool = False) -> Array:
    return np.min(x, axis=axis, keepdims=keepdims)


def _extreme_vjp(
    g: Tensor, out: Tensor, x: Tensor, *, axis: Axes = None, keepdims: bool = False
) -> tuple[Tensor]:
    # Tied extremes share the cotangent evenly: the minimum-norm subgradient.
    mask = elementwise.cast(x == _kept(out, x, axis, keepdims), dtype=x.dtype.name)
    count = sum_(mask, axis=axis, keepdims=True)
    return (_spread(g, x, axis, keepdims) * (mask / _safe(count)),)


TIES = {"ties": "tied extremes share the gradient evenly (each of k ties gets 1/k of it)"}
max_ = defop(
    "max",
    _max_forward,
    _extreme_vjp,
    aliases=("reduce_max", "amax"),
    doc="largest element over axes",
    conventions=TIES,
)
min_ = defop(
    "min",
    _min_forward,
    _extreme_vjp,
    aliases=("reduce_min", "amin"),
    doc="smallest element over axes",
    conventions=TIES,
)


def _logsumexp_forward(x: Array, *, axis: Axes = None, keepdims: Bool = False) -> Array:
    x = np.asarray(x)
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros(())
    m = np.where(np.isfinite(m), m, 0)  # a slice of -inf gives -inf, not NaN
    s = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else np.squeeze(s, axis=axis)


logsumexp = defop(
    "logsumexp",
    _logsumexp_forward,
    lambda g, out, x, *, axis=None, keepdims=False: (
        _spread(g, x, axis, keepdims) * elementwise.exp(x - _kept(out, x, axis, keepdims)),
    ),
    raw=lambda g, out, x, *, axis=None, keepdims=False: (
        _spread_raw(g, x, axis, keepdims)
        * np.exp(x - (out if keepdims else np.reshape(out, kept_dims_shape(x.shape, axis)))),
    ),
    aliases=("reduce_logsumexp",),
    doc="log(sum(exp(x))) over axes, computed stably",
)


def _var_forward(x: Array, *, axis: Axes = None, ddof: Int = 0, keepdims: Bool = False) -> Array:
    return np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)


def _std_forward(x: Array, *, axis: Axes = None, ddof: Int = 0, keepdims: Bool = False) -> Array:
    return np.std(x, axis=axis, ddof=ddof, keepdims=keepdims)


def _dof(x: Tensor, axis: Axes, ddof: int) -> float:
    n = reduced_count(x.shape, axis) - ddof
    return float(n) if n > 0 else math.nan  # NumPy's var is NaN or inf there too


def _var_vjp(
    g: Tensor, out: Tensor, x: Tensor, *, axis: Axes = None, ddof: int = 0, keepdims: bool = False
) -> tuple[Tensor]:
    centered = x - mean(x, axis=axis, keepdims=True)
    return (_spread(g, x, axis, keepdims) * (centered * (2.0 / _dof(x, axis, ddof))),)


def _std_vjp(
    g: Tensor, out: Tensor, x: Tensor, *, axis: Axes = None, ddof: int = 0, keepdims: bool = False
) -> tuple[Tensor]:
    centered = x - mean(x, axis=axis, keepdims=True)
    scale = _safe(_kept(out, x, axis, keepdims)) * _dof(x, axis, ddof)
    return (_spread(g, x, axis, keepdims) * (centered / scale),)


var = defop(
    "var",
    _var_forward,
    _var_vjp,
    aliases=("reduce_variance",),
    doc="variance over axes, divided by N - ddof",
)
std = defop(
    "std",
    _std_forward,
    _std_vjp,
    aliases=("reduce_std",),
    doc="standard deviation over axes, sqrt(var)",
    conventions={"at 0": "gradient 0 where every element is equal (minimum-norm subgradient)"},
)


def _norm_forward(
    x: Array,
    *,
    ord: OptInt = None,  # noqa: A002
    axis: Axes = None,
    keepdims: Bool = False,
) -> Array:
    x = np.asarray(x)
    axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    if ord is not None and not (ord == 2 and len(axes) == 1):
        raise OpError(
            f"norm: ord={ord} is not supported; only the 2-norm of vectors (ord "
            "null or 2 over one axis) and the Frobenius norm (ord null)",
            code="bad_attrs",
        )
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


norm = defop(
    "norm",
    _norm_forward,
    lambda g, out, x, *, axis=None, keepdims=False, **_: (
        _spread(g, x, axis, keepdims) * (x / _safe(_kept(out, x, axis, keepdims))),
    ),
    aliases=("reduce_euclidean_norm",),
    doc="2-norm over axes (Frobenius over several, every axis by default), as np.linalg.norm",
    conventions={"at 0": "gradient 0 (the minimum-norm subgradient), never NaN"},
)


# ----- arg-reductions: indices, not differentiable -----


def _argmax_forward(x: Array, *, axis: OptInt = None, keepdims: Bool = False) -> Array:
    return np.argmax(x, axis=axis, keepdims=keepdims)


def _argmin_forward(x: Array, *, axis: OptInt = None, keepdims: Bool = False) -> Array:
    return np.argmin(x, axis=axis, keepdims=keepdims)


argmax = defop(
    "argmax",
    _argmax_forward,
    None,
    doc="index of the largest element (flattened when axis is null); first on ties",
)
argmin = defop(
    "argmin",
    _argmin_forward,
    None,
    doc="index of the smallest element (flattened when axis is null); first on ties",
)


# ----- scans (axis=None scans the flattened tensor) -----


def _cumsum_forward(x: Array, *, axis: OptInt = None) -> Array:
    return np.cumsum(x, axis=axis)


def _cumprod_forward(x: Array, *, axis: OptInt = None) -> Array:
    return np.cumprod(x, axis=axis)


def _reverse_cumsum(g: Tensor, axis: int) -> Tensor:
    """sum of g[j] over j >= i along axis, at every i."""
    return _flip(cumsum(_flip(g, axis), axis=axis), axis)


def _cumsum_vjp(g: Tensor, out: Tensor, x: Tensor, *, axis: int | None = None) -> tuple[Tensor]:
    if axis is None:  # the scan ran over x flattened
        return (shape.reshape(_reverse_cumsum(g, 0), shape=x.shape),)
    return (_reverse_cumsum(g, axis),)


def _cumprod_vjp(g: Tensor, out: Tensor, x: Tensor, *, axis: int | None = None) -> tuple[Tensor]:
    if axis is None:
        flat = shape.reshape(x, shape=(-1,))
        return (shape.reshape(_reverse_cumsum(g * out, 0) / flat, shape=x.shape),)
    return (_reverse_cumsum(g * out, axis) / x,)


cumsum = defop("cumsum", _cumsum_forward, _cumsum_vjp, doc="running sum along an axis")
# The rule divides by x, as TensorFlow's does: it holds where x has no zeros.
cumprod = defop(
    "cumprod",
    _cumprod_forward,
    _cumprod_vjp,
    doc="running product along an axis",
    conventions={"zeros": "the gradient divides by x: NaN or Infinity where x is 0"},
)
