"""Table rows for engine/ops/nn.py."""

from __future__ import annotations

from .case import Case

CASES: dict[str, Case] = {
    "softmax": Case([(3, 4)], attrs=[{}, {"axis": 0}, {"axis": -2}]),
    "log_softmax": Case([(3, 4)], attrs=[{}, {"axis": 0}]),
    # Labels are sampled freely (not distributions), so the sum(labels) term is exercised too.
    "softmax_cross_entropy_with_logits": Case(
        [(3, 4), (3, 4)], low=0.0, high=1.0, attrs=[{}, {"axis": 0}]
    ),
    "sigmoid_cross_entropy_with_logits": Case([(3, 4), (4,)], low=-3.0, high=3.0),
}
