"""Table rows for engine/ops/elementwise.py."""

from __future__ import annotations

import numpy as np

from .case import Case


def _mask(shape: tuple[int, ...]):
    return lambda rng: rng.uniform(size=shape) > 0.5


def _ints(shape: tuple[int, ...]):
    return lambda rng: rng.integers(-3, 4, size=shape)


CASES: dict[str, Case] = {
    "negative": Case([(3, 4)]),
    "abs": Case([(3, 4)], low=0.2, high=2.0),
    "sign": Case([(3, 4)], differentiable=False),
    "exp": Case([(3, 4)]),
    "expm1": Case([(3, 4)]),
    "log": Case([(3, 4)], low=0.5, high=3.0),
    "log1p": Case([(3, 4)], low=-0.5, high=3.0),
    "log2": Case([(3, 4)], low=0.5, high=3.0),
    "log10": Case([(3, 4)], low=0.5, high=3.0),
    "sqrt": Case([(3, 4)], low=0.5, high=3.0),
    "rsqrt": Case([(3, 4)], low=0.5, high=3.0),
    "square": Case([(3, 4)]),
    "reciprocal": Case([(3, 4)], low=0.5, high=3.0),
    "sin": Case([(3, 4)]),
    "cos": Case([(3, 4)]),
    "tan": Case([(3, 4)], low=-1.0, high=1.0),
    "arcsin": Case([(3, 4)], low=-0.8, high=0.8),
    "arccos": Case([(3, 4)], low=-0.8, high=0.8),
    "arctan": Case([(3, 4)]),
    "sinh": Case([(3, 4)]),
    "cosh": Case([(3, 4)]),
    "tanh": Case([(3, 4)]),
    "arcsinh": Case([(3, 4)]),
    "arccosh": Case([(3, 4)], low=1.2, high=3.0),
    "arctanh": Case([(3, 4)], low=-0.8, high=0.8),
    "sigmoid": Case([(3, 4)], low=-4.0, high=4.0),
    "relu": Case([(3, 4)]),
    "leaky_relu": Case([(3, 4)], attrs=[{}, {"alpha": 0.1}]),
    "elu": Case([(3, 4)], attrs=[{}, {"alpha": 0.5}]),
    "selu": Case([(3, 4)]),
    "erf": Case([(3, 4)]),
    "gelu": Case([(3, 4)], low=-3.0, high=3.0),
    "softplus": Case([(3, 4)], low=-4.0, high=4.0),
    "floor": Case([(3, 4)], differentiable=False),
    "ceil": Case([(3, 4)], differentiable=False),
    "round": Case([(3, 4)], differentiable=False),
    "isfinite": Case([(3, 4)], differentiable=False),
    "isnan": Case([(3, 4)], differentiable=False),
    "logical_not": Case([_mask((3, 4))], differentiable=False),
    "add": Case([(3, 4), (1, 4)]),
    "subtract": Case([(3,), (2, 3)]),
    "multiply": Case([(3, 4), (4,)]),
    "multiply_no_nan": Case([(3, 4), (1, 4)]),
    "divide": Case([(2, 3), (3,)], low=0.5, high=2.0),
    "floor_divide": Case([(2, 3), (3,)], low=0.5, high=4.0),
    "mod": Case([(2, 3), (1, 3)], low=0.7, high=3.0),
    "power": Case([(2, 3), (3,)], low=0.5, high=2.0),
    "maximum": Case([(2, 3), (3,)]),
    "minimum": Case([(3,), (2, 3)]),
    "arctan2": Case([(2, 3), (3,)], low=0.3, high=2.0),
    "squared_difference": Case([(2, 3), (1, 3)]),
    "equal": Case([_ints((3,)), _ints((2, 3))], differentiable=False),
    "not_equal": Case([_ints((3,)), _ints((2, 3))], differentiable=False),
    "less": Case([(3,), (2, 3)], differentiable=False),
    "less_equal": Case([(3,), (2, 3)], differentiable=False),
    "greater": Case([(3,), (2, 3)], differentiable=False),
    "greater_equal": Case([(3,), (2, 3)], differentiable=False),
    "logical_and": Case([_mask((3,)), _mask((2, 3))], differentiable=False),
    "logical_or": Case([_mask((3,)), _mask((2, 3))], differentiable=False),
    "logical_xor": Case([_mask((3,)), _mask((2, 3))], differentiable=False),
    "where": Case([_mask((2, 3)), (3,), (2, 1)]),
    "clip": Case([(2, 3), lambda rng: np.full((1, 3), -0.5), lambda rng: np.full((), 0.7)]),
    "identity": Case([(3, 4)]),
    "stop_gradient": Case([(3, 4)], differentiable=False),
    "cast": Case([(3, 4)], attrs=[{"dtype": "float64"}]),
}
