"""Convolution and pooling beyond the op table's rows: grouped and 1-D forms checked to second
order, and the forwards against a direct sum over every output position."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import OPS, Tensor
from engine.gradcheck import check_grads

GRADIENTS: list[tuple[str, list[tuple[int, ...]], dict[str, Any]]] = [
    ("conv", [(2, 4, 5, 6), (4, 2, 3, 2)], {"groups": 2}),
    ("conv", [(2, 4, 5, 6), (6, 2, 3, 2)], {"groups": 2, "strides": (2, 1), "pads": (1, 0, 1, 1)}),
    ("conv", [(2, 4, 5, 6), (4, 1, 2, 2)], {"groups": 4, "dilations": (2, 2)}),
    ("conv", [(2, 3, 7), (4, 3, 3)], {"strides": (2,), "pads": (1, 2), "dilations": (2,)}),
    ("conv_transpose", [(2, 4, 5), (4, 3, 3)], {"strides": (2,), "pads": (1, 0)}),
    (
        "conv_transpose",
        [(2, 4, 5), (4, 1, 2)],
        {"groups": 4, "output_padding": (1,), "strides": (3,)},
    ),
    ("max_pool", [(2, 3, 9)], {"kernel_shape": (3,), "strides": (2,), "pads": (1, 1)}),
    ("avg_pool", [(2, 3, 9)], {"kernel_shape": (3,), "strides": (2,), "pads": (1, 1)}),
]


@pytest.mark.parametrize(("name", "shapes", "attrs"), GRADIENTS)
def test_grouped_and_1d_forms_match_central_differences(
    name: str, shapes: list[tuple[int, ...]], attrs: dict[str, Any]
) -> None:
    rng = np.random.default_rng(5)
    xs = [rng.permutation(np.prod(s)).reshape(s) * 0.05 - 1.0 for s in shapes]  # no max ties
    check_grads(lambda *t: OPS[name](*t, **attrs), xs, order=2, rng=rng)


def _direct_conv(x: np.ndarray, w: np.ndarray, s: int, p: int, d: int, groups: int) -> np.ndarray:
    """ONNX Conv in 2-D, one output element at a time (square strides, pads, dilations)."""
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    n, m, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    cg, mg = w.shape[1], m // groups
    oh = (xp.shape[2] - (kh - 1) * d - 1) // s + 1
    ow = (xp.shape[3] - (kw - 1) * d - 1) // s + 1
    out = np.zeros((n, m, oh, ow))
    for b, o, i, j in np.ndindex(n, m, oh, ow):
        c0 = (o // mg) * cg
        patch = xp[b, c0 : c0 + cg, i * s : i * s + (kh - 1) * d + 1 : d]
        out[b, o, i, j] = np.sum(patch[:, :, j * s : j * s + (kw - 1) * d + 1 : d] * w[o])
    return out


@pytest.mark.parametrize(("s", "p", "d", "groups"), [(1, 0, 1, 1), (2, 1, 1, 2), (1, 2, 2, 2)])
def test_conv_and_its_transpose_against_a_direct_sum(s: int, p: int, d: int, groups: int) -> None:
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 4 // groups, 3, 2))
    attrs = {"strides": (s, s), "pads": (p, p, p, p), "dilations": (d, d), "groups": groups}
    y = OPS["conv"](Tensor(x), Tensor(w), **attrs).value
    np.testing.assert_allclose(y, _direct_conv(x, w, s, p, d, groups), rtol=1e-12, atol=1e-12)
    # conv_transpose is conv's adjoint in x: <conv(x, w), g> = <x, conv_transpose(g, w)>
    g = rng.standard_normal(y.shape)
    residue = tuple((n + 2 * p - (k - 1) * d - 1) % s for n, k in zip((7, 6), (3, 2), strict=True))
    back = OPS["conv_transpose"](Tensor(g), Tensor(w), **attrs, output_padding=residue).value
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, back), rtol=1e-12)


def test_max_pool_ignores_pads_and_avg_pool_counts_them_only_when_asked() -> None:
    x = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # all negative: a zero pad would win a max
    attrs = {"kernel_shape": (2, 2), "pads": (1, 1, 0, 0)}
    np.testing.assert_array_equal(
        OPS["max_pool"](Tensor(x), **attrs).value[0, 0], [[-1, -1, -2], [-1, -1, -2], [-4, -4, -5]]
    )
    mean = OPS["avg_pool"](Tensor(x), **attrs).value[0, 0, 0, 0]
    padded = OPS["avg_pool"](Tensor(x), **attrs, count_include_pad=True).value[0, 0, 0, 0]
    assert (mean, padded) == (-1.0, -0.25)
