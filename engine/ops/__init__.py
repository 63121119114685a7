"""The op catalog, split along its banners; operator syntax on Tensor is bound here."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import creation, elementwise, linalg, nn, reductions, shape
from .creation import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .linalg import *  # noqa: F403
from .nn import *  # noqa: F403
from .reductions import *  # noqa: F403
from .shape import *  # noqa: F403

# ----- operator syntax: sugar for catalog ops -----
_e = elementwise


def _binary(op: Any, reflected: bool = False) -> Any:
    if reflected:
        return lambda self, other: op(other, self)
    return lambda self, other: op(self, other)


Tensor.__add__ = _binary(_e.add)  # type: ignore[method-assign]
Tensor.__radd__ = _binary(_e.add, True)  # type: ignore[attr-defined]
Tensor.__sub__ = _binary(_e.subtract)  # type: ignore[attr-defined]
Tensor.__rsub__ = _binary(_e.subtract, True)  # type: ignore[attr-defined]
Tensor.__mul__ = _binary(_e.multiply)  # type: ignore[attr-defined]
Tensor.__rmul__ = _binary(_e.multiply, True)  # type: ignore[attr-defined]
Tensor.__truediv__ = _binary(_e.divide)  # type: ignore[attr-defined]
Tensor.__rtruediv__ = _binary(_e.divide, True)  # type: ignore[attr-defined]
Tensor.__floordiv__ = _binary(_e.floor_divide)  # type: ignore[attr-defined]
Tensor.__rfloordiv__ = _binary(_e.floor_divide, True)  # type: ignore[attr-defined]
Tensor.__mod__ = _binary(_e.mod)  # type: ignore[attr-defined]
Tensor.__rmod__ = _binary(_e.mod, True)  # type: ignore[attr-defined]
Tensor.__pow__ = _binary(_e.power)  # type: ignore[attr-defined]
Tensor.__rpow__ = _binary(_e.power, True)  # type: ignore[attr-defined]
Tensor.__neg__ = lambda self: _e.negative(self)  # type: ignore[attr-defined]
Tensor.__pos__ = lambda self: self  # type: ignore[attr-defined]
Tensor.__abs__ = lambda self: _e.abs_(self)  # type: ignore[attr-defined]
Tensor.__eq__ = _binary(_e.equal)  # type: ignore[assignment,method-assign]
Tensor.__ne__ = _binary(_e.not_equal)  # type: ignore[assignment,method-assign]
Tensor.__lt__ = _binary(_e.less)  # type: ignore[attr-defined]
Tensor.__le__ = _binary(_e.less_equal)  # type: ignore[attr-defined]
Tensor.__gt__ = _binary(_e.greater)  # type: ignore[attr-defined]
Tensor.__ge__ = _binary(_e.greater_equal)  # type: ignore[attr-defined]
Tensor.__and__ = _binary(_e.logical_and)  # type: ignore[attr-defined]
Tensor.__or__ = _binary(_e.logical_or)  # type: ignore[attr-defined]
Tensor.__invert__ = lambda self: _e.logical_not(self)  # type: ignore[attr-defined]
Tensor.__getitem__ = lambda self, key: shape.getitem(self, index=key)  # type: ignore[attr-defined]
Tensor.__hash__ = object.__hash__  # type: ignore[assignment]

_ = (creation, linalg, nn, reductions)
