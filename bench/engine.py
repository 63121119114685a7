"""Engine benchmark: ratios against floors measured in the same process.

(a) a 200-op chain of scalar elementwise ops, value and gradient, in µs per op, against the same
    chain in plain NumPy (forward and hand-written backward) and the peers that are installed
    (HIPS autograd, PyTorch CPU; a peer that is not installed is skipped);
(b) the gradient of a 784-1024-1024-10 tanh MLP with softmax cross-entropy, batch 256, float32,
    against a hand-written NumPy forward and backward;
(c) a Hessian-vector product of sum(tanh(A @ w)**2), A 512x512, reverse-over-reverse, against
    hand-written NumPy;
(d) the MLP's gradient by its last layer only, every weight watched, against NumPy computing
    the forward and that layer's gradient (the pass must leave the other layers out);
(e) the gradient of a small CNN (Conv 3x3 16 filters, BatchNormalization in inference form,
    Relu, MaxPool 2x2, Flatten, a dense layer; softmax cross-entropy), batch 32 of 3x32x32,
    float32, against PyTorch eager on CPU when torch is installed (it is not a dependency).

Run: python bench/engine.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# This file's own name would shadow the package when run as a script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import engine as gt  # noqa: E402
from engine import ops  # noqa: E402

N_CHAIN = 200  # ops in the chain: 50 rounds of sin, *1.01, tanh, +0.5


def timed(fn: Callable[[], object], repeat: int, number: int) -> tuple[float, float, float]:
    """min, median, max seconds per call over `repeat` rounds of `number` calls."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return min(samples), statistics.median(samples), max(samples)


