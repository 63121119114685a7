"""Forward mode (ForwardAccumulator) semantics, and its nesting with tapes either way."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tf
from engine import ForwardAccumulator, Tape, ops


def _loss(a: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    return ops.sum_(ops.square(ops.tanh(ops.sum_(a * w, axis=1))))


def test_jvp_of_a_composite() -> None:
    x = tf.constant([0.3, 0.7])
    v = tf.constant([1.0, 2.0])
    with ForwardAccumulator(x, v) as acc:
        y = ops.sin(x) * x
    xs = np.array([0.3, 0.7])
    np.testing.assert_allclose(acc.jvp(y).numpy(), (np.cos(xs) * xs + np.sin(xs)) * [1, 2])


def test_unconnected_jvp_is_none_or_zeros() -> None:
    x, other = tf.constant(1.0), tf.constant([1.0, 2.0])
    with ForwardAccumulator(x, tf.constant(1.0)) as acc:
        y = other * 2.0
    assert acc.jvp(y) is None
    assert acc.jvp(y, unconnected_gradients="zero").numpy().tolist() == [0.0, 0.0]


def test_tangent_shape_is_checked() -> None:
    with pytest.raises(tf.OpError) as e:
        ForwardAccumulator(tf.constant([1.0, 2.0]), tf.constant(1.0))
    assert e.value.code == "shape_mismatch"


def test_forward_over_reverse_hvp_equals_reverse_over_reverse() -> None:
    rng = np.random.default_rng(0)
    a = tf.constant(rng.normal(size=(5, 4)))
    w = tf.constant(rng.normal(size=4))
    v = tf.constant(rng.normal(size=4))
    with ForwardAccumulator(w, v) as acc:
        with Tape() as t:
            t.watch(w)
            loss = _loss(a, w)
        g = t.gradient(loss, w)
    hvp_fwd = acc.jvp(g).numpy()
    with Tape() as outer:
        outer.watch(w)
        with Tape() as inner:
            inner.watch(w)
            loss = _loss(a, w)
        gv = ops.sum_(inner.gradient(loss, w) * v)
    hvp_rev = outer.gradient(gv, w).numpy()
    np.testing.assert_allclose(hvp_fwd, hvp_rev, rtol=1e-10, atol=1e-12)


def test_reverse_over_forward() -> None:
    x = tf.constant(0.5)
    with Tape() as t:
        t.watch(x)
        with ForwardAccumulator(x, tf.constant(1.0)) as acc:
            y = x * x * x
        dy = acc.jvp(y)  # 3 x^2, recorded on t
    assert dy.numpy() == pytest.approx(0.75)
    assert t.gradient(dy, x).numpy() == pytest.approx(3.0)  # 6 x


def test_nested_accumulators_give_second_derivatives() -> None:
    x = tf.constant(0.4)
    with ForwardAccumulator(x, tf.constant(1.0)) as outer:
        with ForwardAccumulator(x, tf.constant(1.0)) as inner:
            y = ops.sin(x)
        dy = inner.jvp(y)
    assert dy.numpy() == pytest.approx(np.cos(0.4))
    assert outer.jvp(dy).numpy() == pytest.approx(-np.sin(0.4))
