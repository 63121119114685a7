"""Export small PyTorch models to ONNX with PyTorch's own gradients beside them (float64).

Run with a Python that has torch (never a test dependency):
    /work/venv-torch/bin/python tests/onnx/make_fixtures.py
Writes tests/onnx/fixtures/NAME.onnx and NAME.npz (x, the cotangent u, the output y, and the
gradient of sum(u * y) by x and by every weight, keyed "grad:NAME")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).parent / "fixtures"


class Encoder(nn.Module):
    def __init__(self, d: int = 8, h: int = 16) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v = (nn.Linear(d, d) for _ in range(3))
        self.ff1, self.ff2 = nn.Linear(d, h), nn.Linear(h, d)
        self.scale = 1.0 / d**0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.ln1(x)
        s = self.q(n) @ self.k(n).transpose(-2, -1) * self.scale
        x = x + torch.softmax(s, dim=-1) @ self.v(n)
        return x + self.ff2(nn.functional.gelu(self.ff1(self.ln2(x))))


def models() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    mlp = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3), nn.Softmax(-1))
    cnn = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 10),
    )
    return {"mlp": (mlp, (5, 6)), "cnn": (cnn, (4, 3, 16, 16)), "encoder": (Encoder(), (2, 5, 8))}


def main() -> None:
    HERE.mkdir(exist_ok=True)
    torch.manual_seed(0)
    for name, (model, shape) in models().items():
        model = model.double()
        for m in model.modules():  # batch norm statistics that are not the identity
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
            if isinstance(m, nn.LayerNorm):  # distinct values: the exporter merges equal weights
                with torch.no_grad():
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
        model.eval()
        x = torch.randn(*shape, dtype=torch.float64)
        path = HERE / f"{name}.onnx"
        torch.onnx.export(
            model,
            (x,),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamo=False,
            opset_version=18,
        )
        xr = x.clone().requires_grad_(True)
        y = model(xr)
        u = torch.randn_like(y)
        params = dict(model.named_parameters())
        grads = torch.autograd.grad((u * y).sum(), [xr, *params.values()])
        arrays = {
            "x": x.numpy(),
            "u": u.numpy(),
            "y": y.detach().numpy(),
            "grad:x": grads[0].numpy(),
        }
        arrays.update({f"grad:{k}": g.numpy() for k, g in zip(params, grads[1:], strict=True)})
        np.savez(HERE / f"{name}.npz", **arrays)
        print(name, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
