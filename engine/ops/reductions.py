"""Reductions over axes (axis=None reduces every axis), and scans."""

from __future__ import annotations

import numpy as np

from ..registry import Axes, Bool, defop
from ..tensor import Tensor
from . import shape

Array = np.ndarray


def kept_dims_shape(in_shape: tuple[int, ...], axis: int | tuple[int, ...] | None
                    ) -> tuple[int, ...]:
    """in_shape with the reduced axes kept as size 1 (the shape of keepdims=True)."""
    n = len(in_shape)
    if axis is None:
        return (1,) * n
    axes = {a % n for a in ((axis,) if isinstance(axis, int) else axis)}
    return tuple(1 if i in axes else d for i, d in enumerate(in_shape))


def _sum_forward(x: Array, *, axis: Axes = None, keepdims: Bool = False) -> Array:
    return np.sum(x, axis=axis, keepdims=keepdims)


def _sum_vjp(g: Tensor, out: Tensor, x: Tensor, *, axis: Axes = None, keepdims: bool = False
             ) -> tuple[Tensor]:
    if not keepdims:
        g = shape.reshape(g, shape=kept_dims_shape(x.shape, axis))  # reduced axes back as 1
    return (shape.broadcast_to(g, shape=x.shape),)


sum_ = defop("sum", _sum_forward, _sum_vjp, aliases=("reduce_sum",), doc="sum over axes")
