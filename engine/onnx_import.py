"""ONNX models as functions: a ModelProto in, a program over catalog ops out.

The model is parsed and checked by the `onnx` package; a model older than OPSET is converted up
to it by onnx's version converter, a newer one is read as it is (each row reads the newer form
of its op). Graph inputs become the function's inputs; each float initializer (a weight)
becomes an input too, whose default is its stored value, so a call may leave the weights out and
a `vjp` may still ask for their gradients. An integer initializer or Constant that a node reads
as a shape, axes or indices is a constant of the program. Names are the graph's own (exporters
write `fc1.weight` or `onnx::MatMul_48`); the program binds them to variables of its own.

Each ONNX op is one row of ONNX_OPS: its inputs and attributes to catalog ops. A node with no row
(or of a domain other than the standard one) is refused with every such op and node named. Every
catalog op differentiates to any order, so a model does too.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import LimitError, ProgramError
from .functions import Function, Port
from .limits import Limits
from .tensor import DTYPES

OPSET = 18  # an older model is converted up to this opset; a newer one is read as it is

# ONNX TensorProto element types the service takes, as dtypes.
ONNX_DTYPES = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64"}


def onnx_error(message: str, code: str = "bad_onnx") -> ProgramError:
    return ProgramError(message, code=code, pointer="")


@dataclass
class Node:
    """One node as a row reads it: the program's names for its inputs and outputs, its
    attributes as Python values, and the static (constant) value of any input that has one."""

    op_type: str
    name: str
    inputs: list[str]  # program variables ("" for an omitted optional input)
    outputs: list[str]
    attrs: dict[str, Any]
    static: dict[int, np.ndarray] = field(default_factory=dict)  # input index -> constant value
    shapes: dict[int, tuple[int | None, ...]] = field(default_factory=dict)  # known input shapes
    types: dict[int, str] = field(default_factory=dict)  # known input dtypes

    def refuse(self, why: str) -> ProgramError:
        return onnx_error(f"node {self.name!r} ({self.op_type}): {why}", "unsupported_onnx_op")

    def const(self, i: int, what: str) -> np.ndarray:
        if i not in self.static:
            raise onnx_error(
                f"node {self.name!r} ({self.op_type}): its {what} must be a constant of the model",
                code="unsupported_onnx_op",
            )
        return self.static[i]

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] != ""


Stmt = dict[str, Any]


def _op(name: str, args: Sequence[Any], out: str, **attrs: Any) -> Stmt:
    stmt: Stmt = {"op": name, "args": list(args), "out": out}
    if attrs:
        stmt["attrs"] = attrs
    return stmt


def _literal(value: float, dtype: str = "float64") -> dict[str, Any]:
    return {"data": value, "dtype": dtype}


# ----- the rows: ONNX op -> statements -----
def _unary(name: str) -> Callable[[Node], list[Stmt]]:
    return lambda n: [_op(name, n.inputs[:1], n.outputs[0])]


def _binary(name: str) -> Callable[[Node], list[Stmt]]:
    return lambda n: [_op(name, n.inputs[:2], n.outputs[0])]


def _gemm(n: Node) -> list[Stmt]:
    a, b = n.inputs[0], n.inputs[1]
    out, stmts = n.outputs[0], []
    if n.attrs.get("transA", 0):
        stmts.append(_op("transpose", [a], a := f"{out}__a"))
    if n.attrs.get("transB", 0):
        stmts.append(_op("transpose", [b], b := f"{out}__b"))
    alpha, beta = float(n.attrs.get("alpha", 1.0)), float(n.attrs.get("beta", 1.0))
    product = out if (alpha == 1.0 and not n.has(2)) else f"{out}__ab"
    stmts.append(_op("matmul", [a, b], product))
    if alpha != 1.0:
        scaled = out if not n.has(2) else f"{out}__alpha"
        stmts.append(_op("multiply", [product, _literal(alpha)], scaled))
        product = scaled
    if n.has(2):
        c = n.inputs[2]
        if beta != 1.0:
            stmts.append(_op("multiply", [c, _literal(beta)], c := f"{out}__c"))
        stmts.append(_op("add", [product, c], out))
    return stmts


def _softmax(name: str) -> Callable[[Node], list[Stmt]]:
    return lambda n: [_op(name, n.inputs[:1], n.outputs[0], axis=int(n.attrs.get("axis", -1)))]


def _divide(n: Node) -> list[Stmt]:
    if any(n.types.get(i, "float").startswith(("int", "uint")) for i in (0, 1)):
        raise n.refuse("integer division (ONNX truncates) is not supported")
    return [_op("divide", n.inputs[:2], n.outputs[0])]


def _dropout(n: Node) -> list[Stmt]:
    """Inference: the identity. A mask output or a training mode not known to be off is
    refused (training-time dropout is random)."""
    if len([o for o in n.outputs if o]) > 1:
        raise n.refuse("the mask output (training-time dropout) is not supported")
    if n.has(2) and (2 not in n.static or bool(n.static[2])):
        raise n.refuse("training mode (random dropout) is not supported")
    return [_op("identity", n.inputs[:1], n.outputs[0])]


def _with_alpha(name: str, default: float) -> Callable[[Node], list[Stmt]]:
    return lambda n: [
        _op(name, n.inputs[:1], n.outputs[0], alpha=float(n.attrs.get("alpha", default)))
    ]


def _clip(n: Node) -> list[Stmt]:
    lo = n.inputs[1] if n.has(1) else _literal(-math.inf)
    hi = n.inputs[2] if n.has(2) else _literal(math.inf)
    return [_op("clip", [n.inputs[0], lo, hi], n.outputs[0])]


def _reshape(n: Node) -> list[Stmt]:
    """Reshape to a constant target; a 0 copies the input's size (unless allowzero), a -1 is
    worked out from the input's size, which must then be known when the model loads."""
    target = [int(d) for d in n.const(1, "target shape")]
    known = n.shapes.get(0)
    copy = n.attrs.get("allowzero", 0) == 0
    shape: list[int | None] = [
        (known[i] if known is not None and i < len(known) else None) if d == 0 and copy else d
        for i, d in enumerate(target)
    ]
    unknown = [i for i, d in enumerate(shape) if d is None or d == -1]
    if unknown:
        sized = known is not None and all(d is not None for d in known)
        rest = math.prod(d for d in shape if d is not None and d != -1)
        if not sized or len(unknown) != 1 or rest == 0:
            raise onnx_error(
                f"node {n.name!r} (Reshape): a size left to infer needs the input's full shape",
                code="unsupported_onnx_op",
            )
        shape[unknown[0]] = math.prod(d for d in known or () if d is not None) // rest
    return [_op("reshape", n.inputs[:1], n.outputs[0], shape=shape)]


