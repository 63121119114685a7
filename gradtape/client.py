"""HTTP client for the gradtape service: program builders, tensor codecs, sync and async clients.

A program is a list of JSON statements (wire format section 4). The helpers below build them::

    from gradtape import Client, gradient, op, tape

    with Client("http://127.0.0.1:8000") as gt:
        result = gt.run(
            [
                tape("t", persistent=True, watch=["x"], body=[
                    op("reduce_sum", "x", out="y"),
                    op("multiply", "y", "y", out="z"),
                ]),
                gradient("t", target="z", sources="x", out="dz_dx"),
            ],
            inputs={"x": np.ones((2, 2))},
            outputs=["dz_dx"],
        )
    result["dz_dx"]  # array([[8., 8.], [8., 8.]])

Transports: ``encoding="json"`` (tensors as nested lists), ``"base64"`` (tensors as base64 of
their little-endian bytes, inside JSON) and ``"msgpack"`` (a msgpack body, tensors as raw bytes).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import numpy as np

# The `client` extra's packages are fast paths (orjson, SIMD base64) and the binary transport
# (msgpack); a client-only install (httpx and NumPy) works without them.
try:
    import orjson
except ImportError:
    orjson = None  # type: ignore[assignment]

try:
    import msgpack
except ImportError:
    msgpack = None  # type: ignore[assignment]

try:
    from pybase64 import b64decode, b64encode_as_string
except ImportError:
    from base64 import b64decode

    def b64encode_as_string(raw: Any) -> str:
        return base64.b64encode(raw).decode("ascii")


__all__ = [
    "DTYPES",
    "AsyncClient",
    "Client",
    "Encoding",
    "GradtapeError",
    "RunResult",
    "batch_jacobian",
    "build_request",
    "call",
    "decode_tensor",
    "def_",
    "encode_tensor",
    "for_",
    "forward",
    "gradient",
    "if_",
    "jacobian",
    "jvp",
    "op",
    "ret",
    "stop_recording",
    "tape",
    "tensor",
    "watch",
    "while_",
]

Encoding = Literal["json", "base64", "msgpack"]
Json = Any
Names = str | Sequence[str]

#: Wire dtypes and their little-endian NumPy types (wire format section 2).
DTYPES: dict[str, np.dtype[Any]] = {
    "float16": np.dtype("<f2"),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
    "bool": np.dtype("bool"),
}
_ALIASES = {
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
}
_NON_FINITE_OUT = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}
_MSGPACK = "application/msgpack"
DEFAULT_TIMEOUT = 60.0


# ----- errors -----


class GradtapeError(Exception):
    """A non-2xx answer, with the fields of its problem+json body (wire format section 6)."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        pointer: str | None = None,
        *,
        call_stack: list[str] | None = None,
        problem: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.pointer = pointer
        self.call_stack = call_stack or []
        self.problem = dict(problem or {})
        self.request_id = request_id
        self.retry_after = retry_after
        where = f" at {pointer}" if pointer else ""
        super().__init__(f"{status} {code or title or 'error'}{where}: {detail or title or ''}")

    @classmethod
    def from_response(cls, response: httpx.Response) -> GradtapeError:
        """Build the error from a response, whatever its body (problem+json or not)."""
        problem: dict[str, Any] = {}
        try:
            parsed = _parse_body(response)
        except Exception:  # a proxy's HTML page, a truncated body
            parsed = None
        if isinstance(parsed, dict):
            problem = parsed
        retry = response.headers.get("retry-after")
        try:
            retry_after = float(retry) if retry is not None else None
        except ValueError:
            retry_after = None
        detail = problem.get("detail")
        if detail is None and not problem:
            detail = response.text[:200] or None
        return cls(
            response.status_code,
            problem.get("code"),
            problem.get("title"),
            detail,
            problem.get("pointer"),
            call_stack=problem.get("call_stack"),
            problem=problem,
            request_id=response.headers.get("x-request-id"),
            retry_after=retry_after,
        )


# ----- tensors -----


def _wire_dtype(array: np.ndarray) -> str:
    name = "bool" if array.dtype == np.bool_ else array.dtype.name
    if name not in DTYPES:
        raise TypeError(f"dtype {array.dtype} has no wire form; use one of {sorted(DTYPES)}")
    return name


