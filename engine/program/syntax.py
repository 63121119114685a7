"""The statement language: its field table (read by the parser and the JSON Schemas) and its nodes.

Every node is a frozen dataclass carrying the JSON pointer of the statement it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..registry import Op
from ..tensor import Tensor

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
NAME_RE = re.compile(NAME_PATTERN[1:-1])


def quoted(text: str) -> str:
    """A client's string for an error message: quoted when it is a short identifier, else not
    repeated at all (error bodies never echo the request's payload)."""
    return repr(text) if len(text) <= 64 and NAME_RE.fullmatch(text) else "the one given"


# ----- the field table: one definition of the language -----
# Field types. parse.py has one reader per type, schema.py one JSON Schema fragment per type.
OP_NAME = "op_name"  # a catalog op's name or alias
NAME = "name"  # a variable, tape or function name
NAMES = "names"  # a list of names
NAME_OR_NAMES = "name_or_names"  # a name, or a list of names
ARGS = "args"  # a list of arguments: names or literal tensors
ATTRS = "attrs"  # an object of op attrs
BLOCK = "block"  # a list of statements
BOOL = "bool"
COUNT = "count"  # a non-negative integer
RANGE = "range"  # N, [START, STOP] or [START, STOP, STEP]; each an integer or a name
UNCONNECTED = "unconnected"  # "none" or "zero"
TAPE_OR_NULL = "tape_or_null"  # a tape name, or null for every active tape

FIELD_TYPES = (
    OP_NAME, NAME, NAMES, NAME_OR_NAMES, ARGS, ATTRS, BLOCK, BOOL, COUNT, RANGE, UNCONNECTED,
    TAPE_OR_NULL,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a statement: its wire type, whether it must be there, its default, its doc."""

    name: str
    type: str
    required: bool = False
    default: Any = None
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Kind:
    """One statement kind: its fields, the first being the key that names the kind."""

    name: str
    doc: str
    fields: tuple[Field, ...]


def _target_fields(with_seeds: bool) -> tuple[Field, ...]:
    seeds = (
        (Field("output_gradients", NAME_OR_NAMES, doc="seeds, one per target, of its shape"),)
        if with_seeds
        else ()
    )
    return (
        Field("target", NAME_OR_NAMES, True, doc="the target (several: their sum)"),
        Field("sources", NAME_OR_NAMES, True, doc="what to differentiate with respect to"),
        *seeds,
        Field("unconnected", UNCONNECTED, default="none", doc="null or zeros when unconnected"),
        Field("out", NAME_OR_NAMES, True, doc="one name per source"),
    )


# Precedence order (API section 4): a statement's kind is the first of these keys it carries.
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("op", "apply a catalog op", (
            Field("op", OP_NAME, True, doc="the op's name (or a TensorFlow alias)"),
            Field("args", ARGS, default=(), doc="names or literal tensors"),
            Field("attrs", ATTRS, doc="the op's keyword arguments, under NumPy's names"),
            Field("out", NAME_OR_NAMES, True, doc="the result's name (a list: multi-output ops)"),
        )),
        Kind("tape", "run `body` recording on a new tape (`with tf.GradientTape() as NAME`)", (
            Field("tape", NAME, True, doc="the tape's name"),
            Field("persistent", BOOL, default=False, doc="answer more than one gradient"),
            Field("watch_accessed_variables", BOOL, default=True,
                  doc="watch variables read under the tape"),
            Field("watch", NAME_OR_NAMES, default=(), doc="tensors to watch before the body"),
            Field("body", BLOCK, True),
        )),
        Kind("watch", "watch more tensors on a tape", (
            Field("watch", NAME_OR_NAMES, True, doc="the tensors to watch"),
            Field("on", NAME, doc="the tape (default: the innermost active one)"),
        )),
        Kind("gradient", "TAPE.gradient(target, sources, output_gradients, unconnected)", (
            Field("gradient", NAME, True, doc="the tape"), *_target_fields(True),
        )),
        Kind("jacobian", "TAPE.jacobian: shape target.shape + source.shape", (
            Field("jacobian", NAME, True, doc="the tape"), *_target_fields(False),
        )),
        Kind("batch_jacobian", "TAPE.batch_jacobian: the first axis is the batch", (
            Field("batch_jacobian", NAME, True, doc="the tape"), *_target_fields(False),
        )),
        Kind("for", "`for NAME in range(...)`; NAME is bound to an int64 scalar", (
            Field("for", NAME, True, doc="the loop variable"),
            Field("range", RANGE, True, doc="N, [START, STOP] or [START, STOP, STEP]"),
            Field("body", BLOCK, True),
        )),
        Kind("if", "branch on a scalar's truth value", (
            Field("if", NAME, True, doc="the condition, a scalar"),
            Field("then", BLOCK, True),
            Field("else", BLOCK, default=()),
        )),
        Kind("while", "loop while the scalar named is true (the body rebinds it)", (
            Field("while", NAME, True, doc="the condition, a scalar"),
            Field("body", BLOCK, True),
            Field("max_iterations", COUNT, doc="starting one more iteration is an error"),
        )),
        Kind("def", "define a function (top level only; callable from anywhere)", (
            Field("def", NAME, True, doc="the function's name"),
            Field("params", NAMES, default=(), doc="parameter names"),
            Field("body", BLOCK, True),
        )),
        Kind("call", "call a function; its body runs in a scope of its own", (
            Field("call", NAME, True, doc="the function's name"),
            Field("args", ARGS, default=(), doc="one per parameter: names or literal tensors"),
            Field("out", NAME_OR_NAMES, doc="names for the returned values"),
        )),
        Kind("return", "return values from a function", (
            Field("return", NAME_OR_NAMES, True, doc="the names to return"),
        )),
        Kind("stop_recording", "run `body` without recording on a tape (null: every active tape)", (
            Field("stop_recording", TAPE_OR_NULL, True, doc="the tape, or null"),
            Field("body", BLOCK, True),
        )),
        Kind("forward", "run `body` pushing tangents forward (tf.autodiff.ForwardAccumulator)", (
            Field("forward", NAME, True, doc="the accumulator's name"),
            Field("primals", NAMES, True, doc="the tensors the tangents belong to"),
            Field("tangents", ARGS, True, doc="one per primal, of its shape"),
            Field("body", BLOCK, True),
        )),
        Kind("jvp", "ACC.jvp(target): the directional derivative along the tangents", (
            Field("jvp", NAME, True, doc="the accumulator"),
            Field("target", NAME, True, doc="the tensor whose tangent to read"),
            Field("unconnected", UNCONNECTED, default="none", doc="null or zeros when unconnected"),
            Field("out", NAME, True, doc="the result's name"),
        )),
    )
}  # fmt: skip


# ----- arguments -----
@dataclass(frozen=True, slots=True)
class Name:
    """A reference to a variable, with the pointer of the field that holds it."""

    name: str
    pointer: str


@dataclass(frozen=True, slots=True)
class Const:
    """A literal argument, decoded once at parse time.

    `value` is what an op receives: a Python scalar for a bare JSON number or boolean (NumPy 2
    treats it as weak, so `x * 2.0` stays float32), else the tensor. `tensor` is always a Tensor.
    """

    value: bool | int | float | Tensor
    tensor: Tensor
    pointer: str


Arg = Name | Const
Bound = int | Name  # a loop bound: a literal integer or the name of an integer scalar


# ----- statements -----
@dataclass(frozen=True, slots=True)
class OpStmt:
    pointer: str
    op: Op
    args: tuple[Arg, ...]
    attrs: dict[str, Any]
    out: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TapeStmt:
    pointer: str
    name: str
    persistent: bool
    watch_accessed_variables: bool
    watch: tuple[Name, ...]
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class WatchStmt:
    pointer: str
    names: tuple[Name, ...]
    on: str | None


@dataclass(frozen=True, slots=True)
class GradientStmt:
    pointer: str
    tape: str
    targets: tuple[Name, ...]
    sources: tuple[Name, ...]
    output_gradients: tuple[Name, ...] | None
    unconnected: str
    out: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JacobianStmt:
    """A jacobian statement, or a batch_jacobian one when `batch` is set."""

    pointer: str
    tape: str
    target: Name
    sources: tuple[Name, ...]
    unconnected: str
    out: tuple[str, ...]
    batch: bool


@dataclass(frozen=True, slots=True)
class ForStmt:
    pointer: str
    var: str
    start: Bound
    stop: Bound
    step: Bound
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class IfStmt:
    pointer: str
    cond: Name
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class WhileStmt:
    pointer: str
    cond: Name
    body: tuple[Stmt, ...]
    max_iterations: int | None


@dataclass(frozen=True, slots=True)
class DefStmt:
    pointer: str
    name: str
    params: tuple[str, ...]
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class CallStmt:
    pointer: str
    func: str
    args: tuple[Arg, ...]
    out: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class ReturnStmt:
    pointer: str
    names: tuple[Name, ...]


@dataclass(frozen=True, slots=True)
class StopRecordingStmt:
    pointer: str
    tape: str | None
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class ForwardStmt:
    pointer: str
    name: str
    primals: tuple[Name, ...]
    tangents: tuple[Arg, ...]
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class JvpStmt:
    pointer: str
    accumulator: str
    target: Name
    unconnected: str
    out: str


Stmt = (
    OpStmt | TapeStmt | WatchStmt | GradientStmt | JacobianStmt | ForStmt | IfStmt | WhileStmt
    | DefStmt | CallStmt | ReturnStmt | StopRecordingStmt | ForwardStmt | JvpStmt
)  # fmt: skip


# ----- the request -----
@dataclass(frozen=True, slots=True)
class Input:
    value: np.ndarray
    variable: bool
    pointer: str


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed run request: inputs decoded, statements typed, functions collected."""

    inputs: dict[str, Input]
    program: tuple[Stmt, ...]
    functions: dict[str, DefStmt]
    outputs: tuple[str, ...] | None  # None: every top-level variable (API section 3)
    encoding: str
    statements: int  # statements in the program, nested ones included
    # Stored functions a `call` may name when the program defines no function of that name
    # (engine.functions.Repository); None: only the program's own defs.
    library: Any = None
