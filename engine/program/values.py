"""Wire tensors <-> NumPy arrays: the three input forms, dtype aliases, "NaN"/"Infinity" strings."""

from __future__ import annotations

import binascii
import math
from contextvars import ContextVar
from typing import Any

import numpy as np
import pybase64  # SIMD base64: many times faster than the standard library's on big tensors

from ..errors import ProgramError
from ..tensor import DTYPE_ALIASES, DTYPES, Tensor
from .syntax import quoted

NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
NOT_A_NUMBER = (
    'a string that is not a number (the strings a tensor may hold: "NaN", "Infinity", "-Infinity")'
)
ENCODINGS = ("json", "base64")

DATA_KEYS = frozenset({"data", "dtype", "shape"})
B64_KEYS = frozenset({"b64", "dtype", "shape"})
INPUT_KEY = "variable"
INPUT_KEYS = DATA_KEYS | {INPUT_KEY}  # the keys of an input's object form

# A fast JSON parser (orjson) reads an integer literal beyond 64 bits as a float, and 10**20
# would pass as 1e20 where the contract makes it an error. A caller that parsed with one sets
# this; a tensor then holding a float that large (rare) raises RoundedIntegers, and the caller
# parses the body again exactly (Python's json keeps every integer) and runs it once more.
ROUNDED_INTEGERS_POSSIBLE: ContextVar[bool] = ContextVar("rounded_integers", default=False)


class RoundedIntegers(Exception):
    """The data may hold integer literals the parser rounded to floats: parse exactly."""


WIRE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_INT64 = np.iinfo(np.int64)
_TWO_63 = 2.0**63
_F64, _I64, _BOOL = np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)


def pointer_to(base: str, key: str | int) -> str:
    """`base` extended by one reference token, escaped as RFC 6901 says."""
    return f"{base}/{str(key).replace('~', '~0').replace('/', '~1')}"


def bad_tensor(message: str, pointer: str) -> ProgramError:
    return ProgramError(message, code="bad_tensor", pointer=pointer)


# ----- decoding -----
def decode(value: Any, pointer: str) -> np.ndarray:
    """A wire tensor (section 2 of the API: bare value, data object or b64 object) as an array."""
    if isinstance(value, dict):
        return _decode_object(value, pointer, DATA_KEYS)
    return _from_data(value, None, pointer)


def decode_input(value: Any, pointer: str) -> tuple[np.ndarray, bool]:
    """An entry of the request's `inputs`: a tensor, whose object forms may add `variable`."""
    if not isinstance(value, dict):
        return _from_data(value, None, pointer), False
    variable = value.get(INPUT_KEY, False)
    if not isinstance(variable, bool):
        raise ProgramError(
            "variable must be true or false",
            code="bad_value",
            pointer=pointer_to(pointer, INPUT_KEY),
        )
    return _decode_object(value, pointer, INPUT_KEYS), variable


def dtype_of(name: Any, pointer: str) -> np.dtype:
    """The NumPy dtype a wire dtype name (or KServe alias) stands for."""
    dtype = DTYPES.get(DTYPE_ALIASES.get(name, name)) if isinstance(name, str) else None
    if dtype is None:
        raise ProgramError(
            f"unknown dtype; use one of {', '.join([*DTYPES, *DTYPE_ALIASES])}",
            code="dtype_error",
            pointer=pointer,
        )
    return dtype


def _decode_object(obj: dict[str, Any], pointer: str, allowed: frozenset[str]) -> np.ndarray:
    if "b64" in obj:
        allowed = allowed - {"data"} | {"b64"}
    for key in obj:
        if key not in allowed:
            raise ProgramError(
                f"unknown key {quoted(key)} in a tensor (its keys: {', '.join(sorted(allowed))})",
                code="unknown_key",
                pointer=pointer_to(pointer, key),
            )
    dtype = dtype_of(obj["dtype"], pointer_to(pointer, "dtype")) if "dtype" in obj else None
    shape = shape_of(obj["shape"], pointer_to(pointer, "shape")) if "shape" in obj else None
    if "b64" in obj:
        for key in ("dtype", "shape"):
            if key not in obj:
                raise ProgramError(
                    f"a b64 tensor needs {key!r}",
                    code="missing_key",
                    pointer=pointer_to(pointer, key),
                )
        assert dtype is not None and shape is not None
        return _from_b64(obj["b64"], dtype, shape, pointer_to(pointer, "b64"))
    if "data" not in obj:
        raise ProgramError(
            "a tensor object needs 'data' (or 'b64')",
            code="missing_key",
            pointer=pointer_to(pointer, "data"),
        )
    data_pointer = pointer_to(pointer, "data")
    array = _from_data(obj["data"], dtype, data_pointer)
    if shape is None or array.shape == shape:
        return array
    if array.ndim > 1:
        raise bad_tensor(
            f"nested data of shape {list(array.shape)} does not match shape {list(shape)}",
            data_pointer,
        )
    if array.size != math.prod(shape):
        raise bad_tensor(
            f"{array.size} elements given for shape {list(shape)} ({math.prod(shape)} elements)",
            data_pointer,
        )
    return array.reshape(shape)