def _json_data(array: np.ndarray) -> Json:
    """Nested lists, with NaN and infinities as the strings the contract uses."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        obj = array.astype(object)
        obj[np.isnan(array)] = "NaN"
        obj[np.isposinf(array)] = "Infinity"
        obj[np.isneginf(array)] = "-Infinity"
        return obj.tolist()
    return array.tolist()


def encode_tensor(value: Any, encoding: Encoding = "json", *, variable: bool = False) -> Json:
    """A wire tensor (wire format section 2) for a NumPy array, a scalar or nested lists.

    ``json`` gives ``{"data", "dtype", "shape"}``, ``base64`` gives ``{"b64", "dtype", "shape"}``
    and ``msgpack`` gives ``{"bytes", "dtype", "shape"}`` (raw little-endian bytes). A dict is
    taken as an already encoded tensor and passed through.
    """
    if isinstance(value, Mapping):
        out = dict(value)
        if variable:
            out["variable"] = True
        return out
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.dtype.itemsize > 8:
        array = array.astype(np.float64)
    dtype = _wire_dtype(array)
    shape = list(array.shape)
    out: dict[str, Any]
    if encoding == "json":
        out = {"data": _json_data(array), "dtype": dtype, "shape": shape}
    else:
        raw = np.ascontiguousarray(array, dtype=DTYPES[dtype]).tobytes()
        if encoding == "base64":
            out = {"b64": b64encode_as_string(raw), "dtype": dtype, "shape": shape}
        elif encoding == "msgpack":
            out = {"bytes": raw, "dtype": dtype, "shape": shape}
        else:
            raise ValueError(f"unknown encoding {encoding!r}")
    if variable:
        out["variable"] = True
    return out


def tensor(value: Any, dtype: str | None = None, *, variable: bool = False) -> Json:
    """A JSON tensor object for an input or literal, e.g. ``tensor(1.0, variable=True)``."""
    array = np.asarray(value, dtype=DTYPES[_ALIASES.get(dtype, dtype)] if dtype else None)
    return encode_tensor(array, "json", variable=variable)


def _replace_non_finite(data: Any) -> Any:
    if isinstance(data, list):
        return [_replace_non_finite(d) for d in data]
    if isinstance(data, str):
        return _NON_FINITE_OUT[data]
    return data


def decode_tensor(obj: Any) -> np.ndarray | None:
    """A NumPy array for a wire tensor (any of its forms); ``None`` for JSON null."""
    if obj is None:
        return None
    if not isinstance(obj, Mapping):
        return np.asarray(_replace_non_finite(obj))
    name = _ALIASES.get(obj.get("dtype", ""), obj.get("dtype"))
    dtype = DTYPES[name] if name else None
    shape = obj.get("shape")
    if "b64" in obj or "bytes" in obj:
        raw = b64decode(obj["b64"]) if "b64" in obj else bytes(obj["bytes"])
        array = np.frombuffer(raw, dtype=dtype or DTYPES["float64"]).copy()
        return array.reshape(shape if shape is not None else array.shape)
    data = obj["data"]
    try:
        array = np.array(data, dtype=dtype)
    except (ValueError, TypeError):  # non-finite strings inside
        array = np.array(_replace_non_finite(data), dtype=dtype)
    return array.reshape(shape) if shape is not None else array


# ----- statements (wire format section 4) -----


def _names(value: Names) -> str | list[str]:
    return value if isinstance(value, str) else list(value)


def _arg(value: Any) -> Json:
    """A statement argument: a name (str) stays a name; anything else is a literal tensor."""
    if isinstance(value, np.generic | np.ndarray):
        return encode_tensor(value)
    if isinstance(value, str | Mapping | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return list(value)
    raise TypeError(f"cannot use {type(value).__name__} as an argument")


def _attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()}


def op(
    name: str, *args: Any, out: Names, attrs: Mapping[str, Any] | None = None, **kwattrs: Any
) -> Json:
    """``{"op": name, "args": [...], "attrs": {...}, "out": out}``; keyword args are attrs."""
    stmt: dict[str, Any] = {"op": name, "args": [_arg(a) for a in args]}
    merged = {**(attrs or {}), **kwattrs}
    if merged:
        stmt["attrs"] = _attrs(merged)
    stmt["out"] = _names(out)
    return stmt


def tape(
    name: str,
    body: Sequence[Json],
    *,
    persistent: bool = False,
    watch: Names | None = None,
    watch_accessed_variables: bool = True,
) -> Json:
    """A ``with tf.GradientTape(...) as name`` block."""
    stmt: dict[str, Any] = {"tape": name}
    if persistent:
        stmt["persistent"] = True
    if not watch_accessed_variables:
        stmt["watch_accessed_variables"] = False
    if watch:
        stmt["watch"] = [watch] if isinstance(watch, str) else list(watch)
    stmt["body"] = list(body)
    return stmt


def watch(names: Names, on: str | None = None) -> Json:
    """Watch more tensors on tape ``on`` (default: the innermost active tape)."""
    stmt: dict[str, Any] = {"watch": [names] if isinstance(names, str) else list(names)}
    if on is not None:
        stmt["on"] = on
    return stmt


def _grad_like(
    kind: str,
    tape_name: str,
    target: Names,
    sources: Names,
    out: Names,
    unconnected: str | None,
    output_gradients: Names | None = None,
) -> Json:
    stmt: dict[str, Any] = {kind: tape_name, "target": _names(target), "sources": _names(sources)}
    if output_gradients is not None:
        stmt["output_gradients"] = _names(output_gradients)
    if unconnected is not None:
        stmt["unconnected"] = unconnected
    stmt["out"] = _names(out)
    return stmt


def gradient(
    tape: str,
    *,
    target: Names,
    sources: Names,
    out: Names,
    output_gradients: Names | None = None,
    unconnected: str | None = None,
) -> Json:
    """``out = tape.gradient(target, sources, output_gradients, unconnected_gradients)``."""
    return _grad_like("gradient", tape, target, sources, out, unconnected, output_gradients)


def jacobian(
    tape: str, *, target: Names, sources: Names, out: Names, unconnected: str | None = None
) -> Json:
    """``out = tape.jacobian(target, sources)``: shape ``target.shape + source.shape``."""
    return _grad_like("jacobian", tape, target, sources, out, unconnected)


def batch_jacobian(
    tape: str, *, target: Names, sources: Names, out: Names, unconnected: str | None = None
) -> Json:
    """``out = tape.batch_jacobian(target, source)``: the first axis is the batch."""
    return _grad_like("batch_jacobian", tape, target, sources, out, unconnected)


def for_(name: str, range_: int | str | Sequence[int | str], body: Sequence[Json]) -> Json:
    """``for name in range(...)``: ``range_`` is N, ``[start, stop]`` or ``[start, stop, step]``."""
    rng = range_ if isinstance(range_, int | str) else list(range_)
    return {"for": name, "range": rng, "body": list(body)}


def if_(cond: str, then: Sequence[Json], else_: Sequence[Json] | None = None) -> Json:
    """Branch on the truth value of the scalar named ``cond``."""
    stmt: dict[str, Any] = {"if": cond, "then": list(then)}
    if else_ is not None:
        stmt["else"] = list(else_)
    return stmt


def while_(cond: str, body: Sequence[Json], max_iterations: int | None = None) -> Json:
    """Loop while the scalar named ``cond`` is true; the body rebinds it."""
    stmt: dict[str, Any] = {"while": cond, "body": list(body)}
    if max_iterations is not None:
        stmt["max_iterations"] = max_iterations
    return stmt


def def_(name: str, params: Sequence[str], body: Sequence[Json]) -> Json:
    """Define a function (top level only); its body has its own scope."""
    return {"def": name, "params": list(params), "body": list(body)}


def call(name: str, *args: Any, out: Names) -> Json:
    """``out = name(*args)``."""
    return {"call": name, "args": [_arg(a) for a in args], "out": _names(out)}


def ret(names: Names) -> Json:
    """``return names`` inside a function body."""
    return {"return": _names(names)}


def stop_recording(tape: str | None, body: Sequence[Json]) -> Json:
    """Run ``body`` without recording on ``tape`` (``None``: on every active tape)."""
    return {"stop_recording": tape, "body": list(body)}


def forward(
    name: str, primals: Sequence[str], tangents: Sequence[Any], body: Sequence[Json]
) -> Json:
    """A forward-mode accumulator block (``tf.autodiff.ForwardAccumulator``)."""
    return {
        "forward": name,
        "primals": list(primals),
        "tangents": [_arg(t) for t in tangents],
        "body": list(body),
    }


def jvp(acc: str, *, target: str, out: str, unconnected: str | None = None) -> Json:
    """``out = acc.jvp(target)``."""
    stmt: dict[str, Any] = {"jvp": acc, "target": target}
    if unconnected is not None:
        stmt["unconnected"] = unconnected
    stmt["out"] = out
    return stmt


# ----- requests and results -----


@dataclass
class RunResult:
    """Decoded outputs (NumPy arrays, ``None`` for an unconnected gradient), warnings, stats."""

    outputs: dict[str, np.ndarray | None]
    warnings: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None

    def __getitem__(self, name: str) -> np.ndarray | None:
        return self.outputs[name]

    def __contains__(self, name: object) -> bool:
        return name in self.outputs

    @classmethod
    def from_body(cls, body: Mapping[str, Any], request_id: str | None = None) -> RunResult:
        outputs = {k: decode_tensor(v) for k, v in (body.get("outputs") or {}).items()}
        return cls(
            outputs, list(body.get("warnings") or []), dict(body.get("stats") or {}), request_id
        )


def build_request(
    program: Sequence[Json],
    inputs: Mapping[str, Any] | None = None,
    outputs: Iterable[str] | None = None,
    encoding: Encoding = "json",
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of a run request; NumPy inputs are encoded for the transport ``encoding``."""
    body: dict[str, Any] = {}
    if inputs:
        body["inputs"] = {k: encode_tensor(v, encoding) for k, v in inputs.items()}
    body["program"] = list(program)
    if outputs is not None:
        body["outputs"] = list(outputs)
    opts = dict(options or {})
    if encoding == "base64":
        opts.setdefault("encoding", "base64")
    if opts:
        body["options"] = opts
    return body


