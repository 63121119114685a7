"""Tesseract, one per function, under `/tesseract/{name}`
(`tesseract_core.Tesseract.from_url("http://host:port/tesseract/NAME")`, and
`tesseract_jax.apply_tesseract` under jax.grad, jax.jvp, jax.jacrev, jax.jacfwd).

Endpoints: `GET health`, `GET openapi.json` (a document for that function alone, paths relative
to the prefix, with the `Apply_InputSchema` / `Apply_OutputSchema` components and the
`differentiable_arrays` of `ApplyInputSchema` / `ApplyOutputSchema` that tesseract-jax reads),
`POST apply`, `abstract_eval`, `jacobian`, `jacobian_vector_product` (the `jvp`) and
`vector_jacobian_product` (the `vjp`). Arrays use Tesseract's encoding,
`{"object_type": "array", "shape", "dtype", "data": {"buffer", "encoding"}}` with `json` (nested
lists) or `base64` (raw little-endian bytes) buffers; answers are base64 when the Accept header
asks for `application/json+base64`, json otherwise. Files (`binref`) and compressed buffers are
refused. Errors are 422 `{"detail": [{"type", "loc", "msg"}]}` (the shape the Tesseract client
turns into a pydantic ValidationError); an unknown function is 404.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from fastapi import Request
from starlette.responses import Response

from app.protocols import (
    INVALID,
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
from engine.program.values import WIRE_NAMES, encode

ARRAY_KEYS = ("object_type", "shape", "dtype", "data")
DATA_KEYS = ("buffer", "encoding", "compression")
ENCODINGS = {"json": "data", "base64": "b64"}  # Tesseract's buffer encoding -> our wire key
BASE64_ACCEPT = "json+base64"


def render(fault: Fault) -> Response:
    status = {NOT_FOUND: 404, INVALID: 422}.get(fault.kind, fault.status)
    loc = list(fault.loc)
    # The function service's pointers into a converted array (inputs/x/b64, inputs/x/data/4)
    # as the places of the Tesseract body (inputs/x/data/buffer, inputs/x/data/buffer/4).
    if len(loc) >= 3 and (loc[2] == "b64" or (loc[2] == "data" and not _named(loc[3:4]))):
        loc[2:3] = ["data", "buffer"]
    detail = [{"type": fault.code, "loc": ["body", *loc], "msg": fault.message}]
    return json_response({"detail": detail}, status, fault.headers)


def _named(tokens: list[str | int]) -> bool:
    return bool(tokens) and isinstance(tokens[0], str)


router = protocol_router(render, prefix="/tesseract/{name}", tags=["Tesseract"])


# ----- arrays -----
def _tensor(value: Any, loc: tuple[str | int, ...]) -> Any:
    """A Tesseract value as a wire tensor: a number or nested list as it is, an encoded array
    as `{"data" | "b64", "dtype", "shape"}` (the function service reads and checks it)."""
    if isinstance(value, int | float | list):
        return value
    if not isinstance(value, dict):
        raise ProtocolError(
            "expected an array: {object_type: array, shape, dtype, data: {buffer, encoding}}, "
            "a number or a nested list",
            loc=loc,
        )
    only_keys(value, ARRAY_KEYS, "an array")
    if value.get("object_type", "array") != "array":
        raise ProtocolError("object_type must be 'array'", loc=(*loc, "object_type"))
    data = field_of(value, "data", dict, "an object {buffer, encoding}")
    only_keys(data, DATA_KEYS, "an array's data")
    encoding = data.get("encoding")
    if encoding not in ENCODINGS:
        said = "binref (a file on the server's disk)" if encoding == "binref" else repr(encoding)
        raise ProtocolError(
            f"buffer encoding {said} is not accepted: send json or base64",
            loc=(*loc, "data", "encoding"),
        )
    if data.get("compression") is not None:
        raise ProtocolError(
            "compressed buffers are not accepted: send them uncompressed",
            loc=(*loc, "data", "compression"),
        )
    if "buffer" not in data:
        raise ProtocolError("the array's data has no buffer", loc=(*loc, "data", "buffer"))
    tensor = {ENCODINGS[encoding]: data["buffer"]}
    tensor.update({k: value[k] for k in ("dtype", "shape") if k in value})
    return tensor


def _tensors(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    given = field_of(body, key, dict, "an object: name -> array")
    return {name: _tensor(v, (key, name)) for name, v in given.items()}


def _names(body: Mapping[str, Any], key: str) -> list[str]:
    names = field_of(body, key, list, "a list of names")
    if not all(isinstance(n, str) for n in names):
        raise ProtocolError(f"`{key}` must be a list of names", loc=(key,))
    return names


def _same_names(vectors: Mapping[str, Any], names: Sequence[str], key: str, of: str) -> None:
    if set(vectors) != set(names):
        raise ProtocolError(
            f"the keys of `{key}` must be the names of `{of}`: {sorted(vectors)} against "
            f"{sorted(names)}",
            loc=(key,),
        )


def _encoding(request: Request) -> str:
    accept = request.headers.get("accept", "")
    return "base64" if BASE64_ACCEPT in accept else "json"


def _array(array: np.ndarray, encoding: str) -> dict[str, Any]:
    wire = encode(array, encoding)
    assert wire is not None
    buffer = wire["b64"] if encoding == "base64" else wire["data"]
    return {
        "object_type": "array",
        "shape": wire["shape"],
        "dtype": wire["dtype"],
        "data": {"buffer": buffer, "encoding": encoding},
    }


def _arrays(arrays: Mapping[str, np.ndarray], encoding: str) -> dict[str, Any]:
    return {name: _array(a, encoding) for name, a in arrays.items()}


# ----- the OpenAPI document of one function -----
ENDPOINTS = {
    "apply": "the outputs",
    "abstract_eval": "the outputs' shapes and dtypes, without computing them",
    "jacobian": "d output / d input for the named outputs and inputs",
    "jacobian_vector_product": "the Jacobian applied to a tangent vector (forward mode)",
    "vector_jacobian_product": "a cotangent vector applied to the Jacobian (reverse mode)",
}
SCHEMAS = "#/components/schemas/"


def _dtype(port: Port) -> str:
    return WIRE_NAMES.get(np.dtype(port.dtype), np.dtype(port.dtype).name)


def _shape(port: Port) -> list[int | None] | None:
    return None if port.shape is None else list(port.shape)


def _array_schema(port: Port) -> dict[str, Any]:
    shape: dict[str, Any] = {"type": "array", "items": {"type": "integer", "minimum": 0}}
    if port.shape is not None:
        shape.update(minItems=len(port.shape), maxItems=len(port.shape))
    return {
        "type": "object",
        "title": f"{_dtype(port)} array of shape {_shape(port)} (null: any size)",
        "properties": {
            "object_type": {"const": "array", "default": "array"},
            "shape": shape,
            "dtype": {"type": "string", "examples": [_dtype(port)]},
            "data": {
                "type": "object",
                "properties": {
                    "buffer": {"description": "nested list (json) or base64 of the raw bytes"},
                    "encoding": {"enum": list(ENCODINGS)},
                },
                "required": ["buffer", "encoding"],
            },
        },
        "required": ["shape", "dtype", "data"],
        "array_flags": ["differentiable"] if port.floating else [],
    }


def _differentiable(ports: Sequence[Port]) -> dict[str, Any]:
    return {p.name: {"shape": _shape(p), "dtype": _dtype(p)} for p in ports if p.floating}


def openapi_document(function: Function) -> dict[str, Any]:
    """The document the Tesseract client and tesseract-jax read: paths, and the schemas of the
    inputs and outputs with their differentiable arrays."""
    request = {"content": {"application/json": {"schema": {"type": "object"}}}}
    paths: dict[str, Any] = {
        f"/{name}": {
            "post": {
                "summary": summary,
                "requestBody": request,
                "responses": {"200": {"description": "OK"}, "422": {"description": "bad input"}},
            }
        }
        for name, summary in ENDPOINTS.items()
    }
    paths["/health"] = {"get": {"summary": "health", "responses": {"200": {"description": "OK"}}}}
    required = [p.name for p in function.inputs if p.default is None]
    return {
        "openapi": "3.1.0",
        "info": {"title": function.name, "version": "1.0.0", "description": function.doc},
        "paths": paths,
        "components": {
            "schemas": {
                "Apply_InputSchema": {
                    "type": "object",
                    "properties": {p.name: _array_schema(p) for p in function.inputs},
                    "required": required,
                    "additionalProperties": False,
                },
                "Apply_OutputSchema": {
                    "type": "object",
                    "properties": {p.name: _array_schema(p) for p in function.outputs},
                    "required": [p.name for p in function.outputs],
                },
                "ApplyInputSchema": {
                    "type": "object",
                    "properties": {"inputs": {"$ref": SCHEMAS + "Apply_InputSchema"}},
                    "required": ["inputs"],
                    "differentiable_arrays": _differentiable(function.inputs),
                },
                "ApplyOutputSchema": {
                    "$ref": SCHEMAS + "Apply_OutputSchema",
                    "differentiable_arrays": _differentiable(function.outputs),
                },
            }
        },
    }


# ----- routes -----
@router.get("/health", summary="Tesseract: health")
async def health(request: Request, name: str) -> Response:
    function(request, name)
    return json_response({"status": "ok"})


@router.get("/openapi.json", summary="Tesseract: this function's OpenAPI document")
async def openapi(request: Request, name: str) -> Response:
    return json_response(openapi_document(function(request, name)))


@router.post("/apply", summary="Tesseract: the outputs")
async def apply(request: Request, name: str) -> Response:
    found = function(request, name)
    body = await read_json(request)
    only_keys(body, ("inputs",))
    answer = await call(request, found.apply, _tensors(body, "inputs"))
    return json_response(_arrays(answer.outputs, _encoding(request)))


@router.post("/abstract_eval", summary="Tesseract: output shapes and dtypes")
async def abstract_eval(request: Request, name: str) -> Response:
    found = function(request, name)
    body = await read_json(request)
    only_keys(body, ("inputs",))
    given = field_of(body, "inputs", dict, "an object: name -> {shape, dtype}")
    specs = {n: _spec(v, ("inputs", n)) for n, v in given.items()}
    shapes = await call(request, found.abstract_eval, specs)
    return json_response({n: {"shape": list(s), "dtype": d.name} for n, (d, s) in shapes.items()})


def _spec(value: Any, loc: tuple[str | int, ...]) -> tuple[str, tuple[int, ...]]:
    """`{"shape", "dtype"}` (or a number: a scalar of its kind) as (dtype, shape)."""
    if isinstance(value, bool):
        return "bool", ()
    if isinstance(value, int | float):
        return ("int64" if isinstance(value, int) else "float64"), ()
    if not isinstance(value, dict):
        raise ProtocolError("expected {shape, dtype}", loc=loc)
    only_keys(value, ARRAY_KEYS, "an abstract array")
    shape = field_of(value, "shape", list, "a list of sizes")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ProtocolError("shape must be a list of non-negative integers", loc=(*loc, "shape"))
    dtype = field_of(value, "dtype", str, "a dtype name")
    return dtype, tuple(shape)


@router.post("/jacobian", summary="Tesseract: the Jacobian")
async def jacobian(request: Request, name: str) -> Response:
    found = function(request, name)
    body = await read_json(request)
    only_keys(body, ("inputs", "jac_inputs", "jac_outputs"))
    inputs = _tensors(body, "inputs")
    wrt, of = _names(body, "jac_inputs"), _names(body, "jac_outputs")
    renamed = {"wrt": "jac_inputs", "of": "jac_outputs"}
    answer = await call(request, found.jacobian, inputs, wrt, of, renamed=renamed)
    assert answer.jacobian is not None
    encoding = _encoding(request)
    return json_response({o: _arrays(row, encoding) for o, row in answer.jacobian.items()})


@router.post("/jacobian_vector_product", summary="Tesseract: Jacobian . tangent (jvp)")
async def jacobian_vector_product(request: Request, name: str) -> Response:
    found = function(request, name)
    body = await read_json(request)
    only_keys(body, ("inputs", "jvp_inputs", "jvp_outputs", "tangent_vector"))
    inputs = _tensors(body, "inputs")
    wrt, of = _names(body, "jvp_inputs"), _names(body, "jvp_outputs")
    tangents = _tensors(body, "tangent_vector")
    _same_names(tangents, wrt, "tangent_vector", "jvp_inputs")
    renamed = {"of": "jvp_outputs", "tangents": "tangent_vector"}
    answer = await call(request, found.jvp, inputs, tangents, of, renamed=renamed)
    assert answer.tangents is not None
    return json_response(_arrays(answer.tangents, _encoding(request)))


@router.post("/vector_jacobian_product", summary="Tesseract: cotangent . Jacobian (vjp)")
async def vector_jacobian_product(request: Request, name: str) -> Response:
    found = function(request, name)
    body = await read_json(request)
    only_keys(body, ("inputs", "vjp_inputs", "vjp_outputs", "cotangent_vector"))
    inputs = _tensors(body, "inputs")
    wrt, of = _names(body, "vjp_inputs"), _names(body, "vjp_outputs")
    cotangents = _tensors(body, "cotangent_vector")
    _same_names(cotangents, of, "cotangent_vector", "vjp_outputs")
    renamed = {"wrt": "vjp_inputs", "cotangents": "cotangent_vector"}
    answer = await call(request, found.vjp, inputs, cotangents, wrt, renamed=renamed)
    assert answer.gradients is not None
    return json_response(_arrays(answer.gradients, _encoding(request)))
