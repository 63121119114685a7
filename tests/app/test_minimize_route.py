"""POST /v1/minimize: models fitted over HTTP, problem+json errors, the OpenAPI entry."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


def regression_request(X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    return {
        "inputs": {
            "X": X.tolist(), "y": y.tolist(),
            "w": {"data": [0.0] * X.shape[1], "variable": True},
            "b": {"data": 0.0, "variable": True},
        },
        "program": [
            {"op": "matmul", "args": ["X", "w"], "out": "xw"},
            {"op": "add", "args": ["xw", "b"], "out": "pred"},
            {"op": "squared_difference", "args": ["pred", "y"], "out": "se"},
            {"op": "mean", "args": ["se"], "out": "loss"},
        ],
        "loss": "loss",
        "optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9},
        "steps": 2000,
        "stop": {"grad_norm": 1e-11},
    }  # fmt: skip


def test_linear_regression_reaches_the_least_squares_optimum(
    client: TestClient, rng: np.random.Generator
) -> None:
    X = rng.standard_normal((60, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.7 + 0.1 * rng.standard_normal(60)
    response = client.post("/v1/minimize", json=regression_request(X, y))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stopped"] == "grad_norm"
    optimum, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(60)]), y, rcond=None)
    fitted = np.append(body["variables"]["w"]["data"], body["variables"]["b"]["data"])
    np.testing.assert_allclose(fitted, optimum, atol=1e-8)
    history = body["loss_history"]
    assert len(history) == body["steps"] + 1 and history[-1] < history[0]


def test_two_layer_classifier_separates_the_classes(
    client: TestClient, rng: np.random.Generator
) -> None:
    centers = np.array([[2.0, 2.0], [-2.0, -2.0]])
    labels = np.repeat([1.0, 0.0], 30)
    X = centers[(labels == 0).astype(int)] + 0.7 * rng.standard_normal((60, 2))
    params = {
        "W1": 0.5 * rng.standard_normal((2, 8)), "b1": np.zeros(8),
        "W2": 0.5 * rng.standard_normal((8, 1)), "b2": np.zeros(1),
    }  # fmt: skip
    request = {
        "inputs": {
            "X": X.tolist(), "labels": labels.reshape(60, 1).tolist(),
            **{k: {"data": v.tolist(), "variable": True} for k, v in params.items()},
        },
        "program": [
            {"op": "matmul", "args": ["X", "W1"], "out": "h0"},
            {"op": "add", "args": ["h0", "b1"], "out": "h1"},
            {"op": "tanh", "args": ["h1"], "out": "h"},
            {"op": "matmul", "args": ["h", "W2"], "out": "z0"},
            {"op": "add", "args": ["z0", "b2"], "out": "logits"},
            {"op": "sigmoid_cross_entropy_with_logits", "args": ["labels", "logits"],
             "out": "xent"},
            {"op": "mean", "args": ["xent"], "out": "loss"},
        ],
        "loss": "loss",
        "optimizer": {"name": "adam", "learning_rate": 0.05},
        "steps": 300,
    }  # fmt: skip
    response = client.post("/v1/minimize", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["steps"] == 300 and body["stopped"] == "steps"
    assert body["loss_history"][-1] < 0.02 < body["loss_history"][0]
    v = {k: np.asarray(t["data"]) for k, t in body["variables"].items()}
    logits = np.tanh(X @ v["W1"] + v["b1"]) @ v["W2"] + v["b2"]
    assert np.mean((logits[:, 0] > 0) == (labels == 1)) == 1.0


def test_msgpack_response(client: TestClient) -> None:
    request = regression_request(np.eye(3), np.array([1.0, 2.0, 3.0])) | {"steps": 2}
    response = client.post("/v1/minimize", json=request, headers={"Accept": "application/msgpack"})
    assert response.status_code == 200
    body = msgpack.unpackb(response.content)
    assert body["steps"] == 2 and body["variables"]["w"]["shape"] == [3]


def test_errors_are_problems_with_pointers(client: TestClient) -> None:
    base = regression_request(np.eye(2), np.array([1.0, 2.0]))
    cases = [
        ({**base, "optimiser": {}}, "unknown_key", "/optimiser"),
        ({**base, "optimizer": {"name": "nadam"}}, "bad_value", "/optimizer/name"),
        ({**base, "optimizer": {"name": "sgd", "beta_1": 0.9}}, "bad_value",
         "/optimizer/beta_1"),
        ({**base, "loss": "se"}, "shape_mismatch", "/loss"),
    ]  # fmt: skip
    for request, code, pointer in cases:
        response = client.post("/v1/minimize", json=request)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert (response.json()["code"], response.json()["pointer"]) == (code, pointer)


def test_documented_in_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/minimize"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/MinimizeRequest"}
    assert "MinimizeResponse" in spec["components"]["schemas"]