# ----- (a) scalar chain -----
def chain_engine() -> float:
    x = gt.constant(0.3)
    with gt.GradientTape() as t:
        t.watch(x)
        y = x
        for _ in range(N_CHAIN // 4):
            y = ops.add(ops.tanh(ops.multiply(ops.sin(y), 1.01)), 0.5)
    return float(t.gradient(y, x).numpy())


def chain_numpy() -> float:
    y = np.float64(0.3)
    stack = []
    for _ in range(N_CHAIN // 4):
        s = np.sin(y)
        m = s * 1.01
        th = np.tanh(m)
        stack.append((y, th))
        y = th + 0.5
    g = np.float64(1.0)
    for yin, th in reversed(stack):
        g = g * (1.0 - th * th) * 1.01 * np.cos(yin)
    return float(g)


def chain_autograd() -> Callable[[], float] | None:
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None

    def f(x: float) -> float:
        y = x
        for _ in range(N_CHAIN // 4):
            y = anp.tanh(anp.sin(y) * 1.01) + 0.5
        return y

    df = autograd.grad(f)
    return lambda: float(df(0.3))


def chain_torch() -> Callable[[], float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)

    def run() -> float:
        x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
        y = x
        for _ in range(N_CHAIN // 4):
            y = torch.tanh(torch.sin(y) * 1.01) + 0.5
        y.backward()
        return float(x.grad)

    return run


# ----- (b) MLP gradient -----
def mlp_data(rng: np.random.Generator) -> dict[str, np.ndarray]:
    f32 = np.float32
    return {
        "x": rng.standard_normal((256, 784)).astype(f32),
        "labels": np.eye(10, dtype=f32)[rng.integers(0, 10, 256)],
        "w1": (rng.standard_normal((784, 1024)) / 28).astype(f32),
        "b1": np.zeros(1024, f32),
        "w2": (rng.standard_normal((1024, 1024)) / 32).astype(f32),
        "b2": np.zeros(1024, f32),
        "w3": (rng.standard_normal((1024, 10)) / 32).astype(f32),
        "b3": np.zeros(10, f32),
    }


def mlp_engine(d: dict[str, np.ndarray], last_only: bool = False) -> Callable[[], list[np.ndarray]]:
    """The MLP's gradient by every parameter, or by the last layer's only (every parameter is
    a variable read under the tape, so all of them are watched either way)."""
    params = [gt.Variable(d[k]) for k in ("w1", "b1", "w2", "b2", "w3", "b3")]
    x, labels = gt.constant(d["x"]), gt.constant(d["labels"])

    def run() -> list[np.ndarray]:
        w1, b1, w2, b2, w3, b3 = params
        with gt.GradientTape() as t:
            h1 = ops.tanh(ops.matmul(x, w1) + b1)
            h2 = ops.tanh(ops.matmul(h1, w2) + b2)
            logits = ops.matmul(h2, w3) + b3
            loss = ops.mean(ops.softmax_cross_entropy_with_logits(labels, logits))
        return [g.numpy() for g in t.gradient(loss, params[4:] if last_only else params)]

    return run


def mlp_numpy(d: dict[str, np.ndarray], last_only: bool = False) -> Callable[[], list[np.ndarray]]:
    def run() -> list[np.ndarray]:
        x, labels = d["x"], d["labels"]
        h1 = np.tanh(x @ d["w1"] + d["b1"])
        h2 = np.tanh(h1 @ d["w2"] + d["b2"])
        logits = h2 @ d["w3"] + d["b3"]
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        n = np.float32(x.shape[0])
        dlogits = (p - labels) / n
        dw3, db3 = h2.T @ dlogits, dlogits.sum(0)
        if last_only:
            return [dw3, db3]
        dh2 = (dlogits @ d["w3"].T) * (1 - h2 * h2)
        dw2, db2 = h1.T @ dh2, dh2.sum(0)
        dh1 = (dh2 @ d["w2"].T) * (1 - h1 * h1)
        dw1, db1 = x.T @ dh1, dh1.sum(0)
        return [dw1, db1, dw2, db2, dw3, db3]

    return run


# ----- (c) Hessian-vector product -----
def hvp_engine(a: np.ndarray, w0: np.ndarray, v0: np.ndarray) -> Callable[[], np.ndarray]:
    A, v = gt.constant(a), gt.constant(v0)

    def run() -> np.ndarray:
        w = gt.constant(w0)
        with gt.GradientTape() as outer:
            outer.watch(w)
            with gt.GradientTape() as inner:
                inner.watch(w)
                loss = ops.sum_(ops.square(ops.tanh(ops.matmul(A, w))))
            g = inner.gradient(loss, w)
            gv = ops.sum_(g * v)
        return outer.gradient(gv, w).numpy()

    return run


def hvp_numpy(a: np.ndarray, w: np.ndarray, v: np.ndarray) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        # f = sum(tanh(Aw)^2); grad = A^T (2 t (1 - t^2));
        # H v = A^T diag(2 (1 - t^2)(1 - 3 t^2)) A v
        t = np.tanh(a @ w)
        s = 2 * (1 - t * t) * (1 - 3 * t * t)
        return a.T @ (s * (a @ v))

    return run


# ----- (e) CNN gradient -----
CNN_PARAMS = ("conv_w", "conv_b", "bn_scale", "bn_bias", "fc_w", "fc_b")


def cnn_data(rng: np.random.Generator) -> dict[str, np.ndarray]:
    f32 = np.float32
    return {
        "x": rng.standard_normal((32, 3, 32, 32)).astype(f32),
        "labels": np.eye(10, dtype=f32)[rng.integers(0, 10, 32)],
        "conv_w": (rng.standard_normal((16, 3, 3, 3)) / 5).astype(f32),
        "conv_b": (rng.standard_normal(16) / 10).astype(f32),
        "bn_scale": rng.uniform(0.5, 1.5, 16).astype(f32),
        "bn_bias": (rng.standard_normal(16) / 10).astype(f32),
        "bn_mean": (rng.standard_normal(16) / 10).astype(f32),
        "bn_var": rng.uniform(0.5, 2.0, 16).astype(f32),
        "fc_w": (rng.standard_normal((16 * 16 * 16, 10)) / 64).astype(f32),
        "fc_b": np.zeros(10, f32),
    }


def cnn_engine(d: dict[str, np.ndarray]) -> Callable[[], list[np.ndarray]]:
    params = [gt.Variable(d[k]) for k in CNN_PARAMS]
    x, labels = gt.constant(d["x"]), gt.constant(d["labels"])
    mean = gt.constant(d["bn_mean"].reshape(-1, 1, 1))
    std = gt.constant(np.sqrt(d["bn_var"] + np.float32(1e-5)).reshape(-1, 1, 1))

    def run() -> list[np.ndarray]:
        conv_w, conv_b, scale, bias, fc_w, fc_b = params
        with gt.GradientTape() as t:
            c = ops.conv(x, conv_w, pads=(1, 1, 1, 1)) + ops.reshape(conv_b, shape=(-1, 1, 1))
            scaled = (c - mean) / std * ops.reshape(scale, shape=(-1, 1, 1))
            r = ops.relu(scaled + ops.reshape(bias, shape=(-1, 1, 1)))
            p = ops.max_pool(r, kernel_shape=(2, 2), strides=(2, 2))
            logits = ops.matmul(ops.reshape(p, shape=(32, -1)), fc_w) + fc_b
            loss = ops.mean(ops.softmax_cross_entropy_with_logits(labels, logits))
        return [g.numpy() for g in t.gradient(loss, params)]

    return run


def cnn_torch(d: dict[str, np.ndarray]) -> Callable[[], list[np.ndarray]] | None:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    params = [torch.tensor(d[k], requires_grad=True) for k in CNN_PARAMS]
    x, labels = torch.tensor(d["x"]), torch.tensor(d["labels"])
    mean, var = torch.tensor(d["bn_mean"]), torch.tensor(d["bn_var"])

    def run() -> list[np.ndarray]:
        conv_w, conv_b, scale, bias, fc_w, fc_b = params
        c = F.conv2d(x, conv_w, conv_b, padding=1)
        b = F.batch_norm(c, mean, var, scale, bias, training=False, eps=1e-5)
        p = F.max_pool2d(F.relu(b), 2, 2)
        logits = p.reshape(32, -1) @ fc_w + fc_b
        loss = F.cross_entropy(logits, labels)
        return [g.numpy() for g in torch.autograd.grad(loss, params)]

    return run


def against_numpy(e: tuple[float, float, float], n: tuple[float, float, float], digits: int) -> str:
    """One line: gradtape's and NumPy's median (min, max) in ms, and their ratios."""

    def ms(t: tuple[float, float, float]) -> str:
        return f"{t[1] * 1e3:.{digits}f} (min {t[0] * 1e3:.{digits}f}, max {t[2] * 1e3:.{digits}f})"

    return (
        f"  gradtape {ms(e)}   numpy {ms(n)}   ratio {e[1] / n[1]:.2f}x "
        f"(min-to-min {e[0] / n[0]:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    r = args.repeat
    rng = np.random.default_rng(0)

    print("(a) 200-op scalar chain, value and gradient (us per op; min / median / max)")
    assert abs(chain_engine() - chain_numpy()) < 1e-12
    rows = [("gradtape", chain_engine), ("numpy (hand-written)", chain_numpy)]
    for name, make in (("autograd", chain_autograd), ("pytorch", chain_torch)):
        fn = make()
        if fn is None:
            print(f"  {name:22s} not installed: skipped")
        else:
            rows.append((name, fn))
    results = {}
    for name, fn in rows:
        lo, med, hi = timed(fn, r, 20)
        results[name] = med
        print(
            f"  {name:22s} {lo / N_CHAIN * 1e6:7.2f} {med / N_CHAIN * 1e6:7.2f} "
            f"{hi / N_CHAIN * 1e6:7.2f}"
        )
    base = results["gradtape"]
    for name, med in results.items():
        if name != "gradtape":
            print(f"  gradtape / {name}: {base / med:.2f}x")

    print("(b) MLP 784-1024-1024-10 tanh, softmax cross-entropy, batch 256, float32 (ms)")
    d = mlp_data(rng)
    eng, ref = mlp_engine(d), mlp_numpy(d)
    for g1, g2 in zip(eng(), ref(), strict=True):
        np.testing.assert_allclose(g1, g2, rtol=2e-3, atol=1e-5)
    e = timed(eng, r, 3)
    n = timed(ref, r, 3)
    print(against_numpy(e, n, 1))

    print("(c) Hessian-vector product of sum(tanh(A @ w)**2), A 512x512 (ms)")
    a = rng.standard_normal((512, 512)) / 16
    w, v = rng.standard_normal(512), rng.standard_normal(512)
    eng, ref = hvp_engine(a, w, v), hvp_numpy(a, w, v)
    np.testing.assert_allclose(eng(), ref(), rtol=1e-9, atol=1e-9)
    e = timed(eng, r, 20)
    n = timed(ref, r, 20)
    print(against_numpy(e, n, 3))

    print("(d) the same MLP, gradient by the last layer only (every weight watched) (ms)")
    eng, ref = mlp_engine(d, last_only=True), mlp_numpy(d, last_only=True)
    for g1, g2 in zip(eng(), ref(), strict=True):
        np.testing.assert_allclose(g1, g2, rtol=2e-3, atol=1e-5)
    e = timed(eng, r, 3)
    n = timed(ref, r, 3)
    print(against_numpy(e, n, 1))

    print("(e) CNN conv3x3(16)-batchnorm-relu-maxpool-dense, batch 32 of 3x32x32, float32 (ms)")
    d = cnn_data(rng)
    eng, peer = cnn_engine(d), cnn_torch(d)
    if peer is None:
        print("  pytorch not installed: skipped")
        return
    # The two agree in float64; in float32 PyTorch's weight gradient of the conv can be 3e-4 off
    # the float64 one (its CPU kernel's accumulation) where gradtape's is within 1e-7.
    d64 = {k: v.astype(np.float64) for k, v in d.items()}
    check = cnn_torch(d64)
    assert check is not None
    for g1, g2 in zip(cnn_engine(d64)(), check(), strict=True):
        np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-12)
    e = timed(eng, r, 3)
    t = timed(peer, r, 3)
    print(against_numpy(e, t, 1).replace("numpy", "pytorch"))


if __name__ == "__main__":
    main()
