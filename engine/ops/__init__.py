"""The op catalog, split along its banners; operator syntax on Tensor is bound here."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import creation, elementwise, linalg, nn, reductions, shape
from .conv import *  # noqa: F403
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
Tensor.__radd__ = _binary(_e.add, True)  # type: ignore[method-assign]
Tensor.__sub__ = _binary(_e.subtract)  # type: ignore[method-assign]
Tensor.__rsub__ = _binary(_e.subtract, True)  # type: ignore[method-assign]
Tensor.__mul__ = _binary(_e.multiply)  # type: ignore[method-assign]
Tensor.__rmul__ = _binary(_e.multiply, True)  # type: ignore[method-assign]
Tensor.__truediv__ = _binary(_e.divide)  # type: ignore[method-assign]
Tensor.__rtruediv__ = _binary(_e.divide, True)  # type: ignore[method-assign]
Tensor.__floordiv__ = _binary(_e.floor_divide)  # type: ignore[method-assign]
Tensor.__rfloordiv__ = _binary(_e.floor_divide, True)  # type: ignore[method-assign]
Tensor.__mod__ = _binary(_e.mod)  # type: ignore[method-assign]
Tensor.__rmod__ = _binary(_e.mod, True)  # type: ignore[method-assign]
Tensor.__pow__ = _binary(_e.power)  # type: ignore[method-assign]
Tensor.__rpow__ = _binary(_e.power, True)  # type: ignore[method-assign]
Tensor.__neg__ = lambda self: _e.negative(self)  # type: ignore[method-assign]
Tensor.__pos__ = lambda self: self  # type: ignore[method-assign]
Tensor.__abs__ = lambda self: _e.abs_(self)  # type: ignore[method-assign]
Tensor.__eq__ = _binary(_e.equal)  # type: ignore[method-assign]
Tensor.__ne__ = _binary(_e.not_equal)  # type: ignore[method-assign]
Tensor.__lt__ = _binary(_e.less)  # type: ignore[method-assign]
Tensor.__le__ = _binary(_e.less_equal)  # type: ignore[method-assign]
Tensor.__gt__ = _binary(_e.greater)  # type: ignore[method-assign]
Tensor.__ge__ = _binary(_e.greater_equal)  # type: ignore[method-assign]
Tensor.__and__ = _binary(_e.logical_and)  # type: ignore[method-assign]
Tensor.__or__ = _binary(_e.logical_or)  # type: ignore[method-assign]
Tensor.__invert__ = lambda self: _e.logical_not(self)  # type: ignore[method-assign]
Tensor.__getitem__ = lambda self, key: shape.getitem(self, index=key)  # type: ignore[method-assign]

_ = (creation, linalg, nn, reductions)
