"""/v1/functions: functions served by name (PUT, GET, DELETE) and their derivatives (POST)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.routing import Route

from app.admission import Engine, serve
from app.body import Body, decode_body, read_body
from app.function_schemas import (
    AbstractEvalRequest,
    AbstractEvalResponse,
    ApplyRequest,
    ApplyResponse,
    FunctionInfo,
    FunctionListResponse,
    HvpRequest,
    HvpResponse,
    JacobianRequest,
    JacobianResponse,
    JvpRequest,
    JvpResponse,
    VjpRequest,
    VjpResponse,
)
from app.render import render, verbatim_b64
from app.schemas import COMPONENTS, JSON, MSGPACK, PROBLEM_JSON, problem_responses
from engine import Limits
from engine.functions import (
    Answer,
    Function,
    FunctionReadOnly,
    Repository,
    check_function_name,
)
from engine.onnx_import import load_onnx
from engine.program.values import (
    WIRE_NAMES,
    dtype_of,
    encode,
    little_endian,
    pointer_to,
    wire_array,
)

router = APIRouter(tags=["functions"])

MAX_LISTED_DEFAULT = 4096  # elements: a bigger default is listed by its dtype and shape only

# Media type of a PUT body -> how it becomes a function (anything else is read as JSON or
# msgpack, like every other body).
DefinitionLoader = Callable[[str, Body, Limits], Function]


def _json_definition(name: str, body: Body, limits: Limits) -> Function:
    return Function.from_definition(name, decode_body(body), source="api", limits=limits)


def _onnx_definition(name: str, body: Body, limits: Limits) -> Function:
    return load_onnx(name, bytes(body.raw), source="api", limits=limits)


DEFINITION_LOADERS: dict[str, DefinitionLoader] = {"application/onnx": _onnx_definition}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": COMPONENTS + "Problem"}}},
    }


NOT_FOUND = _problem("no function of that name (`unknown_function`)")
READ_ONLY = _problem("the function comes from the functions folder (`function_read_only`)")


def _repository(request: Request) -> Repository:
    repository: Repository = request.app.state.functions
    return repository


# ----- listing -----
def describe(function: Function) -> dict[str, Any]:
    """A function's entry in GET /v1/functions."""
    entry = function.describe()
    for port in function.inputs:
        if port.default is not None and port.default.size > MAX_LISTED_DEFAULT:
            info = entry["inputs"][port.name]
            info["default"] = {"dtype": info["dtype"], "shape": list(port.default.shape)}
    return entry


@router.get(
    "/functions",
    response_model=FunctionListResponse,
    operation_id="listFunctions",
    summary="List the functions",
    responses={**problem_responses(401)},
)
def list_functions(request: Request) -> Response:
    """Every function served, by name: its doc, declared inputs (dtype, shape, default) and
    outputs, and where it comes from (`dir`: the functions folder; `api`: PUT)."""
    functions = [describe(f) for f in _repository(request).list()]
    return render({"functions": functions}, False)


@router.get(
    "/functions/{name}",
    response_model=FunctionInfo,
    operation_id="getFunction",
    summary="Describe a function",
    responses={**problem_responses(401, 422), 404: NOT_FOUND},
)
def get_function(name: str, request: Request) -> Response:
    """One function's entry, as in the list."""
    return render(describe(_repository(request).get(name)), False)


@router.delete(
    "/functions/{name}",
    status_code=204,
    operation_id="deleteFunction",
    summary="Delete a function made by PUT",
    responses={
        **problem_responses(401, 422),
        404: NOT_FOUND,
        409: READ_ONLY,
    },
)
def delete_function(name: str, request: Request) -> Response:
    """Remove a function made through the API; one from the folder stays (409)."""
    _repository(request).delete(name)
    return Response(status_code=204)


