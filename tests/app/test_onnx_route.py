"""ONNX models over HTTP: PUT /v1/functions/{name} with `Content-Type: application/onnx`, a
NAME.onnx in the functions folder, their derivative routes, a /v1/run program that puts a tape
around a model, and the refusals as problem+json."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.app.wire import assert_problem

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ONNX = {"content-type": "application/onnx"}
W = np.array([[0.5, -1.0], [2.0, 0.25], [1.5, -0.5]])


def _model() -> bytes:
    """y = tanh(x @ fc.weight): x (3,), fc.weight (3, 2) stored in the model."""
    nodes = [
        helper.make_node("MatMul", ["x", "fc.weight"], ["h"]),
        helper.make_node("Tanh", ["h"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [3])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2])],
        [numpy_helper.from_array(W, "fc.weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return model.SerializeToString()


def test_a_model_put_as_onnx_is_served_with_its_derivatives(client: TestClient) -> None:
    put = client.put("/v1/functions/tiny", content=_model(), headers=ONNX)
    assert put.status_code == 201, put.text
    info = client.get("/v1/functions/tiny").json()
    assert list(info["inputs"]) == ["x", "fc.weight"]
    assert (
        info["inputs"]["fc.weight"]["shape"] == [3, 2] and "default" in info["inputs"]["fc.weight"]
    )
    x = np.array([0.1, -0.2, 0.3])
    vjp = client.post(
        "/v1/functions/tiny/vjp",
        json={"inputs": {"x": x.tolist()}, "cotangents": {"y": [1.0, 2.0]}},
    ).json()
    h = x @ W
    dy = np.array([1.0, 2.0]) * (1 - np.tanh(h) ** 2)
    np.testing.assert_allclose(vjp["outputs"]["y"]["data"], np.tanh(h), rtol=1e-14)
    np.testing.assert_allclose(vjp["gradients"]["x"]["data"], W @ dy, rtol=1e-13)
    np.testing.assert_allclose(vjp["gradients"]["fc.weight"]["data"], np.outer(x, dy), rtol=1e-13)
    other = client.post(
        "/v1/functions/tiny/apply",
        json={"inputs": {"x": x.tolist(), "fc.weight": (2 * W).tolist()}},
    ).json()
    np.testing.assert_allclose(other["outputs"]["y"]["data"], np.tanh(x @ (2 * W)), rtol=1e-14)


def test_a_program_differentiates_twice_through_a_model(client: TestClient) -> None:
    assert client.put("/v1/functions/tiny2", content=_model(), headers=ONNX).status_code == 201
    x = np.array([0.1, -0.2, 0.3])
    program = [
        {"tape": "outer", "watch": ["x"], "body": [
            {"tape": "inner", "watch": ["x"], "body": [
                {"call": "tiny2", "args": ["x"], "out": "y"},
                {"op": "sum", "args": ["y"], "out": "s"}]},
            {"gradient": "inner", "target": "s", "sources": "x", "out": "g"},
            {"op": "sum", "args": ["g"], "out": "gs"}]},
        {"gradient": "outer", "target": "gs", "sources": "x", "out": "h"},
    ]  # fmt: skip
    body = client.post(
        "/v1/run", json={"inputs": {"x": x.tolist()}, "program": program, "outputs": ["g", "h"]}
    ).json()
    t = np.tanh(x @ W)
    np.testing.assert_allclose(body["outputs"]["g"]["data"], W @ (1 - t**2), rtol=1e-13)
    hessian = W @ np.diag(-2 * t * (1 - t**2)) @ W.T
    np.testing.assert_allclose(body["outputs"]["h"]["data"], hessian.sum(0), rtol=1e-12)


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"\x08\x07garbage", "bad_onnx"), (b"", "bad_onnx"), (_model()[:40], "bad_onnx")],
)
def test_a_model_that_does_not_load_is_a_422_and_nothing_is_stored(
    client: TestClient, body: bytes, code: str
) -> None:
    response = client.put("/v1/functions/broken", content=body, headers=ONNX)
    assert_problem(response, 422, code, pointer="")
    assert client.get("/v1/functions/broken").status_code == 404


def test_a_model_in_the_functions_folder_is_loaded(
    tmp_path: Path, make_client: Callable[..., TestClient]
) -> None:
    (tmp_path / "tiny.onnx").write_bytes(_model())
    client = make_client(functions_dir=str(tmp_path))
    listed = {f["name"]: f for f in client.get("/v1/functions").json()["functions"]}
    assert listed["tiny"]["source"] == "dir"
    out = client.post("/v1/functions/tiny/apply", json={"inputs": {"x": [1.0, 0.0, 0.0]}}).json()
    np.testing.assert_allclose(out["outputs"]["y"]["data"], np.tanh(W[0]), rtol=1e-14)
