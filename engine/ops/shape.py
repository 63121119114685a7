"""Shape ops: reshape, broadcast, join and split, tile and pad, indexing, and their transposes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from ..errors import OpError
from ..registry import (
    Axes,
    Float,
    Index,
    Int,
    IntOrInts,
    Op,
    OptInt,
    PadWidth,
    Shape,
    Str,
    defop,
    prod,
)
from ..tensor import Tensor
from . import creation, elementwise, reductions

Array = np.ndarray
Dims = tuple[int, ...]


# ----- helpers -----
def _axis_arg(axis: Any) -> Any:
    """An axis attr as NumPy wants it: a list (from the Python API) becomes a tuple."""
    return tuple(axis) if isinstance(axis, list) else axis


def _int_tuple(v: int | tuple[int, ...] | list[int]) -> Dims:
    return (int(v),) if isinstance(v, int | np.integer) else tuple(int(i) for i in v)


def _bad_attrs(name: str, message: str) -> OpError:
    return OpError(f"{name}: {message}", code="bad_attrs")


def _along(axis: int, key: Any) -> tuple[Any, ...]:
    """An index that applies `key` at `axis` and takes everything elsewhere."""
    return (*(slice(None),) * axis, key)


def _total_size(*shapes: Dims, **_: object) -> int:
    return sum(prod(s) for s in shapes)


# ----- reshaping (same elements, new shape) -----
def _reshape_forward(x: Array, *, shape: Shape) -> Array:
    return np.reshape(x, shape)


reshape: Op = defop(
    "reshape",
    _reshape_forward,
    lambda g, out, x, *, shape: (reshape(g, shape=x.shape),),
    raw=lambda g, out, x, *, shape: (np.reshape(g, np.shape(x)),),
    doc="the same elements in a new shape (one dimension may be -1)",
)


def _ravel_forward(x: Array) -> Array:
    return np.ravel(x)


ravel = defop(
    "ravel",
    _ravel_forward,
    lambda g, out, x: (reshape(g, shape=x.shape),),
    raw=lambda g, out, x: (np.reshape(g, np.shape(x)),),
    doc="the elements as a 1-d tensor, in row-major order",
)


def _expand_dims_forward(x: Array, *, axis: IntOrInts) -> Array:
    return np.expand_dims(x, _axis_arg(axis))


expand_dims = defop(
    "expand_dims",
    _expand_dims_forward,
    lambda g, out, x, *, axis: (reshape(g, shape=x.shape),),
    raw=lambda g, out, x, *, axis: (np.reshape(g, np.shape(x)),),
    doc="x with new axes of size 1 at the given positions of the result",
)


def _squeeze_forward(x: Array, *, axis: Axes = None) -> Array:
    return np.squeeze(x, axis=_axis_arg(axis))


squeeze = defop(
    "squeeze",
    _squeeze_forward,
    lambda g, out, x, *, axis=None: (reshape(g, shape=x.shape),),
    raw=lambda g, out, x, *, axis=None: (np.reshape(g, np.shape(x)),),
    doc="x without axes of size 1 (all of them, or those named)",
)


def _broadcast_to_forward(x: Array, *, shape: Shape) -> Array:
    return np.broadcast_to(x, shape)


def _broadcast_to_size(_x: Dims, *, shape: Dims) -> int:
    return prod(shape)


broadcast_to = defop(
    "broadcast_to",
    _broadcast_to_forward,
    lambda g, out, x, *, shape: (elementwise.unbroadcast(g, x),),
    raw=lambda g, out, x, *, shape: (elementwise.unbroadcast_raw(g, np.shape(x)),),
    size=_broadcast_to_size,
    doc="x broadcast to a shape",
)


# ----- joining and splitting -----
def _stack_forward(*xs: Array, axis: Int = 0) -> Array:
    return np.stack(xs, axis=axis)


def _stack_vjp(g: Tensor, out: Tensor, *xs: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    n = len(xs)
    return tuple(take_along(g, i, axis) for i in range(n))


def take_along(g: Tensor, i: int, axis: int) -> Tensor:
    """g[..., i, ...] at `axis`, as a catalog op."""
    axis = axis % g.ndim
    return getitem(g, index=_along(axis, i))


stack = defop(
    "stack",
    _stack_forward,
    _stack_vjp,
    arity=(1, None),
    size=_total_size,
    doc="join tensors of equal shape along a new axis",
)


def _concatenate_forward(*xs: Array, axis: Int = 0) -> Array:
    return np.concatenate(xs, axis=axis)


def _concatenate_vjp(g: Tensor, out: Tensor, *xs: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    axis = normalize_axis_index(axis, g.ndim)
    bounds = np.cumsum([x.shape[axis] for x in xs[:-1]], dtype=np.int64).tolist()
    return tuple(split(g, indices_or_sections=bounds, axis=axis))


concatenate = defop(
    "concatenate",
    _concatenate_forward,
    _concatenate_vjp,
    aliases=("concat",),
    arity=(1, None),
    size=_total_size,
    doc="join tensors along an existing axis",
)


def _split_forward(x: Array, *, indices_or_sections: IntOrInts, axis: Int = 0) -> tuple[Array, ...]:
    ios = indices_or_sections
    if isinstance(ios, int) and ios < 1:
        raise OpError(f"split: indices_or_sections must be at least 1, got {ios}", code="bad_attrs")
    return tuple(np.split(x, list(ios) if isinstance(ios, list | tuple) else ios, axis=axis))


# Each piece is an array header and a Tensor (a few hundred bytes) even when it is empty, so a
# split into millions of pieces is a memory bomb with no big tensor in it: the budget counts
# every piece as this many elements on top of the data.
PIECE_COST = 32


def _split_size(x: Dims, *, indices_or_sections: Any, **_: object) -> int:
    ios = indices_or_sections
    pieces = len(ios) + 1 if isinstance(ios, list | tuple) else int(ios)
    return prod(x) + PIECE_COST * max(pieces, 0)


# The tape fills the cotangent of an unused piece with zeros before calling this.
split = defop(
    "split",
    _split_forward,
    lambda g, out, x, *, indices_or_sections, axis=0: (concatenate(*g, axis=axis),),
    outputs=None,
    size=_split_size,
    doc="pieces of x along an axis: n equal sections, or cut before the given indices",
)


# ----- repeating and padding (outputs bigger than inputs: each has a size estimator) -----
def _tile_forward(x: Array, *, reps: IntOrInts) -> Array:
    _tile_dims(np.shape(x), reps)
    return np.tile(x, reps)


def _tile_dims(shape: Dims, reps: Any) -> tuple[Dims, Dims]:
    """x's shape and reps, both left-padded with 1s to the rank of the result."""
    r = _int_tuple(reps)
    if any(n < 0 for n in r):
        raise _bad_attrs("tile", "reps must be non-negative")
    d = max(len(shape), len(r))
    return (1,) * (d - len(shape)) + tuple(shape), (1,) * (d - len(r)) + r


