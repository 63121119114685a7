"""Neural-network ops: softmax, log_softmax and the cross-entropy losses on logits."""

from __future__ import annotations

import numpy as np

from ..registry import Int, defop
from ..tensor import Tensor
from . import elementwise, reductions, shape

Array = np.ndarray
_e = elementwise


# ----- helpers (NumPy, forwards only) -----
def _shifted(x: Array, axis: int) -> Array:
    """x minus its max along axis: exp of it cannot overflow."""
    return x - np.max(x, axis=axis, keepdims=True)


def _logsumexp_shifted(z: Array, axis: int) -> Array:
    return np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _kept(g: Tensor, like: Tensor, axis: int) -> Tensor:
    """g with the reduced axis back as size 1, ready to broadcast against `like`."""
    return shape.reshape(g, shape=reductions.kept_dims_shape(like.shape, axis))


# ----- softmax -----
def _softmax_forward(x: Array, *, axis: Int = -1) -> Array:
    e = np.exp(_shifted(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


softmax = defop(
    "softmax",
    _softmax_forward,
    lambda g, out, x, *, axis=-1: (out * (g - reductions.sum_(g * out, axis=axis, keepdims=True)),),
    raw=lambda g, out, x, *, axis=-1: (out * (g - np.sum(g * out, axis=axis, keepdims=True)),),
    doc="exp(x) / sum(exp(x)) along axis, computed with the max subtracted",
)


def _log_softmax_forward(x: Array, *, axis: Int = -1) -> Array:
    z = _shifted(x, axis)
    return z - _logsumexp_shifted(z, axis)


log_softmax = defop(
    "log_softmax",
    _log_softmax_forward,
    lambda g, out, x, *, axis=-1: (g - _e.exp(out) * reductions.sum_(g, axis=axis, keepdims=True),),
    raw=lambda g, out, x, *, axis=-1: (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),),
    doc="x - log(sum(exp(x))) along axis, computed with the max subtracted",
)


# ----- losses on logits (TensorFlow's argument order: labels, then logits) -----
def _softmax_cross_entropy_forward(labels: Array, logits: Array, *, axis: Int = -1) -> Array:
    if np.shape(labels) != np.shape(logits):
        raise ValueError(
            f"labels shape {list(np.shape(labels))} and logits shape "
            f"{list(np.shape(logits))} must be the same"
        )
    z = _shifted(logits, axis)
    return np.sum(labels * (_logsumexp_shifted(z, axis) - z), axis=axis)


def _softmax_cross_entropy_vjp(
    g: Tensor, out: Tensor, labels: Tensor, logits: Tensor, *, axis: int = -1
) -> tuple[Tensor, Tensor]:
    g = _kept(g, logits, axis)
    logp = log_softmax(logits, axis=axis)
    mass = reductions.sum_(labels, axis=axis, keepdims=True)
    return _e.multiply_no_nan(-logp, g), g * (mass * _e.exp(logp) - labels)


def _softmax_cross_entropy_raw(
    g: Array, out: Array, labels: Array, logits: Array, *, axis: int = -1
) -> tuple[Array, Array]:
    g = np.reshape(g, reductions.kept_dims_shape(np.shape(logits), axis))
    logp = _log_softmax_forward(logits, axis=axis)
    mass = np.sum(labels, axis=axis, keepdims=True)
    return (_e.d_raw(g, -logp), g * (mass * np.exp(logp) - labels))


softmax_cross_entropy_with_logits = defop(
    "softmax_cross_entropy_with_logits",
    _softmax_cross_entropy_forward,
    _softmax_cross_entropy_vjp,
    raw=_softmax_cross_entropy_raw,
    doc="-sum(labels * log_softmax(logits)) along axis: one loss per example",
    conventions={
        "labels": "need not sum to 1: d/dlogits = sum(labels) * softmax(logits) - "
        "labels, TensorFlow's softmax - labels when they do; d/dlabels = "
        "-log_softmax(logits)"
    },
)


def _sigmoid_cross_entropy_forward(labels: Array, logits: Array) -> Array:
    x, z = logits, labels
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


sigmoid_cross_entropy_with_logits = defop(
    "sigmoid_cross_entropy_with_logits",
    _sigmoid_cross_entropy_forward,
    lambda g, out, labels, logits: (
        _e.unbroadcast(_e.multiply_no_nan(-logits, g), labels),
        _e.unbroadcast(g * (_e.sigmoid(logits) - labels), logits),
    ),
    raw=lambda g, out, labels, logits: (
        _e.unbroadcast_raw(_e.d_raw(g, -logits), np.shape(labels)),
        _e.unbroadcast_raw(g * (_e._sigmoid_forward(logits) - labels), np.shape(logits)),
    ),
    doc="elementwise logistic loss: max(x, 0) - x * z + log(1 + exp(-|x|)), x logits, z labels",
)
