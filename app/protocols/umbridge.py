"""UM-Bridge 1.0 at the service root (`umbridge.HTTPModel("http://host:port", "name")`).

A model is a stored function whose inputs and outputs all have fixed shapes and floating dtypes.
Its UM-Bridge inputs are the function's inputs without a default, in declared order, and its
outputs all the function's outputs; each travels as the C-order flattening of its tensor, as
float64. Evaluate is `apply`, Gradient the `vjp` of one output, ApplyJacobian the `jvp` along
one input, ApplyHessian the `hvp`: (d2 (sens . output outWrt) / d input inWrt1 d input inWrt2)
applied to `vec` (of input inWrt2's size), sized like input inWrt1.

Answers and errors are the protocol's JSON exactly (no extra keys): errors are
`{"error": {"type", "message"}}` with status 400 and type ModelNotFound, InvalidInput or
UnsupportedFeature; the model name is checked before any other field. JSON has no NaN nor
infinity: a non-finite output value is written as null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import Request
from starlette.responses import Response

from app.protocols import (
    INVALID,
    NOT_FOUND,
    UNSUPPORTED,
    Fault,
    ProtocolError,
    call,
    field_of,
    is_number,
    json_response,
    only_keys,
    protocol_router,
    read_json,
)
from engine.functions import Function, Port

PROTOCOL_VERSION = 1.0
SUPPORT = {"Evaluate": True, "Gradient": True, "ApplyJacobian": True, "ApplyHessian": True}
ERROR_TYPES = {
    NOT_FOUND: "ModelNotFound",
    INVALID: "InvalidInput",
    UNSUPPORTED: "UnsupportedFeature",
}
# Statuses outside the protocol's three errors (a missing API key, a body over the size limit,
# a full queue) keep their HTTP status, with a type that says what happened.
OTHER_TYPES = {401: "Unauthorized", 413: "InvalidInput", 503: "ServiceUnavailable"}


def render(fault: Fault) -> Response:
    if fault.kind in ERROR_TYPES:
        kind, status = ERROR_TYPES[fault.kind], 400
    else:
        kind, status = OTHER_TYPES.get(fault.status, "InvalidInput"), fault.status
    body = {"error": {"type": kind, "message": fault.message}}
    return json_response(body, status, fault.headers)


router = protocol_router(render, tags=["UM-Bridge"])


@dataclass(frozen=True)
class Model:
    """A function as UM-Bridge sees it."""

    function: Function
    inputs: tuple[Port, ...]  # those without a default, declared order
    outputs: tuple[Port, ...]

    @staticmethod
    def serves(function: Function) -> bool:
        ports = (*function.inputs, *function.outputs)
        return all(p.floating and p.shape is not None and None not in p.shape for p in ports)

    @classmethod
    def of(cls, function: Function) -> Model:
        inputs = tuple(p for p in function.inputs if p.default is None)
        return cls(function, inputs, function.outputs)

    def input_sizes(self) -> list[int]:
        return [_size(p) for p in self.inputs]

    def output_sizes(self) -> list[int]:
        return [_size(p) for p in self.outputs]


def _size(port: Port) -> int:
    assert port.shape is not None
    return math.prod(port.shape)  # type: ignore[arg-type]


def _models(request: Request) -> list[Function]:
    return [f for f in request.app.state.functions.list() if Model.serves(f)]


async def _request(request: Request, known: Sequence[str]) -> tuple[dict[str, Any], Model]:
    """The body and its model: the name first, then only the keys this route knows and a
    `config` that is empty (functions take none)."""
    body = await read_json(request)
    name = body.get("name")
    if not isinstance(name, str):
        raise ProtocolError('the body must name a model: {"name": "...", ...}', loc=("name",))
    repository = request.app.state.functions
    found = repository.get(name) if name in repository else None
    if found is None or not Model.serves(found):
        listed = ", ".join(f.name for f in _models(request)) or "none"
        shown = name if len(name) <= 64 else name[:61] + "..."
        raise ProtocolError(
            f"model {shown!r} not found (the models: {listed})", kind=NOT_FOUND, status=400
        )
    only_keys(body, ("name", "config", *known))
    config = body.get("config", {})
    if not isinstance(config, dict) or config:
        raise ProtocolError("`config` must be an empty object: these models take no config")
    return body, Model.of(found)


def _inputs(body: Mapping[str, Any], model: Model) -> dict[str, Any]:
    """`input` (a list of vectors, one per model input) as the function's inputs."""
    given = field_of(body, "input", list, "a list of vectors, one per model input")
    sizes = model.input_sizes()
    if len(given) != len(sizes):
        raise ProtocolError(
            f"`input` has {len(given)} vectors; the model has {len(sizes)} inputs (sizes {sizes})"
        )
    return {
        port.name: _tensor(vector, port, f"input {i}")
        for i, (vector, port) in enumerate(zip(given, model.inputs, strict=True))
    }