def _tile_size(x: Dims, *, reps: Any) -> int:
    xs, rs = _tile_dims(x, reps)
    return math.prod(a * b for a, b in zip(xs, rs, strict=True))


def _tile_vjp(g: Tensor, out: Tensor, x: Tensor, *, reps: Any) -> tuple[Tensor]:
    xs, rs = _tile_dims(x.shape, reps)
    interleaved = tuple(v for r, s in zip(rs, xs, strict=True) for v in (r, s))
    g = reshape(g, shape=interleaved)  # (r0, s0, r1, s1, ...): the copies on the even axes
    g = reductions.sum_(g, axis=tuple(range(0, len(interleaved), 2)))
    return (reshape(g, shape=x.shape),)


tile = defop(
    "tile",
    _tile_forward,
    _tile_vjp,
    size=_tile_size,
    doc="x repeated reps times along each axis (np.tile)",
)


def _repeat_forward(x: Array, *, repeats: Int, axis: OptInt = None) -> Array:
    _repeat_size(np.shape(x), repeats=repeats)
    return np.repeat(x, repeats, axis=axis)


def _repeat_size(x: Dims, *, repeats: int, axis: int | None = None) -> int:
    if repeats < 0:
        raise _bad_attrs("repeat", "repeats must be non-negative")
    return prod(x) * repeats


def _repeat_vjp(
    g: Tensor, out: Tensor, x: Tensor, *, repeats: int, axis: int | None = None
) -> tuple[Tensor]:
    if axis is None:
        g = reshape(g, shape=(x.size, repeats))
        return (reshape(reductions.sum_(g, axis=1), shape=x.shape),)
    a = normalize_axis_index(axis, x.ndim)
    g = reshape(g, shape=(*x.shape[: a + 1], repeats, *x.shape[a + 1 :]))
    return (reductions.sum_(g, axis=a + 1),)


repeat = defop(
    "repeat",
    _repeat_forward,
    _repeat_vjp,
    size=_repeat_size,
    doc="each element repeated `repeats` times along an axis (flattened if none)",
)


def _flip_forward(x: Array, *, axis: Axes = None) -> Array:
    return np.flip(x, axis=_axis_arg(axis))


flip: Op = defop(
    "flip",
    _flip_forward,
    lambda g, out, x, *, axis=None: (flip(g, axis=axis),),
    aliases=("reverse",),
    doc="x with the order of elements reversed along axes",
)


def _pad_pairs(pad_width: Any, ndim: int) -> list[tuple[int, int]]:
    """np.pad's pad_width forms (n, (before, after), ((b0, a0), ...)) as one pair per axis."""
    try:
        a = np.asarray(pad_width)
    except ValueError:
        raise _bad_attrs(
            "pad", "pad_width must be an integer, a pair, or a pair per axis"
        ) from None
    if a.size and a.dtype.kind not in "iu":
        raise _bad_attrs("pad", "pad widths must be integers")
    if a.size and a.min() < 0:
        raise _bad_attrs("pad", "pad widths must be non-negative")
    if a.size == 1:
        a = np.full((ndim, 2), a.item(), dtype=np.int64)
    elif a.size == 2 and a.shape != (2, 1):
        a = np.broadcast_to(a.ravel(), (ndim, 2))
    try:
        a = np.broadcast_to(a, (ndim, 2))
    except ValueError:
        raise _bad_attrs(
            "pad",
            f"pad_width of shape {list(np.shape(pad_width))} does not fit a tensor of rank {ndim}",
        ) from None
    return [(int(b), int(e)) for b, e in a]


