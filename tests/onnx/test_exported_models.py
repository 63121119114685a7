"""Models exported by PyTorch (tests/onnx/make_fixtures.py; the fixtures are committed, so no
PyTorch here): the service's outputs and vjp match PyTorch's own, float64, to 1e-8 relative; its
hvp matches central differences of its vjp. Weights the exporter renamed or folded (batch norm
into the convolution, Linear weights stored transposed) are compared where the names agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
from engine import Limits
from engine.onnx_import import load_onnx

FIXTURES = Path(__file__).parent / "fixtures"
LIMITS = Limits()
# name -> the weights whose ONNX names are PyTorch's (checked to be compared, not skipped)
MODELS = {
    "mlp": {"0.weight", "0.bias", "2.weight", "2.bias"},
    "cnn": {"4.weight", "4.bias", "7.weight", "7.bias"},
    "encoder": {
        "ln1.weight",
        "ln1.bias",
        "ln2.weight",
        "ln2.bias",
        "q.bias",
        "k.bias",
        "v.bias",
        "ff1.bias",
        "ff2.bias",
    },
}


def _load(name: str):  # type: ignore[no-untyped-def]
    f = load_onnx(name, (FIXTURES / f"{name}.onnx").read_bytes(), source="api", limits=LIMITS)
    return f, dict(np.load(FIXTURES / f"{name}.npz"))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_vjp_matches_pytorch(name: str) -> None:
    f, ref = _load(name)
    answer = f.vjp({"x": ref["x"]}, {"y": ref["u"]}, limits=LIMITS)
    np.testing.assert_allclose(answer.outputs["y"], ref["y"], rtol=1e-8, atol=1e-12)
    assert answer.gradients is not None
    compared = {k for k in answer.gradients if f"grad:{k}" in ref}
    assert compared == {"x"} | MODELS[name]
    for k in compared:
        np.testing.assert_allclose(
            answer.gradients[k], ref[f"grad:{k}"], rtol=1e-8, atol=1e-12, err_msg=k
        )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_hvp_matches_differences_of_the_vjp(name: str) -> None:
    f, ref = _load(name)
    x, u = ref["x"], ref["u"]
    t = np.random.default_rng(0).standard_normal(x.shape)
    hvp = f.hvp({"x": x}, {"y": u}, {"x": t}, ["x"], limits=LIMITS).hvp
    assert hvp is not None
    eps = 1e-5
    g = [
        f.vjp({"x": x + s * eps * t}, {"y": u}, ["x"], limits=LIMITS).gradients["x"]  # type: ignore[index]
        for s in (1, -1)
    ]
    np.testing.assert_allclose(hvp["x"], (g[0] - g[1]) / (2 * eps), rtol=1e-5, atol=1e-7)