@router.put(
    "/functions/{name}",
    response_model=FunctionInfo,
    status_code=201,
    operation_id="putFunction",
    summary="Create or replace a function",
    responses={
        200: {"description": "replaced", "model": FunctionInfo},
        201: {"description": "created"},
        **problem_responses(400, 401, 413, 422, 503),
        409: READ_ONLY,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The function's definition: `inputs` (name -> dtype, shape, "
            "default?), `program` (statements over the inputs), `outputs` (names), `doc`; or an "
            "ONNX model's bytes as `application/onnx` (its weights become inputs with their "
            "values as defaults). A definition that does not validate is refused with 422 and "
            "nothing is stored.",
            "content": {
                JSON: {"schema": {"$ref": COMPONENTS + "FunctionDefinition"}},
                MSGPACK: {"schema": {"$ref": COMPONENTS + "FunctionDefinition"}},
                "application/onnx": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def put_function(name: str, request: Request) -> Response:
    """Store a function under `name` (201 created, 200 replaced). The definition is parsed,
    validated and its outputs' dtypes and shapes worked out now, once; each call then runs the
    stored program. Functions made here live in this process's memory."""
    check_function_name(name)
    repository = _repository(request)
    if name in repository and repository.get(name).source == "dir":
        raise FunctionReadOnly(name)  # before the body is read: a folder name never changes
    state = request.app.state
    body = await read_body(request)
    media = (request.headers.get("content-type") or "").partition(";")[0].strip().lower()
    loader = DEFINITION_LOADERS.get(media, _json_definition)
    function = await state.gate.run(loader, name, body, state.limits)
    created = repository.put(name, function)
    return render_status(describe(function), 201 if created else 200)


def render_status(encoded: dict[str, Any], status: int) -> Response:
    response = render(encoded, False)
    response.status_code = status
    return response


# ----- calls -----
def _validated(model: type[BaseModel], request: dict[str, Any]) -> Any:
    """The envelope through its model; faults as the app's 422 with a pointer."""
    try:
        return model.model_validate(request)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def _raw(array: np.ndarray) -> dict[str, Any]:
    array = wire_array(np.asarray(array))
    return {
        "dtype": WIRE_NAMES[array.dtype],
        "shape": list(array.shape),
        "bytes": little_endian(array).data,
    }


def encode_answer(answer: Answer, encoding: str, msgpack_out: bool) -> dict[str, Any]:
    """The response body of a call: every tensor as /v1/run encodes outputs."""

    def tensors(values: dict[str, np.ndarray]) -> dict[str, Any]:
        if msgpack_out:
            return {n: _raw(a) for n, a in values.items()}
        out = {n: encode(a, encoding) for n, a in values.items()}
        if encoding == "base64":
            verbatim_b64(out)
        return out

    body: dict[str, Any] = {"outputs": tensors(answer.outputs)}
    if answer.gradients is not None:
        body["gradients"] = tensors(answer.gradients)
    if answer.tangents is not None:
        body["tangents"] = tensors(answer.tangents)
    if answer.jacobian is not None:
        body["jacobian"] = {o: tensors(row) for o, row in answer.jacobian.items()}
    if answer.hvp is not None:
        body["hvp"] = tensors(answer.hvp)
    body["warnings"] = answer.warnings
    body["stats"] = answer.stats
    return body


Call = Callable[[Function, Any, Limits], Answer]

CALLS: dict[str, tuple[type[ApplyRequest], Call]] = {
    "apply": (ApplyRequest, lambda f, m, limits: f.apply(m.inputs, limits=limits)),
    "vjp": (
        VjpRequest,
        lambda f, m, limits: f.vjp(m.inputs, m.cotangents, m.wrt, limits=limits),
    ),
    "jvp": (JvpRequest, lambda f, m, limits: f.jvp(m.inputs, m.tangents, m.of, limits=limits)),
    "jacobian": (
        JacobianRequest,
        lambda f, m, limits: f.jacobian(m.inputs, m.wrt, m.of, limits=limits),
    ),
    "hvp": (
        HvpRequest,
        lambda f, m, limits: f.hvp(m.inputs, m.cotangents, m.tangents, m.wrt, limits=limits),
    ),
}


def engine_for(function: Function, kind: str) -> Engine:
    """One derivative of one function as a route's engine entry point."""
    model, call = CALLS[kind]

    def run(request: dict[str, Any], limits: Limits, msgpack_out: bool) -> dict[str, Any]:
        envelope = _validated(model, request)
        encoding = envelope.options.encoding if envelope.options is not None else "json"
        return encode_answer(call(function, envelope, limits), encoding, msgpack_out)

    return run


def abstract_engine(function: Function) -> Engine:
    def run(request: dict[str, Any], limits: Limits, msgpack_out: bool) -> dict[str, Any]:
        envelope = _validated(AbstractEvalRequest, request)
        specs = {
            name: (
                dtype_of(spec.dtype, pointer_to(pointer_to("/inputs", name), "dtype")),
                tuple(spec.shape),
            )
            for name, spec in envelope.inputs.items()
        }
        started = time.perf_counter()
        found = function.abstract_eval(specs, limits=limits)
        outputs = {
            n: {"dtype": WIRE_NAMES[np.dtype(d)], "shape": list(s)} for n, (d, s) in found.items()
        }
        elapsed = round((time.perf_counter() - started) * 1000.0, 3)
        return {"outputs": outputs, "stats": {"elapsed_ms": elapsed}}

    return run


async def call_function(request: Request, name: str, kind: str) -> Response:
    """Read the body, then evaluate it like /v1/run does (inline when small, else through the
    admission gate)."""
    function = _repository(request).get(name)
    engine = abstract_engine(function) if kind == "abstract_eval" else engine_for(function, kind)
    return await serve(request, engine)


def _call_route(kind: str, model: type[BaseModel], response: type[BaseModel], doc: str) -> None:
    async def endpoint(name: str, request: Request) -> Response:
        return await call_function(request, name, kind)

    endpoint.__doc__ = doc
    endpoint.__name__ = f"{kind}_function"
    router.post(
        f"/functions/{{name}}/{kind}",
        response_model=response,
        operation_id=f"{kind.replace('_e', 'E')}Function",
        summary=doc.partition(".")[0],
        responses={
            200: {"content": {MSGPACK: {}}},
            **problem_responses(400, 401, 413, 422, 503),
            404: NOT_FOUND,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": f"{model.__doc__} As `application/msgpack` the body has the same "
                'structure, and a tensor may be `{"bytes", "dtype", "shape"}`; send `Accept: '
                "application/msgpack` for a msgpack answer.",
                "content": {
                    JSON: {"schema": {"$ref": COMPONENTS + model.__name__}},
                    MSGPACK: {"schema": {"$ref": COMPONENTS + model.__name__}},
                },
            }
        },
    )(endpoint)


_call_route("apply", ApplyRequest, ApplyResponse, "Evaluate the function. Every output's value.")
_call_route(
    "vjp",
    VjpRequest,
    VjpResponse,
    "Vector-Jacobian product. `gradients[input]` is the sum over the outputs given in "
    "`cotangents` of cotangent . d output / d input, for each `wrt` input (default: every "
    "floating input); unconnected ones are zeros with an `unconnected` warning.",
)
_call_route(
    "jvp",
    JvpRequest,
    JvpResponse,
    "Jacobian-vector product. `tangents[output]` is the derivative of each `of` output "
    "(default: every floating output) along the inputs' tangents (a missing one is zero).",
)
_call_route(
    "jacobian",
    JacobianRequest,
    JacobianResponse,
    "Full Jacobian. `jacobian[output][input]` has shape output.shape + input.shape.",
)
_call_route(
    "hvp",
    HvpRequest,
    HvpResponse,
    "Hessian-vector product. `hvp[input]` is the derivative of the vjp's gradients along the "
    "tangents (forward over reverse): the Hessian of cotangent . output applied to the tangent.",
)
_call_route(
    "abstract_eval",
    AbstractEvalRequest,
    AbstractEvalResponse,
    "Output shapes and dtypes. For inputs given by dtype and shape, the outputs' dtypes and "
    "shapes, without computing values on the caller's data.",
)


# ----- the call routes without FastAPI's per-request dependency solving -----
CALL_KINDS = (*CALLS, "abstract_eval")
CALL_PREFIX = "/v1/functions/"
# One route object per kind, for the metrics' and the log's route template.
CALL_TEMPLATES = {
    kind: Route(f"{CALL_PREFIX}{{name}}/{kind}", lambda _: Response(), methods=["POST"])
    for kind in CALL_KINDS
}


def split_call_path(path: str) -> tuple[str, str] | None:
    """(name, kind) of a call path `/v1/functions/{name}/{kind}`; None for any other path."""
    if not path.startswith(CALL_PREFIX):
        return None
    name, _, kind = path[len(CALL_PREFIX) :].partition("/")
    if not name or kind not in CALL_TEMPLATES:
        return None
    return name, kind


async def direct_call(request: Request) -> Response:
    """A call route as the evaluation endpoints are served directly (see app.routes): the API
    key checked, then call_function; the caller matched the path with split_call_path."""
    from app.routes import check_api_key  # the package imports this module

    found = split_call_path(request.scope["path"])
    assert found is not None
    name, kind = found
    request.scope["route"] = CALL_TEMPLATES[kind]
    check_api_key(request)
    return await call_function(request, name, kind)