def _dumps(body: Any) -> bytes:
    if orjson is not None:
        return orjson.dumps(body)
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _parse_body(response: httpx.Response) -> Any:
    ctype = response.headers.get("content-type", "")
    if ctype.startswith(_MSGPACK) or ctype.startswith("application/x-msgpack"):
        if msgpack is None:  # pragma: no cover
            raise RuntimeError("msgpack responses need msgpack: pip install 'gradtape[client]'")
        return msgpack.unpackb(response.content, raw=False)
    if orjson is not None:
        return orjson.loads(response.content)
    return json.loads(response.content)


def _encode(body: Any, encoding: Encoding) -> tuple[bytes, dict[str, str]]:
    if encoding == "msgpack":
        if msgpack is None:  # pragma: no cover
            raise RuntimeError("msgpack transport: needs msgpack (pip install 'gradtape[client]')")
        return msgpack.packb(body, use_bin_type=True), {
            "content-type": _MSGPACK,
            "accept": _MSGPACK,
        }
    return _dumps(body), {"content-type": "application/json", "accept": "application/json"}


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"user-agent": "gradtape-python"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def _result(response: httpx.Response) -> Any:
    if response.is_success:
        return _parse_body(response)
    raise GradtapeError.from_response(response)


def _check_body(
    program: Sequence[Json],
    inputs: Mapping[str, Any] | None,
    outputs: Iterable[str] | None,
    check: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body = build_request(program, inputs, outputs)
    body["check"] = dict(check or {})
    return body


def _minimize_body(
    program: Sequence[Json],
    inputs: Mapping[str, Any] | None,
    loss: str,
    optimizer: Mapping[str, Any],
    steps: int,
    variables: Sequence[str] | None,
    stop: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body = build_request(program, inputs)
    body.update(loss=loss, optimizer=dict(optimizer), steps=steps)
    if variables is not None:
        body["variables"] = list(variables)
    if stop is not None:
        body["stop"] = dict(stop)
    return body


def _decode_minimize(body: dict[str, Any]) -> dict[str, Any]:
    for key in ("variables", "outputs"):
        if isinstance(body.get(key), dict):
            body[key] = {k: decode_tensor(v) for k, v in body[key].items()}
    return body


class Client:
    """A synchronous client: ``Client(base_url, api_key=None, timeout=60.0)``.

    Use it as a context manager, or call ``close()``, to release its connection pool.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=_headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, body: Any = None, encoding: Encoding = "json") -> Any:
        """Send one request and return its parsed body; raise GradtapeError on non-2xx."""
        content, headers = (None, {}) if body is None else _encode(body, encoding)
        response = self._http.request(method, path, content=content, headers=headers)
        return _result(response)

    def run(
        self,
        program: Sequence[Json],
        inputs: Mapping[str, Any] | None = None,
        outputs: Iterable[str] | None = None,
        encoding: Encoding = "json",
        options: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """``POST /v1/run``: evaluate ``program`` and return its decoded outputs."""
        body = build_request(program, inputs, outputs, encoding, options)
        content, headers = _encode(body, encoding)
        response = self._http.post("/v1/run", content=content, headers=headers)
        return RunResult.from_body(_result(response), response.headers.get("x-request-id"))

    def check(
        self,
        program: Sequence[Json],
        inputs: Mapping[str, Any] | None = None,
        outputs: Iterable[str] | None = None,
        check: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/check``: compare every gradient statement with central differences."""
        result: dict[str, Any] = self.request(
            "POST", "/v1/check", _check_body(program, inputs, outputs, check)
        )
        return result

    def minimize(
        self,
        program: Sequence[Json],
        inputs: Mapping[str, Any] | None,
        *,
        loss: str,
        optimizer: Mapping[str, Any],
        steps: int,
        variables: Sequence[str] | None = None,
        stop: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/minimize``: gradient descent on the server; tensors come back decoded."""
        body = _minimize_body(program, inputs, loss, optimizer, steps, variables, stop)
        return _decode_minimize(self.request("POST", "/v1/minimize", body))

    def ops(self) -> list[dict[str, Any]]:
        """``GET /v1/ops``: the op catalog."""
        return list(self.request("GET", "/v1/ops")["ops"])

    def health(self) -> dict[str, Any]:
        """``GET /healthz``."""
        result: dict[str, Any] = self.request("GET", "/healthz")
        return result

    def ready(self) -> bool:
        """``GET /readyz``: True while the service takes traffic."""
        return self._http.get("/readyz").status_code == 200


class AsyncClient:
    """The asyncio twin of :class:`Client` (same methods, awaitable)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=_headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, body: Any = None, encoding: Encoding = "json"
    ) -> Any:
        """Send one request and return its parsed body; raise GradtapeError on non-2xx."""
        content, headers = (None, {}) if body is None else _encode(body, encoding)
        response = await self._http.request(method, path, content=content, headers=headers)
        return _result(response)

    async def run(
        self,
        program: Sequence[Json],
        inputs: Mapping[str, Any] | None = None,
        outputs: Iterable[str] | None = None,
        encoding: Encoding = "json",
        options: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """``POST /v1/run``: evaluate ``program`` and return its decoded outputs."""
        body = build_request(program, inputs, outputs, encoding, options)
        content, headers = _encode(body, encoding)
        response = await self._http.post("/v1/run", content=content, headers=headers)
        return RunResult.from_body(_result(response), response.headers.get("x-request-id"))

    async def check(
        self,
        program: Sequence[Json],
        inputs: Mapping[str, Any] | None = None,
        outputs: Iterable[str] | None = None,
        check: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/check``."""
        result: dict[str, Any] = await self.request(
            "POST", "/v1/check", _check_body(program, inputs, outputs, check)
        )
        return result

    async def minimize(
        self,
        program: Sequence[Json],
        inputs: Mapping[str, Any] | None,
        *,
        loss: str,
        optimizer: Mapping[str, Any],
        steps: int,
        variables: Sequence[str] | None = None,
        stop: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/minimize``."""
        body = _minimize_body(program, inputs, loss, optimizer, steps, variables, stop)
        return _decode_minimize(await self.request("POST", "/v1/minimize", body))

    async def ops(self) -> list[dict[str, Any]]:
        """``GET /v1/ops``."""
        return list((await self.request("GET", "/v1/ops"))["ops"])

    async def health(self) -> dict[str, Any]:
        """``GET /healthz``."""
        result: dict[str, Any] = await self.request("GET", "/healthz")
        return result

    async def ready(self) -> bool:
        """``GET /readyz``."""
        return (await self._http.get("/readyz")).status_code == 200
