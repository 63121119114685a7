"""Closed forms of the test function `mix` (mix.json), written by hand in NumPy, float64:

    y = s * tanh(W x)            (2,)    x: (3,), W: (2, 3), s: () defaulted to 1.5
    z = sin(x) * sum(x * x)      (3,)

The derivatives below are derived on paper, independently of the service, and are what the
protocol tests compare the service's answers with. Variables of the Hessian are u = [x, vec(W)]
(C order), 9 of them.
"""

from __future__ import annotations

import numpy as np

S_DEFAULT = 1.5
X = np.array([0.3, -1.2, 0.7])
W = np.array([[0.5, -0.25, 1.0], [-0.8, 0.4, 0.3]])


def evaluate(x: np.ndarray, w: np.ndarray, s: float = S_DEFAULT) -> dict[str, np.ndarray]:
    return {"y": s * np.tanh(w @ x), "z": np.sin(x) * np.sum(x * x)}


def jacobians(
    x: np.ndarray, w: np.ndarray, s: float = S_DEFAULT
) -> dict[str, dict[str, np.ndarray]]:
    """jac[output][input], of shape output.shape + input.shape."""
    t = np.tanh(w @ x)
    q = np.sum(x * x)
    sech2 = 1.0 - t * t
    dy_dx = s * sech2[:, None] * w
    dy_dw = np.zeros((2, 2, 3))
    for i in range(2):
        dy_dw[i, i, :] = s * sech2[i] * x
    dz_dx = np.diag(np.cos(x) * q) + np.outer(np.sin(x), 2.0 * x)
    return {
        "y": {"x": dy_dx, "w": dy_dw, "s": t},
        "z": {"x": dz_dx, "w": np.zeros((3, 2, 3)), "s": np.zeros(3)},
    }


def hessian(output: str, sens: np.ndarray, x: np.ndarray, w: np.ndarray, s: float = S_DEFAULT):
    """The Hessian of sens . output over u = [x, vec(W)]: a (9, 9) array."""
    h = np.zeros((9, 9))
    if output == "y":
        t = np.tanh(w @ x)
        g = s * sens * (1.0 - t * t)  # dL/dh_i
        c = s * sens * (-2.0 * t * (1.0 - t * t))  # d2L/dh_i2
        for i in range(2):
            grad_h = np.concatenate([w[i], (np.eye(2)[i][:, None] * x[None, :]).ravel()])
            h += c[i] * np.outer(grad_h, grad_h)
            for j in range(3):  # d2 h_i / dx_j dW_ij = 1
                h[j, 3 + 3 * i + j] += g[i]
                h[3 + 3 * i + j, j] += g[i]
    else:
        q = np.sum(x * x)
        total = np.sum(sens * np.sin(x))
        b = sens * np.cos(x)
        hxx = np.diag(-sens * np.sin(x) * q + 2.0 * total)
        hxx += 2.0 * (np.outer(b, x) + np.outer(x, b))
        h[:3, :3] = hxx
    return h


BLOCKS = {"x": slice(0, 3), "w": slice(3, 9)}


def apply_hessian(output: str, first: str, second: str, sens, vec, x, w, s=S_DEFAULT):
    """(d2 (sens . output) / d first d second) . vec, flat, sized like `first`."""
    h = hessian(output, np.asarray(sens, float), x, w, s)
    return h[BLOCKS[first], BLOCKS[second]] @ np.asarray(vec, float).ravel()
