"""Creation ops: constants from shapes and from other tensors (none records a gradient).

Each op that builds a tensor from its attrs has a size estimator: the budget reads the element
count from the attrs and refuses an oversized tensor before NumPy allocates it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np

from ..errors import OpError
from ..registry import AttrKind, Bool, DType, Int, OptDType, OptInt, Scalar, Shape, defop, prod

Array = np.ndarray


def _number(v: Any) -> int | float:
    """A JSON number that stays an int when written as one, so arange(5) is int64 as in NumPy."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        raise ValueError("must be a number")
    return int(v) if isinstance(v, int | np.integer) else float(v)


K_NUMBER = AttrKind("number", {"type": "number"}, _number)
K_OPT_NUMBER = AttrKind(
    "number?",
    {"anyOf": [{"type": "number"}, {"type": "null"}]},
    lambda v: None if v is None else _number(v),
)
Number = Annotated[float, K_NUMBER]
OptNumber = Annotated[float | None, K_OPT_NUMBER]


def _bad_attrs(name: str, message: str) -> OpError:
    return OpError(f"{name}: {message}", code="bad_attrs")


def _dims(name: str, shape: Any) -> tuple[int, ...]:
    """A shape attr as a tuple of non-negative ints (an int n is the shape (n,))."""
    dims = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    if any(d < 0 for d in dims):
        raise _bad_attrs(name, f"shape {list(dims)} has a negative dimension")
    return tuple(int(d) for d in dims)


def _count(name: str, n: int, what: str) -> int:
    if n < 0:
        raise _bad_attrs(name, f"{what} must be non-negative, got {n}")
    return n


# ----- like another tensor -----
def _zeros_like_forward(x: Array, *, dtype: OptDType = None) -> Array:
    return np.zeros_like(x, dtype=dtype)


def _ones_like_forward(x: Array, *, dtype: OptDType = None) -> Array:
    return np.ones_like(x, dtype=dtype)


def _full_like_forward(x: Array, *, fill_value: Scalar, dtype: OptDType = None) -> Array:
    return np.full_like(x, fill_value, dtype=dtype)


zeros_like = defop("zeros_like", _zeros_like_forward, None, doc="zeros of x's shape and dtype")
ones_like = defop("ones_like", _ones_like_forward, None, doc="ones of x's shape and dtype")
full_like = defop(
    "full_like",
    _full_like_forward,
    None,
    doc="fill_value in x's shape, with x's dtype unless dtype is given",
)


# ----- from a shape -----
def _zeros_forward(*, shape: Shape, dtype: DType = "float64") -> Array:
    return np.zeros(_dims("zeros", shape), dtype=dtype)


def _ones_forward(*, shape: Shape, dtype: DType = "float64") -> Array:
    return np.ones(_dims("ones", shape), dtype=dtype)


def _full_forward(*, shape: Shape, fill_value: Scalar, dtype: OptDType = None) -> Array:
    return np.full(_dims("full", shape), fill_value, dtype=dtype)


def _shape_size(*_: tuple[int, ...], shape: Any, **__: object) -> int:
    return prod(_dims("shape", shape))


zeros = defop("zeros", _zeros_forward, None, size=_shape_size, doc="a tensor of zeros")
ones = defop("ones", _ones_forward, None, size=_shape_size, doc="a tensor of ones")
full = defop(
    "full",
    _full_forward,
    None,
    size=_shape_size,
    doc="a tensor filled with fill_value (dtype inferred from it unless given)",
)


def _eye_forward(*, N: Int, M: OptInt = None, k: Int = 0, dtype: DType = "float64") -> Array:
    _eye_size(N=N, M=M)
    return np.eye(N, M, k, dtype=dtype)


def _eye_size(*, N: int, M: int | None = None, **_: object) -> int:
    rows = _count("eye", N, "N")
    return rows * (rows if M is None else _count("eye", M, "M"))


eye = defop(
    "eye",
    _eye_forward,
    None,
    size=_eye_size,
    doc="an N x M matrix with ones on diagonal k (the main one by default)",
)


# ----- ranges -----
def _arange_bounds(start: float, stop: float | None, step: float) -> tuple[float, float, float]:
    """NumPy's arange(start, stop=None, step=1): a lone start is the stop of [0, start)."""
    if stop is None:
        start, stop = 0, start
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise _bad_attrs("arange", "start, stop and step must be finite")
    if step == 0:
        raise _bad_attrs("arange", "step must not be zero")
    return start, stop, step


def _arange_forward(
    *, start: Number, stop: OptNumber = None, step: Number = 1, dtype: OptDType = None
) -> Array:
    return np.arange(*_arange_bounds(start, stop, step), dtype=dtype)


def _arange_size(*, start: float, stop: float | None = None, step: float = 1, **_: object) -> int:
    lo, hi, by = _arange_bounds(start, stop, step)
    return max(math.ceil((hi - lo) / by), 0)


arange = defop(
    "arange",
    _arange_forward,
    None,
    size=_arange_size,
    aliases=("range",),
    doc="evenly spaced values in [start, stop) by step; a lone start means [0, start)",
)


def _linspace_forward(
    *, start: Number, stop: Number, num: Int = 50, endpoint: Bool = True, dtype: OptDType = None
) -> Array:
    _count("linspace", num, "num")
    return np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype)


def _linspace_size(*, num: int = 50, **_: object) -> int:
    return _count("linspace", num, "num")


linspace = defop(
    "linspace",
    _linspace_forward,
    None,
    size=_linspace_size,
    doc="num evenly spaced values from start to stop",
)
