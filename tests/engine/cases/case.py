"""The row type of the registry-wide op table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Case:
    """How to test one op: input shapes (or fixed arrays), a sampling domain, attrs variants.

    `shapes` entries are shapes of float64 inputs sampled uniformly in [low, high]; an entry may
    instead be a callable rng -> np.ndarray for inputs that need structure (conditions, indices,
    positive-definite matrices). `attrs` lists the attrs variants to run (each one is checked).
    """

    shapes: list[Shape | Callable[[np.random.Generator], np.ndarray]]
    low: float = -2.0
    high: float = 2.0
    attrs: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    differentiable: bool = True
    order: int = 2  # highest order checked against finite differences
    rtol: float = 1e-5
    atol: float = 1e-6

    def sample(self, rng: np.random.Generator) -> list[np.ndarray]:
        return [
            s(rng) if callable(s) else rng.uniform(self.low, self.high, size=s) for s in self.shapes
        ]
