"""API section 5: the branch that `where` did not take never brings NaN or Infinity into a
gradient (a zero cotangent contributes zero), at first and second order."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import engine as tf
from engine import Tensor

Fn = Callable[[Tensor], Tensor]


@pytest.fixture(autouse=True)
def _quiet_numpy() -> Iterator[None]:
    # The untaken branches divide by zero and overflow on purpose.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        yield


def grad(f: Fn, x: list[float]) -> np.ndarray:
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = f(xt)
    return np.asarray(tape.gradient(y, xt).value)


def second_grad(f: Fn, x: list[float]) -> np.ndarray:
    xt = tf.constant(x)
    with tf.GradientTape() as outer:
        outer.watch(xt)
        with tf.GradientTape() as inner:
            inner.watch(xt)
            y = f(xt)
        dy = inner.gradient(y, xt)
    return np.asarray(outer.gradient(dy, xt).value)


def assert_exact(got: np.ndarray, expected: list[float]) -> None:
    assert np.isfinite(got).all(), f"non-finite gradient {got}"
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0.0)


FIRST_ORDER: dict[str, tuple[Fn, list[float], list[float]]] = {
    "log": (lambda x: tf.where(x > 0, tf.log(x), 0.0), [0.0, 1.0], [0.0, 1.0]),
    "log of a negative": (lambda x: tf.where(x > 0, tf.log(x), 0.0), [-1.0, 2.0], [0.0, 0.5]),
    "log in the else branch": (lambda x: tf.where(x <= 0, 0.0, tf.log(x)), [0.0, 1.0], [0.0, 1.0]),
    "sqrt": (lambda x: tf.where(x > 0, tf.sqrt(x), 0.0), [0.0, 4.0], [0.0, 0.25]),
    "sqrt of a negative": (lambda x: tf.where(x > 0, tf.sqrt(x), 0.0), [-1.0, 4.0], [0.0, 0.25]),
    "reciprocal": (lambda x: tf.where(x != 0, tf.reciprocal(x), 0.0), [0.0, 2.0], [0.0, -0.25]),
    "1 / x": (lambda x: tf.where(x != 0, 1.0 / x, 0.0), [0.0, 2.0], [0.0, -0.25]),
    "x ** 0.5": (lambda x: tf.where(x > 0, x**0.5, 0.0), [0.0, 4.0], [0.0, 0.25]),
    "x ** -1": (lambda x: tf.where(x > 0, x**-1.0, 0.0), [0.0, 2.0], [0.0, -0.25]),
    "power(x, 0.5)": (lambda x: tf.where(x > 0, tf.power(x, 0.5), 0.0), [0.0, 4.0], [0.0, 0.25]),
    "exp overflow": (lambda x: tf.where(x < 100, tf.exp(x), 0.0), [1000.0, 1.0], [0.0, math.e]),
}


@pytest.mark.parametrize("name", list(FIRST_ORDER))
def test_untaken_branch_contributes_zero(name: str) -> None:
    f, x, expected = FIRST_ORDER[name]
    assert_exact(grad(f, x), expected)


def test_exp_overflow_alone() -> None:
    assert_exact(grad(lambda x: tf.where(x < 100, tf.exp(x), 0.0), [1000.0]), [0.0])


def test_divide_by_zero_in_the_untaken_branch() -> None:
    x, y = tf.constant([1.0, 3.0]), tf.constant([0.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch([x, y])
        z = tf.where(y != 0, x / y, 0.0)
    dx, dy = tape.gradient(z, [x, y])
    assert_exact(np.asarray(dx.value), [0.0, 0.5])
    assert_exact(np.asarray(dy.value), [0.0, -0.75])


SECOND_ORDER: dict[str, tuple[Fn, list[float], list[float]]] = {
    "log": (lambda x: tf.where(x > 0, tf.log(x), 0.0), [0.0, 1.0], [0.0, -1.0]),
    "log of a negative": (lambda x: tf.where(x > 0, tf.log(x), 0.0), [-1.0, 2.0], [0.0, -0.25]),
    # d2/dx2 sqrt(x) = -x ** -1.5 / 4, -1/32 at 4
    "sqrt": (lambda x: tf.where(x > 0, tf.sqrt(x), 0.0), [0.0, 4.0], [0.0, -0.03125]),
    "sqrt of a negative": (
        lambda x: tf.where(x > 0, tf.sqrt(x), 0.0),
        [-1.0, 4.0],
        [0.0, -0.03125],
    ),
    # d2/dx2 (1 / x) = 2 / x ** 3
    "reciprocal": (lambda x: tf.where(x != 0, tf.reciprocal(x), 0.0), [0.0, 2.0], [0.0, 0.25]),
    "exp overflow": (lambda x: tf.where(x < 100, tf.exp(x), 0.0), [1000.0, 1.0], [0.0, math.e]),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_untaken_branch_contributes_zero_at_second_order(name: str) -> None:
    f, x, expected = SECOND_ORDER[name]
    assert_exact(second_grad(f, x), expected)
