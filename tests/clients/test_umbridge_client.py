"""UM-Bridge's own Python client (`umbridge.HTTPModel`) against a live server: every call of the
protocol on the test function `mix`, each derivative against its closed form (float64, 1e-10),
and the protocol's errors as the client reports them."""

from __future__ import annotations

import itertools

import httpx
import numpy as np
import pytest
import umbridge

from tests.functions import mix_reference as ref

from .conftest import API_KEY, Server

TOL = 1e-10
INPUTS = ("x", "w")  # UM-Bridge inputs of mix: those without a default, declared order
OUTPUTS = ("y", "z")
SENS = {"y": [0.7, -1.3], "z": [0.2, 0.5, -0.9]}
VEC = {"x": [0.4, -0.6, 1.1], "w": [0.3, -0.2, 0.9, 0.5, -1.4, 0.25]}


@pytest.fixture(scope="module")
def model(functions_server: Server) -> umbridge.HTTPModel:
    return umbridge.HTTPModel(functions_server.url, "mix")


def parameters() -> list[list[float]]:
    return [ref.X.tolist(), ref.W.ravel().tolist()]


def test_info_lists_only_functions_with_fixed_floating_ports(functions_server: Server) -> None:
    assert umbridge.supported_models(functions_server.url) == ["mix"]  # not count, not ratio


def test_sizes_and_support(model: umbridge.HTTPModel) -> None:
    assert model.get_input_sizes() == [3, 6]
    assert model.get_output_sizes() == [2, 3]
    assert model.supports_evaluate() and model.supports_gradient()
    assert model.supports_apply_jacobian() and model.supports_apply_hessian()


def test_evaluate(model: umbridge.HTTPModel) -> None:
    output = model(parameters())
    expected = ref.evaluate(ref.X, ref.W)
    assert len(output) == 2
    for got, name in zip(output, OUTPUTS, strict=True):
        np.testing.assert_allclose(got, expected[name], rtol=0, atol=TOL)


@pytest.mark.parametrize(("out", "inp"), list(itertools.product(range(2), range(2))))
def test_gradient(model: umbridge.HTTPModel, out: int, inp: int) -> None:
    o, i = OUTPUTS[out], INPUTS[inp]
    got = model.gradient(out, inp, parameters(), SENS[o])
    jac = ref.jacobians(ref.X, ref.W)[o][i].reshape(len(SENS[o]), -1)
    np.testing.assert_allclose(got, np.asarray(SENS[o]) @ jac, rtol=0, atol=TOL)


@pytest.mark.parametrize(("out", "inp"), list(itertools.product(range(2), range(2))))
def test_apply_jacobian(model: umbridge.HTTPModel, out: int, inp: int) -> None:
    o, i = OUTPUTS[out], INPUTS[inp]
    got = model.apply_jacobian(out, inp, parameters(), VEC[i])
    jac = ref.jacobians(ref.X, ref.W)[o][i].reshape(len(SENS[o]), -1)
    assert len(got) == len(SENS[o])  # the output's size: the Jacobian is not square
    np.testing.assert_allclose(got, jac @ np.asarray(VEC[i]), rtol=0, atol=TOL)


@pytest.mark.parametrize(
    ("out", "first", "second"), list(itertools.product(range(2), range(2), range(2)))
)
def test_apply_hessian(model: umbridge.HTTPModel, out: int, first: int, second: int) -> None:
    o, a, b = OUTPUTS[out], INPUTS[first], INPUTS[second]
    got = model.apply_hessian(out, first, second, parameters(), SENS[o], VEC[b])
    expected = ref.apply_hessian(o, a, b, SENS[o], VEC[b], ref.X, ref.W)
    assert len(got) == len(VEC[a])  # input inWrt1's size, also when inWrt2 differs
    if o == "y" or a == b == "x":  # z does not depend on w: those blocks are zeros
        assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_the_client_sees_invalid_input(model: umbridge.HTTPModel) -> None:
    with pytest.raises(Exception, match=r"InvalidInput.*input 1 \(w\) has length 5; expected 6"):
        model([ref.X.tolist(), [0.0] * 5])


