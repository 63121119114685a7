"""Elementwise ops: unary and binary (NumPy broadcasting; every binary VJP ends in unbroadcast)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ..registry import DType, Float, Op, defop
from ..tensor import FLOATING, Tensor
from . import creation, reductions

Array = np.ndarray

# ----- helpers (written in catalog ops, so they differentiate too) -----


def sum_to(g: Any, shape: tuple[int, ...], total: Callable[..., Any] | None = None) -> Any:
    """g summed down to `shape`, undoing NumPy broadcasting; `total` sums over axes (the catalog
    op by default, np.add.reduce on NumPy values)."""
    if g.shape == shape:
        return g
    total = total or reductions.sum_
    extra = g.ndim - len(shape)
    if extra > 0:
        g = total(g, axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return total(g, axis=stretched, keepdims=True) if stretched else g


def unbroadcast(g: Tensor, like: Tensor) -> Tensor:
    """Sum g down to like.shape, undoing NumPy broadcasting."""
    return sum_to(g, like.shape)


def _multiply_no_nan_forward(x: Array, y: Array) -> Array:
    r = x * y
    if y.ndim and y.size and not any(y.strides) and y.flat[0] != 0:
        return r  # y is one nonzero number broadcast (a seed of ones): nothing to zero
    # One pass without a temporary: a sum is finite only if every term is (an overflowing sum
    # of finite terms just takes the exact path needlessly).
    if r.dtype.kind == "f" and not math.isfinite(r if r.ndim == 0 else np.add.reduce(r, None)):
        r = np.where(np.equal(y, 0), np.zeros((), r.dtype), r)
    return r


multiply_no_nan: Op = defop(
    "multiply_no_nan",
    _multiply_no_nan_forward,
    lambda g, out, x, y: (
        unbroadcast(multiply_no_nan(y, g), x),
        unbroadcast(multiply_no_nan(x, g), y),
    ),
    raw=lambda g, out, x, y: (
        unbroadcast_raw(_multiply_no_nan_forward(y, g), x.shape),
        unbroadcast_raw(_multiply_no_nan_forward(x, g), y.shape),
    ),
    doc="x * y, but 0 wherever y is 0 (even if x is NaN or infinite)",
)


def _d(g: Tensor, derivative: Tensor) -> Tensor:
    """g times a local derivative; a zero cotangent contributes zero even where it is inf/NaN."""
    return multiply_no_nan(derivative, g)


# ----- the same helpers on NumPy values, for raw VJPs (see Op.raw_vjp) -----
def unbroadcast_raw(g: Array, shape: tuple[int, ...]) -> Array:
    """unbroadcast on values: g summed down to `shape`."""
    return sum_to(g, shape, np.add.reduce)


def d_raw(g: Array, derivative: Array) -> Array:
    """_d on values: g times a local derivative, zero where g is zero."""
    return _multiply_no_nan_forward(derivative, g)


def zero_like(g: Array) -> Array:
    """A zero of g's dtype, for np.where's untaken branch."""
    return np.zeros((), np.result_type(g))


# ----- elementwise, unary -----
negative = defop(
    "negative",
    np.negative,
    lambda g, out, x: (-g,),
    aliases=("neg",),
    doc="-x",
    raw=lambda g, out, x: (-g,),
)
abs_ = defop(
    "abs",
    np.absolute,
    lambda g, out, x: (g * sign(x),),
    doc="|x|",
    raw=lambda g, out, x: (g * np.sign(x),),
    conventions={"at 0": "abs'(0) = 0"},
)
sign: Op = defop("sign", np.sign, None, doc="-1, 0 or 1 by the sign of x")
exp: Op = defop(
    "exp",
    np.exp,
    lambda g, out, x: (_d(g, out),),
    doc="e to the x",
    raw=lambda g, out, x: (d_raw(g, out),),
)
expm1 = defop(
    "expm1",
    np.expm1,
    lambda g, out, x: (_d(g, out + 1.0),),
    doc="exp(x) - 1",
    raw=lambda g, out, x: (d_raw(g, out + 1.0),),
)
log = defop(
    "log",
    np.log,
    lambda g, out, x: (_d(g, reciprocal(x)),),
    doc="natural logarithm",
    raw=lambda g, out, x: (d_raw(g, np.reciprocal(x)),),
)
log1p = defop(
    "log1p",
    np.log1p,
    lambda g, out, x: (_d(g, reciprocal(x + 1.0)),),
    doc="log(1 + x)",
    raw=lambda g, out, x: (d_raw(g, np.reciprocal(x + 1.0)),),
)
log2 = defop(
    "log2",
    np.log2,
    lambda g, out, x: (_d(g, reciprocal(x * math.log(2.0))),),
    doc="base-2 logarithm",
)
log10 = defop(
    "log10",
    np.log10,
    lambda g, out, x: (_d(g, reciprocal(x * math.log(10.0))),),
    doc="base-10 logarithm",
)
sqrt = defop(
    "sqrt",
    np.sqrt,
    lambda g, out, x: (_d(g, 0.5 / out),),
    doc="square root",
    raw=lambda g, out, x: (d_raw(g, 0.5 / out),),
    conventions={"at 0": "sqrt'(0) = Infinity"},
)


def _rsqrt_forward(x: Array) -> Array:
    return 1.0 / np.sqrt(x)


rsqrt = defop(
    "rsqrt",
    _rsqrt_forward,
    lambda g, out, x: (_d(g, -0.5 * out / x),),
    doc="1 / sqrt(x)",
    raw=lambda g, out, x: (d_raw(g, -0.5 * out / x),),
)
square = defop(
    "square",
    np.square,
    lambda g, out, x: (g * (2.0 * x),),
    doc="x * x",
    raw=lambda g, out, x: (g * (2.0 * x),),
)
reciprocal: Op = defop(
    "reciprocal",
    np.reciprocal,
    lambda g, out, x: (_d(g, -(out * out)),),
    doc="1 / x",
    raw=lambda g, out, x: (d_raw(g, -(out * out)),),
)
sin = defop(
    "sin",
    np.sin,
    lambda g, out, x: (g * cos(x),),
    doc="sine",
    raw=lambda g, out, x: (g * np.cos(x),),
)
cos: Op = defop(
    "cos",
    np.cos,
    lambda g, out, x: (-(g * sin(x)),),
    doc="cosine",
    raw=lambda g, out, x: (-(g * np.sin(x)),),
)
tan = defop(
    "tan",
    np.tan,
    lambda g, out, x: (_d(g, out * out + 1.0),),
    doc="tangent",
    raw=lambda g, out, x: (d_raw(g, out * out + 1.0),),
)
arcsin = defop(
    "arcsin",
    np.arcsin,
    lambda g, out, x: (_d(g, rsqrt(1.0 - x * x)),),
    aliases=("asin",),
    doc="inverse sine",
)
arccos = defop(
    "arccos",
    np.arccos,
    lambda g, out, x: (_d(g, -rsqrt(1.0 - x * x)),),
    aliases=("acos",),
    doc="inverse cosine",
)
arctan = defop(
    "arctan",
    np.arctan,
    lambda g, out, x: (g / (x * x + 1.0),),
    aliases=("atan",),
    doc="inverse tangent",
)
sinh = defop("sinh", np.sinh, lambda g, out, x: (_d(g, cosh(x)),), doc="hyperbolic sine")
cosh: Op = defop("cosh", np.cosh, lambda g, out, x: (_d(g, sinh(x)),), doc="hyperbolic cosine")
tanh = defop(
    "tanh",
    np.tanh,
    lambda g, out, x: (g * (1.0 - out * out),),
    doc="hyperbolic tangent",
    raw=lambda g, out, x: (g * (1.0 - out * out),),
)
arcsinh = defop(
    "arcsinh",
    np.arcsinh,
    lambda g, out, x: (_d(g, rsqrt(x * x + 1.0)),),
    aliases=("asinh",),
    doc="inverse hyperbolic sine",
)
arccosh = defop(
    "arccosh",
    np.arccosh,
    lambda g, out, x: (_d(g, rsqrt(x * x - 1.0)),),
    aliases=("acosh",),
    doc="inverse hyperbolic cosine",
)
arctanh = defop(
    "arctanh",
    np.arctanh,
    lambda g, out, x: (_d(g, reciprocal(1.0 - x * x)),),
    aliases=("atanh",),
    doc="inverse hyperbolic tangent",
)


def _sigmoid_forward(x: Array) -> Array:
    # exp of a non-positive number only: no overflow for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.result_type(x, 1.0))


sigmoid = defop(
    "sigmoid",
    _sigmoid_forward,
    lambda g, out, x: (g * (out * (1.0 - out)),),
    doc="1 / (1 + exp(-x))",
    raw=lambda g, out, x: (g * (out * (1.0 - out)),),
)
relu = defop(
    "relu",
    lambda x: np.maximum(x, np.zeros((), x.dtype)),
    lambda g, out, x: (where(x > 0, g, 0.0),),
    doc="max(x, 0)",
    raw=lambda g, out, x: (np.where(x > 0, g, zero_like(g)),),
    conventions={"at 0": "relu'(0) = 0"},
)


def _leaky_relu_forward(x: Array, *, alpha: Float = 0.2) -> Array:
    return np.where(x > 0, x, x * alpha).astype(np.result_type(x, 1.0))


leaky_relu = defop(
    "leaky_relu",
    _leaky_relu_forward,
    lambda g, out, x, *, alpha=0.2: (where(x > 0, g, g * alpha),),
    doc="x if x > 0 else alpha * x",
    conventions={"at 0": "gradient alpha"},
)


def _elu_forward(x: Array, *, alpha: Float = 1.0) -> Array:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(np.result_type(x, 1.0))


elu = defop(
    "elu",
    _elu_forward,
    lambda g, out, x, *, alpha=1.0: (where(x > 0, g, g * (out + alpha)),),
    doc="x if x > 0 else alpha * (exp(x) - 1)",
    conventions={"at 0": "gradient alpha"},
)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _selu_forward(x: Array) -> Array:
    neg = SELU_ALPHA * np.expm1(np.minimum(x, 0))
    return (SELU_SCALE * np.where(x > 0, x, neg)).astype(np.result_type(x, 1.0))


selu = defop(
    "selu",
    _selu_forward,
    lambda g, out, x: (where(x > 0, g * SELU_SCALE, g * (out + SELU_SCALE * SELU_ALPHA)),),
    doc="scale * (x if x > 0 else alpha * (exp(x) - 1)), the self-normalizing constants",
    conventions={"at 0": "gradient scale * alpha"},
)

_erf = np.frompyfunc(math.erf, 1, 1)


def _erf_forward(x: Array) -> Array:
    return np.asarray(_erf(x), dtype=np.result_type(x, 1.0))


erf = defop(
    "erf",
    _erf_forward,
    lambda g, out, x: (g * (exp(-(x * x)) * (2.0 / math.sqrt(math.pi))),),
    doc="the error function",
)


def _gelu_forward(x: Array) -> Array:
    return (0.5 * x * (1.0 + _erf_forward(x / math.sqrt(2.0)))).astype(np.result_type(x, 1.0))


def _gelu_vjp(g: Tensor, out: Tensor, x: Tensor) -> tuple[Tensor]:
    cdf = 0.5 * (erf(x * (1.0 / math.sqrt(2.0))) + 1.0)
    pdf = exp(-0.5 * (x * x)) * (1.0 / math.sqrt(2.0 * math.pi))
    return (g * (cdf + x * pdf),)


gelu = defop("gelu", _gelu_forward, _gelu_vjp, doc="x * Phi(x), the exact (erf) form")


def _softplus_forward(x: Array) -> Array:
    return np.logaddexp(np.zeros((), np.result_type(x, 1.0)), x)


softplus = defop(
    "softplus",
    _softplus_forward,
    lambda g, out, x: (g * sigmoid(x),),
    doc="log(1 + exp(x)), computed stably",
    raw=lambda g, out, x: (g * _sigmoid_forward(x),),
)
floor = defop("floor", np.floor, None, doc="largest integer <= x")
ceil = defop("ceil", np.ceil, None, doc="smallest integer >= x")
round_ = defop("round", np.round, None, doc="round half to even")
isfinite = defop("isfinite", np.isfinite, None, doc="x is neither infinite nor NaN")
isnan = defop("isnan", np.isnan, None, doc="x is NaN")
logical_not = defop("logical_not", np.logical_not, None, doc="not x")

# ----- elementwise, binary (NumPy broadcasting; every entry ends in unbroadcast) -----
# The arithmetic forwards are Python's operators: the same NumPy ufuncs, called several times
# faster on scalars.
add = defop(
    "add",
    operator.add,
    lambda g, out, x, y: (unbroadcast(g, x), unbroadcast(g, y)),
    doc="x + y",
    raw=lambda g, out, x, y: (
        g if g.shape == x.shape else unbroadcast_raw(g, x.shape),
        g if g.shape == y.shape else unbroadcast_raw(g, y.shape),
    ),
)
subtract = defop(
    "subtract",
    operator.sub,
    lambda g, out, x, y: (unbroadcast(g, x), unbroadcast(-g, y)),
    aliases=("sub",),
    doc="x - y",
    raw=lambda g, out, x, y: (unbroadcast_raw(g, x.shape), unbroadcast_raw(-g, y.shape)),
)


def _multiply_vjp(
    g: Tensor, out: Tensor, x: Tensor, y: Tensor, *, needs: tuple[bool, bool] = (True, True)
) -> tuple[Tensor | None, ...]:
    return (
        unbroadcast(_d(g, y), x) if needs[0] else None,
        unbroadcast(_d(g, x), y) if needs[1] else None,
    )


def _multiply_raw(
    g: Array, out: Array, x: Array, y: Array, *, needs: tuple[bool, bool] = (True, True)
) -> tuple[Array | None, ...]:
    return (
        unbroadcast_raw(d_raw(g, y), x.shape) if needs[0] else None,
        unbroadcast_raw(d_raw(g, x), y.shape) if needs[1] else None,
    )


multiply = defop(
    "multiply", operator.mul, _multiply_vjp, aliases=("mul",), doc="x * y", raw=_multiply_raw
)
divide = defop(
    "divide",
    operator.truediv,
    lambda g, out, x, y: (unbroadcast(_d(g, 1.0 / y), x), unbroadcast(_d(g, -(out / y)), y)),
    aliases=("div", "truediv", "true_divide"),
    doc="x / y",
    raw=lambda g, out, x, y: (
        unbroadcast_raw(d_raw(g, 1.0 / y), x.shape),
        unbroadcast_raw(d_raw(g, -(out / y)), y.shape),
    ),
)
floor_divide = defop(
    "floor_divide",
    np.floor_divide,
    lambda g, out, x, y: (creation.zeros_like(x), creation.zeros_like(y)),
    aliases=("floordiv",),
    doc="floor(x / y); gradient 0 almost everywhere",
)
mod = defop(
    "mod",
    np.mod,
    lambda g, out, x, y: (unbroadcast(g, x), unbroadcast(-(g * floor_divide(x, y)), y)),
    aliases=("floormod", "remainder"),
    doc="x - floor(x / y) * y",
)


def _power_vjp(g: Tensor, out: Tensor, x: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
    dx = where(p == 0, 0.0, p * power(x, p - 1))  # d/dx x**0 = 0, also at x = 0
    positive = x > 0
    dp = where(positive, log(where(positive, x, 1.0)), 0.0) * out
    return unbroadcast(_d(g, dx), x), unbroadcast(_d(g, dp), p)


power = defop(
    "power",
    np.power,
    _power_vjp,
    aliases=("pow",),
    doc="x ** p",
    conventions={
        "x**0": "d/dx x**0 = 0 everywhere, x = 0 included",
        "p at x <= 0": "d/dp is 0 where x <= 0",
    },
)
maximum = defop(
    "maximum",
    np.maximum,
    lambda g, out, x, y: (
        unbroadcast(where(x >= y, g, 0.0), x),
        unbroadcast(where(x >= y, 0.0, g), y),
    ),
    raw=lambda g, out, x, y: _select_raw(np.greater_equal(x, y), g, x, y),
    doc="elementwise larger of x and y",
    conventions={"ties": "the first argument gets the gradient"},
)
minimum = defop(
    "minimum",
    np.minimum,
    lambda g, out, x, y: (
        unbroadcast(where(x <= y, g, 0.0), x),
        unbroadcast(where(x <= y, 0.0, g), y),
    ),
    raw=lambda g, out, x, y: _select_raw(np.less_equal(x, y), g, x, y),
    doc="elementwise smaller of x and y",
    conventions={"ties": "the first argument gets the gradient"},
)


def _arctan2_vjp(g: Tensor, out: Tensor, y: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    inv = reciprocal(x * x + y * y)
    return unbroadcast(_d(g, x * inv), y), unbroadcast(_d(g, -(y * inv)), x)


arctan2 = defop(
    "arctan2",
    np.arctan2,
    _arctan2_vjp,
    aliases=("atan2",),
    doc="angle of the point (x, y): arctan2(y, x)",
)


def _squared_difference_forward(x: Array, y: Array) -> Array:
    return np.square(np.subtract(x, y))


squared_difference = defop(
    "squared_difference",
    _squared_difference_forward,
    lambda g, out, x, y: (unbroadcast(g * (2.0 * (x - y)), x), unbroadcast(g * (2.0 * (y - x)), y)),
    raw=lambda g, out, x, y: (
        unbroadcast_raw(g * (2.0 * (x - y)), x.shape),
        unbroadcast_raw(g * (2.0 * (y - x)), y.shape),
    ),
    doc="(x - y) ** 2",
)
equal = defop("equal", np.equal, None, doc="x == y, elementwise")
not_equal = defop("not_equal", np.not_equal, None, doc="x != y, elementwise")
less = defop("less", np.less, None, doc="x < y, elementwise")
less_equal = defop("less_equal", np.less_equal, None, doc="x <= y, elementwise")
greater = defop("greater", np.greater, None, doc="x > y, elementwise")
greater_equal = defop("greater_equal", np.greater_equal, None, doc="x >= y, elementwise")
logical_and = defop("logical_and", np.logical_and, None, doc="x and y, elementwise")
logical_or = defop("logical_or", np.logical_or, None, doc="x or y, elementwise")
logical_xor = defop("logical_xor", np.logical_xor, None, doc="x xor y, elementwise")


# ----- selection -----
def _where_vjp(
    g: Tensor, out: Tensor, cond: Tensor, x: Tensor, y: Tensor
) -> tuple[None, Tensor, Tensor]:
    return None, unbroadcast(where(cond, g, 0.0), x), unbroadcast(where(cond, 0.0, g), y)


def _select_raw(cond: Array, g: Array, x: Array, y: Array) -> tuple[Array, Array]:
    """g split by a condition: where it holds to x, elsewhere to y (each unbroadcast)."""
    zero = zero_like(g)
    return (
        unbroadcast_raw(np.where(cond, g, zero), np.shape(x)),
        unbroadcast_raw(np.where(cond, zero, g), np.shape(y)),
    )


where: Op = defop(
    "where",
    np.where,
    _where_vjp,
    arity=(3, 3),
    raw=lambda g, out, cond, x, y: (None, *_select_raw(cond, g, x, y)),
    doc="x where cond is true, else y (broadcast together)",
    conventions={
        "untaken branch": "gets a zero cotangent, which contributes zero: "
        "NaN or Infinity there never reaches a gradient"
    },
)


def _clip_vjp(
    g: Tensor, out: Tensor, x: Tensor, lo: Tensor, hi: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    inside = logical_and(x >= lo, x <= hi)
    return (
        unbroadcast(where(inside, g, 0.0), x),
        unbroadcast(where(x < lo, g, 0.0), lo),
        unbroadcast(where(logical_and(x > hi, x >= lo), g, 0.0), hi),
    )


clip = defop(
    "clip",
    np.clip,
    _clip_vjp,
    aliases=("clip_by_value",),
    arity=(3, 3),
    doc="x limited to [lo, hi]",
    conventions={"at the bounds": "x gets the gradient where lo <= x <= hi"},
)


# ----- identity, stop_gradient, cast -----
identity = defop(
    "identity", lambda x: x, lambda g, out, x: (g,), doc="x itself", raw=lambda g, out, x: (g,)
)
stop_gradient = defop(
    "stop_gradient",
    lambda x: x,
    None,
    doc="x, with gradients blocked",
    conventions={"gradient": "none: the output is a constant to every tape"},
)


def _cast_forward(x: Array, *, dtype: DType) -> Array:
    return np.asarray(x).astype(dtype, copy=False)


def _cast_vjp(g: Tensor, out: Tensor, x: Tensor, *, dtype: str) -> tuple[Tensor | None]:
    if not (x.is_floating and out.is_floating):
        return (None,)  # the path to or from an integer or bool dtype is cut
    return (cast(g, dtype=x.dtype.name),)


def _cast_raw(g: Array, out: Array, x: Array, *, dtype: str) -> tuple[Array | None]:
    if not (x.dtype in FLOATING and out.dtype in FLOATING):
        return (None,)
    return (np.asarray(g).astype(x.dtype, copy=False),)


cast = defop(
    "cast",
    _cast_forward,
    _cast_vjp,
    doc="x converted to dtype",
    raw=_cast_raw,
    conventions={
        "integers": "differentiable between floating dtypes only; a cast to "
        "or from an integer or bool dtype cuts the path"
    },
)
