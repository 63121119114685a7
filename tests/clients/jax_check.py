"""tesseract-jax against a live gradtape server: `apply_tesseract` on the function `mix` under
jax.grad, jax.jvp, jax.jacrev and jax.jacfwd (and jax.jit), each compared with JAX itself
differentiating the same math (float64, 1e-10).

Run with a Python that has tesseract-jax (it needs 3.12): `python jax_check.py URL`, where URL is
the server's base URL. Prints one line per check and exits non-zero on the first mismatch.
tests/clients/test_tesseract_jax.py runs it.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
from tesseract_core import Tesseract
from tesseract_jax import apply_tesseract

jax.config.update("jax_enable_x64", True)

TOL = 1e-10
X = jnp.array([0.3, -1.2, 0.7])
W = jnp.array([[0.5, -0.25, 1.0], [-0.8, 0.4, 0.3]])
S = jnp.array(0.8)
CY = jnp.array([0.7, -1.3])
CZ = jnp.array([0.2, 0.5, -0.9])
TX = jnp.array([0.4, -0.6, 1.1])
TW = jnp.array([[0.3, -0.2, 0.9], [0.5, -1.4, 0.25]])
TS = jnp.array(-0.35)


def reference(x, w, s=1.5):
    """mix.json in JAX: y = s tanh(w @ x), z = sin(x) sum(x * x)."""
    return {"y": s * jnp.tanh(w @ x), "z": jnp.sin(x) * jnp.sum(x * x)}


def check(what: str, got, expected) -> None:
    got_leaves, expected_leaves = jax.tree.leaves(got), jax.tree.leaves(expected)
    assert len(got_leaves) == len(expected_leaves), (what, got, expected)
    worst = 0.0
    for g, e in zip(got_leaves, expected_leaves, strict=True):
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape and g.dtype == np.float64, (what, g.shape, e.shape, g.dtype)
        worst = max(worst, float(np.max(np.abs(g - e), initial=0.0)))
    assert worst <= TOL, f"{what}: off by {worst:.3g}"
    print(f"ok {what} (max abs error {worst:.2g})")


def main(url: str) -> None:
    mix = Tesseract.from_url(f"{url}/tesseract/mix")

    def served(x, w):
        return apply_tesseract(mix, {"x": x, "w": w})

    def served_s(x, w, s):
        return apply_tesseract(mix, {"x": x, "w": w, "s": s})

    def loss(f):
        return lambda *args: jnp.sum(CY * f(*args)["y"]) + jnp.sum(CZ * f(*args)["z"])

    check("apply", served(X, W), reference(X, W))
    check("apply with s", served_s(X, W, S), reference(X, W, S))
    args = (0, 1)
    check("jax.grad", jax.grad(loss(served), args)(X, W), jax.grad(loss(reference), args)(X, W))
    args3 = (0, 1, 2)
    check(
        "jax.grad with s",
        jax.grad(loss(served_s), args3)(X, W, S),
        jax.grad(loss(reference), args3)(X, W, S),
    )
    check(
        "jax.jvp",
        jax.jvp(served, (X, W), (TX, TW)),
        jax.jvp(reference, (X, W), (TX, TW)),
    )
    check(
        "jax.jvp with s",
        jax.jvp(served_s, (X, W, S), (TX, TW, TS)),
        jax.jvp(reference, (X, W, S), (TX, TW, TS)),
    )
    check("jax.jacrev", jax.jacrev(served, args)(X, W), jax.jacrev(reference, args)(X, W))
    check("jax.jacfwd", jax.jacfwd(served, args)(X, W), jax.jacfwd(reference, args)(X, W))
    check(
        "jax.jit of jax.grad",
        jax.jit(jax.grad(loss(served), args))(X, W),
        jax.grad(loss(reference), args)(X, W),
    )
    check(
        "jax.jacrev of y by x alone",
        jax.jacrev(lambda x: served(x, W)["y"])(X),
        jax.jacrev(lambda x: reference(x, W)["y"])(X),
    )


if __name__ == "__main__":
    main(sys.argv[1])