def test_unknown_model_is_refused_by_the_client(functions_server: Server) -> None:
    with pytest.raises(Exception, match="not supported by server"):
        umbridge.HTTPModel(functions_server.url, "ratio")


ERRORS = [
    # (path, body, type, text in the message)
    ("/Evaluate", {"name": "nothing"}, "ModelNotFound", "'nothing' not found"),
    ("/Evaluate", {"name": "count", "input": [[1, 2], [1.0, 2.0]]}, "ModelNotFound", "count"),
    ("/ModelInfo", {"name": "wrong_model_name"}, "ModelNotFound", "wrong_model_name"),
    ("/Evaluate", {"input": [[0.0] * 3, [0.0] * 6]}, "InvalidInput", "name a model"),
    ("/Evaluate", {"name": "mix"}, "InvalidInput", "`input` is missing"),
    ("/Evaluate", {"name": "mix", "input": [[0.0] * 3]}, "InvalidInput", "has 1 vectors"),
    ("/Evaluate", {"name": "mix", "input": [[0.0] * 4, [0.0] * 6]}, "InvalidInput", "length 4"),
    ("/Evaluate", {"name": "mix", "input": [[0, "a", 0], [0.0] * 6]}, "InvalidInput", "numbers"),
    ("/Evaluate", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "config": {"a": 1}},
     "InvalidInput", "no config"),
    ("/Evaluate", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "extra": 1}, "InvalidInput",
     "unknown key 'extra'"),
    ("/Gradient", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "outWrt": 2, "inWrt": 0,
     "sens": [1.0, 1.0]}, "InvalidInput", "`outWrt` is 2"),
    ("/Gradient", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "outWrt": 0, "inWrt": 2,
     "sens": [1.0, 1.0]}, "InvalidInput", "`inWrt` is 2"),
    ("/Gradient", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "outWrt": 0, "inWrt": -1,
     "sens": [1.0, 1.0]}, "InvalidInput", "`inWrt` is -1"),
    ("/Gradient", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "outWrt": 0, "inWrt": 0,
     "sens": [1.0]}, "InvalidInput", "`sens` (y) has length 1; expected 2"),
    ("/Gradient", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "outWrt": 0, "inWrt": 0},
     "InvalidInput", "`sens` is missing"),
    ("/Gradient", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "outWrt": True, "inWrt": 0,
     "sens": [1.0, 1.0]}, "InvalidInput", "`outWrt` must be"),
    ("/ApplyJacobian", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "outWrt": 0, "inWrt": 1,
     "vec": [1.0] * 3}, "InvalidInput", "`vec` (w) has length 3; expected 6"),
    ("/ApplyHessian", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "outWrt": 0, "inWrt1": 0,
     "inWrt2": 1, "sens": [1.0, 1.0], "vec": [1.0] * 3}, "InvalidInput", "`vec` (w)"),
    ("/ApplyHessian", {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "outWrt": 0, "inWrt1": 0,
     "inWrt2": 5, "sens": [1.0, 1.0], "vec": [1.0] * 3}, "InvalidInput", "`inWrt2` is 5"),
    ("/Evaluate", [1, 2], "InvalidInput", "must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "kind", "text"), ERRORS)
def test_errors_are_the_protocols(
    functions_server: Server, path: str, body: object, kind: str, text: str
) -> None:
    response = httpx.post(functions_server.url + path, json=body)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": {"type": kind, "message": response.json()["error"]["message"]}
    }
    assert text in response.json()["error"]["message"]


def test_body_that_is_not_json(functions_server: Server) -> None:
    response = httpx.post(functions_server.url + "/Evaluate", content=b"{name: mix}")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "InvalidInput"
    assert "not valid" in response.json()["error"]["message"]


def test_head_on_the_root(functions_server: Server) -> None:
    assert httpx.head(functions_server.url + "/").status_code == 200


def test_api_key_applies(keyed_functions_server: Server) -> None:
    url = keyed_functions_server.url
    refused = httpx.get(url + "/Info")
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "Unauthorized"
    assert refused.headers["www-authenticate"].lower().startswith("bearer")
    allowed = httpx.get(url + "/Info", headers={"Authorization": f"Bearer {API_KEY}"})
    assert allowed.json() == {"protocolVersion": 1.0, "models": ["mix"]}
