"""Pydantic models of the /v1/functions bodies: the envelopes, validated here; tensors inside
stay with the engine's decoders, which give each fault its pointer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from app.schemas import DType, OutputTensor, RunOptions, RunStats, RunWarning

# A tensor in a request: any of the wire forms (bare value, data object, b64 object).
WireTensor = Annotated[Any, WithJsonSchema({"x-component": "Tensor"})]
InputName = Annotated[str, Field(description="an input's name, as declared")]
OutputName = Annotated[str, Field(description="an output's name, as declared")]


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionInput(_Envelope):
    """A declared input: dtype, shape (null for a size that varies per call), maybe a default."""

    dtype: str = Field(description="float16, float32, float64, int32, int64 or bool")
    shape: list[Annotated[int, Field(ge=0)] | None]
    default: WireTensor | None = Field(
        default=None, description="the value a call that leaves the input out gets"
    )


class FunctionDefinition(_Envelope):
    """A function: a forward program with declared inputs and outputs (the body of PUT)."""

    doc: str = ""
    inputs: dict[str, FunctionInput] = Field(description="ordered as written")
    program: Annotated[
        list[dict[str, Any]],
        WithJsonSchema({"type": "array", "items": {"x-component": "Statement"}}),
    ]
    outputs: list[str] = Field(min_length=1, description="top-level variables, in order")


class PortInfo(BaseModel):
    """An input or output as listed: dtype, shape (null sizes vary; null shape: unknown)."""

    dtype: DType
    shape: list[int | None] | None
    default: dict[str, Any] | None = Field(
        default=None,
        description="the default as a tensor; one over 4096 elements is shown by its dtype "
        "and shape only",
    )


class FunctionInfo(BaseModel):
    """One function as GET /v1/functions lists it."""

    name: str
    doc: str
    inputs: dict[str, PortInfo]
    outputs: list[str]
    source: Literal["dir", "api"] = Field(
        description="dir: from the functions folder (read-only); api: made by PUT"
    )


class FunctionListResponse(BaseModel):
    functions: list[FunctionInfo]


# ----- calls -----
class ApplyRequest(_Envelope):
    """Evaluate the function."""

    inputs: dict[InputName, WireTensor] = Field(
        default_factory=dict, description="name -> tensor; inputs with a default may be left out"
    )
    options: RunOptions | None = None


class VjpRequest(ApplyRequest):
    """Vector-Jacobian product: the sum over the given outputs of cotangent . d output / d input."""

    cotangents: dict[OutputName, WireTensor] = Field(
        default_factory=dict, description="per output, of its shape; a missing one is zero"
    )
    wrt: list[InputName] | None = Field(
        default=None, description="the inputs to differentiate by; default: every floating one"
    )


class JvpRequest(ApplyRequest):
    """Jacobian-vector product: each output's derivative along the inputs' tangents."""

    tangents: dict[InputName, WireTensor] = Field(
        default_factory=dict, description="per input, of its shape; a missing one is zero"
    )
    of: list[OutputName] | None = Field(
        default=None, description="the outputs to differentiate; default: every floating one"
    )


class JacobianRequest(ApplyRequest):
    """The full Jacobian of each `of` output by each `wrt` input."""

    wrt: list[InputName] | None = None
    of: list[OutputName] | None = None


class HvpRequest(ApplyRequest):
    """Hessian-vector product: the derivative of the vjp's gradients along the tangents."""

    cotangents: dict[OutputName, WireTensor] = Field(default_factory=dict)
    tangents: dict[InputName, WireTensor] = Field(default_factory=dict)
    wrt: list[InputName] | None = None


class TensorSpec(_Envelope):
    dtype: str = Field(description="float16, float32, float64, int32, int64 or bool")
    shape: list[Annotated[int, Field(ge=0)]]


class AbstractEvalRequest(_Envelope):
    """Shapes and dtypes in, shapes and dtypes out: no values are computed."""

    inputs: dict[InputName, TensorSpec] = Field(default_factory=dict)


class OutputSpec(BaseModel):
    dtype: DType
    shape: list[int]


class ApplyResponse(BaseModel):
    """Every output's value."""

    outputs: dict[str, OutputTensor]
    warnings: list[RunWarning]
    stats: RunStats


class VjpResponse(ApplyResponse):
    gradients: dict[str, OutputTensor] = Field(description="per wrt input, of its shape")


class JvpResponse(ApplyResponse):
    tangents: dict[str, OutputTensor] = Field(description="per `of` output, of its shape")


class JacobianResponse(ApplyResponse):
    jacobian: dict[str, dict[str, OutputTensor]] = Field(
        description="jacobian[output][input], of shape output.shape + input.shape"
    )


class HvpResponse(ApplyResponse):
    gradients: dict[str, OutputTensor]
    hvp: dict[str, OutputTensor] = Field(description="per wrt input, of its shape")


class AbstractEvalStats(BaseModel):
    model_config = ConfigDict(extra="allow")

    elapsed_ms: float


class AbstractEvalResponse(BaseModel):
    outputs: dict[str, OutputSpec]
    stats: AbstractEvalStats


# The request bodies the routes read themselves (documented through components/schemas).
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    FunctionDefinition,
    ApplyRequest,
    VjpRequest,
    JvpRequest,
    JacobianRequest,
    HvpRequest,
    AbstractEvalRequest,
)
