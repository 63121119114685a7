"""Pydantic models of the HTTP envelope (for OpenAPI and typed clients) and the run request body.

The program's statements and the tensors are described by the engine's JSON Schemas
(`engine.program.schema`); the engine's parser is their single validator. The models here
only document them: request bodies are parsed with orjson / msgpack, never per element.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

DType = Literal["float16", "float32", "float64", "int32", "int64", "bool"]
COMPONENTS = "#/components/schemas/"
JSON = "application/json"
MSGPACK = "application/msgpack"
PROBLEM_JSON = "application/problem+json"

_INPUTS_SCHEMA = {
    "type": "object",
    "description": 'name -> tensor (API.md section 2); an input may add `"variable": true`',
    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
    "additionalProperties": {"x-component": "Input"},
}
_PROGRAM_SCHEMA = {
    "type": "array",
    "description": "statements, run in order (API.md section 4)",
    "items": {"x-component": "Statement"},
}


class RunOptions(BaseModel):
    """How the response encodes tensors."""

    model_config = ConfigDict(extra="forbid")

    encoding: Literal["json", "base64"] = Field(
        default="json",
        description="`json`: nested lists (`data`); `base64`: raw little-endian bytes (`b64`)",
    )


class RunRequest(BaseModel):
    """One program with its inputs (API.md section 3)."""

    model_config = ConfigDict(extra="forbid")

    inputs: Annotated[dict[str, Any], WithJsonSchema(_INPUTS_SCHEMA)] = Field(default_factory=dict)
    program: Annotated[list[dict[str, Any]], WithJsonSchema(_PROGRAM_SCHEMA)]
    outputs: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] | None = Field(
        default=None,
        description="names to return; omitted: every top-level variable bound by the program",
    )
    options: RunOptions | None = None


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


class OpInputs(BaseModel):
    min: int
    max: int | None


class OpInfo(BaseModel):
    """One catalog op, as GET /v1/ops publishes it (API.md section 5)."""

    name: str
    aliases: list[str]
    inputs: OpInputs
    outputs: int | Literal["variable"]
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

    type: str = "about:blank"
    title: str
    status: int
    code: str = Field(description="stable, machine-readable (snake_case)")
    detail: str
    pointer: str | None = Field(default=None, description="JSON Pointer into the request")
    call_stack: list[str] | None = Field(
        default=None, description="pointers of the `call` statements that led to the fault"
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
    from engine.program.schema import statement_schemas

    found: dict[str, Any] = {}
    for model in (RunRequest, Problem):
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
        "description": "A run request (API.md section 3). As `application/msgpack` it has the "
        'same structure, and a tensor may also be `{"bytes": <bin>, "dtype": D, "shape": S}` '
        "(raw little-endian bytes of a C-ordered array). Send `Accept: application/msgpack` "
        'for a msgpack response, whose tensors are `{"dtype", "shape", "bytes"}`.',
        "content": {JSON: {"schema": ref, "examples": named}, MSGPACK: {"schema": ref}},
    }
