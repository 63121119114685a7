"""/v1/functions over HTTP: the repository routes, each derivative route's envelope and
encodings, problem+json statuses, and GRADTAPE_FUNCTIONS_DIR at start-up."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from engine.functions import FunctionFileError
from tests.app.wire import assert_problem

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "functions"
MSGPACK = "application/msgpack"

SQUARE = {
    "doc": "b = a * a * w",
    "inputs": {
        "a": {"dtype": "float32", "shape": [None]},
        "w": {"dtype": "float32", "shape": [], "default": 1.0},
        "k": {"dtype": "int64", "shape": [], "default": 3},
    },
    "program": [
        {"op": "square", "args": ["a"], "out": "s"},
        {"op": "multiply", "args": ["s", "w"], "out": "b"},
        {"op": "multiply", "args": ["k", 2], "out": "k2"},
    ],
    "outputs": ["b", "k2"],
}


# The persistent-tape tutorial of API section 8 as a function: y = sum(x), z = y * y.
TUTORIAL = {
    "inputs": {"x": {"dtype": "float64", "shape": [2, 2]}},
    "program": [
        {"op": "reduce_sum", "args": ["x"], "out": "y"},
        {"op": "multiply", "args": ["y", "y"], "out": "z"},
    ],
    "outputs": ["y", "z"],
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The example folder's functions, plus `tutorial`."""
    for path in FOLDER.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "tutorial.json").write_text(json.dumps(TUTORIAL))
    return tmp_path


@pytest.fixture
def client(make_client: Callable[..., TestClient], folder: Path) -> TestClient:
    return make_client(functions_dir=str(folder))


def test_folder_functions_are_listed_read_only(client: TestClient) -> None:
    listed = client.get("/v1/functions").json()["functions"]
    entry = next(f for f in listed if f["name"] == "tutorial")
    assert entry["source"] == "dir" and entry["outputs"] == ["y", "z"]
    assert entry["inputs"]["x"]["shape"] == [2, 2]
    assert client.get("/v1/functions/tutorial").json() == entry
    assert_problem(client.put("/v1/functions/tutorial", json=SQUARE), 409, "function_read_only")
    assert_problem(client.delete("/v1/functions/tutorial"), 409, "function_read_only")


def test_the_tutorial_vjp_over_http(client: TestClient) -> None:
    body = {"inputs": {"x": [[1, 1], [1, 1]]}, "cotangents": {"z": 1.0}}
    answer = client.post("/v1/functions/tutorial/vjp", json=body).json()
    assert answer["outputs"]["z"] == {"dtype": "float64", "shape": [], "data": 16.0}
    assert answer["gradients"]["x"]["data"] == [[8.0, 8.0], [8.0, 8.0]]
    # dz/dy of the tutorial: the cotangent of z through y is 2y = 8 per element of x's grad
    # with y's own cotangent: d(y + z)/dx = 1 + 8
    both = {**body, "cotangents": {"z": 1.0, "y": 1.0}}
    grads = client.post("/v1/functions/tutorial/vjp", json=both).json()["gradients"]
    assert grads["x"]["data"] == [[9.0, 9.0], [9.0, 9.0]]


def test_put_get_call_delete(client: TestClient) -> None:
    created = client.put("/v1/functions/my.square-1", json=SQUARE)
    assert created.status_code == 201
    assert created.json()["inputs"]["w"] == {
        "dtype": "float32",
        "shape": [],
        "default": {"dtype": "float32", "shape": [], "data": 1.0},
    }
    assert client.put("/v1/functions/my.square-1", json=SQUARE).status_code == 200
    url = "/v1/functions/my.square-1"
    jac = client.post(f"{url}/jacobian", json={"inputs": {"a": [1, 2]}}).json()
    assert jac["jacobian"]["b"]["a"]["data"] == [[2.0, 0.0], [0.0, 4.0]]
    assert set(jac["jacobian"]) == {"b"}  # k2 is an integer output: not differentiable
    jvp = client.post(f"{url}/jvp", json={"inputs": {"a": [1, 2]}, "tangents": {"w": 1.0}})
    assert jvp.json()["tangents"]["b"]["data"] == [1.0, 4.0]
    hvp = client.post(
        f"{url}/hvp",
        json={"inputs": {"a": [1, 2]}, "cotangents": {"b": [1, 1]}, "tangents": {"a": [1, 0]}},
    )
    assert hvp.json()["hvp"]["a"]["data"] == [2.0, 0.0]
    applied = client.post(f"{url}/apply", json={"inputs": {"a": [3], "k": 5}}).json()
    assert applied["outputs"]["k2"]["data"] == 10
    shapes = client.post(
        f"{url}/abstract_eval", json={"inputs": {"a": {"dtype": "float32", "shape": [7]}}}
    ).json()
    assert shapes["outputs"] == {
        "b": {"dtype": "float32", "shape": [7]},
        "k2": {"dtype": "int64", "shape": []},
    }
    assert client.delete(url).status_code == 204
    assert_problem(client.get(url), 404, "unknown_function")


