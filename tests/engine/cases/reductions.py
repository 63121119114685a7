"""Table rows for engine/ops/reductions.py."""

from __future__ import annotations

from .case import Case

AXES = [{}, {"axis": 0}, {"axis": -1, "keepdims": True}, {"axis": (0, 1), "keepdims": True}]
SCANS = [{}, {"axis": 0}, {"axis": -1}]

CASES: dict[str, Case] = {
    "sum": Case([(2, 3)], attrs=AXES),
    "mean": Case([(3, 4)], attrs=AXES),
    "prod": Case([(3, 4)], low=0.5, high=1.5, attrs=AXES),
    "max": Case([(3, 4)], attrs=AXES),  # continuous samples: no ties
    "min": Case([(3, 4)], attrs=AXES),
    "logsumexp": Case([(3, 4)], low=-3.0, high=3.0, attrs=AXES),
    "var": Case(
        [(3, 4)],
        attrs=[*AXES, {"axis": 1, "ddof": 1}, {"axis": (0, 1), "ddof": 2, "keepdims": True}],
    ),
    "std": Case(
        [(3, 4)],
        attrs=[*AXES, {"axis": 0, "ddof": 1}, {"axis": (1, 0), "ddof": 1, "keepdims": True}],
    ),
    "norm": Case([(3, 4)], attrs=[*AXES, {"axis": 1, "ord": 2}]),
    "argmax": Case(
        [(3, 4)], attrs=[{}, {"axis": 1}, {"axis": 0, "keepdims": True}], differentiable=False
    ),
    "argmin": Case(
        [(3, 4)], attrs=[{}, {"axis": 1}, {"axis": 0, "keepdims": True}], differentiable=False
    ),
    "cumsum": Case([(3, 4)], attrs=SCANS),
    "cumprod": Case([(3, 4)], low=0.5, high=1.5, attrs=SCANS),
}
