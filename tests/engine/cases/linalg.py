"""Table rows for engine/ops/linalg.py."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .case import Case

Sampler = Callable[[np.random.Generator], np.ndarray]


def well_conditioned(*shape: int) -> Sampler:
    """Square matrices M + n I with M uniform in [-1, 1]: far from singular."""
    n = shape[-1]
    return lambda rng: rng.uniform(-1.0, 1.0, size=shape) + n * np.eye(n)


def negative_det(*shape: int) -> Sampler:
    """Well-conditioned matrices whose first row is negated: the determinant is negative."""
    base = well_conditioned(*shape)

    def sample(rng: np.random.Generator) -> np.ndarray:
        a = base(rng)
        a[..., 0, :] *= -1.0
        return a

    return sample


def spd(*shape: int) -> Sampler:
    """Symmetric positive-definite matrices M M^T + n I."""
    n = shape[-1]

    def sample(rng: np.random.Generator) -> np.ndarray:
        m = rng.uniform(-1.0, 1.0, size=shape)
        return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)

    return sample


DIAGONAL = [
    {},
    {"offset": 1},
    {"offset": -1, "axis1": 1, "axis2": 0},
    {"axis1": 0, "axis2": 2},
    {"offset": 2, "axis1": -1, "axis2": -3},
]

CASES: dict[str, Case] = {
    "matmul": Case([(2, 1, 3, 4), (5, 4, 2)]),  # batch dims broadcast both ways
    "dot": Case([(4,), (4, 3)]),
    "outer": Case([(3,), (2, 2)]),
    "tensordot": Case(
        [(2, 3, 4), (4, 3, 5)],
        attrs=[{"axes": 1}, {"axes": ((2, 1), (0, 1))}, {"axes": ([1], [1])}, {"axes": 0}],
    ),
    "einsum": Case(
        [(2, 1, 3, 3), (4, 3, 3)],
        attrs=[
            {"subscripts": "...ij,...jk->...ik"},  # the ellipsis broadcast (2, 1) against (4,)
            {"subscripts": "abij,cjk"},  # implicit output: abcik
            {"subscripts": "aBij,Bjk->aik"},  # B: size 1 against 4, summed
            {"subscripts": "...ii,...ij->...j"},  # a diagonal of the first operand
            {"subscripts": "abij,cjk->k"},  # i summed inside the first operand alone
            {"subscripts": "abij, cij ->"},
        ],
    ),
    "transpose": Case([(2, 3, 4)], attrs=[{}, {"axes": (1, 2, 0)}, {"axes": (-1, 0, 1)}]),
    "swapaxes": Case([(2, 3, 4)], attrs=[{"axis1": 0, "axis2": 2}, {"axis1": -1, "axis2": 1}]),
    "trace": Case([(3, 4, 2)], attrs=DIAGONAL),
    "diagonal": Case([(3, 4, 2)], attrs=DIAGONAL),
    "inv": Case([well_conditioned(2, 3, 3)]),
    "det": Case([negative_det(2, 3, 3)]),
    "slogdet": Case([negative_det(2, 3, 3)]),
    "solve": Case([well_conditioned(2, 3, 3), (3, 2)]),
    "cholesky": Case([spd(2, 3, 3)]),
}
