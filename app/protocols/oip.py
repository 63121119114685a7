"""Open Inference Protocol v2 (KServe, Triton; `tritonclient.http` with JSON tensors) under `/v2`.

Every stored function is a model. `GET /v2/health/live` and `/v2/health/ready` answer
`{"live": true}` / `{"ready": true}`; `GET /v2/models/{name}` the metadata (inputs and outputs
with their `datatype`, `FP64` ..., and `shape`, -1 for a size that varies or a rank that is not
known); `GET /v2/models/{name}/ready`; `POST /v2/models/{name}/infer` evaluates the function
(`apply`: this protocol has no derivatives) on JSON tensors, `data` flat (row-major) or nested,
and answers every output, or those the request names, with flat `data`. Triton's binary tensor
extension is not served (tritonclient: `binary_data=False`). Every model has one version, "1":
the routes under `/v2/models/{name}/versions/1` are the same. Errors are `{"error": "message"}`,
404 for an unknown model, 400 for anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from fastapi import Request
from starlette.responses import Response

from app.protocols import (
    NOT_FOUND,
    Fault,
    ProtocolError,
    call,
    field_of,
    function,
    json_response,
    only_keys,
    protocol_router,
    read_json,
)
from engine.functions import Function, Port
from engine.program.values import DTYPE_ALIASES, encode

DATATYPES = {name: alias for alias, name in DTYPE_ALIASES.items()}  # float64 -> FP64
PLATFORM = "gradtape"
VERSION = "1"  # every model has this one version
BINARY_HEADER = "inference-header-content-length"
TENSOR_KEYS = ("name", "shape", "datatype", "data", "parameters")
REQUEST_KEYS = ("id", "parameters", "inputs", "outputs")
OUTPUT_KEYS = ("name", "parameters")


def render(fault: Fault) -> Response:
    status = 404 if fault.kind == NOT_FOUND else 400 if fault.status in (400, 422) else fault.status
    return json_response({"error": fault.message}, status, fault.headers)


router = protocol_router(render, prefix="/v2", tags=["Open Inference Protocol v2"])


def _datatype(dtype: Any) -> str:
    name = np.dtype(dtype).name
    return DATATYPES.get(name, name.upper())


def _port(port: Port) -> dict[str, Any]:
    shape = [-1] if port.shape is None else [-1 if d is None else d for d in port.shape]
    return {"name": port.name, "datatype": _datatype(port.dtype), "shape": shape}


def metadata(found: Function) -> dict[str, Any]:
    return {
        "name": found.name,
        "versions": [VERSION],
        "platform": PLATFORM,
        "inputs": [_port(p) for p in found.inputs],
        "outputs": [_port(p) for p in found.outputs],
    }


# ----- routes -----
@router.get("/health/live", summary="OIP: the server is live")
async def live() -> Response:
    return json_response({"live": True})


@router.get("/health/ready", summary="OIP: the server is ready")
async def ready(request: Request) -> Response:
    state = request.app.state
    ok = bool(state.ready and not state.draining)
    return json_response({"ready": ok}, 200 if ok else 503)


@router.get("", summary="OIP: server metadata")
async def server_metadata() -> Response:
    return json_response({"name": PLATFORM, "version": "1.0.0", "extensions": []})


def model(request: Request, name: str, version: str | None = None) -> Function:
    """The function `name`; a model has one version, "1" (404 for any other)."""
    found = function(request, name)
    if version is not None and version != VERSION:
        shown = version if len(version) <= 16 else version[:13] + "..."
        raise ProtocolError(f"model {name!r} has no version {shown!r} (its version: {VERSION})",
                            kind=NOT_FOUND)  # fmt: skip
    return found


@router.get("/models/{name}", summary="OIP: model metadata")
@router.get("/models/{name}/versions/{version}", summary="OIP: model metadata")
async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
    return json_response(metadata(model(request, name, version)))


@router.get("/models/{name}/ready", summary="OIP: the model is ready")
@router.get("/models/{name}/versions/{version}/ready", summary="OIP: the model is ready")
async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
    model(request, name, version)
    return json_response({"name": name, "ready": True})


@router.post("/models/{name}/infer", summary="OIP: inference (the function's apply)")
@router.post("/models/{name}/versions/{version}/infer", summary="OIP: inference")
async def infer(request: Request, name: str, version: str | None = None) -> Response:
    found = model(request, name, version)
    if request.headers.get(BINARY_HEADER) is not None:
        raise ProtocolError(
            "binary tensor data is not accepted: send JSON tensors (tritonclient: "
            "binary_data=False)"
        )
    body = await read_json(request)
    only_keys(body, REQUEST_KEYS)
    request_id = body.get("id", "")
    if not isinstance(request_id, str):
        raise ProtocolError("`id` must be a string")
    inputs = _inputs(field_of(body, "inputs", list, "a list of tensors"))
    wanted = _outputs(body.get("outputs"), found)
    answer = await call(request, found.apply, inputs)
    outputs = [_output(n, answer.outputs[n]) for n in wanted]
    reply: dict[str, Any] = {"model_name": found.name, "model_version": VERSION, "id": request_id}
    reply["outputs"] = outputs
    return json_response(reply)


def _inputs(tensors: list[Any]) -> dict[str, Any]:
    """The request's tensors as the function's inputs (wire tensors `{data, shape, dtype}`;
    the datatype names FP64 ... are the wire's aliases)."""
    inputs: dict[str, Any] = {}
    for i, tensor in enumerate(tensors):
        what = f"inputs[{i}]"
        if not isinstance(tensor, dict):
            raise ProtocolError(f"{what} must be an object {{name, shape, datatype, data}}")
        only_keys(tensor, TENSOR_KEYS, what)
        name = field_of(tensor, "name", str, f"{what}: the input's name")
        shape = field_of(tensor, "shape", list, f"{what}: a list of sizes")
        datatype = field_of(tensor, "datatype", str, f"{what}: a datatype such as FP64")
        if "data" not in tensor:
            raise ProtocolError(f"{what} ({name}) has no `data` (binary tensors are not accepted)")
        parameters = tensor.get("parameters", {})
        if not isinstance(parameters, dict) or "binary_data_size" in parameters:
            raise ProtocolError(f"{what} ({name}): binary tensor data is not accepted, send `data`")
        if name in inputs:
            raise ProtocolError(f"input {name!r} is given twice")
        inputs[name] = {"data": tensor["data"], "shape": shape, "dtype": datatype}
    return inputs


def _outputs(requested: Any, found: Function) -> list[str]:
    names = [p.name for p in found.outputs]
    if requested is None:
        return names
    if not isinstance(requested, list):
        raise ProtocolError("`outputs` must be a list of {name}")
    wanted = []
    for i, item in enumerate(requested):
        if not isinstance(item, dict):
            raise ProtocolError(f"outputs[{i}] must be an object {{name}}")
        only_keys(item, OUTPUT_KEYS, f"outputs[{i}]")
        name = field_of(item, "name", str, f"outputs[{i}]: an output's name")
        if name not in names:
            raise ProtocolError(f"{found.name} has no output {name!r} (its outputs: {names})")
        wanted.append(name)
    return wanted


def _output(name: str, array: np.ndarray) -> Mapping[str, Any]:
    wire = encode(np.ravel(array))
    assert wire is not None
    shape = list(np.shape(array))
    return {"name": name, "datatype": _datatype(array.dtype), "shape": shape, "data": wire["data"]}
