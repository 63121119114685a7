"""Regenerate the exported-model fixtures: three small PyTorch models exported to ONNX (opset 18,
float64, fixed shapes, the TorchScript exporter), each with an .npz of PyTorch's reference values.

Run with a Python that has torch and onnx (not a dependency of the project):

    python tests/onnx/make_fixtures.py

Each NAME.npz holds `input:<name>`, `cotangent:<name>`, `output:<name>` and `grad:<name>` for the
graph input and for every float initializer of the exported graph that maps to a PyTorch
parameter or buffer: by name, or by value (a Linear on a 3-D input is exported as MatMul with the
transposed weight as a new initializer, whose gradient is the transposed one). Gradients by the
BatchNorm running statistics come from the same PyTorch forward with the buffers as leaves.
"""

from __future__ import annotations

import io
import math
import types
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

HERE = Path(__file__).parent / "fixtures"
OPSET = 18


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x)))


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(h, 1))


class Block(nn.Module):
    """A pre-norm transformer encoder block: single-head attention by matmul and softmax."""

    def __init__(self, d: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.up = nn.Linear(d, hidden)
        self.down = nn.Linear(hidden, d)
        self.scale = 1.0 / math.sqrt(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        scores = torch.matmul(self.q(h), self.k(h).transpose(-2, -1)) * self.scale
        x = x + self.o(torch.matmul(torch.softmax(scores, dim=-1), self.v(h)))
        return x + self.down(nn.functional.gelu(self.up(self.ln2(x))))


def _randomize(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics and LayerNorm affines (their defaults are 0/1)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0.0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0.0, 0.5)
        if isinstance(m, nn.LayerNorm):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0.0, 0.5)


def _export(model: nn.Module, x: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (x,),
        buf,
        dynamo=False,
        opset_version=OPSET,
        input_names=["x"],
        output_names=["y"],
        # PRESERVE keeps BatchNormalization as its own node (EVAL would fold it into the Conv)
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=True,
    )
    return buf.getvalue()


def make(name: str, build: type[nn.Module], shape: tuple[int, ...]) -> list[str]:
    torch.manual_seed(len(name))  # before the model is built: its weights are drawn there
    model = build().double().eval()
    _randomize(model)
    gen = torch.Generator().manual_seed(1234 + len(name))
    x = torch.randn(*shape, dtype=torch.float64, generator=gen)
    data = _export(model, x)
    assert len(data) < 1_000_000, f"{name}.onnx is {len(data)} bytes"
    onnx.checker.check_model(onnx.load_model_from_string(data))
    graph = onnx.load_model_from_string(data).graph

    # PyTorch's values and gradients: parameters and buffers as leaves of one functional call;
    # BatchNorm takes no gradient by its running statistics, so it runs as its eval formula
    with torch.no_grad():
        y_module = model(x)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.forward = types.MethodType(_batch_norm_eval, m)
    leaves = {
        k: v.detach().clone().requires_grad_(v.is_floating_point())
        for k, v in [*model.named_parameters(), *model.named_buffers()]
    }
    xl = x.clone().requires_grad_(True)
    y = torch.func.functional_call(model, leaves, (xl,))
    assert torch.allclose(y, y_module, rtol=1e-13, atol=1e-13)
    u = torch.randn(y.shape, dtype=torch.float64, generator=gen)
    floats = {k: v for k, v in leaves.items() if v.requires_grad}
    grads = torch.autograd.grad(y, [xl, *floats.values()], u, allow_unused=True)
    gx, gp = grads[0], dict(zip(floats, grads[1:], strict=True))

    out: dict[str, np.ndarray] = {
        "input:x": x.numpy(),
        "cotangent:y": u.numpy(),
        "output:y": y.detach().numpy(),
        "grad:x": gx.numpy(),
    }
    skipped = []
    for init in graph.initializer:
        value = numpy_helper.to_array(init)
        if value.dtype.kind != "f":
            continue
        ref = _match(init.name, value, floats, gp)
        if ref is None:
            skipped.append(init.name)
        else:
            out[f"grad:{init.name}"] = ref
    (HERE / f"{name}.onnx").write_bytes(data)
    np.savez(HERE / f"{name}.npz", **out)
    ops = sorted({n.op_type for n in graph.node})
    print(
        f"{name}: {len(data)} bytes, ops {ops}, {len(out) - 4} weight gradients, skipped {skipped}"
    )
    return skipped


def _batch_norm_eval(m: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    scale = m.weight / torch.sqrt(m.running_var + m.eps)
    return (x - m.running_mean.view(shape)) * scale.view(shape) + m.bias.view(shape)


def _match(onnx_name, value, floats, grads):
    """The PyTorch gradient of the parameter this initializer is: by name, else by value (or
    transposed value); None if it is none of them (or PyTorch gives it no gradient)."""
    if onnx_name in floats:
        g = grads[onnx_name]
        return None if g is None else g.numpy()
    for k, p in floats.items():
        arr = p.detach().numpy()
        g = grads[k]
        if g is None:
            continue
        if arr.shape == value.shape and np.array_equal(arr, value):
            return g.numpy()
        if arr.ndim == 2 and arr.T.shape == value.shape and np.array_equal(arr.T, value):
            return np.ascontiguousarray(g.numpy().T)
    return None


def main() -> None:
    HERE.mkdir(exist_ok=True)
    make("mlp", MLP, (4, 6))
    make("cnn", CNN, (2, 2, 8, 8))
    make("transformer_block", Block, (2, 5, 8))


if __name__ == "__main__":
    main()
