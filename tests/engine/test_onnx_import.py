"""ONNX models as functions (engine.onnx_import): models built in memory with onnx.helper, their
values against NumPy, their derivatives against finite differences, ONNX's own node cases, and
the refusals (bad bytes, external data, other domains, cycles, huge declared initializers)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from engine import EngineError, LimitError, Limits  # noqa: E402
from engine.onnx_import import ONNX_OPS, load_onnx  # noqa: E402

LIMITS = Limits()


def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits=(), opset: int = 18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _mlp(rng: np.random.Generator, opset: int = 18) -> tuple[Any, dict[str, np.ndarray]]:
    """x (N, 4) -> softmax(0.5 * tanh(x W1 + b1) W2 + b2): MatMul, Add, Tanh, Gemm, Softmax."""
    w = {
        "fc1.weight": rng.standard_normal((4, 3)),
        "fc1.bias": rng.standard_normal(3),
        "fc2.weight": rng.standard_normal((3, 2)),
        "fc2.bias": rng.standard_normal(2),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "fc1.weight"], ["h"], name="mm"),
        helper.make_node("Add", ["h", "fc1.bias"], ["h1"]),
        helper.make_node("Tanh", ["h1"], ["a"]),
        helper.make_node("Gemm", ["a", "fc2.weight", "fc2.bias"], ["y"], alpha=0.5),
        helper.make_node("Softmax", ["y"], ["onnx::Softmax_out"], axis=-1),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 4])
    p = helper.make_tensor_value_info("onnx::Softmax_out", TensorProto.DOUBLE, ["N", 2])
    inits = [numpy_helper.from_array(v, k) for k, v in w.items()]
    return _model(nodes, [x], [p], inits, opset), w


def _mlp_numpy(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    a = np.tanh(x @ w["fc1.weight"] + w["fc1.bias"])
    y = 0.5 * (a @ w["fc2.weight"]) + w["fc2.bias"]
    e = np.exp(y - y.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_an_mlp_is_a_function_with_its_weights_as_defaulted_inputs() -> None:
    rng = np.random.default_rng(0)
    model, w = _mlp(rng)
    f = load_onnx("mlp", model.SerializeToString(), source="api", limits=LIMITS)
    assert [p.name for p in f.inputs] == ["x", *w]  # graph inputs, then initializers in order
    assert f.inputs[0].shape == (None, 4) and f.inputs[0].default is None
    for port in f.inputs[1:]:
        np.testing.assert_array_equal(port.default, w[port.name])
    assert [(p.name, p.shape) for p in f.outputs] == [("onnx::Softmax_out", (None, 2))]
    x = rng.standard_normal((5, 4))
    got = f.apply({"x": x}, limits=LIMITS).outputs["onnx::Softmax_out"]
    np.testing.assert_allclose(got, _mlp_numpy(x, w), rtol=1e-13)


def test_gradients_by_inputs_and_weights_match_finite_differences() -> None:
    rng = np.random.default_rng(1)
    model, w = _mlp(rng)
    f = load_onnx("mlp", model.SerializeToString(), source="api", limits=LIMITS)
    x = rng.standard_normal((3, 4))
    u = rng.standard_normal((3, 2))
    grads = f.vjp({"x": x}, {"onnx::Softmax_out": u}, limits=LIMITS).gradients
    assert grads is not None and set(grads) == {"x", *w}

    def objective(name: str, value: np.ndarray) -> float:
        weights = {**w, name: value} if name in w else w
        return float(np.sum(u * _mlp_numpy(value if name == "x" else x, weights)))

    eps = 1e-6
    for name, value in {"x": x, **w}.items():
        v = rng.standard_normal(value.shape)
        numeric = (objective(name, value + eps * v) - objective(name, value - eps * v)) / (2 * eps)
        assert np.sum(grads[name] * v) == pytest.approx(numeric, rel=1e-7, abs=1e-9), name


def test_hvp_matches_finite_differences_of_the_vjp() -> None:
    rng = np.random.default_rng(2)
    model, _ = _mlp(rng)
    f = load_onnx("mlp", model.SerializeToString(), source="api", limits=LIMITS)
    x = rng.standard_normal((2, 4))
    u = {"onnx::Softmax_out": rng.standard_normal((2, 2))}
    t = rng.standard_normal((2, 4))
    hvp = f.hvp({"x": x}, u, {"x": t}, ["x"], limits=LIMITS).hvp
    assert hvp is not None
    eps = 1e-5

    def grad(at: np.ndarray) -> np.ndarray:
        g = f.vjp({"x": at}, u, ["x"], limits=LIMITS).gradients
        assert g is not None
        return g["x"]

    numeric = (grad(x + eps * t) - grad(x - eps * t)) / (2 * eps)
    np.testing.assert_allclose(hvp["x"], numeric, rtol=1e-6, atol=1e-8)


def _cnn(rng: np.random.Generator) -> tuple[Any, dict[str, np.ndarray]]:
    """x (2, 2, 6, 6) -> Conv 3x3 pad 1 -> BatchNormalization -> Relu -> MaxPool 2x2 stride 2 ->
    Flatten -> Gemm: a small image classifier, float64, batch fixed at 2."""
    w = {
        "conv.weight": rng.standard_normal((3, 2, 3, 3)) * 0.5,
        "conv.bias": rng.standard_normal(3),
        "bn.scale": rng.uniform(0.5, 1.5, 3),
        "bn.bias": rng.standard_normal(3),
        "bn.mean": rng.standard_normal(3) * 0.1,
        "bn.var": rng.uniform(0.5, 2.0, 3),
        "fc.weight": rng.standard_normal((27, 4)) * 0.2,
        "fc.bias": rng.standard_normal(4),
    }
    nodes = [
        helper.make_node(
            "Conv", ["x", "conv.weight", "conv.bias"], ["c"], kernel_shape=[3, 3], pads=[1] * 4
        ),
        helper.make_node(
            "BatchNormalization",
            ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"],
            ["b"],
            epsilon=1e-3,
        ),
        helper.make_node("Relu", ["b"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2, 2, 6, 6])
    y = helper.make_tensor_value_info("logits", TensorProto.DOUBLE, [2, 4])
    inits = [numpy_helper.from_array(v, k) for k, v in w.items()]
    return _model(nodes, [x], [y], inits), w


def test_a_small_cnn_differentiates_by_input_and_weights() -> None:
    rng = np.random.default_rng(4)
    model, w = _cnn(rng)
    f = load_onnx("cnn", model.SerializeToString(), source="api", limits=LIMITS)
    x = rng.standard_normal((2, 2, 6, 6))
    u = rng.standard_normal((2, 4))
    grads = f.vjp({"x": x}, {"logits": u}, limits=LIMITS).gradients
    assert grads is not None and set(grads) == {"x", *w}

    def objective(values: dict[str, np.ndarray]) -> float:
        return float(np.sum(u * f.apply(values, limits=LIMITS).outputs["logits"]))

    eps = 1e-6
    for name, value in {"x": x, **w}.items():
        v = rng.standard_normal(value.shape)
        plus, minus = ({"x": x, name: value + s * eps * v} for s in (1, -1))
        numeric = (objective(plus) - objective(minus)) / (2 * eps)
        assert np.sum(grads[name] * v) == pytest.approx(numeric, rel=1e-6, abs=1e-8), name


def test_an_older_opset_is_converted() -> None:
    rng = np.random.default_rng(3)
    model, w = _mlp(rng, opset=13)
    f = load_onnx("mlp13", model.SerializeToString(), source="api", limits=LIMITS)
    x = rng.standard_normal((2, 4))
    got = f.apply({"x": x}, limits=LIMITS).outputs["onnx::Softmax_out"]
    np.testing.assert_allclose(got, _mlp_numpy(x, w), rtol=1e-13)


def test_constant_shapes_and_axes_are_read_at_load() -> None:
    """Reshape's target, Unsqueeze's and ReduceSum's axes: constants of the model (an int64
    initializer or a Constant node), not inputs a caller could change."""
    shape = numpy_helper.from_array(np.array([0, -1], np.int64), "shape")
    axes = helper.make_node(
        "Constant", [], ["axes"], value=numpy_helper.from_array(np.array([1], np.int64))
    )
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["flat"]),
        axes,
        helper.make_node("ReduceSum", ["flat", "axes"], ["s"], keepdims=0),
        helper.make_node("Unsqueeze", ["s", "axes"], ["out"]),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2, 3, 4])],
        [helper.make_tensor_value_info("out", TensorProto.DOUBLE, [2, 1])],
        [shape],
    )
    f = load_onnx("shapes", model.SerializeToString(), source="api", limits=LIMITS)
    assert [p.name for p in f.inputs] == ["x"]
    x = np.arange(24.0).reshape(2, 3, 4)
    out = f.apply({"x": x}, limits=LIMITS).outputs["out"]
    np.testing.assert_array_equal(out, x.reshape(2, -1).sum(1, keepdims=True))


def _refused(data: bytes, code: str, limits: Limits = LIMITS) -> EngineError:
    with pytest.raises(EngineError) as err:
        load_onnx("m", data, source="api", limits=limits)
    assert err.value.code == code, err.value
    return err.value


@pytest.mark.parametrize("data", [b"", b"\x00\x01garbage\xff" * 50, b"not a model at all"])
def test_bytes_that_are_not_a_model_are_refused(data: bytes) -> None:
    rng = np.random.default_rng(4)
    model, _ = _mlp(rng)
    whole = model.SerializeToString()
    for blob in (data, whole[: len(whole) // 2]):
        err = _refused(blob, "bad_onnx")
        assert "model" in str(err)


def test_unsupported_ops_are_named_with_their_nodes() -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="ok"),
        helper.make_node("LpNormalization", ["a"], ["b"], name="norm1"),
        helper.make_node("Custom", ["b"], ["y"], name="mine", domain="com.example"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [3])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [3])
    graph = helper.make_graph(nodes, "g", [x], [y])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)],
    )
    err = _refused(model.SerializeToString(), "unsupported_onnx_op")
    assert "LpNormalization at node 'norm1'" in str(err)
    assert "Custom (domain com.example) at node 'mine'" in str(err)
    assert "Relu" not in str(err)


def test_external_data_is_refused() -> None:
    t = helper.make_tensor("w", TensorProto.DOUBLE, [3], [1.0, 2.0, 3.0])
    t.ClearField("double_data")
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [3])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [3])
    model = _model(nodes, [x], [y], [t])
    err = _refused(model.SerializeToString(), "onnx_external_data")
    assert "reads no files" in str(err)


def test_a_huge_declared_initializer_is_refused_before_anything_is_allocated() -> None:
    t = TensorProto(name="w", data_type=TensorProto.DOUBLE, dims=[10**9])  # declares 10^9, holds 0
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [10**9])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [10**9])
    data = _model(nodes, [x], [y], [t]).SerializeToString()
    assert len(data) < 1000
    with pytest.raises(LimitError, match="declares 1000000000 elements"):
        load_onnx("m", data, source="api", limits=LIMITS)


def test_a_graph_cycle_is_refused() -> None:
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2])
    b = helper.make_tensor_value_info("b", TensorProto.DOUBLE, [2])
    err = _refused(_model(nodes, [x], [b]).SerializeToString(), "bad_onnx")
    assert "checker" in str(err)


# ----- ONNX's own node test cases -----
def _node_cases() -> list[Any]:
    from onnx.backend.test.case.node import collect_testcases

    return [
        case
        for case in collect_testcases()
        if len({n.op_type for n in case.model.graph.node}) == 1
        and case.model.graph.node[0].op_type in ONNX_OPS
    ]


CASES = _node_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_onnx_node_case(case: Any) -> None:
    """Each node case of a mapped op passes to ONNX's backend-test tolerances, or is refused
    at load with a clear error (a form the service does not take: another element type, a
    shape or axes given at run time, training-time dropout)."""
    try:
        f = load_onnx(case.name, case.model.SerializeToString(), source="api", limits=LIMITS)
    except EngineError as err:
        assert err.code in ("bad_onnx", "unsupported_onnx_op"), err
        assert err.message and len(err.message) < 600
        return
    free = [p.name for p in f.inputs if p.default is None]
    for inputs, expected in case.data_sets or []:
        try:
            answer = f.apply(dict(zip(free, inputs, strict=False)), limits=LIMITS)
        except EngineError as err:  # an element type met only at run time (a cast's source)
            assert err.code in ("dtype_error", "bad_tensor"), err
            continue
        for port, want in zip(f.outputs, expected, strict=True):
            want = np.asarray(want)
            got = answer.outputs[port.name]
            assert got.shape == want.shape
            if want.dtype.kind == "f":
                np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-7)
            else:
                np.testing.assert_array_equal(got, want)


def test_most_mapped_ops_pass_some_node_case() -> None:
    passing = set()
    for case in CASES:
        try:
            f = load_onnx(case.name, case.model.SerializeToString(), source="api", limits=LIMITS)
            if all(
                math.isfinite(float(np.sum(np.abs(v), dtype=np.float64)))
                for inputs, _ in case.data_sets or []
                for v in f.apply(
                    dict(zip([p.name for p in f.inputs], inputs, strict=False)), limits=LIMITS
                ).outputs.values()
                if v.dtype.kind == "f"
            ):
                passing.add(case.model.graph.node[0].op_type)
        except EngineError:
            continue
    assert len(passing) >= 30, sorted(set(ONNX_OPS) - passing)


def _encoder_block(rng: np.random.Generator) -> tuple[Any, dict[str, np.ndarray]]:
    """x (2, 3, 4) -> a pre-norm transformer encoder block, one head: LayerNormalization,
    Q/K/V MatMuls, Transpose, scaled scores, Softmax, the residual, then LayerNormalization and
    a Gelu feed-forward with its residual. Opset 20 (Gelu), float64."""
    d, h = 4, 6
    w = {
        "ln1.weight": rng.uniform(0.5, 1.5, d),
        "ln1.bias": rng.standard_normal(d) * 0.1,
        "attn.q": rng.standard_normal((d, d)) * 0.5,
        "attn.k": rng.standard_normal((d, d)) * 0.5,
        "attn.v": rng.standard_normal((d, d)) * 0.5,
        "attn.scale": np.array(1.0 / math.sqrt(d)),
        "ln2.weight": rng.uniform(0.5, 1.5, d),
        "ln2.bias": rng.standard_normal(d) * 0.1,
        "ff1.weight": rng.standard_normal((d, h)) * 0.5,
        "ff1.bias": rng.standard_normal(h) * 0.1,
        "ff2.weight": rng.standard_normal((h, d)) * 0.5,
        "ff2.bias": rng.standard_normal(d) * 0.1,
    }
    nodes = [
        helper.make_node(
            "LayerNormalization", ["x", "ln1.weight", "ln1.bias"], ["n1"], axis=-1, epsilon=1e-5
        ),
        helper.make_node("MatMul", ["n1", "attn.q"], ["q"]),
        helper.make_node("MatMul", ["n1", "attn.k"], ["k"]),
        helper.make_node("MatMul", ["n1", "attn.v"], ["v"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["s"]),
        helper.make_node("Mul", ["s", "attn.scale"], ["s1"]),
        helper.make_node("Softmax", ["s1"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["a"]),
        helper.make_node("Add", ["x", "a"], ["r1"]),
        helper.make_node(
            "LayerNormalization", ["r1", "ln2.weight", "ln2.bias"], ["n2"], axis=-1, epsilon=1e-5
        ),
        helper.make_node("MatMul", ["n2", "ff1.weight"], ["f1"]),
        helper.make_node("Add", ["f1", "ff1.bias"], ["f2"]),
        helper.make_node("Gelu", ["f2"], ["g"]),
        helper.make_node("MatMul", ["g", "ff2.weight"], ["f3"]),
        helper.make_node("Add", ["f3", "ff2.bias"], ["f4"]),
        helper.make_node("Add", ["r1", "f4"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 3, d])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 3, d])
    inits = [numpy_helper.from_array(v, k) for k, v in w.items()]
    return _model(nodes, [x], [y], inits, opset=20), w


def _encoder_block_numpy(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    def layer_norm(z: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = z.mean(-1, keepdims=True)
        return (z - mu) / np.sqrt(((z - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * g + b

    n1 = layer_norm(x, w["ln1.weight"], w["ln1.bias"])
    q, k, v = (n1 @ w[f"attn.{c}"] for c in "qkv")
    s = q @ k.transpose(0, 2, 1) * w["attn.scale"]
    e = np.exp(s - s.max(-1, keepdims=True))
    r1 = x + (e / e.sum(-1, keepdims=True)) @ v
    f2 = layer_norm(r1, w["ln2.weight"], w["ln2.bias"]) @ w["ff1.weight"] + w["ff1.bias"]
    gelu = 0.5 * f2 * (1 + np.vectorize(math.erf)(f2 / math.sqrt(2)))
    return r1 + gelu @ w["ff2.weight"] + w["ff2.bias"]


def test_a_transformer_encoder_block_matches_numpy_and_finite_differences() -> None:
    rng = np.random.default_rng(5)
    model, w = _encoder_block(rng)
    f = load_onnx("encoder", model.SerializeToString(), source="api", limits=LIMITS)
    assert [p.name for p in f.inputs] == ["x", *w]
    assert f.inputs[0].shape == (None, 3, 4)
    x = rng.standard_normal((2, 3, 4))
    y = f.apply({"x": x}, limits=LIMITS).outputs["y"]
    np.testing.assert_allclose(y, _encoder_block_numpy(x, w), rtol=1e-10, atol=1e-10)

    u = rng.standard_normal((2, 3, 4))
    grads = f.vjp({"x": x}, {"y": u}, limits=LIMITS).gradients
    assert grads is not None and set(grads) == {"x", *w}

    def objective(values: dict[str, np.ndarray]) -> float:
        return float(np.sum(u * _encoder_block_numpy(values["x"], {**w, **values})))

    eps = 1e-6
    for name, value in {"x": x, **w}.items():
        v = rng.standard_normal(np.shape(value))
        plus, minus = ({"x": x, name: value + s * eps * v} for s in (1, -1))
        numeric = (objective(plus) - objective(minus)) / (2 * eps)
        assert np.sum(grads[name] * v) == pytest.approx(numeric, rel=1e-6, abs=1e-8), name

    # hvp by x against central differences of the vjp along a tangent of x
    t = rng.standard_normal(x.shape)
    hvp = f.hvp({"x": x}, {"y": u}, {"x": t}, ["x"], limits=LIMITS).hvp
    assert hvp is not None
    g_plus, g_minus = (
        f.vjp({"x": x + s * eps * t}, {"y": u}, ["x"], limits=LIMITS).gradients["x"]  # type: ignore[index]
        for s in (1, -1)
    )
    np.testing.assert_allclose(hvp["x"], (g_plus - g_minus) / (2 * eps), rtol=1e-6, atol=1e-8)
