"""Pydantic models of the HTTP responses, the request envelopes' models, and OpenAPI pieces.

The request envelopes (run, check, minimize and their options) are defined once, in
`engine.program.envelope`: the engine validates every request with them and the OpenAPI
document shows them. The program's statements and the tensors are described by the engine's
JSON Schemas (`engine.program.schema`); the engine's readers are their single validator.
Request bodies are parsed with orjson / msgpack, never per element.
"""

from __future__ import annotations

import builtins
import typing
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from engine.program.envelope import (
    SGD,
    Adagrad,
    Adam,
    CheckOptions,
    CheckRequest,
    Envelope,
    MinimizeRequest,
    RMSprop,
    RunOptions,
    RunRequest,
    StopCriteria,
)

DType = Literal["float16", "float32", "float64", "int32", "int64", "bool"]
COMPONENTS = "#/components/schemas/"
JSON = "application/json"
MSGPACK = "application/msgpack"
PROBLEM_JSON = "application/problem+json"

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "CheckOptions",
    "CheckRequest",
    "Envelope",
    "MinimizeRequest",
    "RMSprop",
    "RunOptions",
    "RunRequest",
    "StopCriteria",
]


class OutputTensor(BaseModel):
    """A tensor in a response: `data` (nested lists, or a number for rank 0) or `b64`."""

    dtype: DType
    shape: list[int]
    data: Any | None = Field(
        default=None,
        description='nested lists; non-finite values are "NaN", "Infinity", "-Infinity"',
    )
    b64: str | None = Field(default=None, description="raw little-endian bytes, base64")


class RunWarning(BaseModel):
    """Something the client should know, e.g. an unconnected gradient (code `unconnected`)."""

    model_config = ConfigDict(extra="allow")

    pointer: str
    code: str
    message: str
    source: str | None = None
    reason: str | None = None


class RunStats(BaseModel):
    model_config = ConfigDict(extra="allow")

    ops_executed: int
    ops_recorded: int
    elapsed_ms: float


class RunResponse(BaseModel):
    """The requested outputs (`null`: an unconnected gradient asked for as `none`)."""

    outputs: dict[str, OutputTensor | None]
    warnings: list[RunWarning]
    stats: RunStats


class CheckResult(BaseModel):
    """One source of one run of a gradient/jacobian statement, analytic beside numeric."""

    pointer: str
    occurrence: int = Field(description="which run of the statement (loops, repeated calls)")
    kind: Literal["gradient", "jacobian", "batch_jacobian"]
    source: str
    analytic: OutputTensor | None
    numeric: OutputTensor | None = Field(
        description="central differences; NaN where an element was not checked, null if skipped"
    )
    checked_elements: int = Field(description="source elements moved (at most 64, sampled)")
    max_abs_err: float | str | None
    max_rel_err: float | str | None
    passed: bool | None = Field(description="null when skipped")
    skipped: Literal["intermediate source", "non_floating source"] | None = None


class CheckStats(BaseModel):
    model_config = ConfigDict(extra="allow")

    ops_executed: int
    runs: int
    elapsed_ms: float


class CheckResponse(BaseModel):
    """Every gradient/jacobian result with its finite-difference estimate."""

    passed: bool = Field(description="no checked result failed")
    results: list[CheckResult]
    warnings: list[RunWarning]
    stats: CheckStats


class MinimizeStats(BaseModel):
    model_config = ConfigDict(extra="allow")

    ops_executed: int
    evaluations: int
    grad_norm: float | str
    elapsed_ms: float


class MinimizeResponse(BaseModel):
    """The trained variables and the loss curve."""

    variables: dict[str, OutputTensor]
    loss_history: list[float | str] = Field(description="the loss at each step, before its update")
    steps: int = Field(description="updates applied")
    stopped: Literal["steps", "grad_norm", "loss_delta"]
    stats: MinimizeStats


class MsgpackTensor(BaseModel):
    """A tensor in a msgpack response: its raw little-endian bytes, C order."""

    dtype: DType
    shape: list[int]
    data: builtins.bytes = Field(
        alias="bytes", description="msgpack bin: the array's little-endian bytes, C order"
    )


class MsgpackRunResponse(BaseModel):
    """POST /v1/run's response as msgpack (`Accept: application/msgpack`): as the JSON one,
    with each tensor's data as a bin."""

    outputs: dict[str, MsgpackTensor | None]
    warnings: list[RunWarning]
    stats: RunStats


class OpInputs(BaseModel):
    min: int
    max: int | None


class OpInfo(BaseModel):
    """One catalog op, as GET /v1/ops publishes it."""

    name: str
    aliases: list[str]
    inputs: OpInputs
    outputs: int | None = Field(
        description="how many tensors the op returns; null where its attrs set the count (split)"
    )
    attrs: dict[str, Any] = Field(description="JSON Schema of the attrs object")
    differentiable: bool
    conventions: dict[str, Any]
    doc: str


class OpsResponse(BaseModel):
    ops: list[OpInfo]


