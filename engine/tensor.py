"""Tensor: an immutable wrapper of a NumPy array (no gradient state on it), and Variable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

Array = np.ndarray

FLOATING = frozenset({np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)})

# The dtypes a tensor may have on the wire and in attrs, and the KServe/Triton spellings taken
# for them on input: the one table the engine (and through it the app) reads.
DTYPE_NAMES = ("float16", "float32", "float64", "int32", "int64", "bool")
DTYPES: dict[str, np.dtype] = {name: np.dtype(name) for name in DTYPE_NAMES}
DTYPE_ALIASES = {
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
}


class Tensor:
    """A value: a NumPy array or scalar. Tapes key it by identity; it never changes."""

    __slots__ = ("__weakref__", "value")

    def __init__(self, value: Any) -> None:
        self.value = value

    if TYPE_CHECKING:  # operator syntax, bound to catalog ops by engine.ops; declared for checkers

        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __floordiv__(self, other: Any) -> Tensor: ...
        def __rfloordiv__(self, other: Any) -> Tensor: ...
        def __mod__(self, other: Any) -> Tensor: ...
        def __rmod__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __eq__(self, other: Any) -> Tensor: ...  # type: ignore[override]
        def __ne__(self, other: Any) -> Tensor: ...  # type: ignore[override]
        def __lt__(self, other: Any) -> Tensor: ...
        def __le__(self, other: Any) -> Tensor: ...
        def __gt__(self, other: Any) -> Tensor: ...
        def __ge__(self, other: Any) -> Tensor: ...
        def __and__(self, other: Any) -> Tensor: ...
        def __or__(self, other: Any) -> Tensor: ...
        def __invert__(self) -> Tensor: ...
        def __getitem__(self, key: Any) -> Tensor: ...

    # ----- array facts -----
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def is_floating(self) -> bool:
        return self.value.dtype in FLOATING

    def numpy(self) -> np.ndarray | np.generic:
        """The value as NumPy (a scalar for rank 0, like TensorFlow's `.numpy()`)."""
        v = self.value
        return v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v

    def item(self) -> Any:
        return self.value.item()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        a = np.asarray(self.value)
        return a if dtype is None else a.astype(dtype)

    def __len__(self) -> int:
        if self.value.ndim == 0:
            raise TypeError("len() of a rank-0 tensor")
        return len(self.value)

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __index__(self) -> int:
        return int(self.value)

    __hash__ = object.__hash__  # comparisons are elementwise ops, so identity is the hash

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shape={self.shape} dtype={self.dtype} {self.numpy()!r}>"


class Variable(Tensor):
    """Like `tf.Variable`: a mutable value; trainable ones are watched when read under a tape."""

    __slots__ = ("name", "trainable")

    def __init__(
        self, initial_value: Any, trainable: bool = True, name: str | None = None, dtype: Any = None
    ) -> None:
        super().__init__(_to_array(initial_value, dtype))
        self.trainable = trainable
        self.name = name

    def assign(self, value: Any) -> Variable:
        new = _to_array(value, self.dtype)
        if new.shape != self.shape:
            raise ValueError(f"cannot assign a value of shape {new.shape} to shape {self.shape}")
        self.value = new
        return self

    def assign_add(self, delta: Any) -> Variable:
        return self.assign(self.value + _to_array(delta, self.dtype))

    def assign_sub(self, delta: Any) -> Variable:
        return self.assign(self.value - _to_array(delta, self.dtype))

    def read_value(self) -> Tensor:
        return Tensor(self.value)


def _to_array(x: Any, dtype: Any = None) -> Any:
    if isinstance(x, Tensor):
        x = x.value
    a = np.asarray(x, dtype=dtype)
    return a


def as_tensor(x: Any, dtype: Any = None) -> Tensor:
    """A Tensor for `x` (a Tensor is returned as is; anything else goes through np.asarray)."""
    if isinstance(x, Tensor):
        if dtype is None or x.dtype == np.dtype(dtype):
            return x
        return Tensor(x.value.astype(dtype))
    return Tensor(np.asarray(x, dtype=dtype))
