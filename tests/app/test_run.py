"""POST /v1/run over HTTP: encodings, msgpack, big inputs, and the golden programs."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from app.body import BRACKET_CHUNK, _brackets
from app.render import encode_msgpack, packed, verbatim_b64
from engine import EngineError, Limits
from engine.program import encode_result, run_program
from tests.app.wire import TUTORIAL, assert_problem

RUN = "/v1/run"
PROGRAMS = Path(__file__).resolve().parents[1] / "engine" / "programs"
GOLDEN = sorted(PROGRAMS.glob("*.json"))
MSGPACK = "application/msgpack"


def test_tutorial(client: TestClient) -> None:
    response = client.post(RUN, json=TUTORIAL)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["outputs"]["dz_dx"] == {
        "dtype": "float64",
        "shape": [2, 2],
        "data": [[8.0, 8.0], [8.0, 8.0]],
    }
    assert body["outputs"]["dz_dy"] == {"dtype": "float64", "shape": [], "data": 8.0}
    assert body["warnings"] == []
    assert body["stats"]["ops_executed"] >= 2


def test_base64_outputs(client: TestClient) -> None:
    response = client.post(RUN, json={**TUTORIAL, "options": {"encoding": "base64"}})
    out = response.json()["outputs"]["dz_dx"]
    assert set(out) == {"dtype", "shape", "b64"}
    assert np.frombuffer(base64.b64decode(out["b64"]), "<f8").tolist() == [8.0] * 4


MIXED_OUTPUTS = {
    "inputs": {
        "x": {"data": [[1.5, -2.0, 3.0]], "dtype": "float32"},
        "n": {"data": [1, 2, 3], "dtype": "int64"},
        "empty": {"data": [[], []], "dtype": "float64"},
    },
    "program": [
        {"tape": "t", "watch": ["x"], "body": [{"op": "square", "args": ["x"], "out": "y"}]},
        {"gradient": "t", "target": "y", "sources": ["x", "n"], "out": ["dx", "dn"]},
        {"op": "greater", "args": ["n", 1], "out": "b"},
        {"op": "reduce_sum", "args": ["x"], "out": "s"},
        {"op": "cast", "args": ["x"], "attrs": {"dtype": "float16"}, "out": "h"},
    ],
    "outputs": ["dx", "dn", "b", "empty", "s", "h", "n"],
}


def test_base64_strings_are_written_verbatim_as_orjson_would() -> None:
    result = run_program({**MIXED_OUTPUTS, "options": {"encoding": "base64"}})
    plain, spliced = encode_result(result), encode_result(result)
    verbatim_b64(spliced["outputs"])
    assert any(
        isinstance(t, dict) and isinstance(t["b64"], orjson.Fragment)
        for t in spliced["outputs"].values()
    )
    assert orjson.dumps(spliced) == orjson.dumps(plain)


@pytest.mark.parametrize("warnings", [0, 1, 500])  # 500 warnings outgrow the buffer's slack
def test_packed_responses_are_msgpacks_own_bytes(warnings: int) -> None:
    encoded = encode_msgpack(run_program(MIXED_OUTPUTS))
    encoded["warnings"] = [{"code": "w", "message": "m" * 40, "count": i} for i in range(warnings)]
    assert bytes(packed(encoded)) == msgpack.packb(encoded, use_bin_type=True)
    lists = {"report": [[1.0, 2.0], {"ok": True}], "stats": {"elapsed_ms": 1.0}}  # no outputs
    assert bytes(packed(lists)) == msgpack.packb(lists, use_bin_type=True)


def test_non_finite_and_float16_outputs(client: TestClient) -> None:
    request = {
        "inputs": {"x": {"data": [1.0, -1.0, 0.0], "dtype": "float16"}},
        "program": [
            {"op": "log", "args": ["x"], "out": "lx"},
            {"op": "divide", "args": [1.0, {"data": [0.0, 1.0], "dtype": "float64"}], "out": "r"},
        ],
        "outputs": ["lx", "r"],
    }
    body = client.post(RUN, json=request).json()
    assert body["outputs"]["lx"]["dtype"] == "float16"
    assert body["outputs"]["lx"]["data"] == [0.0, "NaN", "-Infinity"]
    assert body["outputs"]["r"]["data"] == ["Infinity", 1.0]


def test_unconnected_gradient_is_null_with_a_warning(client: TestClient) -> None:
    request = {
        "inputs": {"x": 2.0, "n": 3.0},
        "program": [
            {"tape": "t", "watch": ["x"], "body": [{"op": "square", "args": ["x"], "out": "y"}]},
            {"gradient": "t", "target": "y", "sources": ["x", "n"], "out": ["dx", "dn"]},
        ],
        "outputs": ["dx", "dn"],
    }
    body = client.post(RUN, json=request).json()
    assert body["outputs"]["dn"] is None
    assert body["outputs"]["dx"]["data"] == 4.0
    (warning,) = body["warnings"]
    assert warning["code"] == "unconnected" and warning["source"] == "n"


def test_a_million_floats_in_and_out(client: TestClient) -> None:
    x = np.linspace(-1.0, 1.0, 1_000_000).reshape(1000, 1000)
    request = {
        "inputs": {"x": {"data": x.tolist()}},
        "program": [
            {
                "tape": "t",
                "watch": ["x"],
                "body": [
                    {"op": "sin", "args": ["x"], "out": "s"},
                    {"op": "sum", "args": ["s"], "out": "y"},
                ],
            },
            {"gradient": "t", "target": "y", "sources": "x", "out": "g"},
        ],
        "outputs": ["g"],
    }
    body = orjson.loads(client.post(RUN, content=orjson.dumps(request)).content)
    g = np.asarray(body["outputs"]["g"]["data"])
    assert g.shape == (1000, 1000)
    np.testing.assert_allclose(g, np.cos(x))


# ----- msgpack -----
def test_msgpack_request_with_bytes_tensors_and_msgpack_response(client: TestClient) -> None:
    x = np.arange(6, dtype="<f4").reshape(2, 3)
    request = {
        "inputs": {
            "x": {"bytes": x.tobytes(), "dtype": "float32", "shape": [2, 3], "variable": True}
        },
        "program": [
            {
                "tape": "t",
                "body": [
                    {
                        "op": "multiply",
                        "args": ["x", {"bytes": x.tobytes(), "dtype": "FP32", "shape": [2, 3]}],
                        "out": "y",
                    },
                    {"op": "sum", "args": ["y"], "out": "z"},
                ],
            },
            {"gradient": "t", "target": "z", "sources": "x", "out": "g"},
        ],
        "outputs": ["g", "z"],
    }
    response = client.post(
        RUN,
        content=msgpack.packb(request),
        headers={"content-type": MSGPACK, "accept": MSGPACK},
    )
    assert response.status_code == 200, response.content
    assert response.headers["content-type"] == MSGPACK
    body = msgpack.unpackb(response.content)
    g = body["outputs"]["g"]
    assert (g["dtype"], g["shape"]) == ("float32", [2, 3])
    assert np.frombuffer(g["bytes"], "<f4").tolist() == x.ravel().tolist()  # d(x*c)/dx = c
    z = body["outputs"]["z"]
    assert (z["dtype"], z["shape"]) == ("float32", [])
    assert np.frombuffer(z["bytes"], "<f4").item() == float((x * x).sum())
    assert body["stats"]["ops_executed"] >= 2


def test_msgpack_request_json_response(client: TestClient) -> None:
    response = client.post(RUN, content=msgpack.packb(TUTORIAL), headers={"content-type": MSGPACK})
    assert response.status_code == 200
    assert response.json()["outputs"]["dz_dy"]["data"] == 8.0


def test_json_request_msgpack_response(client: TestClient) -> None:
    response = client.post(RUN, json=TUTORIAL, headers={"accept": f"{MSGPACK}, application/json"})
    body = msgpack.unpackb(response.content)
    assert np.frombuffer(body["outputs"]["dz_dx"]["bytes"], "<f8").tolist() == [8.0] * 4


@pytest.mark.parametrize(
    ("tensor", "code", "pointer"),
    [
        ({"bytes": b"\x00" * 7, "dtype": "float64", "shape": [1]}, "bad_tensor", "/inputs/x/bytes"),
        (
            {"bytes": b"\x00" * 8, "dtype": "complex", "shape": [1]},
            "dtype_error",
            "/inputs/x/dtype",
        ),
        ({"bytes": b"\x00" * 8, "shape": [1]}, "missing_key", "/inputs/x/dtype"),
        (
            {"bytes": b"\x00" * 8, "dtype": "float64", "shape": [-1]},
            "bad_tensor",
            "/inputs/x/shape",
        ),
        ({"bytes": b"\x02", "dtype": "bool", "shape": [1]}, "bad_tensor", "/inputs/x/bytes"),
        (
            {"bytes": b"\x00" * 8, "dtype": "float64", "shape": [1], "colour": 1},
            "unknown_key",
            "/inputs/x/colour",
        ),
    ],
    ids=["length", "dtype", "no-dtype", "shape", "bool", "unknown-key"],
)
def test_bad_msgpack_tensors(
    client: TestClient, tensor: dict[str, Any], code: str, pointer: str
) -> None:
    request = {"inputs": {"x": tensor}, "program": []}
    response = client.post(RUN, content=msgpack.packb(request), headers={"content-type": MSGPACK})
    assert_problem(response, 422, code, pointer)


def test_binary_outside_a_tensor_is_refused(client: TestClient) -> None:
    request = {"program": [{"op": b"add", "args": [1.0, 2.0], "out": "y"}]}
    response = client.post(
        RUN, content=msgpack.packb(request, use_bin_type=True), headers={"content-type": MSGPACK}
    )
    assert_problem(response, 422, "bad_value", "/program/0/op")


# ----- the golden programs, over HTTP and in-process -----
def _in_process(request: dict[str, Any]) -> dict[str, Any]:
    from engine.program import encode_result, run_program

    try:
        encoded = encode_result(run_program(request))
    except EngineError as exc:
        return {"code": exc.code, "pointer": exc.pointer, "call_stack": exc.call_stack}
    return orjson.loads(orjson.dumps(encoded, option=orjson.OPT_SERIALIZE_NUMPY))


@pytest.mark.skipif(not GOLDEN, reason="no golden programs yet")
@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_program_over_http_matches_in_process(client: TestClient, path: Path) -> None:
    case = json.loads(path.read_text())
    request = case["request"]
    local = _in_process(request)
    response = client.post(RUN, content=orjson.dumps(request))
    if "code" in local:
        body = assert_problem(response, 422, local["code"], local["pointer"])
        assert body.get("call_stack") == (local["call_stack"] or None)
    else:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["outputs"] == local["outputs"]
        assert body["warnings"] == local["warnings"]
        assert body["stats"]["ops_executed"] == local["stats"]["ops_executed"]


def test_small_programs_run_inline_and_big_ones_through_the_gate(client: TestClient) -> None:
    # 600 iterations pass the inline attempt's limit of 500: the program runs again, in a worker
    # thread under the service's limits, and answers as if it had gone there first.
    loop = {
        "inputs": {"x": 1.0},
        "program": [{"for": "i", "range": 600, "body": [
            {"op": "add", "args": ["x", 1.0], "out": "x"}]}],
        "outputs": ["x"],
    }  # fmt: skip
    response = client.post("/v1/run", json=loop)
    assert response.status_code == 200
    assert response.json()["outputs"]["x"]["data"] == 601.0
    assert client.app.state.inline_limits.max_iterations == 500


def test_inline_limits_are_never_looser_than_the_services() -> None:
    from app.admission import INLINE, inline_limits

    tight = Limits(max_ops=10, timeout_s=1.0)
    merged = inline_limits(tight)
    assert merged.max_ops == 10 and merged.timeout_s == INLINE.timeout_s


# ----- limits of the body and of the response, from the settings -----
def test_response_elements_are_limited(make_client: Any) -> None:
    client = make_client(max_output_elements=10)
    program = {
        "inputs": {"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]},
        "program": [{"op": "exp", "args": ["x"], "out": "y"}],
    }
    assert client.post(RUN, json={**program, "outputs": ["y"]}).status_code == 200
    assert_problem(
        client.post(RUN, json={**program, "outputs": ["x", "y"]}),
        422,
        "limit_exceeded",
        "/outputs/1",
    )
    program["program"].append({"op": "sin", "args": ["x"], "out": "z"})
    assert_problem(client.post(RUN, json=program), 422, "limit_exceeded", "/outputs")


@pytest.mark.parametrize("size", [0, 1, 1000, BRACKET_CHUNK, 2 * BRACKET_CHUNK + 17])
def test_brackets_are_counted_exactly(size: int) -> None:
    rng = np.random.default_rng(size)
    raw = rng.integers(0, 256, size, dtype=np.uint8)
    raw[rng.integers(0, max(size, 1), size // 10)] = ord("[")  # plenty of both, and near misses
    raw[rng.integers(0, max(size, 1), size // 10)] = ord("{")
    data = raw.tobytes()
    assert _brackets(data) == data.count(b"[") + data.count(b"{")


@pytest.mark.parametrize("msgpack_in", [False, True])
def test_body_containers_are_counted_before_parsing(make_client: Any, msgpack_in: bool) -> None:
    client = make_client(max_body_containers=50)
    within = {"program": [{"op": "exp", "args": [[1.0]], "out": "y"}] * 10}
    beyond = {"program": [{"op": "exp", "args": [[1.0]], "out": "y"}] * 30}
    if msgpack_in:
        send = lambda body: client.post(  # noqa: E731
            RUN, content=msgpack.packb(body), headers={"content-type": MSGPACK}
        )
    else:
        send = lambda body: client.post(RUN, json=body)  # noqa: E731
    assert send(within).status_code == 200
    assert_problem(send(beyond), 422, "limit_exceeded", "")


@pytest.mark.parametrize(
    "literal", [b"9223372036854775808", b"-9223372036854775809", b"100000000000000000000000"]
)
def test_integers_beyond_int64_are_refused_exactly(client: TestClient, literal: bytes) -> None:
    body = b'{"inputs": {"x": [1, %s]}, "program": []}' % literal
    assert_problem(client.post(RUN, content=body), 422, "bad_tensor", "/inputs/x")


def test_long_fractions_and_exponents_are_plain_floats(client: TestClient) -> None:
    body = (
        b'{"inputs": {"x": [0.00020715117739866784, 1e-0000000000000000000001, '
        b'9223372036854775807]}, "program": [], "outputs": ["x"]}'
    )
    response = client.post(RUN, content=body)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"]["x"]["data"] == [
        0.00020715117739866784,
        0.1,
        9223372036854775807.0,
    ]


def test_a_repeated_program_answers_for_each_requests_inputs(client: TestClient) -> None:
    """The parsed program is cached by its JSON: each request still gets its own inputs,
    outputs and errors."""
    program = TUTORIAL["program"]
    for scale in (1.0, 2.0, 3.0):
        x = (np.ones((2, 2)) * scale).tolist()
        response = client.post(RUN, json={**TUTORIAL, "inputs": {"x": x}})
        assert response.status_code == 200
        # z = (sum x)^2 and dz/dx = 2 * sum(x) everywhere
        assert response.json()["outputs"]["dz_dx"]["data"] == [[8.0 * scale] * 2] * 2
    bad = client.post(RUN, json={"inputs": {"x": "seven"}, "program": program})
    assert_problem(bad, 422, "bad_tensor", "/inputs/x")


def test_the_program_cache_tells_nan_from_null(client: TestClient) -> None:
    """JSON writes NaN as null; the cache key must not confuse the two (msgpack carries NaN)."""

    def send(arg: Any) -> Any:
        body = {"program": [{"op": "exp", "args": [arg], "out": "y"}], "outputs": ["y"]}
        return client.post(RUN, content=msgpack.packb(body), headers={"content-type": MSGPACK})

    first = send(float("nan"))
    assert first.status_code == 200 and first.json()["outputs"]["y"]["data"] == "NaN"
    assert send(None).status_code == 422
