"""Table rows for engine/ops/shape.py."""

from __future__ import annotations

import numpy as np

from .case import Case


def _fixed(values: list[int] | list[list[int]]):
    """An integer index tensor, the same at every draw (repeats included on purpose)."""
    return lambda rng: np.array(values, dtype=np.int64)


CASES: dict[str, Case] = {
    "reshape": Case([(2, 6)], attrs=[{"shape": (3, 4)}, {"shape": (4, -1)}, {"shape": (12,)}]),
    "ravel": Case([(2, 3, 2)]),
    "expand_dims": Case([(2, 3)], attrs=[{"axis": 0}, {"axis": -1}, {"axis": (0, 2)}]),
    "squeeze": Case([(1, 3, 1)], attrs=[{}, {"axis": 0}, {"axis": -1}, {"axis": (0, 2)}]),
    "broadcast_to": Case([(3, 1)], attrs=[{"shape": (3, 4)}, {"shape": (2, 3, 4)}]),
    "stack": Case([(2, 3), (2, 3), (2, 3)], attrs=[{}, {"axis": 1}, {"axis": -1}]),
    "concatenate": Case([(2, 3), (1, 3), (4, 3)], attrs=[{}, {"axis": -2}]),
    "split": Case(
        [(6, 4)],
        attrs=[
            {"indices_or_sections": 3},
            {"indices_or_sections": (1, 4)},
            {"indices_or_sections": 2, "axis": -1},
            {"indices_or_sections": (0, 2, 3), "axis": 1},
        ],
    ),
    "tile": Case([(2, 3)], attrs=[{"reps": 2}, {"reps": (2, 1)}, {"reps": (2, 1, 3)}]),
    "repeat": Case(
        [(2, 3)], attrs=[{"repeats": 2}, {"repeats": 3, "axis": 0}, {"repeats": 2, "axis": -1}]
    ),
    "flip": Case([(2, 3, 2)], attrs=[{}, {"axis": 0}, {"axis": (-1, 1)}]),
    "pad": Case(
        [(2, 3)],
        attrs=[
            {"pad_width": 1},
            {"pad_width": (2, 1)},
            {"pad_width": ((1, 0), (0, 2)), "constant_values": 0.5},
        ],
    ),
    "getitem": Case(
        [(4, 5)],
        attrs=[
            {"index": (slice(1, 3),)},
            {"index": (Ellipsis, 2)},
            {"index": (slice(None, None, -2), None, slice(1, 4))},
            {"index": (np.array([0, 2, 2]),)},
        ],
    ),
    "scatter_basic": Case(
        [(2, 5)],
        attrs=[
            {"index": (slice(1, 3),), "shape": (4, 5)},
            {"index": (np.array([1, 1]),), "shape": (3, 5)},
        ],
    ),
    "take": Case(
        [(4, 3), _fixed([[0, 2], [2, 2]])], attrs=[{}, {"axis": 0}, {"axis": 1}, {"axis": -1}]
    ),
    "scatter_add": Case(
        [(5,), _fixed([[0, 3, 3], [4, 0, 3]]), (1, 3)], attrs=[{}, {"axis": 0}, {"axis": -1}]
    ),
}
