"""JSON Schemas of the statement language, derived from the parser's field table, and examples.

The app publishes these in its OpenAPI document; the parser (parse.py) reads the same table
(syntax.KINDS), so what is documented is what is accepted.
"""

from __future__ import annotations

from typing import Any

from ..tensor import DTYPE_ALIASES, DTYPES
from .syntax import (
    ARGS,
    ATTRS,
    BLOCK,
    BOOL,
    COUNT,
    KINDS,
    NAME,
    NAME_OR_NAMES,
    NAME_PATTERN,
    NAMES,
    OP_NAME,
    RANGE,
    TAPE_OR_NULL,
    UNCONNECTED,
    Field,
    Kind,
)
from .values import NON_FINITE

REF_PREFIX = "#/components/schemas/"


def schema_name(kind: str) -> str:
    """A statement kind's component name: `batch_jacobian` -> `BatchJacobianStatement`."""
    return "".join(part.capitalize() for part in kind.split("_")) + "Statement"


def field_type_schemas(ref_prefix: str = REF_PREFIX) -> dict[str, dict[str, Any]]:
    """One JSON Schema fragment per field type of the table (parse.READERS has one reader each)."""
    name = {"type": "string", "pattern": NAME_PATTERN}
    names = {"type": "array", "items": name}
    bound = {"anyOf": [{"type": "integer"}, name]}
    return {
        OP_NAME: {"type": "string", "description": "a catalog op's name or alias (GET /v1/ops)"},
        NAME: name,
        NAMES: names,
        NAME_OR_NAMES: {"anyOf": [name, names]},
        ARGS: {"type": "array", "items": {"anyOf": [name, {"$ref": f"{ref_prefix}Tensor"}]}},
        ATTRS: {
            "type": "object",
            "additionalProperties": True,
            "description": "the op's attrs (GET /v1/ops gives their schema)",
        },
        BLOCK: {"type": "array", "items": {"$ref": f"{ref_prefix}Statement"}},
        BOOL: {"type": "boolean"},
        COUNT: {"type": "integer", "minimum": 0},
        RANGE: {"anyOf": [bound, {"type": "array", "items": bound, "minItems": 2, "maxItems": 3}]},
        UNCONNECTED: {"type": "string", "enum": ["none", "zero"]},
        TAPE_OR_NULL: {"anyOf": [name, {"type": "null"}]},
    }


def _field_schema(field: Field, fragments: dict[str, dict[str, Any]]) -> dict[str, Any]:
    schema = dict(fragments[field.type])
    if field.doc:
        schema["description"] = field.doc
    if not field.required and field.default is not None:
        default = field.default
        schema["default"] = list(default) if isinstance(default, tuple) else default
    return schema


def kind_schema(kind: Kind, ref_prefix: str = REF_PREFIX) -> dict[str, Any]:
    fragments = field_type_schemas(ref_prefix)
    return {
        "type": "object",
        "title": schema_name(kind.name),
        "description": kind.doc,
        "properties": {f.name: _field_schema(f, fragments) for f in kind.fields},
        "required": [f.name for f in kind.fields if f.required],
        "additionalProperties": False,
    }


def tensor_schemas(ref_prefix: str = REF_PREFIX) -> dict[str, dict[str, Any]]:
    """`Tensor` (the three wire forms), `TensorData`, `TensorScalar`, `DType` and `Input`.

    Nested lists are described without recursion (an array of any depth holding scalars), so
    that client generators, which choke on self-referencing schemas, accept them; the readers
    in values.py check the nesting and the scalars.
    """
    data_ref = {"$ref": f"{ref_prefix}TensorData"}
    dtype = {"$ref": f"{ref_prefix}DType"}
    shape = {"type": "array", "items": {"type": "integer", "minimum": 0}}
    aliases = ", ".join(f"`{alias}` for `{name}`" for alias, name in DTYPE_ALIASES.items())

    def objects(extra: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "type": "object",
                "title": "DataTensor" + ("Input" if extra else ""),
                "properties": {"data": data_ref, "dtype": dtype, "shape": shape, **extra},
                "required": ["data"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "title": "Base64Tensor" + ("Input" if extra else ""),
                "properties": {
                    "b64": {
                        "type": "string",
                        "contentEncoding": "base64",
                        "description": "little-endian bytes of the C-ordered array",
                    },
                    "dtype": dtype,
                    "shape": shape,
                    **extra,
                },
                "required": ["b64", "dtype", "shape"],
                "additionalProperties": False,
            },
        ]

    nested = {
        "type": "array",
        "items": {},
        "description": "nested lists of scalars (any depth, rectangular)",
    }
    bare = [{"type": "number"}, {"type": "boolean"}, nested]
    variable = {
        "variable": {
            "type": "boolean",
            "default": False,
            "description": "a trainable variable, watched automatically",
        }
    }
    return {
        "DType": {
            "type": "string",
            "enum": list(DTYPES),
            "description": f"an element type; also accepted: {aliases}",
        },
        "TensorScalar": {
            "description": "a number, a boolean, or a non-finite value as a string",
            "anyOf": [
                {"type": "number"},
                {"type": "boolean"},
                {"type": "string", "enum": list(NON_FINITE)},
            ],
        },
        "TensorData": {
            "description": "a scalar (TensorScalar), or nested lists of scalars (any depth)",
            "anyOf": [{"$ref": f"{ref_prefix}TensorScalar"}, nested],
        },
        "Tensor": {
            "description": "a bare value or nested list, a data object, or a base64 object",
            "anyOf": [*bare, *objects({})],
        },
        "Input": {
            "description": "a tensor; its object forms may add `variable`",
            "anyOf": [*bare, *objects(variable)],
        },
    }