def test_base64_and_msgpack(client: TestClient) -> None:
    client.put("/v1/functions/sq", json=SQUARE)
    body = {"inputs": {"a": [1.0, 2.0]}, "cotangents": {"b": [1.0, 1.0]}}
    b64 = client.post(
        "/v1/functions/sq/vjp", json={**body, "options": {"encoding": "base64"}}
    ).json()
    grad = np.frombuffer(base64.b64decode(b64["gradients"]["a"]["b64"]), "<f4")
    assert grad.tolist() == [2.0, 4.0]
    packed = msgpack.packb(
        {
            "inputs": {"a": {"bytes": np.array([1, 2], "<f4").tobytes(), "dtype": "float32",
                             "shape": [2]}},
            "cotangents": {"b": [1.0, 1.0]},
        }
    )  # fmt: skip
    response = client.post(
        "/v1/functions/sq/vjp",
        content=packed,
        headers={"content-type": MSGPACK, "accept": MSGPACK},
    )
    assert response.headers["content-type"] == MSGPACK
    answer = msgpack.unpackb(response.content)
    assert np.frombuffer(answer["gradients"]["a"]["bytes"], "<f4").tolist() == [2.0, 4.0]


def test_run_calls_a_stored_function(client: TestClient) -> None:
    request = {
        "inputs": {"x": [[1.0, 2.0], [3.0, 4.0]]},
        "program": [
            {"tape": "t", "watch": ["x"], "body": [
                {"call": "tutorial", "args": ["x"], "out": ["y", "z"]},
            ]},
            {"gradient": "t", "target": "z", "sources": "x", "out": "g"},
        ],
        "outputs": ["z", "g"],
    }  # fmt: skip
    out = client.post("/v1/run", json=request).json()["outputs"]
    assert out["z"]["data"] == 100.0 and out["g"]["data"] == [[20.0, 20.0], [20.0, 20.0]]
    bad = {"program": [{"call": "tutorial", "args": [[1.0]], "out": ["y", "z"]}]}
    assert_problem(client.post("/v1/run", json=bad), 422, "shape_mismatch", "/program/0/args/0")
    unknown = {"program": [{"call": "nowhere", "args": [], "out": "y"}]}
    assert_problem(client.post("/v1/run", json=unknown), 422, "unknown_function", "/program/0/call")


PROBLEMS: list[tuple[str, str, Any, int, str, str | None]] = [
    # (method, path, json body, status, code, pointer)
    ("POST", "/v1/functions/nowhere/apply", {}, 404, "unknown_function", None),
    ("POST", "/v1/functions/nowhere/abstract_eval", {}, 404, "unknown_function", None),
    ("GET", "/v1/functions/nowhere", None, 404, "unknown_function", None),
    ("DELETE", "/v1/functions/nowhere", None, 404, "unknown_function", None),
    ("POST", "/v1/functions/tutorial/vjp", {"cotangent": {}}, 422, "unknown_key", "/cotangent"),
    ("POST", "/v1/functions/tutorial/vjp", {"wrt": "x"}, 422, "bad_value", "/wrt"),
    ("POST", "/v1/functions/tutorial/vjp", {"inputs": {"x": [[1, 1], [1, 1]]}, "wrt": ["q"]},
     422, "unknown_name", "/wrt/0"),
    ("POST", "/v1/functions/tutorial/apply", {"inputs": {"x": [1, 2]}}, 422, "shape_mismatch",
     "/inputs/x"),
    ("POST", "/v1/functions/tutorial/apply", {"inputs": {"x": [[True, True], [True, True]]}},
     422, "dtype_error", "/inputs/x"),
    ("POST", "/v1/functions/tutorial/apply", {"inputs": {"x": {"data": [1], "b64": ""}}}, 422,
     "unknown_key", "/inputs/x/data"),
    ("POST", "/v1/functions/tutorial/apply", {"options": {"encoding": "hex"}}, 422,
     "bad_value", "/options/encoding"),
    ("POST", "/v1/functions/tutorial/apply", [1], 422, "bad_request", ""),
    ("POST", "/v1/functions/tutorial/abstract_eval",
     {"inputs": {"x": {"dtype": "float64", "shape": [3]}}}, 422, "shape_mismatch", "/inputs/x"),
    ("POST", "/v1/functions/tutorial/abstract_eval",
     {"inputs": {"x": {"dtype": "complex64", "shape": [2, 2]}}}, 422, "dtype_error",
     "/inputs/x/dtype"),
    ("PUT", "/v1/functions/bad name", SQUARE, 422, "bad_name", None),
    ("PUT", "/v1/functions/broken", {**SQUARE, "program": [{"op": "square"}]}, 422,
     "missing_key", "/program/0/out"),
    ("PUT", "/v1/functions/broken", {**SQUARE, "outputs": ["nope"]}, 422, "unknown_name",
     "/outputs/0"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "pointer"), PROBLEMS)
