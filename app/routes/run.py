"""POST /v1/run, and the plumbing every evaluating route shares: body, admission, encoding."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import msgpack
import numpy as np
import orjson
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from app import metrics, problems
from app.headers import first_values
from app.logging import REQUEST
from app.schemas import (
    JSON,
    MSGPACK,
    RunResponse,
    msgpack_response,
    problem_responses,
    run_request_body,
)
from app.unpack import ALIGN, Fallback, first_bin_offset, unpack_in_place
from engine import EngineError, LimitError, Limits
from engine.program import RunResult, encode_result, run_program
from engine.program.values import (
    ROUNDED_INTEGERS_POSSIBLE,
    WIRE_NAMES,
    RoundedIntegers,
    dtype_of,
    from_raw,
    little_endian,
    pointer_to,
    shape_of,
    wire_array,
)

T = TypeVar("T")

MSGPACK_TYPES = frozenset(
    {"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"}
)
_SCALARS = (int, float, bool, str, type(None))

router = APIRouter(tags=["run"])


# ----- the request body -----
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


# ----- admission: a limiter sized to the cores, plus a small queue -----
class Gate:
    """Runs evaluations in worker threads, at most `concurrency` at once and `queue` waiting;
    beyond that a request is refused at once (503 with Retry-After)."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.capacity = concurrency + queue
        self.admitted = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.admitted >= self.capacity:
            raise problems.over_capacity()
        self.admitted += 1
        metrics.IN_PROGRESS.inc()
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)
        finally:
            self.admitted -= 1
            metrics.IN_PROGRESS.dec()


# ----- the response -----
def render(encoded: dict[str, Any], msgpack_out: bool) -> Response:
    """The 200 response: orjson (NumPy arrays serialized natively) or msgpack."""
    if msgpack_out:
        return Response(packed(encoded), media_type=MSGPACK)
    return Response(orjson.dumps(encoded, option=orjson.OPT_SERIALIZE_NUMPY), media_type=JSON)


def packed(encoded: dict[str, Any]) -> memoryview:
    """The msgpack bytes of a response, packed into a buffer sized for its tensors' bytes up
    front: each tensor is copied once, and the buffer is not grown nor copied again (`packb`
    does both). The view keeps the buffer alive."""
    outputs = encoded.get("outputs")
    size = 4096
    if isinstance(outputs, dict):
        for t in outputs.values():
            if isinstance(t, dict) and isinstance(t.get("bytes"), memoryview):
                size += t["bytes"].nbytes
    packer = msgpack.Packer(use_bin_type=True, autoreset=False, buf_size=size)
    packer.pack(encoded)
    return packer.getbuffer()


def count(seconds: float, outcome: str, ops: int | None) -> None:
    """Record one evaluation in the metrics and in the request's log line."""
    metrics.child(metrics.PROGRAMS, outcome).inc()
    metrics.EVALUATION_SECONDS.observe(seconds)
    if ops is not None:
        metrics.OPS_EXECUTED.inc(ops)
        info = REQUEST.get()
        if info is not None:
            info.ops_executed = ops


# An engine entry point for a route: (request, limits, msgpack_out) -> the response object.
Engine = Callable[[dict[str, Any], Limits, bool], dict[str, Any]]


def evaluate(fn: Engine, body: Body, limits: Limits, *, trial: bool = False) -> Response | None:
    """Decode, run, encode: the whole evaluation. A trial gives None where a limit stops it."""
    request = decode_body(body)
    start = time.perf_counter()
    try:
        rounded = ROUNDED_INTEGERS_POSSIBLE.set(not body.msgpack_in)
        try:
            encoded = fn(request, limits, body.msgpack_out)
        except RoundedIntegers:  # a float beyond 2**63 in a tensor: maybe a rounded integer
            ROUNDED_INTEGERS_POSSIBLE.set(False)
            encoded = fn(decode_body(body, exact=True), limits, body.msgpack_out)
        finally:
            ROUNDED_INTEGERS_POSSIBLE.reset(rounded)
    except LimitError:
        if trial:
            return None
        count(time.perf_counter() - start, "limit_exceeded", None)
        raise
    except EngineError as exc:
        count(time.perf_counter() - start, exc.code, None)
        raise
    count(time.perf_counter() - start, "ok", encoded["stats"].get("ops_executed"))
    return render(encoded, body.msgpack_out)


