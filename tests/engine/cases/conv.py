"""Table rows for engine/ops/conv.py."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .case import Case


def distinct(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Values at least 0.05 apart in random order: no window of max_pool has a near tie, so the
    central differences never cross a change of argmax."""

    def sample(rng: np.random.Generator) -> np.ndarray:
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.05 - n * 0.025).reshape(shape)

    return sample


GEOMETRY = [
    {},
    {"strides": (2, 2)},
    {"pads": (1, 0, 1, 2)},
    {"dilations": (2, 1), "strides": (1, 2), "pads": (1, 1, 0, 0)},
]
POOL = [
    {"kernel_shape": (2, 2)},
    {"kernel_shape": (3, 2), "strides": (2, 2), "pads": (1, 0, 1, 1)},
    {"kernel_shape": (2, 2), "dilations": (2, 1)},
]

CASES: dict[str, Case] = {
    # Grouped and 1-D convolutions: tests/engine/test_conv.py (a row has one set of shapes).
    "conv": Case([(2, 2, 5, 6), (3, 2, 3, 2)], attrs=GEOMETRY),
    "conv_transpose": Case(
        [(2, 4, 3, 4), (4, 3, 2, 3)],
        attrs=[
            {},
            {"groups": 2, "strides": (2, 2), "output_padding": (1, 0)},
            {"pads": (1, 0, 1, 2), "dilations": (1, 2)},
        ],
    ),
    "conv_backprop_filter": Case(
        [(2, 4, 5, 6), (2, 4, 5, 6)],
        attrs=[
            {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)},
            {"kernel_shape": (3, 2), "pads": (1, 0, 1, 1), "groups": 2},
            {"kernel_shape": (3, 3), "dilations": (2, 1), "pads": (2, 1, 2, 1)},
        ],
    ),
    "max_pool": Case([distinct(2, 3, 5, 6)], attrs=POOL),
    "max_pool_mask": Case([distinct(2, 3, 5, 6)], attrs=POOL, differentiable=False),
    "avg_pool": Case(
        [(2, 3, 5, 6)],
        attrs=[*POOL, {**POOL[1], "count_include_pad": True}],
    ),
}