def _flatten(n: Node) -> list[Stmt]:
    known = n.shapes.get(0)
    if known is None or None in known:
        raise onnx_error(
            f"node {n.name!r} (Flatten): needs the input's full shape", code="unsupported_onnx_op"
        )
    axis = int(n.attrs.get("axis", 1)) % (len(known) or 1)
    dims = [int(d) for d in known]  # type: ignore[arg-type]
    shape = [math.prod(dims[:axis]), math.prod(dims[axis:])]
    return [_op("reshape", n.inputs[:1], n.outputs[0], shape=shape)]


def _transpose(n: Node) -> list[Stmt]:
    perm = n.attrs.get("perm")
    attrs = {} if perm is None else {"axes": [int(p) for p in perm]}
    return [_op("transpose", n.inputs[:1], n.outputs[0], **attrs)]


def _axes(n: Node, i: int) -> list[int] | None:
    """Axes from the input `i` (opset 13+ for Squeeze/Unsqueeze, 18+ for reductions)."""
    return [int(a) for a in n.const(i, "axes")] if n.has(i) else None


def _reduce(name: str) -> Callable[[Node], list[Stmt]]:
    def row(n: Node) -> list[Stmt]:
        axes = _axes(n, 1)
        if axes == [] and n.attrs.get("noop_with_empty_axes", 0):
            return [_op("identity", n.inputs[:1], n.outputs[0])]
        keep = bool(n.attrs.get("keepdims", 1))
        return [_op(name, n.inputs[:1], n.outputs[0], axis=axes or None, keepdims=keep)]

    return row