def _pad_forward(
    x: Array, *, pad_width: PadWidth, mode: Str = "constant", constant_values: Float = 0.0
) -> Array:
    if mode != "constant":
        raise _bad_attrs("pad", f"mode {mode!r} is not supported (only 'constant')")
    return np.pad(x, _pad_pairs(pad_width, np.ndim(x)), constant_values=constant_values)


def _pad_size(x: Dims, *, pad_width: Any, **_: object) -> int:
    return math.prod(n + b + e for n, (b, e) in zip(x, _pad_pairs(pad_width, len(x)), strict=True))


def _pad_vjp(g: Tensor, out: Tensor, x: Tensor, *, pad_width: Any, **_: object) -> tuple[Tensor]:
    pairs = _pad_pairs(pad_width, x.ndim)
    key = tuple(slice(b, b + n) for n, (b, _e) in zip(x.shape, pairs, strict=True))
    return (getitem(g, index=key),)


pad = defop(
    "pad",
    _pad_forward,
    _pad_vjp,
    size=_pad_size,
    choices={"mode": ("constant",)},
    doc="x padded with constant_values, pad_width elements before and after each axis",
)


# ----- indexing -----
def _getitem_forward(x: Array, *, index: Index) -> Array:
    return np.asarray(x)[index]


def _getitem_vjp(g: Tensor, out: Tensor, x: Tensor, *, index: object) -> tuple[Tensor]:
    return (scatter_basic(g, index=index, shape=x.shape),)


getitem = defop(
    "getitem",
    _getitem_forward,
    _getitem_vjp,
    doc="NumPy basic indexing; on the wire a string such as '1:3, ::2, None, ...'",
)


def _scatter_basic_forward(g: Array, *, index: Index, shape: Shape) -> Array:
    z = np.zeros(shape, dtype=np.result_type(g))
    np.add.at(z, index, g)  # repeated positions (an advanced index) accumulate
    return z


def _scatter_basic_size(_g: Dims, *, shape: Any, **_: object) -> int:
    return prod(_int_tuple(shape))


# The transpose of indexing: g placed into zeros of a shape. It is linear in g, so its own VJP
# is indexing again.
scatter_basic = defop(
    "scatter_basic",
    _scatter_basic_forward,
    lambda g, out, upd, *, index, shape: (getitem(g, index=index),),
    size=_scatter_basic_size,
    doc="zeros of a shape with updates added at an index (getitem's transpose)",
)


def _take_forward(x: Array, indices: Array, *, axis: OptInt = None) -> Array:
    return np.take(x, indices, axis=axis)


def _take_size(x: Dims, indices: Dims, *, axis: int | None = None) -> int:
    if axis is None:
        return prod(indices)
    a = normalize_axis_index(axis, len(x))
    return prod(x[:a]) * prod(indices) * prod(x[a + 1 :])


def _take_vjp(
    g: Tensor, out: Tensor, x: Tensor, indices: Tensor, *, axis: int | None = None
) -> tuple[Tensor, None]:
    zeros = creation.zeros(shape=x.shape, dtype=g.dtype.name)
    return scatter_add(zeros, indices, g, axis=axis), None


take = defop(
    "take",
    _take_forward,
    _take_vjp,
    aliases=("gather",),
    size=_take_size,
    doc="elements of x at integer indices along an axis (of the flattened x if none)",
    conventions={
        "repeated indices": "their gradients add up",
        "axis": "null (the default) takes from the flattened x, as np.take "
        "does; TensorFlow's gather defaults to axis 0",
    },
)


def _scatter_add_forward(x: Array, indices: Array, updates: Array, *, axis: OptInt = None) -> Array:
    out = np.array(x, dtype=np.result_type(x, updates), order="C", copy=True)
    if axis is None:
        np.add.at(out.reshape(-1), indices, updates)
    else:
        a = normalize_axis_index(axis, out.ndim)
        np.add.at(out, _along(a, indices), updates)
    return out


def _scatter_add_vjp(
    g: Tensor, out: Tensor, x: Tensor, indices: Tensor, updates: Tensor, *, axis: int | None = None
) -> tuple[Tensor, None, Tensor]:
    return g, None, elementwise.unbroadcast(take(g, indices, axis=axis), updates)


# Linear in x and updates; its VJP is `take`, whose VJP is this op again.
scatter_add = defop(
    "scatter_add",
    _scatter_add_forward,
    _scatter_add_vjp,
    size=lambda x, *_, **__: prod(x),
    doc="x with updates added at integer indices along an axis (of the "
    "flattened x if none); repeated indices accumulate (take's transpose)",
)
