"""The request envelopes (run, check, minimize and their options) as pydantic models.

These models are the envelopes' only definition: `validate` checks a request with them (the
engine's entry points and the HTTP routes alike) and the app publishes their JSON Schemas in its
OpenAPI document. A pydantic error becomes an EngineError whose pointer is the error's `loc`.
What the envelope carries but does not own stays with the engine's own readers, which are fast
on big payloads: the inputs' tensors (values.py, never element by element) and the program's
statements (parse.py); the models only document those two fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WithJsonSchema,
)

from ..errors import ProgramError
from .syntax import NAME_PATTERN, quoted
from .values import pointer_to

# Strict: a number is not read from a string nor a boolean; non-finite numbers are refused.
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

# The two fields the engine's readers own, documented here: `{"x-component": N}` stands for
# the component schema N (engine.program.schema), linked in by whoever publishes the schemas.
INPUTS_SCHEMA = {
    "type": "object",
    "description": 'name -> tensor; an input in object form may add `"variable": true`',
    "propertyNames": {"pattern": NAME_PATTERN},
    "additionalProperties": {"x-component": "Input"},
}
PROGRAM_SCHEMA = {
    "type": "array",
    "description": "statements, run in order",
    "items": {"x-component": "Statement"},
}
Inputs = Annotated[dict[str, Any], WithJsonSchema(INPUTS_SCHEMA)]
Program = Annotated[list[Any], WithJsonSchema(PROGRAM_SCHEMA)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


def _integral(value: Any) -> Any:
    """A float with no fraction as the int it spells (JSON Schema counts 2.0 as an integer);
    anything else as it is, for the strict int check."""
    return int(value) if type(value) is float and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_integral)]


class RunOptions(BaseModel):
    """How the response encodes tensors."""

    model_config = STRICT

    encoding: Literal["json", "base64"] = Field(
        default="json",
        description="`json`: nested lists (`data`); `base64`: raw little-endian bytes (`b64`)",
    )


class Envelope(BaseModel):
    """What every evaluating request carries: inputs, a program, options."""

    model_config = STRICT

    inputs: Inputs = Field(default_factory=dict)
    program: Program
    options: RunOptions | None = None


class RunRequest(Envelope):
    """One program with its inputs, and the names of the values to return."""

    outputs: list[Name] | None = Field(
        default=None,
        description="names to return; omitted: every top-level variable bound by the program",
    )


class CheckOptions(BaseModel):
    """Central-difference settings of a gradient check."""

    model_config = STRICT

    eps: float = Field(default=1e-6, gt=0, description="the step of the central differences")
    rtol: float = Field(default=1e-5, ge=0, description="relative tolerance")
    atol: float = Field(default=1e-6, ge=0, description="absolute tolerance")


class CheckRequest(RunRequest):
    """A run request plus the check's settings."""

    check: CheckOptions | None = None


# ----- optimizers: Keras 3's names and defaults (keras/src/optimizers/*.py) -----
NonNegative = Annotated[float, Field(ge=0)]


class SGD(BaseModel):
    """Stochastic gradient descent, with optional (Nesterov) momentum."""

    model_config = STRICT

    name: Literal["sgd"] = "sgd"
    learning_rate: NonNegative = 0.01
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.0
    nesterov: bool = False


class Adam(BaseModel):
    """Adam."""

    model_config = STRICT

    name: Literal["adam"]
    learning_rate: NonNegative = 0.001
    beta_1: NonNegative = 0.9
    beta_2: NonNegative = 0.999
    epsilon: NonNegative = 1e-7


class RMSprop(BaseModel):
    """RMSprop, optionally centered, with optional momentum."""

    model_config = STRICT

    name: Literal["rmsprop"]
    learning_rate: NonNegative = 0.001
    rho: NonNegative = 0.9
    momentum: NonNegative = 0.0
    epsilon: NonNegative = 1e-7
    centered: bool = False


class Adagrad(BaseModel):
    """Adagrad."""

    model_config = STRICT

    name: Literal["adagrad"]
    learning_rate: NonNegative = 0.001
    initial_accumulator_value: NonNegative = 0.1
    epsilon: NonNegative = 1e-7


OPTIMIZER_MODELS: dict[str, type[BaseModel]] = {
    "sgd": SGD,
    "adam": Adam,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}


def _optimizer_name(value: Any) -> str | None:
    """The union's tag: `name`, `sgd` when left out."""
    if isinstance(value, dict):
        name = value.get("name", "sgd")
        return name if isinstance(name, str) else None
    return getattr(value, "name", None)


Optimizer = Annotated[
    Annotated[SGD, Tag("sgd")]
    | Annotated[Adam, Tag("adam")]
    | Annotated[RMSprop, Tag("rmsprop")]
    | Annotated[Adagrad, Tag("adagrad")],
    Discriminator(_optimizer_name),
]


class StopCriteria(BaseModel):
    """Early stopping: the run ends at the first step that meets one of these."""

    model_config = STRICT

    grad_norm: NonNegative | None = Field(
        default=None, description="stop when the global gradient norm is <= this"
    )
    loss_delta: NonNegative | None = Field(
        default=None, description="stop when |loss change| between steps is <= this"
    )


class MinimizeRequest(Envelope):
    """Gradient descent on the server: a program, its scalar loss, the variables to train."""

    loss: Name = Field(description="the top-level variable holding the scalar loss")
    variables: Annotated[list[str], Field(min_length=1)] | None = Field(
        default=None, description='inputs to train; omitted: every input with "variable": true'
    )
    optimizer: Optimizer = Field(
        default_factory=SGD,
        description="`name` picks the optimizer (default `sgd`); the other keys are its "
        "hyperparameters, Keras' names and defaults",
    )
    steps: Integer = Field(ge=1, description="the most updates to apply")
    stop: StopCriteria | None = None


# ----- pydantic errors -> the engine's codes and pointers -----
CODES = {
    "extra_forbidden": "unknown_key",
    "missing": "missing_key",
    "string_pattern_mismatch": "bad_name",
}
M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], raw: Any) -> M:
    """`raw` checked against `model`; the first fault raised as a ProgramError with its code
    (unknown_key, missing_key, bad_name, else bad_value) and the JSON Pointer of its `loc`."""
    if not isinstance(raw, dict):
        raise ProgramError("the request must be a JSON object", code="bad_request", pointer="")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _engine_error(exc.errors(include_url=False)[0]) from None


def _engine_error(error: Any) -> ProgramError:
    loc = list(error["loc"])
    kind = error["type"]
    if loc and loc[0] == "optimizer":
        if len(loc) > 1 and loc[1] in OPTIMIZER_MODELS:
            del loc[1]  # the union's tag is not a key of the request
        if kind.startswith("union_tag"):
            loc.append("name")
            return ProgramError(
                f"unknown optimizer; known: {', '.join(OPTIMIZER_MODELS)}",
                code="bad_value",
                pointer=_pointer(loc),
            )
        # A hyperparameter of another optimizer is a wrong value of this one's.
        code = "bad_value"
    else:
        code = CODES.get(kind, "bad_value")
    pointer = _pointer(loc)
    if kind == "extra_forbidden":
        message = f"unknown key {quoted(str(loc[-1]))}"
    elif kind == "missing":
        message = f"missing key {quoted(str(loc[-1]))}"
    else:
        message = f"{pointer or 'the request'}: {error['msg']}"
    return ProgramError(message, code=code, pointer=pointer)


def _pointer(loc: list[Any]) -> str:
    pointer = ""
    for part in loc:
        pointer = pointer_to(pointer, part)
    return pointer