class HealthResponse(BaseModel):
    status: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details), media type application/problem+json."""

    type: str = Field(description="the problem kind's URI: /problems/{code}, which explains it")
    title: str
    status: int
    code: str = Field(description="stable, machine-readable (snake_case)")
    detail: str
    pointer: str | None = Field(default=None, description="JSON Pointer into the request")
    call_stack: list[str] | None = Field(
        default=None, description="pointers of the `call` statements that led to the fault"
    )
    instance: str | None = Field(
        default=None, description="this occurrence: urn:gradtape:request:{X-Request-ID}"
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses."""
    descriptions = {
        400: "the body is not JSON / msgpack",
        401: "API key missing or wrong",
        413: "the body is over the size limit",
        422: "the request or its program is wrong (`code`, `pointer`)",
        503: "at the concurrency limit (see `Retry-After`)",
    }
    return {
        status: {
            "description": descriptions.get(status, "error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": COMPONENTS + "Problem"}}},
        }
        for status in statuses
    }


# ----- OpenAPI: the engine's statement schemas and the run request body -----
def _relink(node: Any) -> Any:
    """The engine's JSON Schemas with every local `$ref` pointed into components/schemas."""
    if isinstance(node, dict):
        if set(node) == {"x-component"}:  # a placeholder pydantic must not resolve itself
            return {"$ref": COMPONENTS + node["x-component"]}
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                for prefix in ("#/$defs/", "#/definitions/", "#/components/schemas/"):
                    if value.startswith(prefix):
                        value = COMPONENTS + value[len(prefix) :]
                        break
            out[key] = _relink(value)
        return out
    if isinstance(node, list):
        return [_relink(v) for v in node]
    return node


def components() -> dict[str, Any]:
    """components/schemas entries that the routes' declared models do not bring in."""
    from app.function_schemas import REQUEST_MODELS
    from engine.program.schema import statement_schemas

    found: dict[str, Any] = {}
    models: tuple[type[BaseModel], ...] = (
        RunRequest,
        CheckRequest,
        MinimizeRequest,
        MsgpackRunResponse,
        Problem,
    )
    for model in (*models, *REQUEST_MODELS):
        schema = model.model_json_schema(ref_template=COMPONENTS + "{model}")
        found.update(_relink(schema.pop("$defs", {})))
        found[model.__name__] = _relink(schema)
    found.update(_relink(statement_schemas(COMPONENTS)))
    return found


def run_request_body() -> dict[str, Any]:
    """The documented requestBody of POST /v1/run (read by the route itself, not by FastAPI)."""
    from engine.program.schema import example_requests

    examples = example_requests()
    items = examples.items() if isinstance(examples, dict) else enumerate(examples)
    named = {str(name): {"value": request} for name, request in items}
    ref = {"$ref": COMPONENTS + "RunRequest"}
    return {
        "required": True,
        "description": "A run request: `inputs` (name -> tensor), the `program` (statements run "
        "in order), optionally `outputs` and `options`. As `application/msgpack` it has the "
        'same structure, and a tensor may also be `{"bytes": <bin>, "dtype": D, "shape": S}` '
        "(raw little-endian bytes of a C-ordered array). Send `Accept: application/msgpack` "
        'for a msgpack response, whose tensors are `{"dtype", "shape", "bytes"}`.',
        "content": {JSON: {"schema": ref, "examples": named}, MSGPACK: {"schema": ref}},
    }


def json_request_body(model: str, description: str) -> dict[str, Any]:
    """A documented JSON requestBody referring to components/schemas/<model>."""
    ref = {"$ref": COMPONENTS + model}
    return {"required": True, "description": description, "content": {JSON: {"schema": ref}}}


def msgpack_response(model: str) -> dict[str, Any]:
    """An OpenAPI 200 response entry: the msgpack body, components/schemas/<model>."""
    return {"content": {MSGPACK: {"schema": {"$ref": COMPONENTS + model}}}}


# ----- OpenAPI for client generators -----
def codegen_ready(schemas: dict[str, Any]) -> None:
    """components/schemas made plain for client generators, in place: an optional property's
    default goes into its description (openapi-typescript types a property that has a `default`
    as always present, in requests too; the service applies every default itself), the
    per-property `title`s pydantic adds (which some generators turn into type names) go, and a
    response model's dtype refers to the one DType component (one enum type in a client)."""
    for name, schema in schemas.items():
        _plain_properties(schema)
        if name != "DType":
            _dtype_refs(schema)


def _dtype_refs(node: Any) -> None:
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        if isinstance(child, dict) and child.get("enum") == list(typing.get_args(DType)):
            child.clear()
            child["$ref"] = COMPONENTS + "DType"
        else:
            _dtype_refs(child)


def _plain_properties(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _plain_properties(item)
        return
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if isinstance(properties, dict):
        required = set(node.get("required", ()))
        for name, prop in properties.items():
            if not isinstance(prop, dict):
                continue
            prop.pop("title", None)
            if name not in required and "default" in prop:
                default = prop.pop("default")
                if default is not None:
                    shown = orjson.dumps(default).decode()
                    text = prop.get("description")
                    prop["description"] = (
                        f"{text} (default: {shown})" if text else f"default: {shown}"
                    )
    for key, value in node.items():
        if key != "properties" or not isinstance(value, dict):
            _plain_properties(value)
        else:
            for prop in value.values():
                _plain_properties(prop)