def statement_schemas(ref_prefix: str = REF_PREFIX) -> dict[str, dict[str, Any]]:
    """JSON Schemas per statement kind, `Statement` (oneOf them), and the tensor schemas.

    References point at `ref_prefix + name` (OpenAPI components by default).
    """
    kinds = {schema_name(k.name): kind_schema(k, ref_prefix) for k in KINDS.values()}
    statement = {
        "description": "a statement; its kind is the first of these keys it carries: "
        + ", ".join(KINDS),
        "oneOf": [{"$ref": f"{ref_prefix}{name}"} for name in kinds],
    }
    return {**kinds, "Statement": statement, **tensor_schemas(ref_prefix)}


# ----- the TensorFlow GradientTape tutorial, on the wire -----
def example_requests() -> dict[str, dict[str, Any]]:
    """The tutorial's four examples as run requests (the first is API section 8)."""
    return {
        "gradient_of_input_and_intermediate": {
            "inputs": {"x": {"data": [[1.0, 1.0], [1.0, 1.0]]}},
            "program": [
                {"tape": "t", "persistent": True, "watch": ["x"], "body": [
                    {"op": "reduce_sum", "args": ["x"], "out": "y"},
                    {"op": "multiply", "args": ["y", "y"], "out": "z"},
                ]},
                {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
                {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"},
            ],
            "outputs": ["dz_dx", "dz_dy"],
        },
        "persistent_tape": {
            "inputs": {"x": 3.0},
            "program": [
                {"tape": "t", "persistent": True, "watch": ["x"], "body": [
                    {"op": "multiply", "args": ["x", "x"], "out": "y"},
                    {"op": "multiply", "args": ["y", "y"], "out": "z"},
                ]},
                {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
                {"gradient": "t", "target": "y", "sources": "x", "out": "dy_dx"},
            ],
            "outputs": ["dz_dx", "dy_dx"],
        },
        "control_flow": {
            "inputs": {"x": 2.0},
            "program": [
                {"def": "f", "params": ["x", "y"], "body": [
                    {"op": "identity", "args": [1.0], "out": "output"},
                    {"for": "i", "range": "y", "body": [
                        {"op": "greater", "args": ["i", 1], "out": "above"},
                        {"op": "less", "args": ["i", 5], "out": "below"},
                        {"op": "logical_and", "args": ["above", "below"], "out": "inside"},
                        {"if": "inside", "then": [
                            {"op": "multiply", "args": ["output", "x"], "out": "output"},
                        ]},
                    ]},
                    {"return": "output"},
                ]},
                {"def": "grad", "params": ["x", "y"], "body": [
                    {"tape": "t", "watch": ["x"], "body": [
                        {"call": "f", "args": ["x", "y"], "out": "out"},
                    ]},
                    {"gradient": "t", "target": "out", "sources": "x", "out": "g"},
                    {"return": "g"},
                ]},
                {"call": "grad", "args": ["x", 6], "out": "grad_6"},
                {"call": "grad", "args": ["x", 5], "out": "grad_5"},
                {"call": "grad", "args": ["x", 4], "out": "grad_4"},
            ],
            "outputs": ["grad_6", "grad_5", "grad_4"],
        },
        "higher_order": {
            "inputs": {"x": {"data": 1.0, "variable": True}},
            "program": [
                {"tape": "t", "body": [
                    {"tape": "t2", "body": [
                        {"op": "multiply", "args": ["x", "x"], "out": "x2"},
                        {"op": "multiply", "args": ["x2", "x"], "out": "y"},
                    ]},
                    {"gradient": "t2", "target": "y", "sources": "x", "out": "dy_dx"},
                ]},
                {"gradient": "t", "target": "dy_dx", "sources": "x", "out": "d2y_dx2"},
            ],
            "outputs": ["dy_dx", "d2y_dx2"],
        },
    }  # fmt: skip
