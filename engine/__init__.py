"""gradtape's engine: a NumPy reverse-mode tape with tf.GradientTape semantics, and its op catalog.

`import engine as tf` runs TensorFlow's GradientTape tutorial unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .errors import EngineError, LimitError, OpError, ProgramError, TapeError
from .forward import ForwardAccumulator
from .limits import Budget, Limits
from .ops import *  # noqa: F403
from .registry import ALIASES, OPS, Op, defop, lookup_op
from .tape import NON_PERSISTENT_MESSAGE, GradientTape, Tape
from .tensor import Tensor, Variable, as_tensor

float16, float32, float64 = np.float16, np.float32, np.float64
int32, int64, bool_ = np.int32, np.int64, np.bool_


def constant(value: Any, dtype: Any = None) -> Tensor:
    """A constant tensor (`tf.constant`); Python floats become float64, as in NumPy."""
    return Tensor(np.array(value.value if isinstance(value, Tensor) else value, dtype=dtype))


def convert_to_tensor(value: Any, dtype: Any = None) -> Tensor:
    return as_tensor(value, dtype)


# Every op under its catalog name and its TensorFlow aliases, as `engine.NAME` (`tf.reduce_sum`,
# `tf.concat`): the names `from .ops import *` does not bind already (a test holds this list to
# the registry). `prod` is the op, not the registry's shape helper of that name.
abs = ops.abs_  # noqa: A001
acos = ops.arccos
acosh = ops.arccosh
amax = ops.max_
amin = ops.min_
asin = ops.arcsin
asinh = ops.arcsinh
atan = ops.arctan
atan2 = ops.arctan2
atanh = ops.arctanh
clip_by_value = ops.clip
concat = ops.concatenate
div = ops.divide
floordiv = ops.floor_divide
floormod = ops.mod
gather = ops.take
matrix_determinant = ops.det
matrix_inverse = ops.inv
matrix_solve = ops.solve
max = ops.max_  # noqa: A001
min = ops.min_  # noqa: A001
mul = ops.multiply
neg = ops.negative
pow = ops.power  # noqa: A001
prod = ops.reductions.prod
range = ops.arange  # noqa: A001
reduce_euclidean_norm = ops.norm
reduce_logsumexp = ops.logsumexp
reduce_max = ops.max_
reduce_mean = ops.mean
reduce_min = ops.min_
reduce_prod = ops.reductions.prod
reduce_std = ops.std
reduce_sum = ops.sum_
reduce_variance = ops.var
remainder = ops.mod
reverse = ops.flip
round = ops.round_  # noqa: A001
sub = ops.subtract
sum = ops.sum_  # noqa: A001
true_divide = ops.divide
truediv = ops.divide


# TensorFlow's signatures for these two (a shape first), in place of the catalog ops' own.
def ones(shape: Any, dtype: Any = "float64") -> Tensor:  # type: ignore[no-redef]
    return OPS["ones"](
        shape=tuple(np.atleast_1d(shape).tolist()) if shape != () else (),
        dtype=np.dtype(dtype).name,
    )


def zeros(shape: Any, dtype: Any = "float64") -> Tensor:  # type: ignore[no-redef]
    return OPS["zeros"](
        shape=tuple(np.atleast_1d(shape).tolist()) if shape != () else (),
        dtype=np.dtype(dtype).name,
    )


__all__ = [
    "ALIASES",
    "NON_PERSISTENT_MESSAGE",
    "OPS",
    "Budget",
    "EngineError",
    "ForwardAccumulator",
    "GradientTape",
    "LimitError",
    "Limits",
    "Op",
    "OpError",
    "ProgramError",
    "Tape",
    "TapeError",
    "Tensor",
    "Variable",
    "as_tensor",
    "constant",
    "convert_to_tensor",
    "defop",
    "lookup_op",
    "ones",
    "ops",
    "zeros",
]