def shape_of(value: Any, pointer: str) -> tuple[int, ...]:
    """A wire shape: a list of at most 64 non-negative integers."""
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise bad_tensor("shape must be a list of non-negative integers", pointer)
    if len(value) > 64:
        raise bad_tensor("a tensor has at most 64 dimensions", pointer)
    return tuple(value)


def _from_data(data: Any, dtype: np.dtype | None, pointer: str) -> np.ndarray:
    """Nested lists through np.asarray in one call; element-wise Python only when that fails."""
    array = _asarray(data)
    if array is not None and array.dtype.kind in "US":  # the non-finite spellings, most likely
        array = _asarray(_without_non_finite(data, 0))
    if array is None or array.dtype.kind not in "fiub" or _may_hide_big_ints(array, data):
        if array is not None and ROUNDED_INTEGERS_POSSIBLE.get():
            raise RoundedIntegers
        array = _slow(data, pointer)  # reads what NumPy could not, or says what is wrong
    elif array.dtype.kind == "u":
        raise bad_tensor("an integer is outside the int64 range", pointer)
    elif dtype is None and array.dtype.kind == "i" and array.dtype != _I64:
        array = array.astype(_I64)  # int32 on platforms whose default integer is 32-bit
    return array if dtype is None else _cast(array, dtype, pointer)


def _may_hide_big_ints(array: np.ndarray, data: Any) -> bool:
    """NumPy reads [1, 2**63] as float64: a list with a float beyond the int64 range may hold
    such an integer, so the slow path looks (legitimate floats that large are rare)."""
    if array.dtype.kind != "f" or not array.size or isinstance(data, np.ndarray):
        return False
    if array.size <= 64:  # a few numbers: Python's comparisons beat NumPy's call overhead
        return any(_TWO_63 <= abs(v) < math.inf for v in array.ravel().tolist())
    with np.errstate(invalid="ignore"):
        big = np.abs(array) >= _TWO_63
    return bool(big.any()) and bool(np.isfinite(array[big]).any())


def _asarray(data: Any) -> np.ndarray | None:
    try:
        return np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None


def _without_non_finite(data: Any, depth: int) -> Any:
    """`data` with "NaN", "Infinity" and "-Infinity" replaced by floats, one row at a time."""
    if data.__class__ is str:
        return NON_FINITE.get(data, data)
    if data.__class__ is not list or depth > 64:
        return data
    if data and data[0].__class__ is list:
        return [_without_non_finite(row, depth + 1) for row in data]
    return [NON_FINITE.get(v, v) if v.__class__ is str else v for v in data]


def _slow(data: Any, pointer: str) -> np.ndarray:
    """Data np.asarray could not read directly: non-finite strings, ragged lists, junk."""
    if isinstance(data, str):
        if data in NON_FINITE:
            return np.asarray(NON_FINITE[data])
        raise bad_tensor(NOT_A_NUMBER, pointer)
    try:
        cells = np.array(data, dtype=object)
    except (ValueError, TypeError, RecursionError):
        raise bad_tensor("ragged or too deeply nested lists", pointer) from None
    kind: np.dtype[Any] = _BOOL
    flat: list[Any] = cells.ravel().tolist() if cells.ndim else [cells.item()]
    for i, v in enumerate(flat):
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            if not _INT64.min <= v <= _INT64.max:
                raise bad_tensor("an integer is outside the int64 range", pointer)
            kind = _F64 if kind is _F64 else _I64
        elif isinstance(v, float):
            kind = _F64
        elif isinstance(v, str) and v in NON_FINITE:
            flat[i] = NON_FINITE[v]
            kind = _F64
        elif isinstance(v, list):
            raise bad_tensor("ragged lists: every row must have the same length", pointer)
        elif isinstance(v, str):
            raise bad_tensor(NOT_A_NUMBER, pointer)
        else:
            raise bad_tensor(f"a tensor cannot hold {type(v).__name__} values", pointer)
    try:
        return np.array(flat, dtype=kind).reshape(cells.shape)
    except OverflowError:
        raise bad_tensor("a number is too large for float64", pointer) from None


