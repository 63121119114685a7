"""Models exported from PyTorch (tests/onnx/make_fixtures.py: an MLP, a CNN with BatchNorm and
MaxPool, a transformer encoder block; float64, opset 18) as functions: their values and their
gradients by the input and by every weight against PyTorch's own, read from the committed
fixtures (torch is not needed here), and their Hessian-vector products against central
differences of the gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

from engine import Limits
from engine.onnx_import import load_onnx

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = ["mlp", "cnn", "transformer_block"]
LIMITS = Limits()
RTOL = 1e-8  # float64 end to end; PyTorch and NumPy differ only in summation order


def _load(name: str):
    f = load_onnx(name, (FIXTURES / f"{name}.onnx").read_bytes(), source="api", limits=LIMITS)
    with np.load(FIXTURES / f"{name}.npz") as z:
        ref = {k: z[k] for k in z.files}

    def part(kind: str) -> dict[str, np.ndarray]:
        return {k.split(":", 1)[1]: v for k, v in ref.items() if k.startswith(kind + ":")}

    return f, part("input"), part("cotangent"), part("output"), part("grad")


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    """Worst entry's error relative to the array's largest magnitude, or absolute for an array
    that is zero up to rounding (attention's key bias: softmax ignores a constant per row)."""
    scale = float(np.max(np.abs(want)))
    return float(np.max(np.abs(got - want))) / (scale if scale > 1e-12 else 1.0)


@pytest.mark.parametrize("name", MODELS)
def test_values_and_gradients_match_pytorch(name: str) -> None:
    f, inputs, cot, outputs, grads = _load(name)
    weights = {p.name for p in f.inputs if p.default is not None}
    assert set(grads) == weights | set(inputs)  # every weight of the graph has a reference
    answer = f.vjp(inputs, cot, limits=LIMITS)
    assert set(answer.outputs) == set(outputs)
    for k, want in outputs.items():
        assert answer.outputs[k].shape == want.shape
        assert _rel(answer.outputs[k], want) < RTOL, k
    for k, want in grads.items():
        got = answer.gradients[k]
        assert got.shape == want.shape, k
        assert _rel(got, want) < RTOL, (k, _rel(got, want))


@pytest.mark.parametrize("name", MODELS)
def test_hvp_along_the_input_matches_central_differences_of_the_gradients(name: str) -> None:
    """The derivative along a random input direction of the gradients by the input and by every
    weight (the CNN is piecewise linear in its input: its part by the input is zero)."""
    f, inputs, cot, _, _ = _load(name)
    rng = np.random.default_rng(7)
    x = inputs["x"]
    t = rng.standard_normal(x.shape)
    hvp = f.hvp(inputs, cot, {"x": t}, limits=LIMITS).hvp
    h = 1e-5

    def grads(at: np.ndarray) -> dict[str, np.ndarray]:
        return f.vjp({"x": at}, cot, limits=LIMITS).gradients

    plus, minus = grads(x + h * t), grads(x - h * t)
    assert set(hvp) == set(plus)
    scale = max(float(np.max(np.abs(v))) for v in hvp.values())
    assert scale > 0
    for k, v in hvp.items():
        fd = (plus[k] - minus[k]) / (2 * h)
        np.testing.assert_allclose(v, fd, rtol=1e-5, atol=1e-7 * scale, err_msg=k)
