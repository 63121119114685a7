"""The request body of an evaluating route: reading it as it arrives, and decoding it (JSON
or msgpack) with its containers counted and its msgpack tensors made arrays."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import orjson
from fastapi import Request
from starlette.requests import ClientDisconnect

from app import problems
from app.headers import first_values
from app.schemas import JSON
from app.unpack import ALIGN, Fallback, first_bin_offset, unpack_in_place
from engine import EngineError, LimitError
from engine.program.values import dtype_of, from_raw, pointer_to, shape_of

MSGPACK_TYPES = frozenset(
    {"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"}
)
_SCALARS = (int, float, bool, str, type(None))


@dataclass(frozen=True, slots=True)
class Body:
    """The raw request body and how to read it and answer it."""

    raw: bytes | memoryview  # a view of a big body's buffer, see receive_body
    msgpack_in: bool = False
    msgpack_out: bool = False
    max_containers: int = 1_048_576  # arrays and objects in the body (settings override it)
    brackets: int | None = None  # `[` and `{` in raw, if counted while it arrived


# A body of a known length beyond this is copied chunk by chunk into one buffer as it arrives,
# instead of joined after its last chunk (one more pass over it, on the request's critical path).
BODY_BUFFER_BYTES = 256 * 1024


async def receive_body(
    request: Request, length: int | None, msgpack_in: bool = False, count_brackets: bool = False
) -> tuple[bytes | memoryview, int | None]:
    """The request body. One of a declared length of BODY_BUFFER_BYTES or more comes as a
    read-only view of a buffer filled while the chunks arrive; others as bytes. A msgpack body
    is placed so that the data of its first big bin is aligned (app.unpack). With
    `count_brackets`, a body taken chunk by chunk comes with its count of `[` and `{` (see
    decode_body), worked out on each chunk while the next is on its way; else the count is
    None."""
    if length is None or length < BODY_BUFFER_BYTES:
        return await request.body(), None
    buffer: memoryview | None = None
    filled = 0
    brackets = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if buffer is None:
            buffer = _body_buffer(length, chunk if msgpack_in else None)
        end = filled + len(chunk)
        if end > length:
            raise problems.body_over_length(length)
        buffer[filled:end] = chunk
        filled = end
        if count_brackets:
            brackets += _brackets(chunk)
        if not message.get("more_body", False):
            return buffer[:filled].toreadonly(), brackets if count_brackets else None


def _body_buffer(length: int, head: bytes | None) -> memoryview:
    """An uninitialized buffer for a body of `length` bytes, shifted so that the first big bin
    of a msgpack body whose first bytes are `head` lands on an ALIGN boundary."""
    memory = np.empty(length + ALIGN, np.uint8)  # not zeroed: receive_body fills what it uses
    offset = first_bin_offset(head) if head is not None else None
    shift = 0 if offset is None else -(memory.ctypes.data + offset) % ALIGN
    return memoryview(memory.data)[shift : shift + length]


def _media_type(value: str | None) -> str:
    return (value or "").partition(";")[0].strip().lower()


def wants_msgpack(accept: str | None) -> bool:
    """True when the Accept header names msgpack (before or without JSON)."""
    kinds = [_media_type(part) for part in (accept or "").split(",")]
    for kind in kinds:
        if kind in MSGPACK_TYPES:
            return True
        if kind in (JSON, "application/*", "*/*"):
            return False
    return False


async def read_body(request: Request) -> Body:
    """The body and how to read and answer it (the size limit is enforced while it streams
    in, see app.main)."""
    content_type, accept, length = first_values(
        request.scope, b"content-type", b"accept", b"content-length"
    )
    msgpack_in = content_type is not None and _media_type(content_type) in MSGPACK_TYPES
    size = int(length) if length is not None else None
    max_containers = request.app.state.settings.max_body_containers
    raw, brackets = await receive_body(
        request, size, msgpack_in,
        count_brackets=not msgpack_in and size is not None and size > 2 * max_containers,
    )  # fmt: skip
    return Body(
        raw=raw,
        msgpack_in=msgpack_in,
        msgpack_out=accept is not None and wants_msgpack(accept),
        max_containers=max_containers,
        brackets=brackets,
    )


def decode_body(body: Body, *, exact: bool = False) -> dict[str, Any]:
    """The request object; 400 when the parser refuses the bytes, 422 when it is not an object.
    JSON goes through orjson, or with `exact` through Python's json, which keeps integer
    literals beyond 64 bits exact (orjson rounds them to floats; see RoundedIntegers)."""
    if body.msgpack_in:
        counter = _ContainerCount(body.max_containers)
        try:
            data = _unpack_msgpack(body.raw, counter)
        except LimitError:
            raise
        except Exception as exc:  # msgpack raises several unrelated types
            raise problems.invalid_json(f"msgpack: {type(exc).__name__}") from None
        data = _msgpack_tensors(data)
    else:
        if len(body.raw) > 2 * body.max_containers:  # "[]" or "{}": two bytes at least
            n = body.brackets if body.brackets is not None else _brackets(body.raw)
            _check_containers(n, body.max_containers)
        try:
            data = _exact_json(body.raw) if exact else orjson.loads(body.raw)
        except (orjson.JSONDecodeError, json.JSONDecodeError) as exc:
            raise problems.invalid_json(
                f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
    if not isinstance(data, dict):
        raise problems.not_an_object(_json_kind(data))
    return data


# An empty object costs 3 bytes of JSON (1 of msgpack) and 64 of Python: a body of millions of
# them is a memory bomb within any sensible body size, so containers are counted before parsing
# (JSON: counting opening brackets, one vectorized pass, only in a body big enough to exceed the
# limit, and as it arrives where receive_body takes it chunk by chunk; a string holding
# brackets only counts high) or while parsing (msgpack: a hook per container).
BRACKET_CHUNK = 256 * 1024


def _brackets(raw: bytes | memoryview) -> int:
    """The count of `[` and `{` in raw: NumPy's vectorized compares (faster than bytes.count),
    one per byte (`[` and `{` are the two bytes that OR 0x20 turns into `{`), through scratch
    arrays small enough to stay in cache (rather than two compares over the whole body)."""
    octets = np.frombuffer(raw, np.uint8)
    folded = np.empty(min(len(octets), BRACKET_CHUNK), np.uint8)
    hits = np.empty(len(folded), np.bool_)
    n = 0
    for start in range(0, len(octets), BRACKET_CHUNK):
        chunk = octets[start : start + BRACKET_CHUNK]
        k = len(chunk)
        np.bitwise_or(chunk, 0x20, out=folded[:k])
        np.equal(folded[:k], 0x7B, out=hits[:k])
        n += int(np.count_nonzero(hits[:k]))
    return n


def _check_containers(n: int, limit: int) -> None:
    if n > limit:
        raise LimitError(
            f"the body holds {n} arrays and objects or more; the limit is {limit} (send big "
            "tensors as flat data with a shape, or as b64)",
            pointer="",
        )


class _ContainerCount:
    __slots__ = ("limit", "n")

    def __init__(self, limit: int) -> None:
        self.limit, self.n = limit, 0

    def __call__(self, container: Any) -> Any:
        self.n += 1
        if self.n > self.limit:
            _check_containers(self.n, self.limit)
        return container


def _unpack_msgpack(raw: bytes | memoryview, counter: _ContainerCount) -> Any:
    """A big body's objects with its bins as views into the body (app.unpack); any body the
    walker leaves, and every small one, through msgpack (bins copied)."""
    if isinstance(raw, memoryview):
        try:
            return unpack_in_place(raw, counter)
        except Fallback:
            counter.n = 0
    return msgpack.unpackb(
        raw, raw=False, strict_map_key=True, object_hook=counter, list_hook=counter
    )


def _exact_json(raw: bytes | memoryview) -> Any:
    def refuse(constant: str) -> None:  # NaN and Infinity literals are not JSON
        raise problems.invalid_json(f"{constant} is not a JSON value; write it as a string")

    try:
        return json.loads(bytes(raw), parse_constant=refuse)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise problems.invalid_json(f"not valid JSON ({type(exc).__name__})") from None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _msgpack_tensors(value: Any) -> Any:
    """msgpack tensors `{"bytes": <bin>, "dtype", "shape"}` become `{"data": <ndarray>, ...}`,
    in place; binary data anywhere else is refused. Iterative: nesting depth costs no stack."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            for key in node:
                if type(key) is not str:  # msgpack maps may have binary keys; JSON objects not
                    raise EngineError(
                        f"map keys must be strings, found {type(key).__name__}",
                        code="bad_value",
                        pointer=pointer,
                    )
            items: Any = node.items()
        elif isinstance(node, list):
            if all(type(v) in _SCALARS for v in node):
                continue
            items = enumerate(node)
        else:
            continue
        for key, child in items:
            where = pointer_to(pointer, key)
            if isinstance(child, dict) and isinstance(child.get("bytes"), bytes | memoryview):
                node[key] = child = _from_bytes(child, where)
            elif isinstance(child, bytes | memoryview | msgpack.ExtType | msgpack.Timestamp):
                raise EngineError(
                    "binary data is only allowed as a tensor's `bytes`",
                    code="bad_value",
                    pointer=where,
                )
            if isinstance(child, dict | list):
                stack.append((child, where))
    return value


def _from_bytes(obj: dict[str, Any], pointer: str) -> dict[str, Any]:
    """`{"bytes", "dtype", "shape", ...}` as the engine's object form with an ndarray `data`."""
    if "data" in obj or "b64" in obj:
        key = "data" if "data" in obj else "b64"
        raise EngineError(
            f"a tensor has one of data, b64, bytes; {key!r} and 'bytes' given",
            code="bad_tensor",
            pointer=pointer_to(pointer, key),
        )
    for key in ("dtype", "shape"):
        if key not in obj:
            raise EngineError(
                f"a bytes tensor needs {key!r}",
                code="missing_key",
                pointer=pointer_to(pointer, key),
            )
    dtype = dtype_of(obj["dtype"], pointer_to(pointer, "dtype"))
    shape = shape_of(obj["shape"], pointer_to(pointer, "shape"))
    array = from_raw(obj["bytes"], dtype, shape, "bytes", pointer_to(pointer, "bytes"))
    rest = {k: v for k, v in obj.items() if k != "bytes"}
    return {**rest, "data": array}