def _tensor(vector: Any, port: Port, what: str) -> dict[str, Any]:
    """A flat vector as the port's tensor (a wire tensor: flat `data` with its `shape`)."""
    if not isinstance(vector, list) or not all(is_number(v) for v in vector):
        raise ProtocolError(f"{what} ({port.name}) must be a list of numbers")
    if len(vector) != _size(port):
        raise ProtocolError(
            f"{what} ({port.name}) has length {len(vector)}; expected {_size(port)}"
        )
    assert port.shape is not None
    return {"data": vector, "shape": list(port.shape)}


def _vector(body: Mapping[str, Any], key: str, port: Port) -> dict[str, Any]:
    vector = field_of(body, key, list, f"a list of {_size(port)} numbers")
    return _tensor(vector, port, f"`{key}`")


def _index(body: Mapping[str, Any], key: str, ports: Sequence[Port], what: str) -> Port:
    value = field_of(body, key, int, f"the index of an {what} (an integer)")
    if not 0 <= value < len(ports):
        raise ProtocolError(
            f"`{key}` is {value}; expected an {what} index from 0 to {len(ports) - 1}"
        )
    return ports[value]


def _flat(array: np.ndarray) -> list[float]:
    """A tensor as UM-Bridge's vector: C-order, float64."""
    flat: list[float] = np.asarray(array, np.float64).ravel().tolist()
    return flat


# ----- routes -----
@router.head("/", include_in_schema=False)
async def head_root() -> Response:
    """The service answers at its root (UM-Bridge's conformance suite probes it with HEAD)."""
    return Response()


@router.get("/Info", summary="UM-Bridge: protocol version and models")
async def info(request: Request) -> Response:
    models = [f.name for f in _models(request)]
    return json_response({"protocolVersion": PROTOCOL_VERSION, "models": models})


@router.post("/ModelInfo", summary="UM-Bridge: what a model supports")
async def model_info(request: Request) -> Response:
    await _request(request, ())
    return json_response({"support": SUPPORT})


@router.post("/InputSizes", summary="UM-Bridge: the element count of each input")
async def input_sizes(request: Request) -> Response:
    _, model = await _request(request, ())
    return json_response({"inputSizes": model.input_sizes()})


@router.post("/OutputSizes", summary="UM-Bridge: the element count of each output")
async def output_sizes(request: Request) -> Response:
    _, model = await _request(request, ())
    return json_response({"outputSizes": model.output_sizes()})


@router.post("/Evaluate", summary="UM-Bridge: the outputs (apply)")
async def evaluate(request: Request) -> Response:
    body, model = await _request(request, ("input",))
    inputs = _inputs(body, model)
    answer = await call(request, model.function.apply, inputs)
    return json_response({"output": [_flat(answer.outputs[p.name]) for p in model.outputs]})


@router.post("/Gradient", summary="UM-Bridge: sens . d output / d input (vjp)")
async def gradient(request: Request) -> Response:
    body, model = await _request(request, ("input", "outWrt", "inWrt", "sens"))
    inputs = _inputs(body, model)
    out = _index(body, "outWrt", model.outputs, "output")
    wrt = _index(body, "inWrt", model.inputs, "input")
    sens = _vector(body, "sens", out)
    answer = await call(request, model.function.vjp, inputs, {out.name: sens}, [wrt.name])
    assert answer.gradients is not None
    return json_response({"output": _flat(answer.gradients[wrt.name])})


@router.post("/ApplyJacobian", summary="UM-Bridge: d output / d input . vec (jvp)")
async def apply_jacobian(request: Request) -> Response:
    body, model = await _request(request, ("input", "outWrt", "inWrt", "vec"))
    inputs = _inputs(body, model)
    out = _index(body, "outWrt", model.outputs, "output")
    wrt = _index(body, "inWrt", model.inputs, "input")
    vec = _vector(body, "vec", wrt)
    answer = await call(request, model.function.jvp, inputs, {wrt.name: vec}, [out.name])
    assert answer.tangents is not None
    return json_response({"output": _flat(answer.tangents[out.name])})


@router.post("/ApplyHessian", summary="UM-Bridge: the Hessian of sens . output applied to vec")
async def apply_hessian(request: Request) -> Response:
    known = ("input", "outWrt", "inWrt1", "inWrt2", "sens", "vec")
    body, model = await _request(request, known)
    inputs = _inputs(body, model)
    out = _index(body, "outWrt", model.outputs, "output")
    first = _index(body, "inWrt1", model.inputs, "input")
    second = _index(body, "inWrt2", model.inputs, "input")
    sens = _vector(body, "sens", out)
    vec = _vector(body, "vec", second)
    answer = await call(
        request, model.function.hvp, inputs, {out.name: sens}, {second.name: vec}, [first.name]
    )
    assert answer.hvp is not None
    return json_response({"output": _flat(answer.hvp[first.name])})
