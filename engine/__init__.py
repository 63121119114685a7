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


def _alias_bindings() -> dict[str, Op]:
    """Every op reachable by its TensorFlow alias too (`engine.reduce_sum`, `engine.concat`)."""
    return {alias: OPS[name] for alias, name in ALIASES.items()}


globals().update({k: v for k, v in _alias_bindings().items() if k not in globals()})
globals().update({k: v for k, v in OPS.items() if k not in globals()})


def ones(shape: Any, dtype: Any = "float64") -> Tensor:
    return OPS["ones"](
        shape=tuple(np.atleast_1d(shape).tolist()) if shape != () else (),
        dtype=np.dtype(dtype).name,
    )


def zeros(shape: Any, dtype: Any = "float64") -> Tensor:
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