def _squeeze(n: Node) -> list[Stmt]:
    axes = _axes(n, 1)
    return [_op("squeeze", n.inputs[:1], n.outputs[0], **({"axis": axes} if axes else {}))]


def _unsqueeze(n: Node) -> list[Stmt]:
    return [_op("expand_dims", n.inputs[:1], n.outputs[0], axis=_axes(n, 1))]


def _concat(n: Node) -> list[Stmt]:
    args = [x for x in n.inputs if x]
    return [_op("concatenate", args, n.outputs[0], axis=int(n.attrs["axis"]))]


def _gather(n: Node) -> list[Stmt]:
    axis = int(n.attrs.get("axis", 0))
    return [_op("take", n.inputs[:2], n.outputs[0], axis=axis)]


def _cast(n: Node) -> list[Stmt]:
    to = ONNX_DTYPES.get(int(n.attrs["to"]))
    if to is None:
        raise onnx_error(
            f"node {n.name!r} (Cast): element type {_elem_name(int(n.attrs['to']))} is not taken",
            code="unsupported_onnx_op",
        )
    return [_op("cast", n.inputs[:1], n.outputs[0], dtype=to)]


def _einsum(n: Node) -> list[Stmt]:
    return [_op("einsum", n.inputs, n.outputs[0], subscripts=str(n.attrs["equation"]))]


def _gelu(n: Node) -> list[Stmt]:
    if n.attrs.get("approximate", "none") != "none":
        raise onnx_error(
            f"node {n.name!r} (Gelu): only the exact (erf) form", code="unsupported_onnx_op"
        )
    return [_op("gelu", n.inputs[:1], n.outputs[0])]


def _where(n: Node) -> list[Stmt]:
    return [_op("where", n.inputs[:3], n.outputs[0])]


# ----- convolution, pooling, normalization -----
def _known_shape(n: Node, i: int, what: str) -> tuple[int, ...]:
    known = n.shapes.get(i)
    if known is None or None in known:
        raise n.refuse(f"needs the full shape of its {what} when the model loads")
    return tuple(int(d) for d in known)  # type: ignore[arg-type]


def _rank(n: Node) -> int:
    """The rank of input 0, from its shape or else from the weight's (input 1)."""
    for i in (0, 1):
        if n.shapes.get(i):
            return len(n.shapes[i])
    if "kernel_shape" in n.attrs:
        return len(n.attrs["kernel_shape"]) + 2
    raise n.refuse("needs the rank of its input when the model loads")


def _kernel(n: Node) -> list[int]:
    if "kernel_shape" in n.attrs:
        return [int(k) for k in n.attrs["kernel_shape"]]
    return list(_known_shape(n, 1, "weight")[2:])


