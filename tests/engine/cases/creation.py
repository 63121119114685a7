"""Table rows for engine/ops/creation.py (no op here is differentiable)."""

from __future__ import annotations

from .case import Case

CASES: dict[str, Case] = {
    "zeros_like": Case([(2, 3)], attrs=[{}, {"dtype": "int32"}], differentiable=False),
    "ones_like": Case([(2, 3)], attrs=[{}, {"dtype": "float32"}], differentiable=False),
    "full_like": Case(
        [(2, 3)],
        attrs=[{"fill_value": 2.5}, {"fill_value": 1, "dtype": "int64"}],
        differentiable=False,
    ),
    "zeros": Case(
        [], attrs=[{"shape": [2, 3]}, {"shape": [], "dtype": "int64"}], differentiable=False
    ),
    "ones": Case([], attrs=[{"shape": [2, 3]}, {"shape": [0, 4]}], differentiable=False),
    "full": Case(
        [],
        attrs=[
            {"shape": [2, 3], "fill_value": 7},
            {"shape": [2], "fill_value": 0.5, "dtype": "float32"},
        ],
        differentiable=False,
    ),
    "eye": Case(
        [], attrs=[{"N": 3}, {"N": 2, "M": 4, "k": 1, "dtype": "int64"}], differentiable=False
    ),
    "arange": Case(
        [],
        attrs=[
            {"start": 5},
            {"start": 1.0, "stop": 2.0, "step": 0.25},
            {"start": 3, "stop": -3, "step": -2},
        ],
        differentiable=False,
    ),
    "linspace": Case(
        [],
        attrs=[{"start": 0.0, "stop": 1.0}, {"start": -1, "stop": 1, "num": 4, "endpoint": False}],
        differentiable=False,
    ),
}
