"""Shape ops: reshape, broadcast, stack, and the rest of NumPy's array manipulation."""

from __future__ import annotations

import numpy as np

from ..registry import Index, Int, Shape, defop, prod
from ..tensor import Tensor
from . import elementwise, reductions

Array = np.ndarray


def _reshape_forward(x: Array, *, shape: Shape) -> Array:
    return np.reshape(x, shape)


reshape = defop("reshape", _reshape_forward,
                lambda g, out, x, *, shape: (reshape(g, shape=x.shape),),
                doc="the same elements in a new shape (one dimension may be -1)")


def _broadcast_to_forward(x: Array, *, shape: Shape) -> Array:
    return np.broadcast_to(x, shape)


def _broadcast_to_size(_x: tuple[int, ...], *, shape: tuple[int, ...]) -> int:
    return prod(shape)


broadcast_to = defop("broadcast_to", _broadcast_to_forward,
                     lambda g, out, x, *, shape: (elementwise.unbroadcast(g, x),),
                     size=_broadcast_to_size, doc="x broadcast to a shape")


def _stack_forward(*xs: Array, axis: Int = 0) -> Array:
    return np.stack(xs, axis=axis)


def _stack_vjp(g: Tensor, out: Tensor, *xs: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    n = len(xs)
    return tuple(take_along(g, i, axis) for i in range(n))


def take_along(g: Tensor, i: int, axis: int) -> Tensor:
    """g[..., i, ...] at `axis`, as a catalog op."""
    axis = axis % g.ndim
    return getitem(g, index=(slice(None),) * axis + (i,))


stack = defop("stack", _stack_forward, _stack_vjp, arity=(1, None),
              doc="join tensors of equal shape along a new axis")


def _getitem_forward(x: Array, *, index: Index) -> Array:
    return np.asarray(x)[index]


def _getitem_vjp(g: Tensor, out: Tensor, x: Tensor, *, index: object) -> tuple[Tensor]:
    return (scatter_basic(g, x, index=index),)


def _scatter_basic_forward(g: Array, like: Array, *, index: Index) -> Array:
    z = np.zeros(np.shape(like), dtype=np.result_type(g))
    np.add.at(z, index, g)  # repeated positions (an advanced index) accumulate
    return z


getitem = defop("getitem", _getitem_forward, _getitem_vjp,
                doc="NumPy basic indexing; on the wire a string such as '1:3, ::2, None, ...'")


# The transpose of basic indexing: g placed into zeros of like's shape. It is linear in g,
# so its own VJP is indexing again.
scatter_basic = defop("scatter_basic", _scatter_basic_forward,
                      lambda g, out, upd, like, *, index: (getitem(g, index=index), None),
                      doc="zeros of like's shape with updates placed at a basic index")
_ = reductions
