"""The tensor codec: the three wire forms in, JSON and base64 out, and every refusal's pointer."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from engine import EngineError, Tensor
from engine.program.values import decode, decode_input, dtype_of, encode, pointer_to

P = "/inputs/x"


def refused(value: Any, code: str = "bad_tensor", pointer: str = P) -> EngineError:
    with pytest.raises(EngineError) as info:
        decode(value, P)
    assert (info.value.code, info.value.pointer) == (code, pointer), str(info.value)
    return info.value


def b64(array: np.ndarray) -> str:
    return base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode()


# ----- bare values: dtype inferred -----
@pytest.mark.parametrize(
    ("value", "dtype", "shape"),
    [
        (3.0, "float64", ()),
        (3, "int64", ()),
        (True, "bool", ()),
        ([[1, 2], [3, 4]], "int64", (2, 2)),
        ([1, 2.5], "float64", (2,)),
        ([True, False], "bool", (2,)),
        ([], "float64", (0,)),
        ([[], []], "float64", (2, 0)),
        (["NaN", 1], "float64", (2,)),
        ([[1, "Infinity"], ["-Infinity", 2]], "float64", (2, 2)),
    ],
)
def test_bare_values_infer_their_dtype(value: Any, dtype: str, shape: tuple[int, ...]) -> None:
    array = decode(value, P)
    assert (array.dtype.name, array.shape) == (dtype, shape)


def test_non_finite_strings_become_floats() -> None:
    array = decode([["NaN", "Infinity"], ["-Infinity", 1.5]], P)
    assert np.isnan(array[0, 0]) and array[0, 1] == np.inf and array[1, 0] == -np.inf
    assert array[1, 1] == 1.5
    assert np.isnan(decode({"data": "NaN"}, P))
    assert decode({"data": ["Infinity"], "dtype": "float32"}, P).dtype == np.float32


def test_int64_bounds() -> None:
    assert decode([2**63 - 1, -(2**63)], P).dtype == np.int64
    refused([2**63])
    refused([-(2**63) - 1])
    refused([1, 2**70])
    refused(2**64)
    refused([2**70, 1.0])
    refused([1, 2**63])  # NumPy alone would read this as float64
    refused([["NaN", 1], [2**63, 2]])
    assert decode([1e19, 1.0], P).tolist() == [1e19, 1.0]  # large floats are still floats


@pytest.mark.parametrize(
    "value",
    [
        [[1, 2], [3]],
        [[1, 2], 3],
        [1, [2]],
        [[1, 2], [3, [4, 5]]],
        ["1.5"],
        ["nan"],
        [1, None],
        None,
        "abc",
        [{"a": 1}],
        [1, "NaN", "x"],
    ],
)
def test_junk_is_refused(value: Any) -> None:
    refused(value)


def test_refusals_do_not_echo_the_payload() -> None:
    for value in (["SECRET_VALUE"], [1, 2**64 + 12345], {"data": 1, "dtype": "SECRET_VALUE"}):
        with pytest.raises(EngineError) as info:
            decode(value, P)
        assert "SECRET" not in str(info.value) and "12345" not in str(info.value)


def test_deeply_nested_lists_are_refused_without_recursion_errors() -> None:
    value: Any = [1.0]
    for _ in range(10_000):
        value = [value]
    refused(value)


# ----- data objects -----
def test_data_object_with_dtype_and_flat_or_nested_data() -> None:
    flat = decode({"data": [1, 2, 3, 4, 5, 6], "dtype": "float32", "shape": [2, 3]}, P)
    nested = decode({"data": [[1, 2, 3], [4, 5, 6]], "shape": [2, 3]}, P)
    assert flat.dtype == np.float32 and flat.shape == (2, 3)
    np.testing.assert_array_equal(flat, nested)
    assert decode({"data": [5.0], "shape": []}, P).shape == ()
    assert decode({"data": 5.0, "shape": [1]}, P).shape == (1,)
    assert decode({"data": [], "shape": [0, 3]}, P).shape == (0, 3)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("FP16", "float16"),
        ("FP32", "float32"),
        ("FP64", "float64"),
        ("INT32", "int32"),
        ("INT64", "int64"),
        ("BOOL", "bool"),
    ],
)
def test_kserve_dtype_spellings(alias: str, name: str) -> None:
    assert dtype_of(alias, P).name == name
    assert decode({"data": [1, 0], "dtype": alias}, P).dtype.name == name


def test_data_object_refusals() -> None:
    refused({"data": [1, 2, 3], "shape": [2, 2]}, pointer=f"{P}/data")
    refused({"data": [[1, 2], [3, 4]], "shape": [4, 1]}, pointer=f"{P}/data")
    refused({"data": [1, 2], "shape": [2, -1]}, pointer=f"{P}/shape")
    refused({"data": [1, 2], "shape": "2"}, pointer=f"{P}/shape")
    refused({"data": [1.5], "dtype": "int64"}, pointer=f"{P}/data")
    refused({"data": ["NaN"], "dtype": "int32"}, pointer=f"{P}/data")
    refused({"data": [2**40], "dtype": "int32"}, pointer=f"{P}/data")
    refused({"data": [1], "dtype": "complex64"}, "dtype_error", f"{P}/dtype")
    refused({"data": [1], "dtype": ["float32"]}, "dtype_error", f"{P}/dtype")
    refused({"data": [1], "bogus": 1}, "unknown_key", f"{P}/bogus")
    refused({"data": [1], "variable": True}, "unknown_key", f"{P}/variable")
    refused({"dtype": "float32"}, "missing_key", f"{P}/data")


def test_integral_floats_may_be_given_an_integer_dtype() -> None:
    array = decode({"data": [1.0, -2.0], "dtype": "int32"}, P)
    assert array.dtype == np.int32 and array.tolist() == [1, -2]


def test_inputs_may_be_variables() -> None:
    array, variable = decode_input({"data": [1.0], "variable": True}, P)
    assert variable and array.tolist() == [1.0]
    assert decode_input([1.0], P)[1] is False
    with pytest.raises(EngineError) as info:
        decode_input({"data": [1.0], "variable": "yes"}, P)
    assert (info.value.code, info.value.pointer) == ("bad_value", f"{P}/variable")


# ----- b64 objects -----
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "bool"])
def test_b64_round_trip(dtype: str) -> None:
    original = (np.arange(6) % 3).astype(dtype).reshape(2, 3)
    decoded = decode({"b64": b64(original), "dtype": dtype, "shape": [2, 3]}, P)
    assert decoded.dtype == original.dtype and decoded.shape == (2, 3)
    np.testing.assert_array_equal(decoded, original)
    wire = encode(Tensor(decoded), "base64")
    assert wire == {"dtype": dtype, "shape": [2, 3], "b64": b64(original)}


def test_b64_is_little_endian() -> None:
    text = base64.b64encode(b"\x01\x00\x00\x00").decode()
    assert decode({"b64": text, "dtype": "int32", "shape": []}, P) == 1


def test_b64_refusals() -> None:
    good = b64(np.zeros(2, np.float32))
    refused({"b64": "not base64!", "dtype": "float32", "shape": [2]}, pointer=f"{P}/b64")
    refused({"b64": good[:-1], "dtype": "float32", "shape": [2]}, pointer=f"{P}/b64")
    refused({"b64": good, "dtype": "float32", "shape": [3]}, pointer=f"{P}/b64")
    refused({"b64": good, "dtype": "float64", "shape": [2]}, pointer=f"{P}/b64")
    refused({"b64": 12, "dtype": "float32", "shape": [2]}, pointer=f"{P}/b64")
    refused(
        {"b64": base64.b64encode(b"\x02").decode(), "dtype": "bool", "shape": [1]},
        pointer=f"{P}/b64",
    )
    refused({"b64": good, "dtype": "float128", "shape": [2]}, "dtype_error", f"{P}/dtype")
    refused({"b64": good, "shape": [2]}, "missing_key", f"{P}/dtype")
    refused({"b64": good, "dtype": "float32"}, "missing_key", f"{P}/shape")
    refused(
        {"b64": good, "dtype": "float32", "shape": [2], "data": [1, 2]}, "unknown_key", f"{P}/data"
    )


def test_huge_shapes_are_refused_before_allocation() -> None:
    refused({"b64": "", "dtype": "float64", "shape": [10**9, 10**9]}, pointer=f"{P}/b64")
    refused({"data": [], "shape": [10**9, 10**9]}, pointer=f"{P}/data")


# ----- encoding -----
def test_encode_json_passes_finite_arrays_through() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    wire = encode(Tensor(array))
    assert wire is not None
    assert wire["dtype"] == "float32" and wire["shape"] == [2, 3]
    assert isinstance(wire["data"], np.ndarray)
    np.testing.assert_array_equal(wire["data"], array)
    ints = encode(np.array([1, 2], np.int32))
    assert ints is not None and isinstance(ints["data"], np.ndarray)


def test_encode_non_finite_as_strings() -> None:
    wire = encode(Tensor(np.array([[np.nan, np.inf], [-np.inf, 1.0]])))
    assert wire is not None and wire["data"] == [["NaN", "Infinity"], ["-Infinity", 1.0]]
    assert encode(np.float64("nan")) == {"dtype": "float64", "shape": [], "data": "NaN"}
    assert encode(np.array(-np.inf, np.float32))["data"] == "-Infinity"  # type: ignore[index]
    assert encode(np.array(np.inf, np.float16))["data"] == "Infinity"  # type: ignore[index]
    assert encode(np.array(65504.0, np.float16))["data"] == 65504.0  # type: ignore[index]


def test_encode_float16_as_lists_and_scalars_as_python_values() -> None:
    half = encode(np.array([0.5, 1.5], np.float16))
    assert half == {"dtype": "float16", "shape": [2], "data": [0.5, 1.5]}
    for value, data in ((np.array(2.5), 2.5), (np.array(3), 3), (np.array(True), True)):
        wire = encode(Tensor(value))
        assert wire is not None and wire["data"] == data and type(wire["data"]) is type(data)
        assert wire["shape"] == []


def test_encode_round_trips_through_decode() -> None:
    for array in (np.array([[1.5, np.nan]]), np.array([1, 2], np.int64), np.array([True])):
        wire = encode(array)
        assert wire is not None
        data = wire["data"].tolist() if isinstance(wire["data"], np.ndarray) else wire["data"]
        again = decode({"data": data, "dtype": wire["dtype"], "shape": wire["shape"]}, P)
        np.testing.assert_array_equal(again, array)


def test_encode_none_and_other_dtypes() -> None:
    assert encode(None) is None
    assert encode(np.array([1, 2], np.uint8))["dtype"] == "int64"  # type: ignore[index]


def test_pointer_tokens_are_escaped() -> None:
    assert pointer_to("/inputs", "a/b~c") == "/inputs/a~1b~0c"
    assert pointer_to("/program", 3) == "/program/3"