def _window_attrs(n: Node, kernel: list[int], dilated: bool = True) -> dict[str, Any]:
    """strides, pads, dilations of a Conv or pool node, with auto_pad worked out to pads."""
    k = len(kernel)
    strides = [int(v) for v in n.attrs.get("strides", [1] * k)]
    dilations = [int(v) for v in n.attrs.get("dilations", [1] * k)]
    pads = [int(v) for v in n.attrs.get("pads", [0] * 2 * k)]
    auto = n.attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        pads = [0] * 2 * k
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        spatial = _known_shape(n, 0, "input")[2:]
        begin, end = [], []
        for x, kk, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            total = max(0, (-(-x // s) - 1) * s + (kk - 1) * d + 1 - x)
            small, large = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else large)
            end.append(large if auto == "SAME_UPPER" else small)
        pads = begin + end
    elif auto != "NOTSET":
        raise n.refuse(f"auto_pad {auto!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    if n.attrs.get("ceil_mode", 0):
        spatial = _known_shape(n, 0, "input")[2:]
        for i, (x, kk, s, d) in enumerate(zip(spatial, kernel, strides, dilations, strict=True)):
            room = x + pads[i] + pads[k + i] - (kk - 1) * d - 1
            out = -(-room // s) + 1
            if (out - 1) * s >= x + pads[i]:  # the last window may not start in the end pad
                out -= 1
            pads[k + i] += max(0, (out - 1) * s + (kk - 1) * d + 1 - (x + pads[i] + pads[k + i]))
    attrs: dict[str, Any] = {"strides": strides, "pads": pads}
    if dilated:
        attrs["dilations"] = dilations
    return attrs


def _channel_vector(n: Node, i: int, out: str, rank: int) -> tuple[Stmt, str]:
    """Input i, a per-channel vector (C,), reshaped to (C, 1, ...) against an (N, C, ...) input."""
    name = f"{out}__c{i}"
    return _op("reshape", [n.inputs[i]], name, shape=[-1, *[1] * (rank - 2)]), name


def _conv(n: Node) -> list[Stmt]:
    kernel = _kernel(n)
    attrs = _window_attrs(n, kernel)
    out = n.outputs[0]
    product = f"{out}__xw" if n.has(2) else out
    stmts = [_op("conv", n.inputs[:2], product, **attrs, groups=int(n.attrs.get("group", 1)))]
    if n.has(2):
        reshape, bias = _channel_vector(n, 2, out, len(kernel) + 2)
        stmts += [reshape, _op("add", [product, bias], out)]
    return stmts


def _conv_transpose(n: Node) -> list[Stmt]:
    kernel = _kernel(n)
    k, groups = len(kernel), int(n.attrs.get("group", 1))
    strides = [int(v) for v in n.attrs.get("strides", [1] * k)]
    dilations = [int(v) for v in n.attrs.get("dilations", [1] * k)]
    extra = [int(v) for v in n.attrs.get("output_padding", [0] * k)]
    pads = [int(v) for v in n.attrs.get("pads", [0] * 2 * k)]
    auto = n.attrs.get("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise n.refuse(f"auto_pad {auto!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    target = n.attrs.get("output_shape")
    if auto == "VALID":
        pads = [0] * 2 * k
    if target is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        spatial = _known_shape(n, 0, "input")[2:]
        same = [x * s for x, s in zip(spatial, strides, strict=True)]
        target = [int(v) for v in target or []][-k:] or same
        begin, end = [], []
        for i in range(k):
            full = strides[i] * (spatial[i] - 1) + extra[i] + (kernel[i] - 1) * dilations[i] + 1
            total = full - target[i]
            if total < 0:  # the output is longer than the windows reach: more output_padding
                extra[i] -= total
                total = 0
            small, large = total // 2, total - total // 2
            begin.append(large if auto == "SAME_LOWER" else small)
            end.append(small if auto == "SAME_LOWER" else large)
        pads = begin + end
    if any(e >= s for e, s in zip(extra, strides, strict=True)):
        raise n.refuse("an output_padding (or output_shape) past one stride is not supported")
    attrs = {"strides": strides, "pads": pads, "dilations": dilations, "output_padding": extra}
    out = n.outputs[0]
    product = f"{out}__xw" if n.has(2) else out
    stmts = [_op("conv_transpose", n.inputs[:2], product, **attrs, groups=groups)]
    if n.has(2):
        reshape, bias = _channel_vector(n, 2, out, k + 2)
        stmts += [reshape, _op("add", [product, bias], out)]
    return stmts


def _max_pool(n: Node) -> list[Stmt]:
    if len([o for o in n.outputs if o]) > 1:
        raise n.refuse("the Indices output is not supported")
    kernel = _kernel(n)
    attrs = _window_attrs(n, kernel)
    return [_op("max_pool", n.inputs[:1], n.outputs[0], kernel_shape=kernel, **attrs)]


def _average_pool(n: Node) -> list[Stmt]:
    kernel = _kernel(n)
    include = bool(n.attrs.get("count_include_pad", 0))
    if include and n.attrs.get("ceil_mode", 0):
        raise n.refuse("ceil_mode with count_include_pad is not supported")
    attrs = _window_attrs(n, kernel)
    return [
        _op(
            "avg_pool",
            n.inputs[:1],
            n.outputs[0],
            kernel_shape=kernel,
            **attrs,
            count_include_pad=include,
        )
    ]


def _global_average_pool(n: Node) -> list[Stmt]:
    axes = list(range(2, _rank(n)))
    return [_op("mean", n.inputs[:1], n.outputs[0], axis=axes, keepdims=True)]


def _batch_normalization(n: Node) -> list[Stmt]:
    """Inference form: (x - mean) / sqrt(var + epsilon) * scale + B, per channel (axis 1)."""
    if n.attrs.get("training_mode", 0) or len([o for o in n.outputs if o]) > 1:
        raise n.refuse("training mode (batch statistics, running averages) is not supported")
    rank, out = _rank(n), n.outputs[0]
    eps = _literal(float(n.attrs.get("epsilon", 1e-5)), n.types.get(0, "float64"))
    stmts, c = [], {}
    for i in (1, 2, 3, 4):
        stmt, c[i] = _channel_vector(n, i, out, rank)
        stmts.append(stmt)
    return [
        *stmts,
        _op("subtract", [n.inputs[0], c[3]], f"{out}__d"),
        _op("add", [c[4], eps], f"{out}__v"),
        _op("sqrt", [f"{out}__v"], f"{out}__s"),
        _op("divide", [f"{out}__d", f"{out}__s"], f"{out}__z"),
        _op("multiply", [f"{out}__z", c[1]], f"{out}__zs"),
        _op("add", [f"{out}__zs", c[2]], out),
    ]


def _layer_normalization(n: Node) -> list[Stmt]:
    """(x - mean) / sqrt(var + epsilon) * Scale + B, mean and var over the axes from `axis` on;
    the optional outputs Mean and InvStdDev keep those axes as size 1."""
    axis = int(n.attrs.get("axis", -1))
    if axis >= 0:
        axis -= _rank(n)
    axes = list(range(axis, 0))
    out = n.outputs[0]
    dtype = n.types.get(0, "float64")
    eps = _literal(float(n.attrs.get("epsilon", 1e-5)), dtype)
    x = n.inputs[0]
    stmts = [
        _op("mean", [x], mean := f"{out}__mean", axis=axes, keepdims=True),
        _op("subtract", [x, mean], d := f"{out}__d"),
        _op("multiply", [d, d], sq := f"{out}__sq"),
        _op("mean", [sq], var := f"{out}__var", axis=axes, keepdims=True),
        _op("add", [var, eps], ve := f"{out}__ve"),
        _op("sqrt", [ve], s := f"{out}__s"),
        _op("divide", [d, s], z := f"{out}__z"),
    ]
    scaled = out if not n.has(2) else f"{out}__zs"
    stmts.append(_op("multiply", [z, n.inputs[1]], scaled))
    if n.has(2):
        stmts.append(_op("add", [scaled, n.inputs[2]], out))
    extra = n.outputs[1:]
    if len(extra) > 0 and extra[0]:
        stmts.append(_op("identity", [mean], extra[0]))
    if len(extra) > 1 and extra[1]:
        stmts.append(_op("divide", [_literal(1.0, dtype), s], extra[1]))
    return stmts


ONNX_OPS: dict[str, Callable[[Node], list[Stmt]]] = {
    "Add": _binary("add"),
    "Sub": _binary("subtract"),
    "Mul": _binary("multiply"),
    "Div": _divide,
    "Pow": _binary("power"),
    "Neg": _unary("negative"),
    "Exp": _unary("exp"),
    "Log": _unary("log"),
    "Sqrt": _unary("sqrt"),
    "Abs": _unary("abs"),
    "Erf": _unary("erf"),
    "Tanh": _unary("tanh"),
    "Sigmoid": _unary("sigmoid"),
    "Relu": _unary("relu"),
    "Softplus": _unary("softplus"),
    "Identity": _unary("identity"),
    "Dropout": _dropout,
    "LeakyRelu": _with_alpha("leaky_relu", 0.01),
    "Elu": _with_alpha("elu", 1.0),
    "Gelu": _gelu,
    "Clip": _clip,
    "Softmax": _softmax("softmax"),
    "LogSoftmax": _softmax("log_softmax"),
    "MatMul": _binary("matmul"),
    "Gemm": _gemm,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Concat": _concat,
    "Gather": _gather,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Where": _where,
    "Equal": _binary("equal"),
    "Less": _binary("less"),
    "Greater": _binary("greater"),
    "Cast": _cast,
    "ReduceMean": _reduce("mean"),
    "ReduceSum": _reduce("sum"),
    "ReduceMax": _reduce("max"),
    "Einsum": _einsum,
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _max_pool,
    "AveragePool": _average_pool,
    "GlobalAveragePool": _global_average_pool,
    "BatchNormalization": _batch_normalization,
    "LayerNormalization": _layer_normalization,
}


# ----- loading -----
def load_onnx(name: str, data: bytes, *, source: str, limits: Limits) -> Function:
    """The function an ONNX model's bytes define; refused with a clear engine error (422)."""
    import onnx
    from onnx import shape_inference, version_converter

    try:
        model = onnx.load_model_from_string(bytes(data))
    except Exception as exc:  # protobuf's DecodeError and friends
        raise onnx_error(f"not an ONNX model: {type(exc).__name__}") from None
    _refuse_before_allocating(model, limits)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # the checker's ValidationError
        raise onnx_error(f"the ONNX checker refuses the model: {str(exc)[:300]}") from None
    _refuse_unsupported(model)
    if _opset(model) < OPSET:
        try:
            model = version_converter.convert_version(model, OPSET)
        except Exception as exc:
            raise onnx_error(
                f"the model's opset {_opset(model)} cannot be converted to {OPSET}: "
                f"{str(exc)[:200]}"
            ) from None
    with contextlib.suppress(Exception):  # shapes help Reshape and Flatten; nothing needs them
        model = shape_inference.infer_shapes(model)
    return _function(name, model, source=source, limits=limits)


def _opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _refuse_before_allocating(model: Any, limits: Limits) -> None:
    from onnx import TensorProto

    for t in model.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL or t.external_data:
            raise onnx_error(
                f"initializer {t.name!r} is stored outside the model (external data): the "
                "service reads no files; save the model with its data inside",
                code="onnx_external_data",
            )
        size = math.prod(t.dims)
        if size > limits.max_elements_per_tensor:
            raise LimitError(
                f"initializer {t.name!r} declares {size} elements; the limit per tensor is "
                f"{limits.max_elements_per_tensor}",
                pointer="",
            )


def _refuse_unsupported(model: Any) -> None:
    bad = [
        f"{n.op_type}{'' if n.domain in ('', 'ai.onnx') else f' (domain {n.domain})'} "
        f"at node {n.name or i!r}"
        for i, n in enumerate(model.graph.node)
        if n.domain not in ("", "ai.onnx") or n.op_type not in (*ONNX_OPS, "Constant")
    ]
    if bad:
        raise onnx_error(
            f"unsupported ONNX ops: {'; '.join(bad)[:400]}", code="unsupported_onnx_op"
        )


def _function(name: str, model: Any, *, source: str, limits: Limits) -> Function:
    from onnx import helper, numpy_helper

    graph = model.graph
    variables: dict[str, str] = {}

    def var(onnx_name: str) -> str:
        if onnx_name not in variables:
            variables[onnx_name] = f"v{len(variables)}"
        return variables[onnx_name]

    static: dict[str, np.ndarray] = {}
    weights: list[Port] = []
    for t in graph.initializer:
        value = numpy_helper.to_array(t)
        if value.dtype.kind in "iub" or t.name in _static_only(graph):
            static[t.name] = value
        else:
            weights.append(Port(t.name, _dtype(value.dtype, t.name), value.shape, value))
    initialized = {t.name for t in graph.initializer}
    ports = [
        Port(i.name, _elem_dtype(i.type.tensor_type.elem_type, i.name), _shape(i.type))
        for i in graph.input
        if i.name not in initialized
    ]
    shapes: dict[str, tuple[int | None, ...]] = {
        v.name: _shape(v.type) for v in [*graph.input, *graph.value_info, *graph.output]
    }
    shapes.update({k: tuple(v.shape) for k, v in static.items()})
    shapes.update({p.name: p.shape or () for p in weights})
    types = {
        v.name: ONNX_DTYPES.get(v.type.tensor_type.elem_type, "other")
        for v in [*graph.input, *graph.value_info, *graph.output]
    }
    types.update({k: v.dtype.name for k, v in static.items()})

    program: list[Stmt] = []
    for k, v in static.items():
        program.append(_op("identity", [_const_literal(v)], var(k)))
    for index, proto in enumerate(graph.node):
        attrs = {a.name: helper.get_attribute_value(a) for a in proto.attribute}
        if proto.op_type == "Constant":
            value = _constant_value(proto.name or f"#{index}", attrs)
            static[proto.output[0]] = value
            shapes[proto.output[0]] = value.shape
            program.append(_op("identity", [_const_literal(value)], var(proto.output[0])))
            continue
        node = Node(
            proto.op_type,
            proto.name or f"#{index}",
            [var(x) if x else "" for x in proto.input],
            [var(x) for x in proto.output],
            {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()},
            {i: static[x] for i, x in enumerate(proto.input) if x in static},
            {i: shapes[x] for i, x in enumerate(proto.input) if shapes.get(x)},
            {i: types[x] for i, x in enumerate(proto.input) if x in types},
        )
        try:
            program.extend(ONNX_OPS[proto.op_type](node))
        except (KeyError, ValueError, TypeError, IndexError) as exc:  # a missing or odd attribute
            raise node.refuse(f"cannot be read ({type(exc).__name__}: {exc})") from None
    inputs = [*ports, *weights]
    return Function.build(
        name,
        doc=graph.doc_string or f"ONNX model {graph.name or name}",
        inputs=inputs,
        outputs=[o.name for o in graph.output],
        program=program,
        source=source,
        limits=limits,
        variables={
            **{p.name: var(p.name) for p in inputs},
            **{o.name: var(o.name) for o in graph.output},
        },
    )


def _constant_value(node: str, attrs: dict[str, Any]) -> np.ndarray:
    """A Constant node's value, from whichever of its attributes holds it."""
    from onnx import numpy_helper

    if "value" in attrs:
        return np.asarray(numpy_helper.to_array(attrs["value"]))
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):  # fmt: skip
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    raise onnx_error(
        f"node {node!r} (Constant): only tensor, float and int values are taken",
        code="unsupported_onnx_op",
    )


def _static_only(graph: Any) -> set[str]:
    """Initializers read only where a row needs a constant (a shape, axes)."""
    wanted = {("Reshape", 1), ("Squeeze", 1), ("Unsqueeze", 1), ("ReduceMean", 1),
              ("ReduceSum", 1), ("ReduceMax", 1)}  # fmt: skip
    return {x for n in graph.node for i, x in enumerate(n.input) if (n.op_type, i) in wanted}


def _dtype(dtype: np.dtype, name: str) -> np.dtype:
    if dtype.name not in DTYPES:
        raise onnx_error(f"{name!r} has element type {dtype.name}, which the service does not take")
    return DTYPES[dtype.name]


def _elem_dtype(elem_type: int, name: str) -> np.dtype:
    dtype = ONNX_DTYPES.get(elem_type)
    if dtype is None:
        raise onnx_error(
            f"input {name!r}: element type {_elem_name(elem_type)} is not one the service takes"
        )
    return DTYPES[dtype]


def _elem_name(elem_type: int) -> str:
    from onnx import TensorProto

    return str(TensorProto.DataType.Name(elem_type)).lower() if elem_type else "undefined"


def _shape(type_proto: Any) -> tuple[int | None, ...]:
    tensor = type_proto.tensor_type
    if not tensor.HasField("shape"):
        return ()
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)


def _const_literal(value: np.ndarray) -> dict[str, Any]:
    """A constant as a tensor literal of the program (base64 of its bytes)."""
    import base64

    array = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
    return {
        "b64": base64.b64encode(array.tobytes()).decode("ascii"),
        "dtype": _dtype(value.dtype, "a constant").name,
        "shape": list(array.shape),
    }
