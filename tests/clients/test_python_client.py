"""The Python client (`gradtape.client`): the tutorial against a live server, codecs, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pytest

from gradtape import (
    AsyncClient,
    Client,
    GradtapeError,
    call,
    decode_tensor,
    def_,
    encode_tensor,
    for_,
    gradient,
    if_,
    jacobian,
    op,
    ret,
    stop_recording,
    tape,
    tensor,
    while_,
)

from .conftest import API_KEY, Server

SUM_SQUARE = [
    tape(
        "t",
        persistent=True,
        watch=["x"],
        body=[
            op("reduce_sum", "x", out="y"),
            op("multiply", "y", "y", out="z"),
        ],
    ),
    gradient("t", target="z", sources="x", out="dz_dx"),
    gradient("t", target="z", sources="y", out="dz_dy"),
]


@pytest.fixture
def client(base_url: str) -> Any:
    with Client(base_url, timeout=30) as c:
        yield c


def one_shot(source: str) -> list[Any]:
    return [
        tape(
            "t",
            watch="x",
            body=[
                op("reduce_sum", "x", out="y"),
                op("multiply", "y", "y", out="z"),
            ],
        ),
        gradient("t", target="z", sources=source, out="g"),
    ]


CONTROL_FLOW = [
    def_(
        "f",
        ["x", "y"],
        [
            op("identity", tensor(1.0), out="output"),
            for_(
                "i",
                "y",
                [
                    op("greater", "i", 1, out="above"),
                    op("less", "i", 5, out="below"),
                    op("logical_and", "above", "below", out="inside"),
                    if_("inside", [op("multiply", "output", "x", out="output")]),
                ],
            ),
            ret("output"),
        ],
    ),
    def_(
        "grad",
        ["x", "y"],
        [
            tape("t", watch=["x"], body=[call("f", "x", "y", out="out")]),
            gradient("t", target="out", sources="x", out="g"),
            ret("g"),
        ],
    ),
    call("grad", "x", 6, out="g6"),
    call("grad", "x", 5, out="g5"),
    call("grad", "x", 4, out="g4"),
]

HIGHER_ORDER = [
    tape(
        "t",
        body=[
            tape(
                "t2",
                body=[
                    op("multiply", "x", "x", out="xx"),
                    op("multiply", "xx", "x", out="y"),
                ],
            ),
            gradient("t2", target="y", sources="x", out="dy_dx"),
        ],
    ),
    gradient("t", target="dy_dx", sources="x", out="d2y_dx2"),
]


# ----- the tutorial, on the live server -----


def test_section_8_example(client: Client) -> None:
    result = client.run(SUM_SQUARE, inputs={"x": np.ones((2, 2))}, outputs=["dz_dx", "dz_dy"])
    np.testing.assert_array_equal(result["dz_dx"], np.full((2, 2), 8.0))
    assert result["dz_dx"].dtype == np.float64
    assert result["dz_dy"].shape == () and result["dz_dy"] == 8.0
    assert result.stats["ops_executed"] >= 2
    assert result.request_id


@pytest.mark.parametrize("encoding", ["json", "base64", "msgpack"])
def test_transports(client: Client, encoding: Any) -> None:
    try:
        result = client.run(SUM_SQUARE, {"x": np.ones((2, 2))}, ["dz_dx", "dz_dy"], encoding)
    except GradtapeError as err:
        if encoding == "msgpack" and err.status in (400, 406, 415):
            pytest.skip(f"the server refused a msgpack body: {err}")
        raise
    np.testing.assert_array_equal(result["dz_dx"], np.full((2, 2), 8.0))
    assert float(result["dz_dy"]) == 8.0


def test_example_1_and_2(client: Client) -> None:
    x = {"x": np.ones((2, 2))}
    np.testing.assert_array_equal(client.run(one_shot("x"), x)["g"], np.full((2, 2), 8.0))
    assert client.run(one_shot("y"), x, outputs=["g"])["g"] == 8.0


def test_example_3_persistent_tape(client: Client) -> None:
    program = [
        tape(
            "t",
            persistent=True,
            watch=["x"],
            body=[
                op("multiply", "x", "x", out="y"),
                op("multiply", "y", "y", out="z"),
            ],
        ),
        gradient("t", target="z", sources="x", out="dz_dx"),
        gradient("t", target="y", sources="x", out="dy_dx"),
    ]
    result = client.run(program, {"x": 3.0}, ["dz_dx", "dy_dx"])
    assert (float(result["dz_dx"]), float(result["dy_dx"])) == (108.0, 6.0)


def test_example_4_control_flow(client: Client) -> None:
    result = client.run(CONTROL_FLOW, {"x": np.float64(2.0)}, ["g6", "g5", "g4"])
    assert [float(result[k]) for k in ("g6", "g5", "g4")] == [12.0, 12.0, 4.0]


def test_example_5_higher_order(client: Client) -> None:
    result = client.run(HIGHER_ORDER, {"x": tensor(1.0, variable=True)}, ["dy_dx", "d2y_dx2"])
    assert (float(result["dy_dx"]), float(result["d2y_dx2"])) == (3.0, 6.0)


def test_async_client(base_url: str) -> None:
    async def main() -> tuple[Any, ...]:
        async with AsyncClient(base_url) as gt:
            return await asyncio.gather(
                gt.run(SUM_SQUARE, {"x": np.ones((2, 2))}, ["dz_dy"]),
                gt.run(HIGHER_ORDER, {"x": tensor(1.0, variable=True)}, ["d2y_dx2"]),
                gt.health(),
            )

    first, second, health = asyncio.run(main())
    assert float(first["dz_dy"]) == 8.0
    assert float(second["d2y_dx2"]) == 6.0
    assert health == {"status": "ok"}


# ----- more of the contract through the client -----


def test_health_and_ops(client: Client) -> None:
    assert client.health() == {"status": "ok"}
    assert client.ready()
    ops = {o["name"]: o for o in client.ops()}
    assert "reduce_sum" in ops["sum"]["aliases"]
    assert ops["multiply"]["differentiable"] is True
    assert ops["greater"]["differentiable"] is False


def test_unconnected_gradient_is_none_with_a_warning(client: Client) -> None:
    program = [
        tape("t", watch=["x"], body=[op("multiply", "x", "x", out="y")]),
        gradient("t", target="y", sources=["x", "w"], out=["gx", "gw"]),
    ]
    result = client.run(program, {"x": 2.0, "w": 1.0}, ["gx", "gw"])
    assert float(result["gx"]) == 4.0
    assert result["gw"] is None
    (warning,) = result.warnings
    assert warning["code"] == "unconnected"
    assert warning["source"] == "w"
    assert warning["reason"] == "not_watched"


def test_stop_recording_and_while(client: Client) -> None:
    program = [
        op("identity", 0, out="n"),
        op("less", "n", 3, out="going"),
        tape(
            "t",
            watch=["x"],
            body=[
                op("identity", "x", out="y"),
                while_(
                    "going",
                    max_iterations=10,
                    body=[
                        op("multiply", "y", "x", out="y"),
                        op("add", "n", 1, out="n"),
                        op("less", "n", 3, out="going"),
                    ],
                ),
                stop_recording("t", [op("multiply", "y", "x", out="frozen")]),
                op("add", "y", "frozen", out="z"),
            ],
        ),
        gradient("t", target="z", sources="x", out="g"),
    ]
    result = client.run(program, {"x": 2.0}, ["y", "z", "g", "n"])
    assert float(result["y"]) == 16.0  # x ** 4
    assert float(result["z"]) == 48.0  # x ** 4 + x ** 5
    assert float(result["g"]) == 32.0  # d/dx x ** 4; the stop_recording term is a constant
    assert int(result["n"]) == 3


def test_jacobian_shape(client: Client) -> None:
    program = [
        tape("t", watch=["x"], body=[op("multiply", "x", "x", out="y")]),
        jacobian("t", target="y", sources="x", out="j"),
    ]
    x = np.array([1.0, 2.0, 3.0])
    result = client.run(program, {"x": x}, ["j"], encoding="base64")
    np.testing.assert_array_equal(result["j"], np.diag(2 * x))


def test_non_finite_values_round_trip(client: Client) -> None:
    x = np.array([1.5, np.nan, np.inf, -np.inf])
    for encoding in ("json", "base64"):
        out = client.run([op("identity", "x", out="y")], {"x": x}, ["y"], encoding=encoding)["y"]
        np.testing.assert_array_equal(out, x)


def test_float32_stays_float32(client: Client) -> None:
    program = [
        tape("t", watch=["x"], body=[op("sum", "x", out="y")]),
        gradient("t", target="y", sources="x", out="g"),
    ]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for encoding in ("json", "base64"):
        g = client.run(program, {"x": x}, ["g"], encoding=encoding)["g"]
        assert g.dtype == np.float32 and g.shape == (2, 3)


# ----- errors -----


def test_unknown_op_maps_to_gradtape_error(client: Client) -> None:
    program = [
        tape(
            "t",
            watch=["x"],
            body=[op("reduce_sum", "x", out="y"), op("multiplyy", "y", "y", out="z")],
        )
    ]
    with pytest.raises(GradtapeError) as info:
        client.run(program, {"x": np.ones(2)})
    err = info.value
    assert err.status == 422
    assert err.code == "unknown_op"
    assert err.pointer in ("/program/0/body/1", "/program/0/body/1/op")
    assert err.title and err.detail
    assert err.problem["status"] == 422
    assert err.request_id


def test_error_codes(client: Client) -> None:
    with pytest.raises(GradtapeError) as info:
        client.run([op("multiply", "nope", 2.0, out="z")])
    assert (info.value.code, info.value.status) == ("unknown_name", 422)
    assert info.value.pointer is not None and info.value.pointer.startswith("/program/0")

    twice = [*one_shot("x"), gradient("t", target="z", sources="x", out="again")]
    with pytest.raises(GradtapeError) as info:
        client.run(twice, {"x": np.ones(2)})
    assert info.value.code == "tape_not_persistent"
    assert info.value.pointer == "/program/2"


def test_error_inside_a_function_has_a_call_stack(client: Client) -> None:
    program = [
        def_("f", ["a"], [op("matmul", "a", "a", out="b"), ret("b")]),
        call("f", "x", out="y"),
    ]
    with pytest.raises(GradtapeError) as info:
        client.run(program, {"x": np.ones((2, 3))})
    assert info.value.code == "shape_mismatch"
    assert info.value.pointer == "/program/0/body/0"
    assert info.value.call_stack == ["/program/1"]


def test_api_key(keyed_server: Server) -> None:
    with Client(keyed_server.url) as anonymous, pytest.raises(GradtapeError) as info:
        anonymous.run(SUM_SQUARE, {"x": np.ones((2, 2))})
    assert info.value.status == 401
    with Client(keyed_server.url, api_key=API_KEY) as keyed:
        assert float(keyed.run(SUM_SQUARE, {"x": np.ones((2, 2))})["dz_dy"]) == 8.0


# ----- codecs and builders, without a server -----


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "bool"])
@pytest.mark.parametrize("encoding", ["json", "base64", "msgpack"])
def test_tensor_codecs_round_trip(dtype: str, encoding: Any) -> None:
    x = (
        (np.arange(6).reshape(2, 3) % 2 == 0)
        if dtype == "bool"
        else (np.arange(6).reshape(2, 3).astype(dtype))
    )
    wire = encode_tensor(x, encoding)
    assert wire["dtype"] == dtype and wire["shape"] == [2, 3]
    back = decode_tensor(wire)
    assert back is not None and back.dtype == x.dtype
    np.testing.assert_array_equal(back, x)


def test_json_tensor_uses_contract_strings_for_non_finite() -> None:
    wire = encode_tensor(np.array([np.nan, np.inf, -np.inf, 1.0]))
    assert wire["data"] == ["NaN", "Infinity", "-Infinity", 1.0]
    np.testing.assert_array_equal(decode_tensor(wire), [np.nan, np.inf, -np.inf, 1.0])
    assert decode_tensor(None) is None
    assert decode_tensor({"dtype": "FP64", "shape": [], "data": "NaN"}) is not None


def test_builders_make_contract_statements() -> None:
    assert op("sum", "x", out="y", axis=(0, 1), keepdims=True) == {
        "op": "sum",
        "args": ["x"],
        "attrs": {"axis": [0, 1], "keepdims": True},
        "out": "y",
    }
    assert tape("t", [], persistent=True, watch="x") == {
        "tape": "t",
        "persistent": True,
        "watch": ["x"],
        "body": [],
    }
    assert gradient("t", target="z", sources=["x", "y"], out=["a", "b"], unconnected="zero") == {
        "gradient": "t",
        "target": "z",
        "sources": ["x", "y"],
        "unconnected": "zero",
        "out": ["a", "b"],
    }
    assert for_("i", (0, 10, 2), []) == {"for": "i", "range": [0, 10, 2], "body": []}
    assert if_("c", [], []) == {"if": "c", "then": [], "else": []}
    assert stop_recording(None, []) == {"stop_recording": None, "body": []}
    literal = op("add", "x", np.array([1.0, 2.0]), out="y")["args"][1]
    assert literal == {"data": [1.0, 2.0], "dtype": "float64", "shape": [2]}


def test_error_from_a_non_problem_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>", headers={"retry-after": "3"})

    with (
        Client("http://gradtape.test", transport=httpx.MockTransport(handler)) as gt,
        pytest.raises(GradtapeError) as info,
    ):
        gt.health()
    assert info.value.status == 502 and info.value.code is None
    assert info.value.retry_after == 3.0
    assert "bad gateway" in (info.value.detail or "")
