"""Tesseract's own SDK (`tesseract_core.Tesseract.from_url`) against a live server, one Tesseract
per function under /tesseract/NAME: apply, abstract_eval, jacobian, jvp and vjp on the test
function `mix` against its closed forms (float64, 1e-10), and the protocol's errors."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import ValidationError
from tesseract_core import Tesseract

from tests.functions import mix_reference as ref

from .conftest import API_KEY, Server

TOL = 1e-10
S = 0.8  # the defaulted input given explicitly in some calls
TANGENTS = {"x": np.array([0.4, -0.6, 1.1]), "w": np.array([[0.3, -0.2, 0.9], [0.5, -1.4, 0.25]])}
COTANGENTS = {"y": np.array([0.7, -1.3]), "z": np.array([0.2, 0.5, -0.9])}


@pytest.fixture(scope="module")
def mix(functions_server: Server) -> Tesseract:
    return Tesseract.from_url(f"{functions_server.url}/tesseract/mix")


def inputs(s: float | None = None) -> dict[str, Any]:
    given: dict[str, Any] = {"x": ref.X, "w": ref.W}
    if s is not None:
        given["s"] = np.float64(s)
    return given


def close(got: Any, expected: Any) -> None:
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
    assert got.shape == np.shape(expected)


def test_health_and_endpoints(mix: Tesseract) -> None:
    assert mix.health() == {"status": "ok"}
    assert set(mix.available_endpoints) >= {
        "apply",
        "abstract_eval",
        "jacobian",
        "jacobian_vector_product",
        "vector_jacobian_product",
    }


@pytest.mark.parametrize("s", [None, S])
def test_apply(mix: Tesseract, s: float | None) -> None:
    out = mix.apply(inputs(s))
    expected = ref.evaluate(ref.X, ref.W, ref.S_DEFAULT if s is None else s)
    assert set(out) == {"y", "z"}
    close(out["y"], expected["y"])
    close(out["z"], expected["z"])


def test_abstract_eval(mix: Tesseract) -> None:
    specs = {"x": {"shape": [3], "dtype": "float64"}, "w": {"shape": [2, 3], "dtype": "float64"}}
    assert mix.abstract_eval(specs) == {
        "y": {"shape": [2], "dtype": "float64"},
        "z": {"shape": [3], "dtype": "float64"},
    }


def test_abstract_eval_with_a_varying_size(functions_server: Server) -> None:
    ratio = Tesseract.from_url(f"{functions_server.url}/tesseract/ratio")
    specs = {"v": {"shape": [7], "dtype": "float64"}, "k": {"shape": [], "dtype": "float64"}}
    assert ratio.abstract_eval(specs) == {
        "r": {"shape": [7], "dtype": "float64"},
        "total": {"shape": [], "dtype": "float64"},
    }


@pytest.mark.parametrize("s", [None, S])
def test_jacobian(mix: Tesseract, s: float | None) -> None:
    wrt = ["x", "w"] if s is None else ["x", "w", "s"]
    jac = mix.jacobian(inputs(s), jac_inputs=wrt, jac_outputs=["y", "z"])
    expected = ref.jacobians(ref.X, ref.W, ref.S_DEFAULT if s is None else s)
    assert set(jac) == {"y", "z"}
    for o in ("y", "z"):
        assert set(jac[o]) == set(wrt)
        for i in wrt:
            close(jac[o][i], expected[o][i])  # e.g. y by x: (2, 3), not square


@pytest.mark.parametrize("of", [["y"], ["z"], ["y", "z"]])
def test_jacobian_vector_product(mix: Tesseract, of: list[str]) -> None:
    out = mix.jacobian_vector_product(
        inputs(), jvp_inputs=["x", "w"], jvp_outputs=of, tangent_vector=TANGENTS
    )
    jac = ref.jacobians(ref.X, ref.W)
    assert set(out) == set(of)
    for o in of:
        expected = jac[o]["x"] @ TANGENTS["x"] + np.tensordot(jac[o]["w"], TANGENTS["w"], 2)
        close(out[o], expected)


@pytest.mark.parametrize("wrt", [["x"], ["w"], ["x", "w"]])
def test_vector_jacobian_product(mix: Tesseract, wrt: list[str]) -> None:
    out = mix.vector_jacobian_product(
        inputs(), vjp_inputs=wrt, vjp_outputs=["y", "z"], cotangent_vector=COTANGENTS
    )
    jac = ref.jacobians(ref.X, ref.W)
    assert set(out) == set(wrt)
    for i in wrt:
        expected = sum(np.tensordot(COTANGENTS[o], jac[o][i], 1) for o in ("y", "z"))
        close(out[i], expected)


def test_integer_ports_are_not_differentiable(functions_server: Server) -> None:
    count = Tesseract.from_url(f"{functions_server.url}/tesseract/count")
    out = count.apply({"n": np.array([3, 4]), "x": np.array([0.5, 2.0])})
    assert out["m"].dtype == np.int64 and out["m"].tolist() == [6, 8]
    schemas = count.openapi_schema["components"]["schemas"]
    assert set(schemas["ApplyInputSchema"]["differentiable_arrays"]) == {"x"}
    assert set(schemas["ApplyOutputSchema"]["differentiable_arrays"]) == {"y"}
    with pytest.raises(ValidationError, match="not_differentiable"):
        count.vector_jacobian_product(
            {"n": np.array([3, 4]), "x": np.array([0.5, 2.0])},
            vjp_inputs=["n"],
            vjp_outputs=["y"],
            cotangent_vector={"y": np.ones(2)},
        )


def test_openapi_document_is_the_functions(functions_server: Server) -> None:
    doc = httpx.get(f"{functions_server.url}/tesseract/mix/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert list(schemas["Apply_InputSchema"]["properties"]) == ["x", "w", "s"]
    assert schemas["Apply_InputSchema"]["required"] == ["x", "w"]
    assert list(schemas["Apply_OutputSchema"]["properties"]) == ["y", "z"]
    assert schemas["ApplyInputSchema"]["differentiable_arrays"] == {
        "x": {"shape": [3], "dtype": "float64"},
        "w": {"shape": [2, 3], "dtype": "float64"},
        "s": {"shape": [], "dtype": "float64"},
    }
    ratio = httpx.get(f"{functions_server.url}/tesseract/ratio/openapi.json").json()
    diff = ratio["components"]["schemas"]["ApplyInputSchema"]["differentiable_arrays"]
    assert diff["v"] == {"shape": [None], "dtype": "float64"}


def test_base64_answers_when_asked(functions_server: Server) -> None:
    body = {"inputs": {"x": ref.X.tolist(), "w": ref.W.tolist()}}
    url = f"{functions_server.url}/tesseract/mix/apply"
    answer = httpx.post(url, json=body, headers={"Accept": "application/json+base64"}).json()
    y = answer["y"]
    assert y["object_type"] == "array" and y["data"]["encoding"] == "base64"
    decoded = np.frombuffer(base64.b64decode(y["data"]["buffer"]), "<f8").reshape(y["shape"])
    np.testing.assert_allclose(decoded, ref.evaluate(ref.X, ref.W)["y"], rtol=0, atol=TOL)


def test_validation_error_in_the_client(mix: Tesseract) -> None:
    with pytest.raises(ValidationError, match="shape_mismatch") as info:
        mix.apply({"x": np.zeros(4), "w": ref.W})
    assert info.value.errors()[0]["loc"] == ("body", "inputs", "x")


def test_unknown_function_is_404(functions_server: Server) -> None:
    nothing = Tesseract.from_url(f"{functions_server.url}/tesseract/nothing")
    with pytest.raises(RuntimeError, match="Error 404"):
        nothing.health()


def array(buffer: Any, encoding: str = "json", **extra: Any) -> dict[str, Any]:
    return {
        "shape": [3],
        "dtype": "float64",
        "data": {"buffer": buffer, "encoding": encoding},
        **extra,
    }


X = ref.X.tolist()
W = ref.W.tolist()
ERRORS = [
    # (endpoint, body, status, detail type, loc, text in msg)
    ("apply", {"inputs": {"x": array("f.bin:0", "binref"), "w": W}}, 422, "invalid",
     ["body", "inputs", "x", "data", "encoding"], "binref"),
    ("apply", {"inputs": {"x": array("AAAA", "base64", ), "w": W}}, 422, "bad_tensor",
     ["body", "inputs", "x", "data", "buffer"], ""),
    ("apply", {"inputs": {"x": array(X, "json", object_type="tensor"), "w": W}}, 422, "invalid",
     ["body", "inputs", "x", "object_type"], "'array'"),
    ("apply", {"inputs": {"x": {**array(X), "data": {"buffer": X, "encoding": "base64",
     "compression": "lz4"}}, "w": W}}, 422, "invalid", None, "compressed"),
    ("apply", {"inputs": {"x": "abc", "w": W}}, 422, "invalid", ["body", "inputs", "x"],
     "expected an array"),
    ("apply", {"inputs": {"w": W}}, 422, "missing_input", ["body", "inputs", "x"], "missing"),
    ("apply", {"inputs": {"x": X, "w": W, "q": 1.0}}, 422, "unknown_key",
     ["body", "inputs", "q"], "no input 'q'"),
    ("apply", {"input": {"x": X}}, 422, "invalid", ["body", "input"], "unknown key"),
    ("apply", {}, 422, "invalid", ["body", "inputs"], "`inputs` is missing"),
    ("apply", {"inputs": {"x": array(X, dtype="complex128"), "w": W}}, 422, "dtype_error", None,
     ""),
    ("apply", {"inputs": {"x": array([0.0, "a", 1.0]), "w": W}}, 422, "bad_tensor",
     ["body", "inputs", "x", "data", "buffer"], ""),
    ("abstract_eval", {"inputs": {"x": {"shape": [3, "a"], "dtype": "float64"}}}, 422,
     "invalid", ["body", "inputs", "x", "shape"], "non-negative"),
    ("abstract_eval", {"inputs": {"x": {"shape": [4], "dtype": "float64"},
     "w": {"shape": [2, 3], "dtype": "float64"}}}, 422, "shape_mismatch", None, ""),
    ("jacobian", {"inputs": {"x": X, "w": W}, "jac_inputs": ["nope"], "jac_outputs": ["y"]},
     422, "unknown_name", ["body", "jac_inputs", 0], "no input 'nope'"),
    ("jacobian", {"inputs": {"x": X, "w": W}, "jac_inputs": ["x"]}, 422, "invalid",
     ["body", "jac_outputs"], "missing"),
    ("jacobian_vector_product", {"inputs": {"x": X, "w": W}, "jvp_inputs": ["x"],
     "jvp_outputs": ["y"], "tangent_vector": {"w": W}}, 422, "invalid",
     ["body", "tangent_vector"], "must be the names of `jvp_inputs`"),
    ("jacobian_vector_product", {"inputs": {"x": X, "w": W}, "jvp_inputs": ["x"],
     "jvp_outputs": ["y"], "tangent_vector": {"x": [1.0, 2.0]}}, 422, "shape_mismatch",
     ["body", "tangent_vector", "x"], ""),
    ("vector_jacobian_product", {"inputs": {"x": X, "w": W}, "vjp_inputs": ["x"],
     "vjp_outputs": ["y"], "cotangent_vector": {"y": [1.0, 2.0, 3.0]}}, 422, "shape_mismatch",
     ["body", "cotangent_vector", "y"], ""),
    ("vector_jacobian_product", {"inputs": {"x": X, "w": W}, "vjp_inputs": ["x", "x"],
     "vjp_outputs": ["y"], "cotangent_vector": {"y": [1.0, 2.0]}}, 422, "bad_value",
     ["body", "vjp_inputs", 1], "twice"),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "body", "status", "kind", "loc", "text"), ERRORS)
def test_errors_are_the_protocols(
    functions_server: Server,
    endpoint: str,
    body: Any,
    status: int,
    kind: str,
    loc: list[Any] | None,
    text: str,
) -> None:
    response = httpx.post(f"{functions_server.url}/tesseract/mix/{endpoint}", json=body)
    assert response.status_code == status, response.text
    (detail,) = response.json()["detail"]
    assert set(detail) == {"type", "loc", "msg"}
    assert detail["type"] == kind, detail
    if loc is not None:
        assert detail["loc"] == loc, detail
    assert text in detail["msg"]


@pytest.mark.parametrize("path", ["health", "openapi.json"])
def test_unknown_function_everywhere(functions_server: Server, path: str) -> None:
    response = httpx.get(f"{functions_server.url}/tesseract/nothing/{path}")
    assert response.status_code == 404
    assert "no function named 'nothing'" in response.json()["detail"][0]["msg"]


def test_api_key_applies(keyed_functions_server: Server) -> None:
    url = f"{keyed_functions_server.url}/tesseract/mix/health"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url).json()["detail"][0]["type"] == "unauthorized"
    assert httpx.get(url, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
