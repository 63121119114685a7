"""Big bodies: read into one buffer as they arrive, msgpack bins left in place and aligned."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import msgpack
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import ClientDisconnect, Request

from app.body import (
    BODY_BUFFER_BYTES,
    Body,
    _ContainerCount,
    decode_body,
    receive_body,
)
from app.problems import HTTPProblem
from app.unpack import (
    ALIGN,
    BIG_BIN,
    MAX_ARRAY,
    MAX_DEPTH,
    MAX_ITEMS,
    Fallback,
    first_bin_offset,
    unpack_in_place,
)
from engine import EngineError, LimitError
from engine.program.values import from_raw
from tests.app.wire import assert_problem

RUN = "/v1/run"
MSGPACK = "application/msgpack"


# Every msgpack type the walker reads: the widths of ints, floats of both sizes, str and bin of
# every length class, arrays and maps (fix, 16 bits).
def documents(single_float: bool) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.floats(allow_nan=True, width=32 if single_float else 64)
        | st.text(max_size=40)
        | st.text(min_size=32, max_size=300)
        | st.binary(max_size=300)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=8), inner, max_size=20)
        ),
        max_leaves=60,
    )


def walked(data: bytes) -> Any:
    return unpack_in_place(memoryview(data), lambda container: container)


def c_unpacked(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=True)


@settings(max_examples=300, deadline=None)
@given(st.booleans().flatmap(lambda single: st.tuples(st.just(single), documents(single))))
def test_the_walker_reads_what_msgpack_reads(case: tuple[bool, Any]) -> None:
    single_float, doc = case
    data = msgpack.packb(doc, use_bin_type=True, use_single_float=single_float)
    got = walked(data)
    # Packed again, the two agree byte for byte (NaN included; a view packs as bin).
    assert msgpack.packb(got, use_bin_type=True) == msgpack.packb(
        c_unpacked(data), use_bin_type=True
    )


def test_bins_are_read_only_views_of_the_body() -> None:
    payload = bytes(range(256)) * 40
    data = msgpack.packb({"x": {"bytes": payload, "dtype": "uint8"}, "n": [1, 2.5, None]})
    got = walked(data)
    view = got["x"]["bytes"]
    assert isinstance(view, memoryview) and view.readonly
    assert bytes(view) == payload
    assert got["n"] == [1, 2.5, None]


def test_containers_are_counted_as_msgpack_counts_them() -> None:
    data = msgpack.packb({"program": [{"op": "exp", "args": [[1.0]]}] * 30})
    for limit in (10, 91, 92):  # 1 + 1 + 30 * 3 containers
        errors = []
        for unpack in (
            lambda counter: unpack_in_place(memoryview(data), counter),
            lambda counter: msgpack.unpackb(data, object_hook=counter, list_hook=counter),
        ):
            try:
                unpack(_ContainerCount(limit))
                errors.append(None)
            except LimitError as exc:
                errors.append(str(exc))
        assert errors[0] == errors[1]
        assert (errors[0] is None) == (limit >= 92)


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb({"x": msgpack.ExtType(5, b"abc")}),
        msgpack.packb({1: "int key"}, strict_types=False),
        msgpack.packb({b"k": "bytes key"}, use_bin_type=True),
        msgpack.packb({"x": [1, 2, 3]})[:-1],  # truncated
        msgpack.packb({"x": b"abcd"}, use_bin_type=True)[:-2],  # a bin cut short
        msgpack.packb({"x": 1}) + b"\x01",  # trailing data
        msgpack.packb({"x": list(range(MAX_ARRAY + 1))}),
        msgpack.packb({"x": [[1.0] * 100] * (MAX_ITEMS // 50)}),
        msgpack.packb(functools.reduce(lambda inner, _: [inner], range(MAX_DEPTH + 1), [])),
        b"\xc1",  # never used
        b"\xa2\xff\xfe",  # not UTF-8
    ],
    ids=[
        "ext",
        "int-key",
        "bytes-key",
        "truncated",
        "short-bin",
        "trailing",
        "long-array",
        "many-items",
        "deep",
        "c1",
        "utf8",
    ],
)
def test_what_the_walker_leaves_to_msgpack(data: bytes) -> None:
    with pytest.raises(Fallback):
        walked(data)


@pytest.mark.parametrize(
    "doc",
    [
        {"inputs": {"x": msgpack.ExtType(5, b"abc")}, "program": []},
        {"inputs": {1: {"data": [1.0]}}, "program": []},
        {
            "inputs": {"x": {"bytes": b"\0" * 8, "dtype": "float64", "shape": [1]}},
            "program": list(range(MAX_ARRAY + 1)),
        },
        [1, 2, 3],
    ],
    ids=["ext", "int-key", "long-array", "not-an-object"],
)
def test_a_body_the_walker_leaves_answers_as_before(doc: Any) -> None:
    data = msgpack.packb(doc, use_bin_type=True, strict_types=False)
    outcomes = []
    for raw in (data, memoryview(data)):  # a memoryview is a big body's buffer
        try:
            outcomes.append(("ok", decode_body(Body(raw, msgpack_in=True))))
        except (EngineError, HTTPProblem) as exc:
            outcomes.append((type(exc).__name__, getattr(exc, "code", None), str(exc)))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("prefix", [0, 1, 5, 100])
def test_first_bin_offset_finds_the_first_big_bin(prefix: int) -> None:
    big = np.arange(BIG_BIN, dtype=np.uint8).tobytes()
    doc = {"pad": "p" * prefix, "small": b"s" * 10, "x": {"bytes": big}, "y": {"bytes": big[::-1]}}
    data = msgpack.packb(doc, use_bin_type=True)
    offset = first_bin_offset(data)
    assert offset is not None and data[offset : offset + len(big)] == big
    assert first_bin_offset(data[: offset - 1]) is None  # the head ends before its header ends
    assert first_bin_offset(msgpack.packb({"x": b"s" * 10}, use_bin_type=True)) is None


# ----- receive_body -----
def _request(chunks: list[bytes], disconnect: bool = False) -> Request:
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    if disconnect:
        messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return Request({"type": "http", "method": "POST", "headers": []}, receive)


def _receive(chunks: list[bytes], length: int | None, msgpack_in: bool = False) -> Any:
    raw, brackets = asyncio.run(receive_body(_request(chunks), length, msgpack_in))
    assert brackets is None  # not asked for
    return raw


def _split(data: bytes, sizes: list[int]) -> list[bytes]:
    out, start = [], 0
    for size in sizes:
        out.append(data[start : start + size])
        start += size
    return [*out, data[start:]]


@pytest.mark.parametrize("sizes", [[], [0], [1, 65536], [7, 0, 100_000, 3]])
def test_a_big_body_arrives_whole_in_one_buffer(sizes: list[int]) -> None:
    data = np.random.default_rng(0).integers(0, 256, BODY_BUFFER_BYTES + 12345, np.uint8)
    data = data.tobytes()
    got = _receive(_split(data, sizes), len(data))
    assert isinstance(got, memoryview) and got.readonly and bytes(got) == data


def test_a_small_or_unsized_body_arrives_as_bytes() -> None:
    assert _receive([b"ab", b"cd"], 4) == b"abcd"
    assert _receive([b"x" * BODY_BUFFER_BYTES, b"y"], None) == b"x" * BODY_BUFFER_BYTES + b"y"


def test_a_body_shorter_than_declared_is_what_came() -> None:
    got = _receive([b"a" * BODY_BUFFER_BYTES], BODY_BUFFER_BYTES + 10)
    assert bytes(got) == b"a" * BODY_BUFFER_BYTES


def test_a_body_longer_than_declared_is_refused() -> None:
    with pytest.raises(HTTPProblem) as info:
        _receive([b"a" * BODY_BUFFER_BYTES, b"bb"], BODY_BUFFER_BYTES + 1)
    assert (info.value.status, info.value.code) == (400, "bad_content_length")


def test_a_client_leaving_mid_body_is_a_disconnect() -> None:
    with pytest.raises(ClientDisconnect):
        asyncio.run(receive_body(_request([b"a" * 10], disconnect=True), BODY_BUFFER_BYTES))


@pytest.mark.parametrize("pad", range(ALIGN + 1))
def test_the_first_big_bin_lands_aligned(pad: int) -> None:
    x = np.arange(BODY_BUFFER_BYTES // 8, dtype="<f8")
    doc = {
        "p": "q" * pad,
        "inputs": {"x": {"bytes": x.tobytes(), "dtype": "float64", "shape": [x.size]}},
    }
    data = msgpack.packb(doc, use_bin_type=True)
    view = _receive(_split(data, [1000]), len(data), msgpack_in=True)
    request = decode_body(Body(view, msgpack_in=True))
    array = request["inputs"]["x"]["data"]
    assert array.flags.aligned and not array.flags.writeable
    assert np.shares_memory(array, np.frombuffer(view, np.uint8))  # no copy
    assert array.ctypes.data % ALIGN == 0
    np.testing.assert_array_equal(array, x)


def test_an_unaligned_bin_becomes_an_aligned_copy() -> None:
    raw = memoryview(np.arange(9 * 8 + 1, dtype=np.uint8))[1:].toreadonly()
    array = from_raw(raw, np.dtype(np.float64), (9,), "bytes", "/x")
    assert array.flags.aligned
    np.testing.assert_array_equal(array, np.frombuffer(bytes(raw), "<f8"))


# ----- over HTTP -----
def _sum_squares(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "inputs": inputs,
        "program": [
            {
                "tape": "t",
                "watch": ["x", "w"],
                "body": [
                    {"op": "multiply", "args": ["x", "w"], "out": "y"},
                    {"op": "sum", "args": ["y"], "out": "s"},
                ],
            },
            {"gradient": "t", "target": "s", "sources": ["x", "w"], "out": ["gx", "gw"]},
        ],
        "outputs": ["gx", "gw"],
    }


def test_big_msgpack_request_with_two_bins(client: TestClient) -> None:
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(70_000), rng.standard_normal(70_000).astype(np.float32)
    request = _sum_squares(
        {
            "x": {"bytes": x.tobytes(), "dtype": "float64", "shape": [x.size]},
            "w": {"bytes": w.tobytes(), "dtype": "float32", "shape": [w.size]},
        }
    )
    data = msgpack.packb(request, use_bin_type=True)
    assert len(data) > BODY_BUFFER_BYTES
    response = client.post(RUN, content=data, headers={"content-type": MSGPACK, "accept": MSGPACK})
    assert response.status_code == 200, response.content
    out = msgpack.unpackb(response.content)["outputs"]
    gx, gw = out["gx"], out["gw"]
    np.testing.assert_allclose(np.frombuffer(gx["bytes"], "<f8"), w.astype(np.float64))
    np.testing.assert_allclose(np.frombuffer(gw["bytes"], "<f4"), x.astype(np.float32))


def test_big_json_body_with_an_integer_beyond_int64(client: TestClient) -> None:
    # A big body takes the buffer path; the exact JSON parser then reads a view of it.
    body = b'{"inputs": {"x": [1, 9223372036854775808]},%s"program": []}' % (
        b" " * BODY_BUFFER_BYTES
    )
    assert_problem(client.post(RUN, content=body), 422, "bad_tensor", "/inputs/x")


@pytest.mark.parametrize("sizes", [[], [1, 65536], [7, 0, 100_000, 3]])
def test_brackets_are_counted_as_a_json_body_arrives(sizes: list[int]) -> None:
    rng = np.random.default_rng(2)
    data = rng.choice(np.frombuffer(b"[]{}x,1", np.uint8), BODY_BUFFER_BYTES + 999).tobytes()
    raw, brackets = asyncio.run(
        receive_body(_request(_split(data, sizes)), len(data), count_brackets=True)
    )
    assert bytes(raw) == data
    assert brackets == data.count(b"[") + data.count(b"{")


def test_decode_takes_the_count_made_on_arrival() -> None:
    nested = b"[[[]]]"  # three containers, a limit of two
    with pytest.raises(LimitError):
        decode_body(Body(nested, max_containers=2))
    with pytest.raises(HTTPProblem) as info:  # a count of 1 given: parsed, then not an object
        decode_body(Body(nested, max_containers=2, brackets=1))
    assert info.value.status == 422


@pytest.mark.parametrize(("rows", "status"), [(100_000, 200), (160_000, 422)])
def test_a_big_json_body_is_held_to_the_container_limit(
    make_client: Any, rows: int, status: int
) -> None:
    client = make_client(max_body_containers=150_000)
    body = b'{"inputs": {"x": [%s]}, "program": []}' % b",".join([b"[1.0]"] * rows)
    assert len(body) > max(BODY_BUFFER_BYTES, 2 * 150_000)
    response = client.post(RUN, content=body)
    if status == 200:
        assert response.status_code == 200, response.text
    else:
        assert_problem(response, 422, "limit_exceeded", "")