def test_problems(
    client: TestClient,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
    pointer: str | None,
) -> None:
    response = client.request(method, path, json=body)
    problem = assert_problem(response, status, code)
    if pointer is not None:
        assert problem["pointer"] == pointer
    if method == "PUT":
        assert_problem(client.get(path), 404, "unknown_function")  # nothing stored


def test_the_api_key_guards_the_routes(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="s3cret", functions_dir=str(FOLDER))
    assert_problem(client.post("/v1/functions/persistent_tape/vjp", json={}), 401, "unauthorized")
    assert_problem(client.get("/v1/functions"), 401, "unauthorized")
    assert_problem(client.post("/v1/functions/tutorial/vjp", json={}), 401, "unauthorized")
    assert_problem(client.put("/v1/functions/x", json=SQUARE), 401, "unauthorized")
    ok = client.get("/v1/functions", headers={"authorization": "Bearer s3cret"})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ('{"inputs": {}, "program": [], "outputs": ["y"]}', "/outputs/0"),
        ('{"inputs": {"x": {"dtype": "float64", "shape": [2]}}, "program": '
         '[{"op": "sqr", "args": ["x"], "out": "y"}], "outputs": ["y"]}', "/program/0/op"),
        ("[1, 2", ""),
    ],
)  # fmt: skip
def test_a_bad_file_stops_start_up(tmp_path: Path, text: str, pointer: str) -> None:
    (tmp_path / "fine.json").write_text(json.dumps(TUTORIAL))
    (tmp_path / "broken.json").write_text(text)
    with pytest.raises(FunctionFileError) as info:
        create_app(Settings(api_key=None, functions_dir=str(tmp_path)))
    assert info.value.path == str(tmp_path / "broken.json") and info.value.pointer == pointer
    assert str(tmp_path / "broken.json") in str(info.value)


def test_the_example_folder_loads_and_serves_its_doc(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(functions_dir=str(FOLDER))
    for path in sorted(FOLDER.glob("*.json")):
        definition = json.loads(path.read_text())
        entry = client.get(f"/v1/functions/{path.stem}").json()
        assert entry["doc"] == definition.get("doc", "") and entry["source"] == "dir"
        assert entry["outputs"] == definition["outputs"]


@pytest.mark.parametrize(("cotangents", "grad"), [({"z": 1.0}, 108.0), ({"y": 1.0}, 6.0)])
def test_the_persistent_tape_example(
    make_client: Callable[..., TestClient], cotangents: dict[str, float], grad: float
) -> None:
    """TensorFlow's persistent-tape example at x = 3: dz/dx = 4 x^3, dy/dx = 2 x."""
    client = make_client(functions_dir=str(FOLDER))
    body = {"inputs": {"x": 3.0}, "cotangents": cotangents}
    answer = client.post("/v1/functions/persistent_tape/vjp", json=body).json()
    assert answer["gradients"]["x"] == {"dtype": "float64", "shape": [], "data": grad}
    assert answer["outputs"]["z"]["data"] == 81.0


def test_the_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, folder: Path
) -> None:
    monkeypatch.setenv("GRADTAPE_FUNCTIONS_DIR", str(folder))
    assert Settings().functions_dir == str(folder)


def test_a_server_with_a_bad_file_does_not_start(tmp_path: Path) -> None:
    """The process exits at start-up, and its output names the file and the pointer."""
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps({**TUTORIAL, "outputs": ["never_bound"]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADTAPE_")}
    env["GRADTAPE_FUNCTIONS_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert f"{bad} at /outputs/0" in output and "never_bound" in output
