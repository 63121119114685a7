"""Creation ops: constants from shapes and from other tensors (none records a gradient)."""

from __future__ import annotations

import numpy as np

from ..registry import DType, OptDType, Scalar, Shape, defop, prod

Array = np.ndarray


def _zeros_like_forward(x: Array, *, dtype: OptDType = None) -> Array:
    return np.zeros_like(x, dtype=dtype)


def _ones_like_forward(x: Array, *, dtype: OptDType = None) -> Array:
    return np.ones_like(x, dtype=dtype)


zeros_like = defop("zeros_like", _zeros_like_forward, None, doc="zeros of x's shape and dtype")
ones_like = defop("ones_like", _ones_like_forward, None, doc="ones of x's shape and dtype")


def _zeros_forward(*, shape: Shape, dtype: DType = "float64") -> Array:
    return np.zeros(shape, dtype=dtype)


def _ones_forward(*, shape: Shape, dtype: DType = "float64") -> Array:
    return np.ones(shape, dtype=dtype)


def _shape_size(*_: tuple[int, ...], shape: tuple[int, ...], **__: object) -> int:
    return prod(shape)


zeros = defop("zeros", _zeros_forward, None, size=_shape_size, doc="a tensor of zeros")
ones = defop("ones", _ones_forward, None, size=_shape_size, doc="a tensor of ones")
_ = Scalar