# A small request is first tried on the event loop under limits that keep the attempt within
# a few milliseconds (no thread hop for the common tiny program). One that passes any of them
# runs again in a worker thread under the service's own limits: programs are pure, so the
# second run answers exactly as a first would have.
INLINE_BODY_BYTES = 16 * 1024
INLINE = Limits(
    max_elements_per_tensor=4_096,
    max_live_elements=65_536,
    max_ops=2_000,
    max_iterations=500,
    max_call_depth=16,
    max_nesting_depth=16,
    timeout_s=0.004,
    max_statements=500,
    max_outputs=100,
    max_output_elements=65_536,
)


def inline_limits(limits: Limits) -> Limits:
    """The inline attempt's limits: INLINE, and never looser than the service's own."""
    return Limits(
        **{
            f.name: min(getattr(limits, f.name), getattr(INLINE, f.name))
            for f in dataclasses.fields(Limits)
        }
    )


async def serve(request: Request, fn: Engine) -> Response:
    """What every evaluating route does: read the body, then evaluate it inline if it is small
    and quick, else off the loop through the gate. (No FastAPI dependencies on this path: each
    would cost a resolution per request.)"""
    state = request.app.state
    body = await read_body(request)
    if len(body.raw) <= INLINE_BODY_BYTES:
        response = evaluate(fn, body, state.inline_limits, trial=True)
        if response is not None:
            return response
    result = await state.gate.run(evaluate, fn, body, state.limits)
    assert result is not None  # only a trial gives None
    return result


def run_encoded(
    request: dict[str, Any], limits: Limits, msgpack_out: bool, functions: Any = None
) -> dict[str, Any]:
    """A run; a `call` may name a stored function of `functions` (the app's repository)."""
    result = run_program(request, limits, program_key(request), functions=functions)
    if msgpack_out:
        return encode_msgpack(result)
    encoded = encode_result(result)
    if result.encoding == "base64":
        verbatim_b64(encoded["outputs"])
    return encoded


def verbatim_b64(outputs: dict[str, Any]) -> None:
    """Each output's base64 string as a JSON fragment, written out as it is: base64 needs no
    escaping, and orjson's string writer would check every character of it. Only for strings of
    the engine's own encoder."""
    for t in outputs.values():
        if t is not None and type(t.get("b64")) is str:
            t["b64"] = orjson.Fragment("".join(('"', t["b64"], '"')))


# A small program is parsed once and kept by its msgpack serialization (the engine's PROGRAMS
# cache): clients send the same program again and again with new inputs. msgpack tells apart
# what JSON would not (NaN from null, 1 from 1.0 from true); programs holding binary tensors or
# integers beyond 64 bits do not serialize and are parsed each time.
PROGRAM_KEY_BYTES = 4096


def program_key(request: dict[str, Any]) -> bytes | None:
    try:
        key: bytes = msgpack.packb(request.get("program"))
    except (TypeError, ValueError, OverflowError):
        return None
    return key if len(key) <= PROGRAM_KEY_BYTES else None


def encode_msgpack(result: RunResult) -> dict[str, Any]:
    """The run response for msgpack: each tensor `{"dtype", "shape", "bytes": <raw LE>}`."""
    return {
        "outputs": {name: _raw_tensor(t) for name, t in result.outputs.items()},
        "warnings": result.warnings,
        "stats": result.stats,
    }


def _raw_tensor(t: Any) -> dict[str, Any] | None:
    if t is None:
        return None
    array = wire_array(np.asarray(getattr(t, "value", t)))
    # msgpack packs a buffer as bin: the bytes are copied once, into the response
    name = WIRE_NAMES[array.dtype]
    return {"dtype": name, "shape": list(array.shape), "bytes": little_endian(array).data}


@router.post(
    "/run",
    response_model=RunResponse,
    summary="Evaluate a program",
    responses={
        200: msgpack_response("MsgpackRunResponse"),
        **problem_responses(400, 401, 413, 422, 503),
    },
    openapi_extra={"requestBody": run_request_body()},
)
async def run(request: Request) -> Response:
    """Evaluate one program (wire format section 3) and return the requested outputs."""
    functions = request.app.state.functions
    return await serve(
        request, lambda body, limits, msgpack_out: run_encoded(body, limits, msgpack_out, functions)
    )
