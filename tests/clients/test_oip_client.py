"""Open Inference Protocol v2 through Triton's own client (`tritonclient.http`, JSON tensors)
against a live server: health, metadata, readiness, inference on the test functions, and the
protocol's errors."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.functions import mix_reference as ref

from .conftest import API_KEY, Server

TOL = 1e-10


@pytest.fixture(scope="module")
def client(functions_server: Server) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(functions_server.url.removeprefix("http://"))


def tensor(name: str, value: np.ndarray, datatype: str) -> triton.InferInput:
    t = triton.InferInput(name, list(value.shape), datatype)
    t.set_data_from_numpy(value, binary_data=False)
    return t


def wanted(*names: str) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(n, binary_data=False) for n in names]


def test_health(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("mix") and not client.is_model_ready("nothing")
    assert client.get_server_metadata()["name"] == "gradtape"


def test_metadata(client: triton.InferenceServerClient) -> None:
    meta = client.get_model_metadata("mix")
    assert meta["name"] == "mix"
    assert meta["inputs"] == [
        {"name": "x", "datatype": "FP64", "shape": [3]},
        {"name": "w", "datatype": "FP64", "shape": [2, 3]},
        {"name": "s", "datatype": "FP64", "shape": []},
    ]
    assert meta["outputs"] == [
        {"name": "y", "datatype": "FP64", "shape": [2]},
        {"name": "z", "datatype": "FP64", "shape": [3]},
    ]
    ratio = client.get_model_metadata("ratio")
    assert ratio["inputs"][0] == {"name": "v", "datatype": "FP64", "shape": [-1]}


def test_infer(client: triton.InferenceServerClient) -> None:
    inputs = [tensor("x", ref.X, "FP64"), tensor("w", ref.W, "FP64")]
    result = client.infer("mix", inputs, outputs=wanted("y", "z"), request_id="r-1")
    expected = ref.evaluate(ref.X, ref.W)
    for name in ("y", "z"):
        got = result.as_numpy(name)
        assert got.dtype == np.float64 and got.shape == expected[name].shape
        np.testing.assert_allclose(got, expected[name], rtol=0, atol=TOL)
    assert result.get_response()["id"] == "r-1"
    assert result.get_response()["model_name"] == "mix"


def test_the_one_version(client: triton.InferenceServerClient) -> None:
    inputs = [tensor("x", ref.X, "FP64"), tensor("w", ref.W, "FP64")]
    result = client.infer("mix", inputs, model_version="1", outputs=wanted("z"))
    np.testing.assert_allclose(
        result.as_numpy("z"), ref.evaluate(ref.X, ref.W)["z"], rtol=0, atol=TOL
    )
    assert client.get_model_metadata("mix", model_version="1")["versions"] == ["1"]
    assert client.is_model_ready("mix", model_version="1")
    assert not client.is_model_ready("mix", model_version="2")
    with pytest.raises(InferenceServerException, match="has no version '2'"):
        client.infer("mix", inputs, model_version="2", outputs=wanted("z"))


def test_infer_one_output_and_the_default_given(client: triton.InferenceServerClient) -> None:
    s = np.array(0.25)
    inputs = [tensor("x", ref.X, "FP64"), tensor("w", ref.W, "FP64"), tensor("s", s, "FP64")]
    result = client.infer("mix", inputs, outputs=wanted("y"))
    assert [o["name"] for o in result.get_response()["outputs"]] == ["y"]
    np.testing.assert_allclose(
        result.as_numpy("y"), ref.evaluate(ref.X, ref.W, 0.25)["y"], rtol=0, atol=TOL
    )


def test_infer_integers_and_a_varying_size(client: triton.InferenceServerClient) -> None:
    n, x = np.array([3, -4], np.int64), np.array([0.5, 2.0])
    result = client.infer("count", [tensor("n", n, "INT64"), tensor("x", x, "FP64")])
    assert result.as_numpy("m").dtype == np.int64 and result.as_numpy("m").tolist() == [6, -8]
    v = np.arange(5.0)
    k = np.array(0.5)
    result = client.infer("ratio", [tensor("v", v, "FP64"), tensor("k", k, "FP64")])
    np.testing.assert_allclose(result.as_numpy("r"), v * np.exp(0.5), rtol=0, atol=TOL)
    np.testing.assert_allclose(result.as_numpy("total"), np.sum(v) * np.exp(0.5), atol=TOL)


def test_errors_reach_the_client(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException, match="no function named 'nothing'"):
        client.infer("nothing", [tensor("x", ref.X, "FP64")])
    with pytest.raises(InferenceServerException, match="shape"):
        client.infer("mix", [tensor("x", np.zeros(4), "FP64"), tensor("w", ref.W, "FP64")])
    binary = triton.InferInput("x", [3], "FP64")
    binary.set_data_from_numpy(ref.X)  # Triton's binary extension, the client's default
    with pytest.raises(InferenceServerException, match="binary_data=False"):
        client.infer("mix", [binary, tensor("w", ref.W, "FP64")])


def infer_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [
            {"name": "x", "shape": [3], "datatype": "FP64", "data": ref.X.tolist()},
            {"name": "w", "shape": [2, 3], "datatype": "FP64", "data": ref.W.ravel().tolist()},
        ]
    }
    body.update(extra)
    return body


def inputs_with(**changes: Any) -> dict[str, Any]:
    body = infer_body()
    body["inputs"][0].update(changes)
    return body


ERRORS = [
    # (model, body, status, text in the error)
    ("nothing", infer_body(), 404, "no function named 'nothing'"),
    ("mix", {}, 400, "`inputs` is missing"),
    ("mix", {"inputs": {"x": 1}}, 400, "`inputs` must be"),
    ("mix", {"inputs": [1]}, 400, "inputs[0] must be an object"),
    ("mix", inputs_with(datatype="BYTES"), 400, "dtype"),
    ("mix", inputs_with(datatype="FP32", data=[1.0, 2.0]), 400, ""),
    ("mix", inputs_with(shape=[4]), 400, ""),
    ("mix", inputs_with(data=[1.0, "x", 3.0]), 400, ""),
    ("mix", inputs_with(name="w"), 400, "given twice"),
    ("mix", inputs_with(parameters={"binary_data_size": 24}), 400, "binary"),
    ("mix", inputs_with(extra=1), 400, "unknown key 'extra'"),
    ("mix", {"inputs": [infer_body()["inputs"][1]]}, 400, "missing"),
    ("mix", infer_body(outputs=[{"name": "q"}]), 400, "no output 'q'"),
    ("mix", infer_body(id=7), 400, "`id` must be a string"),
    ("mix", [1, 2], 400, "must be an object"),
]


@pytest.mark.parametrize(("model", "body", "status", "text"), ERRORS)
def test_errors_are_the_protocols(
    functions_server: Server, model: str, body: Any, status: int, text: str
) -> None:
    response = httpx.post(f"{functions_server.url}/v2/models/{model}/infer", json=body)
    assert response.status_code == status, response.text
    assert list(response.json()) == ["error"]
    assert isinstance(response.json()["error"], str) and text in response.json()["error"]


def test_unknown_model_metadata(functions_server: Server) -> None:
    response = httpx.get(f"{functions_server.url}/v2/models/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": "no function named 'nothing'"}


def test_body_that_is_not_json(functions_server: Server) -> None:
    response = httpx.post(f"{functions_server.url}/v2/models/mix/infer", content=b"\x00\x01")
    assert response.status_code == 400 and "not valid" in response.json()["error"]


def test_api_key_applies(keyed_functions_server: Server) -> None:
    host = keyed_functions_server.url.removeprefix("http://")
    refused = triton.InferenceServerClient(host)
    with pytest.raises(InferenceServerException, match="API key"):
        refused.get_model_metadata("mix")
    allowed = triton.InferenceServerClient(host)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    assert allowed.get_model_metadata("mix", headers=headers)["name"] == "mix"