def _cast(array: np.ndarray, dtype: np.dtype, pointer: str) -> np.ndarray:
    if array.dtype == dtype:
        return array
    if dtype.kind == "i" and array.size and array.dtype.kind in "if":
        if array.dtype.kind == "f" and not bool(
            np.all(np.isfinite(array) & (array == np.trunc(array)))
        ):
            raise bad_tensor(f"non-integer values for dtype {dtype.name}", pointer)
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise bad_tensor(f"values outside the range of {dtype.name}", pointer)
    with np.errstate(all="ignore"):  # float64 -> float16 may overflow to infinity: a value
        return array.astype(dtype)


def _from_b64(text: Any, dtype: np.dtype, shape: tuple[int, ...], pointer: str) -> np.ndarray:
    if not isinstance(text, str):
        raise bad_tensor("b64 must be a base64 string", pointer)
    try:
        raw = pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_tensor(
            "b64 is not valid base64 (standard alphabet, with padding)", pointer
        ) from None
    return from_raw(raw, dtype, shape, "b64", pointer)


def from_raw(
    raw: bytes | memoryview, dtype: np.dtype, shape: tuple[int, ...], what: str, pointer: str
) -> np.ndarray:
    """Raw little-endian tensor bytes (of a b64 string or a msgpack bin) as an array (a view of
    them where the dtype is native)."""
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise bad_tensor(
            f"{what} holds {len(raw)} bytes; shape {list(shape)} of {dtype.name} needs {expected}",
            pointer,
        )
    if dtype == _BOOL and raw and max(raw) > 1:
        raise bad_tensor("bool bytes must be 0 or 1", pointer)
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(shape)
    if not array.dtype.isnative:
        return array.astype(dtype)
    return array if array.flags.aligned else array.copy()  # NumPy is slow on unaligned data


def little_endian(array: np.ndarray) -> np.ndarray:
    """A wire array's bytes in the wire's order (contiguous, little-endian), for b64 or bin."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


# ----- encoding -----
def encode(t: Tensor | np.ndarray | None, encoding: str = "json") -> dict[str, Any] | None:
    """An output on the wire: {"dtype", "shape", "data"} or {"dtype", "shape", "b64"}; None stays.

    With "json", `data` is the ndarray itself when every value is finite (the app serializes
    arrays natively); only float16 and non-finite values go through Python lists.
    """
    if t is None:
        return None
    array = np.asarray(t.value if isinstance(t, Tensor) else t)
    array = wire_array(array)
    name = WIRE_NAMES[array.dtype]  # dtype.name is built anew on each access: slow
    head: dict[str, Any] = {"dtype": name, "shape": list(array.shape)}
    if encoding == "base64":
        head["b64"] = pybase64.b64encode_as_string(little_endian(array).data)
        return head
    floating = array.dtype.kind == "f"
    if array.ndim == 0:  # a number: checked in Python (np.isfinite(...).all() costs more)
        v = array.item()
        head["data"] = v if not floating or math.isfinite(v) else _non_finite_text(v)
        return head
    finite = not floating or bool(np.isfinite(array).all())
    if finite and name != "float16":
        head["data"] = np.ascontiguousarray(array)
    elif finite:
        head["data"] = array.tolist()
    else:
        cells = array.astype(object)
        cells[np.isnan(array)] = "NaN"
        cells[np.isposinf(array)] = "Infinity"
        cells[np.isneginf(array)] = "-Infinity"
        head["data"] = cells.tolist()
    return head


def _non_finite_text(v: float) -> str:
    return "NaN" if math.isnan(v) else "Infinity" if v > 0 else "-Infinity"


def wire_array(array: np.ndarray) -> np.ndarray:
    """The array in one of the wire's six dtypes, native byte order (uint8, intp on odd
    platforms, big-endian arrays... converted)."""
    if array.dtype in WIRE_NAMES:
        return array
    kind = array.dtype.kind
    if kind in "iu":
        return array.astype(_I64)
    if kind == "f":
        return array.astype(_F64)
    if kind == "b":
        return array.astype(_BOOL)
    raise ProgramError(f"cannot encode a tensor of dtype {array.dtype}", code="dtype_error")
