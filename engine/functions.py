"""Functions served by name: a stored forward program with declared inputs and outputs, and every
derivative of it a caller asks for, derived by the engine (never by finite differences).

A function is parsed, its names resolved and its outputs' dtypes and shapes worked out once, when
it loads; it is immutable afterwards and safe to call from several threads. Each call runs the
stored program through the program interpreter, wrapped in what the derivative needs:

- apply: the program alone;
- vjp: a tape watching the `wrt` inputs around the program, then one gradient of the outputs
  seeded with the cotangents (the seeded sum, as `tape.gradient(targets, sources,
  output_gradients)`);
- jvp: a forward accumulator carrying the tangents around the program;
- jacobian: a persistent tape around the program, then one `tape.jacobian` per output;
- hvp: forward over reverse: a forward accumulator carrying the tangents around the vjp (tape and
  gradient both run inside it), then the accumulator's tangent of each gradient.

Derivatives that do not connect are zeros, each with an `unconnected` warning.
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import EngineError, LimitError, OpError, ProgramError
from .forward import ForwardAccumulator
from .limits import BUDGET, Budget, Limits
from .program.interpret import NUMERIC_ERRORS, REASONS, Interpreter
from .program.parse import Parser, check_name
from .program.syntax import Request
from .program.trampoline import drive
from .program.values import WIRE_NAMES, decode, dtype_of, encode, pointer_to
from .registry import OPS, numpy_error
from .tape import ACCUMULATORS, ACTIVE, Tape
from .tensor import FLOATING, Tensor

FUNCTION_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
FUNCTION_NAME_RE = re.compile(FUNCTION_NAME_PATTERN[1:-1])
MAX_NAME_LENGTH = 128
DEFINITION_KEYS = ("doc", "inputs", "program", "outputs")
INPUT_KEYS = ("dtype", "shape", "default")
SOURCES = ("dir", "api")

# Failures of a load-time evaluation on stand-in values that may come from the values (a
# singular matrix of zeros, a loop that only ends on real data): the definition is kept, and
# its outputs' dtype and shape stay unknown. Any other failure refuses the definition.
VALUE_DEPENDENT = frozenset({"linalg_error", "invalid_value", "index_error", "limit_exceeded"})
ABSTRACT_CACHE_SIZE = 64


def _said(name: Any) -> str:
    """A name for an error message: quoted when it is a plausible name, else not repeated."""
    if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and name.isprintable():
        return repr(name)
    return "the one given"


# ----- errors -----
class UnknownFunction(ProgramError):
    """No function of that name (404 on the HTTP routes)."""

    default_code = "unknown_function"

    def __init__(self, name: str, pointer: str | None = None) -> None:
        super().__init__(f"no function named {_said(name)}", pointer=pointer)
        self.name = name


class FunctionReadOnly(EngineError):
    """A function from the functions folder cannot be replaced or deleted (409)."""

    default_code = "function_read_only"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"function {_said(name)} comes from the functions folder and cannot be replaced or "
            "deleted through the API"
        )
        self.name = name


class FunctionFileError(EngineError):
    """A file of the functions folder that does not load: its path, the pointer, the problem."""

    default_code = "bad_function_file"

    def __init__(
        self, path: str | Path, pointer: str | None, message: str, code: str | None = None
    ) -> None:
        where = f" at {pointer}" if pointer else ""
        super().__init__(f"{path}{where}: {message}", code=code, pointer=pointer)
        self.path = str(path)
        self.problem = message


# ----- ports and answers -----
@dataclass(frozen=True)
class Port:
    """A declared input or output of a function."""

    name: str  # the wire name (verbatim; ONNX names like "fc1.weight" allowed)
    dtype: np.dtype
    shape: tuple[int | None, ...] | None  # None entries vary per call; None: unknown rank
    default: np.ndarray | None = field(default=None, compare=False)  # inputs only

    @property
    def floating(self) -> bool:
        return np.dtype(self.dtype) in FLOATING

    def describe(self, encoding: str = "json") -> dict[str, Any]:
        """The port on the wire: {"dtype", "shape", "default"?}."""
        out: dict[str, Any] = {
            "dtype": WIRE_NAMES.get(np.dtype(self.dtype), np.dtype(self.dtype).name),
            "shape": None if self.shape is None else list(self.shape),
        }
        if self.default is not None:
            out["default"] = encode(self.default, encoding)
        return out


@dataclass
class Answer:
    """What a call of a function returns (its HTTP body before encoding)."""

    outputs: dict[str, np.ndarray]  # every output, declared order
    gradients: dict[str, np.ndarray] | None = None  # vjp, hvp: per wrt input
    tangents: dict[str, np.ndarray] | None = None  # jvp: per `of` output
    jacobian: dict[str, dict[str, np.ndarray]] | None = None  # jacobian[output][input]
    hvp: dict[str, np.ndarray] | None = None  # hvp: per wrt input
    warnings: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


# ----- conversions -----
def _converts(given: np.dtype, declared: np.dtype) -> bool:
    """A value converts to the declared dtype when the conversion keeps its kind: numbers to a
    floating dtype, integers to an integer dtype, booleans to bool."""
    if declared.kind == "f":
        return given.kind in "fiu"
    if declared.kind in "iu":
        return given.kind in "iu"
    return given.kind == declared.kind


def conform(array: Any, port: Port, pointer: str, limits: Limits | None = None) -> np.ndarray:
    """`array` as the port takes it: declared dtype (kind kept), declared sizes; else 422."""
    array = np.asarray(array)
    declared = np.dtype(port.dtype)
    if limits is not None and array.size > limits.max_elements_per_tensor:
        raise LimitError(
            f"{_said(port.name)} has {array.size} elements; the limit per tensor is "
            f"{limits.max_elements_per_tensor}",
            pointer=pointer,
        )
    if array.dtype != declared:
        if not _converts(array.dtype, declared):
            raise ProgramError(
                f"{_said(port.name)} is {array.dtype.name}; the function takes {declared.name} "
                "(a value converts when it keeps its kind: numbers to a floating dtype, "
                "integers to an integer dtype)",
                code="dtype_error",
                pointer=pointer,
            )
        if declared.kind in "iu" and array.size:
            info = np.iinfo(declared)
            if array.min() < info.min or array.max() > info.max:
                raise ProgramError(
                    f"{_said(port.name)} holds values outside the range of {declared.name}",
                    code="dtype_error",
                    pointer=pointer,
                )
        with np.errstate(all="ignore"):
            array = array.astype(declared)
    _check_shape(array.shape, port, pointer)
    return array


def _check_shape(shape: tuple[int, ...], port: Port, pointer: str) -> None:
    declared = port.shape
    if declared is None:
        return
    if len(shape) != len(declared) or any(
        d is not None and d != s for d, s in zip(declared, shape, strict=True)
    ):
        wanted = ["null" if d is None else d for d in declared]
        raise OpError(
            f"{_said(port.name)} has shape {list(shape)}; the function takes shape "
            f"[{', '.join(map(str, wanted))}] (null: any size)",
            code="shape_mismatch",
            pointer=pointer,
        )


def _declared_shape(raw: Any, pointer: str) -> tuple[int | None, ...]:
    if not isinstance(raw, list) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in raw
    ):
        raise ProgramError(
            "shape must be a list of non-negative integers or nulls (a size that varies)",
            code="bad_value",
            pointer=pointer,
        )
    if len(raw) > 64:
        raise ProgramError("a tensor has at most 64 dimensions", code="bad_value", pointer=pointer)
    return tuple(raw)


def _reject_unknown(obj: Mapping[str, Any], pointer: str, known: Sequence[str], what: str) -> None:
    for key in obj:
        if key not in known:
            raise ProgramError(
                f"unknown key {_said(key)} in {what} (known keys: {', '.join(known)})",
                code="unknown_key",
                pointer=pointer_to(pointer, key),
            )


def check_function_name(name: Any, pointer: str = "") -> str:
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_LENGTH
        or not FUNCTION_NAME_RE.fullmatch(name)
    ):
        raise ProgramError(
            "not a valid function name: letters, digits, '_', '.' and '-', not starting with a "
            f"digit, '.' or '-', at most {MAX_NAME_LENGTH} characters",
            code="bad_name",
            pointer=pointer,
        )
    return name


# ----- one call -----
class _Call:
    """One evaluation of a function: its budget, interpreter and input tensors, in a context of
    its own (no tape, accumulator or budget of the caller is seen)."""

    def __init__(self, function: Function, arrays: dict[str, np.ndarray], limits: Limits) -> None:
        self.function = function
        self.arrays = arrays
        self.started = time.perf_counter()
        self.budget = Budget(limits)
        self.extra_recorded = 0
        self.warnings: list[dict[str, Any]] = []

    def run(self, body: Callable[[_Call], Answer]) -> Answer:
        return contextvars.copy_context().run(self._run, body)

    def _run(self, body: Callable[[_Call], Answer]) -> Answer:
        BUDGET.set(self.budget)
        ACTIVE.set(())
        ACCUMULATORS.set(())
        fn = self.function
        self.interp = interp = fn._interpreter(self.budget)
        self.tensors = {name: Tensor(a) for name, a in self.arrays.items()}
        for port in fn.inputs:
            interp.bind(interp.top, fn._vars[port.name], self.tensors[port.name])
        with np.errstate(all="ignore"):  # overflow to infinity is a value, not an error
            answer = body(self)
        answer.warnings = [*interp.warnings, *self.warnings]
        self._check_size(answer)
        answer.stats = {
            "ops_executed": self.budget.ops,
            "ops_recorded": interp.ops_recorded() + self.extra_recorded,
            "elapsed_ms": round((time.perf_counter() - self.started) * 1000.0, 3),
        }
        return answer

    def forward(self) -> dict[str, Tensor]:
        """Run the stored program; the outputs' final values by wire name."""
        fn = self.function
        drive(self.interp.exec_block(fn._request.program, self.interp.top))
        return fn._collect(self.interp.top.vars)

    def watched(self, tape: Tape) -> Tape:
        self.interp.tapes.append(tape)  # its entries count towards the live elements
        return tape

    def unconnected(
        self, kind: str, pairs: Iterable[tuple[str, str]], pointers: Mapping[str, str], **extra: Any
    ) -> None:
        for source, reason in pairs:
            what = ", ".join(f"{k} {_said(v)}" for k, v in extra.items())
            self.warnings.append(
                {
                    "pointer": pointers.get(source, ""),
                    "code": "unconnected",
                    "message": f"the {kind} for {_said(source)}{' (' + what + ')' if what else ''}"
                    f" is unconnected: {REASONS.get(reason, reason)}; its result is zeros",
                    "source": source,
                    "reason": reason,
                    **extra,
                }
            )

    def _check_size(self, answer: Answer) -> None:
        parts: list[Iterable[np.ndarray]] = [answer.outputs.values()]
        for d in (answer.gradients, answer.tangents, answer.hvp):
            if d:
                parts.append(d.values())
        if answer.jacobian:
            parts.extend(row.values() for row in answer.jacobian.values())
        size = sum(a.size for part in parts for a in part)
        limit = self.budget.limits.max_output_elements
        if size > limit:
            raise LimitError(
                f"the answer would hold {size} elements; the limit per response is {limit}"
            )


def _differentiate(kind: str, compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except EngineError:
        raise
    except NUMERIC_ERRORS as exc:
        raise numpy_error(kind, exc) from exc


def _zeros_like(t: Tensor | np.ndarray) -> np.ndarray:
    v = t.value if isinstance(t, Tensor) else t
    return np.zeros(np.shape(v), np.asarray(v).dtype)


def _array(t: Tensor | None, like: Tensor) -> np.ndarray:
    return _zeros_like(like) if t is None else np.asarray(t.value)


# ----- the function -----
class Function:
    """A forward program with declared inputs and outputs, loaded, validated and planned once;
    immutable; safe to call from several threads."""

    name: str
    doc: str
    source: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    # The plan, made once when the function loads:
    _limits: Limits  # those it loaded under (abstract_eval's default)
    _vars: dict[str, str]  # input wire name -> program variable
    _out_vars: dict[str, str]  # output wire name -> program variable
    _request: Request  # the parsed program, its defs and statement count
    _parts: dict[int, Any]  # the interpreter's per-block plans, shared by calls
    _returns: dict[int, bool]
    _ports: dict[str, Port]
    _out_ports: dict[str, Port]

    def __init__(self) -> None:  # use from_definition or build
        self._abstract: OrderedDict[Any, dict[str, tuple[np.dtype, tuple[int, ...]]]] = (
            OrderedDict()
        )
        self._abstract_lock = threading.Lock()

    # ----- loading -----
    @classmethod
    def from_definition(
        cls, name: str, definition: Any, *, source: str, limits: Limits
    ) -> Function:
        """A function from its JSON definition ({"doc"?, "inputs", "program", "outputs"});
        errors carry a JSON pointer into the definition."""
        if not isinstance(definition, dict):
            raise ProgramError(
                "a function definition must be a JSON object", code="bad_request", pointer=""
            )
        _reject_unknown(definition, "", DEFINITION_KEYS, "a function definition")
        for key in ("inputs", "program", "outputs"):
            if key not in definition:
                raise ProgramError(
                    f"a function definition needs {key!r}", code="missing_key", pointer=f"/{key}"
                )
        doc = definition.get("doc", "")
        if not isinstance(doc, str):
            raise ProgramError("doc must be a string", code="bad_value", pointer="/doc")
        raw_inputs = definition["inputs"]
        if not isinstance(raw_inputs, dict):
            raise ProgramError(
                "inputs must be an object: name -> {dtype, shape, default?}",
                code="bad_value",
                pointer="/inputs",
            )
        ports = []
        for input_name, spec in raw_inputs.items():
            pointer = pointer_to("/inputs", input_name)
            check_name(input_name, pointer)
            ports.append(_input_port(input_name, spec, pointer))
        outputs = definition["outputs"]
        if not isinstance(outputs, list) or not outputs:
            raise ProgramError(
                "outputs must be a non-empty list of names", code="bad_value", pointer="/outputs"
            )
        for i, out in enumerate(outputs):
            check_name(out, f"/outputs/{i}")
        return cls.build(
            name,
            doc=doc,
            inputs=ports,
            outputs=outputs,
            program=definition["program"],
            source=source,
            limits=limits,
        )

    @classmethod
    def build(
        cls,
        name: str,
        *,
        doc: str,
        inputs: Sequence[Port],
        outputs: Sequence[str],
        program: list[Any],
        source: str,
        limits: Limits,
        variables: Mapping[str, str] | None = None,
    ) -> Function:
        """A function from parts: `program` in the JSON statement language; `variables` maps a
        port's wire name to the program variable bound to it (default: the same name)."""
        check_function_name(name)
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        variables = dict(variables or {})
        self = cls()
        self.name, self.doc, self.source = name, doc, source
        self._limits = limits
        self._vars = {}
        seen_vars: dict[str, str] = {}
        for port in inputs:
            pointer = pointer_to("/inputs", port.name)
            if port.name in self._vars:
                raise ProgramError(
                    f"input {_said(port.name)} is declared twice", code="bad_name", pointer=pointer
                )
            var = check_name(variables.get(port.name, port.name), pointer)
            if var in seen_vars:
                raise ProgramError(
                    f"inputs {_said(seen_vars[var])} and {_said(port.name)} bind the same "
                    "program variable",
                    code="bad_name",
                    pointer=pointer,
                )
            seen_vars[var] = port.name
            self._vars[port.name] = var
            fixed = [d for d in port.shape or () if d is not None]
            if math.prod(fixed) > limits.max_elements_per_tensor:
                raise LimitError(
                    f"input {_said(port.name)} would have {math.prod(fixed)} elements or more; "
                    f"the limit per tensor is {limits.max_elements_per_tensor}",
                    pointer=pointer,
                )
            if port.default is not None:
                conform(port.default, port, pointer_to(pointer, "default"), limits)
        self.inputs = tuple(
            p
            if p.default is None
            else Port(p.name, p.dtype, p.shape, conform(p.default, p, "", None))
            for p in inputs
        )
        self._out_vars = {}
        for i, out in enumerate(outputs):
            pointer = f"/outputs/{i}"
            if not isinstance(out, str) or out in self._out_vars:
                raise ProgramError(
                    "outputs must be distinct names", code="bad_name", pointer=pointer
                )
            self._out_vars[out] = check_name(variables.get(out, out), pointer)
        parser = Parser(limits)
        statements = drive(parser.block(program, "/program", depth=1, in_def=False))
        parser.resolve_calls()
        self._request = Request(
            inputs={},
            program=statements,
            functions=parser.functions,
            outputs=None,
            encoding="json",
            statements=parser.statements,
        )
        self._parts = {}
        self._returns = {}
        self._ports = {p.name: p for p in self.inputs}
        self.outputs = self._declare_outputs(limits)
        self._out_ports = {p.name: p for p in self.outputs}
        return self

    def _declare_outputs(self, limits: Limits) -> tuple[Port, ...]:
        """The outputs' dtypes and shapes, from evaluating the program on stand-ins of the
        declared inputs: a size that varies is tried at 2 and at 3, and an output size that
        follows it is declared null."""
        varying = any(p.shape is None or None in p.shape for p in self.inputs)
        found = []
        for size in (2, 3) if varying else (2,):
            # A default stands for its input when the input's size is fixed; an input whose
            # size varies is tried at `size` (its default has one size among many).
            specs = {
                p.name: (p.dtype, tuple(size if d is None else d for d in p.shape or ()))
                for p in self.inputs
                if p.default is None or p.shape is None or None in p.shape
            }
            try:
                found.append(self._evaluate_shapes(specs, limits))
            except EngineError as err:
                if err.code not in VALUE_DEPENDENT:
                    raise
                break
        if not found:
            return tuple(Port(n, np.dtype(np.float64), None) for n in self._out_vars)
        first = found[0]
        ports = []
        for n in self._out_vars:
            dtype, shape = first[n]
            declared: tuple[int | None, ...] | None = shape
            if len(found) == 1 and varying:
                declared = tuple(None for _ in shape)
            elif len(found) == 2:
                other = found[1][n][1]
                declared = (
                    None
                    if len(other) != len(shape)
                    else tuple(a if a == b else None for a, b in zip(shape, other, strict=True))
                )
            ports.append(Port(n, dtype, declared))
        return tuple(ports)

    def _interpreter(self, budget: Budget) -> Interpreter:
        interp = Interpreter(self._request, budget)
        interp._parts = self._parts  # worked out once per block, for every call
        interp.returns = self._returns
        return interp

    def _collect(self, values: Mapping[str, Tensor | None]) -> dict[str, Tensor]:
        out = {}
        for i, (name, var) in enumerate(self._out_vars.items()):
            value = values.get(var)
            if value is None:
                raise ProgramError(
                    f"output {_said(name)} is not bound by the program"
                    if var not in values
                    else f"output {_said(name)} is null (an unconnected gradient)",
                    code="unknown_name" if var not in values else "bad_value",
                    pointer=f"/outputs/{i}",
                )
            out[name] = value
        return out

    def describe(self, encoding: str = "json") -> dict[str, Any]:
        """The function's entry of GET /v1/functions."""
        return {
            "name": self.name,
            "doc": self.doc,
            "inputs": {p.name: p.describe(encoding) for p in self.inputs},
            "outputs": [p.name for p in self.outputs],
            "source": self.source,
        }

    # ----- the arguments of a call -----
    def _arrays(self, inputs: Any, limits: Limits) -> dict[str, np.ndarray]:
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, Mapping):
            raise ProgramError(
                "inputs must be an object: name -> tensor", code="bad_value", pointer="/inputs"
            )
        for key in inputs:
            if key not in self._ports:
                raise ProgramError(
                    f"{self.name} has no input {_said(key)} (its inputs: "
                    f"{', '.join(p.name for p in self.inputs) or 'none'})",
                    code="unknown_key",
                    pointer=pointer_to("/inputs", key),
                )
        arrays = {}
        for port in self.inputs:
            pointer = pointer_to("/inputs", port.name)
            if port.name in inputs:
                arrays[port.name] = conform(
                    _value(inputs[port.name], pointer), port, pointer, limits
                )
            elif port.default is not None:
                arrays[port.name] = port.default
            else:
                raise ProgramError(
                    f"input {_said(port.name)} is missing and has no default",
                    code="missing_input",
                    pointer=pointer,
                )
        return arrays

    def _names(
        self, given: Any, field_name: str, ports: Mapping[str, Port], what: str
    ) -> tuple[list[str], dict[str, str]]:
        """`wrt` or `of`: the names (default: every floating one) and each one's pointer."""
        if given is None:
            names = [n for n, p in ports.items() if p.floating]
            return names, {n: pointer_to(f"/{what}s", n) for n in names}
        if isinstance(given, str) or not isinstance(given, Sequence):
            raise ProgramError(
                f"{field_name} must be a list of {what} names",
                code="bad_value",
                pointer=f"/{field_name}",
            )
        pointers: dict[str, str] = {}
        for i, name in enumerate(given):
            pointer = f"/{field_name}/{i}"
            port = ports.get(name) if isinstance(name, str) else None
            if port is None:
                raise ProgramError(
                    f"{self.name} has no {what} {_said(name)}",
                    code="unknown_name",
                    pointer=pointer,
                )
            if not port.floating:
                raise ProgramError(
                    f"{what} {_said(name)} is {np.dtype(port.dtype).name}: only floating "
                    f"{what}s are differentiable",
                    code="not_differentiable",
                    pointer=pointer,
                )
            if name in pointers:
                raise ProgramError(
                    f"{_said(name)} is named twice", code="bad_value", pointer=pointer
                )
            pointers[name] = pointer
        return list(pointers), pointers

    def _vectors(
        self, given: Any, field_name: str, ports: Mapping[str, Port], what: str, limits: Limits
    ) -> dict[str, np.ndarray]:
        """Cotangents (per output) or tangents (per input), in the port's dtype."""
        if given is None:
            return {}
        if not isinstance(given, Mapping):
            raise ProgramError(
                f"{field_name} must be an object: {what} name -> tensor",
                code="bad_value",
                pointer=f"/{field_name}",
            )
        out = {}
        for name, raw in given.items():
            pointer = pointer_to(f"/{field_name}", name)
            port = ports.get(name)
            if port is None:
                raise ProgramError(
                    f"{self.name} has no {what} {_said(name)}", code="unknown_key", pointer=pointer
                )
            if not port.floating:
                raise ProgramError(
                    f"{what} {_said(name)} is {np.dtype(port.dtype).name}: only floating "
                    f"{what}s are differentiable",
                    code="not_differentiable",
                    pointer=pointer,
                )
            # dtype only: an output's shape is checked against its value once it is computed
            shape = port.shape if ports is self._ports else None
            out[name] = conform(_value(raw, pointer), replace(port, shape=shape), pointer, limits)
        return out

    # ----- calls -----
    def apply(self, inputs: Any, *, limits: Limits) -> Answer:
        """Every output's value."""
        call = _Call(self, self._arrays(inputs, limits), limits)
        return call.run(lambda c: Answer(_values(c.forward())))

    def vjp(
        self,
        inputs: Any,
        cotangents: Mapping[str, Any] | None,
        wrt: Sequence[str] | None = None,
        *,
        limits: Limits,
    ) -> Answer:
        """The sum over the given outputs of cotangent . d output / d input, per `wrt` input."""
        arrays = self._arrays(inputs, limits)
        names, pointers = self._names(wrt, "wrt", self._ports, "input")
        seeds = self._vectors(cotangents, "cotangents", self._out_ports, "output", limits)

        def body(call: _Call) -> Answer:
            outs, grads = self._reverse(call, names, pointers, seeds)
            return Answer(_values(outs), gradients=grads)

        return _Call(self, arrays, limits).run(body)

    def _reverse(
        self,
        call: _Call,
        names: list[str],
        pointers: Mapping[str, str],
        seeds: Mapping[str, np.ndarray],
    ) -> tuple[dict[str, Tensor], dict[str, np.ndarray]]:
        """The program under a tape watching `names`, then the seeded gradient (the vjp)."""
        sources = [call.tensors[n] for n in names]
        tape = call.watched(Tape())
        with tape:
            tape.watch(sources)
            outs = call.forward()
        targets, seed_tensors = [], []
        for name, seed in seeds.items():
            out = outs[name]
            pointer = pointer_to("/cotangents", name)
            _check_shape(seed.shape, Port(name, out.dtype, out.shape), pointer)
            if out.dtype not in FLOATING:
                continue
            targets.append(out)
            seed_tensors.append(Tensor(seed.astype(out.dtype, copy=False)))
        if not targets or not sources:
            return outs, {n: _zeros_like(call.tensors[n]) for n in names}
        call.extra_recorded += len(tape._nodes)
        grads = _differentiate("vjp", lambda: tape.gradient(targets, sources, seed_tensors, "zero"))
        call.unconnected(
            "gradient", ((names[i], reason) for i, reason in tape.last_unconnected), pointers
        )
        return outs, {n: np.asarray(g.value) for n, g in zip(names, grads, strict=True)}

    def jvp(
        self,
        inputs: Any,
        tangents: Mapping[str, Any] | None,
        of: Sequence[str] | None = None,
        *,
        limits: Limits,
    ) -> Answer:
        """The directional derivative of each `of` output along the inputs' tangents."""
        arrays = self._arrays(inputs, limits)
        names, pointers = self._names(of, "of", self._out_ports, "output")
        given = self._tangents(tangents, arrays, limits)

        def body(call: _Call) -> Answer:
            if not given:
                outs = call.forward()
                return Answer(_values(outs), tangents={n: _zeros_like(outs[n]) for n in names})
            acc = ForwardAccumulator(
                [call.tensors[n] for n in given], [Tensor(t) for t in given.values()]
            )
            with acc:
                outs = call.forward()
            results = {n: acc.jvp(outs[n]) for n in names}
            call.unconnected(
                "tangent",
                ((n, "no_path") for n, t in results.items() if t is None),
                pointers,
            )
            return Answer(
                _values(outs), tangents={n: _array(t, outs[n]) for n, t in results.items()}
            )

        return _Call(self, arrays, limits).run(body)

    def _tangents(
        self, tangents: Any, arrays: Mapping[str, np.ndarray], limits: Limits
    ) -> dict[str, np.ndarray]:
        given = self._vectors(tangents, "tangents", self._ports, "input", limits)
        for name, t in given.items():
            if t.shape != arrays[name].shape:
                raise OpError(
                    f"the tangent of {_said(name)} has shape {list(t.shape)}; the input has "
                    f"shape {list(arrays[name].shape)}",
                    code="shape_mismatch",
                    pointer=pointer_to("/tangents", name),
                )
        return given

    def jacobian(
        self,
        inputs: Any,
        wrt: Sequence[str] | None = None,
        of: Sequence[str] | None = None,
        *,
        limits: Limits,
    ) -> Answer:
        """jacobian[output][input], of shape output.shape + input.shape."""
        arrays = self._arrays(inputs, limits)
        wrt_names, wrt_pointers = self._names(wrt, "wrt", self._ports, "input")
        of_names, _ = self._names(of, "of", self._out_ports, "output")

        def body(call: _Call) -> Answer:
            sources = [call.tensors[n] for n in wrt_names]
            tape = call.watched(Tape(persistent=True))
            with tape:
                tape.watch(sources)
                outs = call.forward()
            table: dict[str, dict[str, np.ndarray]] = {}
            budget = call.budget
            for o in of_names:
                out = outs[o]
                for n, s in zip(wrt_names, sources, strict=True):
                    budget.check_elements(f"the jacobian of {o} by {n}", out.size * s.size)
                if not sources:
                    table[o] = {}
                    continue
                if out.dtype not in FLOATING:
                    table[o] = {
                        n: np.zeros(out.shape + s.shape, s.dtype)
                        for n, s in zip(wrt_names, sources, strict=True)
                    }
                    continue
                results = _differentiate("jacobian", partial(tape.jacobian, out, sources, "zero"))
                call.unconnected(
                    "jacobian",
                    ((wrt_names[i], reason) for i, reason in tape.last_unconnected),
                    wrt_pointers,
                    target=o,
                )
                table[o] = {n: np.asarray(r.value) for n, r in zip(wrt_names, results, strict=True)}
            return Answer(_values(outs), jacobian=table)

        return _Call(self, arrays, limits).run(body)

    def hvp(
        self,
        inputs: Any,
        cotangents: Mapping[str, Any] | None,
        tangents: Mapping[str, Any] | None,
        wrt: Sequence[str] | None = None,
        *,
        limits: Limits,
    ) -> Answer:
        """The vjp's gradients, and their derivative along the tangents (forward over reverse):
        the Hessian of cotangent . output applied to the tangent."""
        arrays = self._arrays(inputs, limits)
        names, pointers = self._names(wrt, "wrt", self._ports, "input")
        seeds = self._vectors(cotangents, "cotangents", self._out_ports, "output", limits)
        given = self._tangents(tangents, arrays, limits)

        def body(call: _Call) -> Answer:
            with ExitStack() as stack:
                acc = None
                if given:
                    acc = ForwardAccumulator(
                        [call.tensors[n] for n in given], [Tensor(t) for t in given.values()]
                    )
                    stack.enter_context(acc)
                # The gradients are computed inside the accumulator, which sees their ops.
                sources = [call.tensors[n] for n in names]
                tape = call.watched(Tape())
                with tape:
                    tape.watch(sources)
                    outs = call.forward()
                targets, seed_tensors = [], []
                for name, seed in seeds.items():
                    out = outs[name]
                    _check_shape(
                        seed.shape,
                        Port(name, out.dtype, out.shape),
                        pointer_to("/cotangents", name),
                    )
                    if out.dtype in FLOATING:
                        targets.append(out)
                        seed_tensors.append(Tensor(seed.astype(out.dtype, copy=False)))
                call.extra_recorded += len(tape._nodes)
                if targets and sources:
                    grads = _differentiate(
                        "hvp", lambda: tape.gradient(targets, sources, seed_tensors, "zero")
                    )
                    gone = dict(tape.last_unconnected)
                else:
                    grads = [Tensor(_zeros_like(s)) for s in sources]
                    gone = {}
            call.unconnected("gradient", ((names[i], r) for i, r in gone.items()), pointers)
            hvps = {}
            for i, (n, g) in enumerate(zip(names, grads, strict=True)):
                t = None if acc is None else acc.jvp(g)
                if t is None and acc is not None and i not in gone and targets:
                    call.unconnected("hvp", [(n, "no_path")], pointers)
                hvps[n] = _array(t, g)
            return Answer(
                _values(outs),
                gradients={n: np.asarray(g.value) for n, g in zip(names, grads, strict=True)},
                hvp=hvps,
            )

        return _Call(self, arrays, limits).run(body)

    # ----- shapes without values -----
    def abstract_eval(
        self,
        specs: Mapping[str, tuple[Any, Sequence[int]]],
        *,
        limits: Limits | None = None,
    ) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        """Every output's (dtype, shape) for inputs of the given (dtype, shape).

        Inputs are zero-stride stand-ins (`np.broadcast_to` of one zero: nothing allocated for
        them), the program runs once per distinct signature under the call limits (an output
        past the element limits is refused before it is allocated), and the answer is kept in a
        small cache keyed by the signature, so repeated questions compute nothing. The
        catalog's ops carry no shape rules of their own, so running them is how shapes are
        found; inputs with a default and no spec use the default.
        """
        limits = limits or self._limits
        if not isinstance(specs, Mapping):
            raise ProgramError(
                "inputs must be an object: name -> {dtype, shape}",
                code="bad_value",
                pointer="/inputs",
            )
        for key in specs:
            if key not in self._ports:
                raise ProgramError(
                    f"{self.name} has no input {_said(key)}",
                    code="unknown_key",
                    pointer=pointer_to("/inputs", key),
                )
        checked: dict[str, tuple[np.dtype, tuple[int, ...]]] = {}
        for port in self.inputs:
            pointer = pointer_to("/inputs", port.name)
            if port.name not in specs:
                if port.default is None:
                    raise ProgramError(
                        f"input {_said(port.name)} is missing and has no default",
                        code="missing_input",
                        pointer=pointer,
                    )
                continue
            dtype, shape = specs[port.name]
            dtype = (
                dtype_of(dtype, pointer_to(pointer, "dtype"))
                if isinstance(dtype, str)
                else (np.dtype(dtype))
            )
            shape = tuple(int(d) for d in shape)
            size = math.prod(shape)
            if size > limits.max_elements_per_tensor:
                raise LimitError(
                    f"{_said(port.name)} would have {size} elements; the limit per tensor is "
                    f"{limits.max_elements_per_tensor}",
                    pointer=pointer,
                )
            if not _converts(dtype, np.dtype(port.dtype)):
                conform(np.zeros((), dtype), Port(port.name, port.dtype, None), pointer)
            _check_shape(shape, port, pointer)
            checked[port.name] = (np.dtype(port.dtype), shape)
        return self._evaluate_shapes(checked, limits)

    def _evaluate_shapes(
        self, specs: Mapping[str, tuple[np.dtype, tuple[int, ...]]], limits: Limits
    ) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        key = (tuple((n, np.dtype(d).str, tuple(s)) for n, (d, s) in specs.items()), limits)
        with self._abstract_lock:
            known = self._abstract.get(key)
            if known is not None:
                self._abstract.move_to_end(key)
                return dict(known)
        arrays = {}
        for port in self.inputs:
            if port.name in specs:
                dtype, shape = specs[port.name]
                if math.prod(shape) > limits.max_elements_per_tensor:
                    raise LimitError(
                        f"{_said(port.name)} would have {math.prod(shape)} elements; the limit "
                        f"per tensor is {limits.max_elements_per_tensor}",
                        pointer=pointer_to("/inputs", port.name),
                    )
                arrays[port.name] = np.broadcast_to(np.zeros((), dtype), shape)
            else:
                assert port.default is not None
                arrays[port.name] = port.default
        answer = _Call(self, arrays, limits).run(lambda c: Answer(_values(c.forward())))
        found = {n: (a.dtype, a.shape) for n, a in answer.outputs.items()}
        with self._abstract_lock:
            self._abstract[key] = found
            while len(self._abstract) > ABSTRACT_CACHE_SIZE:
                self._abstract.popitem(last=False)
        return dict(found)

    # ----- called from a program -----
    def call_from(self, outer: Interpreter, args: Sequence[Tensor | None]) -> tuple[Tensor, ...]:
        """Run as a `call` statement of another program: in its context (its tapes and
        accumulators record through), under its budget. Arguments are the inputs in declared
        order (those left out from the end take their defaults); returns the outputs in
        declared order."""
        inner = self._interpreter(outer.budget)
        inner.call_stack = list(outer.call_stack)
        inner.bound_elements = outer.bound_elements + sum(t.elements for t in outer.tapes)
        call_pointer = outer.call_stack[-1] if outer.call_stack else ""
        for i, port in enumerate(self.inputs):
            value = args[i] if i < len(args) else Tensor(port.default)
            pointer = f"{call_pointer}/args/{i}"
            try:
                value = _as_port(value, port, pointer)
            except EngineError as err:
                err.call_stack = list(outer.call_stack[:-1])
                raise
            inner.bind(inner.top, self._vars[port.name], value)
        try:
            drive(inner.exec_block(self._request.program, inner.top))
            outs = self._collect(inner.top.vars)
        finally:
            outer.recorded += inner.ops_recorded()
            for key, warning in inner._warnings.items():
                outer._warnings.setdefault(key, warning)
        return tuple(outs.values())


def _as_port(value: Tensor | None, port: Port, pointer: str) -> Tensor:
    """A call argument as the input takes it; a floating conversion is a recorded `cast`, so
    tapes see through it."""
    if value is None:
        raise ProgramError(
            f"the argument for {_said(port.name)} is null (an unconnected gradient)",
            code="bad_value",
            pointer=pointer,
        )
    declared = np.dtype(port.dtype)
    if value.dtype != declared:
        if not _converts(value.dtype, declared):
            conform(value.value, Port(port.name, declared, None), pointer)  # raises dtype_error
        if value.dtype in FLOATING and declared in FLOATING:
            value = OPS["cast"](value, dtype=declared.name)
        else:
            value = Tensor(conform(value.value, Port(port.name, declared, None), pointer))
    _check_shape(value.shape, port, pointer)
    return value


def _value(raw: Any, pointer: str) -> np.ndarray:
    if isinstance(raw, np.ndarray):
        return raw
    if isinstance(raw, np.generic):
        return np.asarray(raw)
    return decode(raw, pointer)


def _values(outs: Mapping[str, Tensor]) -> dict[str, np.ndarray]:
    return {n: np.asarray(t.value) for n, t in outs.items()}


def _input_port(name: str, spec: Any, pointer: str) -> Port:
    if not isinstance(spec, dict):
        raise ProgramError(
            "an input is an object {dtype, shape, default?}", code="bad_value", pointer=pointer
        )
    _reject_unknown(spec, pointer, INPUT_KEYS, "an input")
    for key in ("dtype", "shape"):
        if key not in spec:
            raise ProgramError(
                f"an input needs {key!r}", code="missing_key", pointer=pointer_to(pointer, key)
            )
    dtype = dtype_of(spec["dtype"], pointer_to(pointer, "dtype"))
    shape = _declared_shape(spec["shape"], pointer_to(pointer, "shape"))
    default = None
    if "default" in spec:
        default = decode(spec["default"], pointer_to(pointer, "default"))
    return Port(name, dtype, shape, default)


# ----- the repository -----
def _load_json(name: str, path: Path, limits: Limits) -> Function:
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgramError(f"cannot read the file: {exc}", code="bad_request", pointer="") from None

    def refuse(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    try:
        definition = json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        raise ProgramError(f"not JSON: {exc}", code="bad_request", pointer="") from None
    return Function.from_definition(name, definition, source="dir", limits=limits)


def _load_onnx(name: str, path: Path, limits: Limits) -> Function:
    from .onnx_import import load_onnx  # the onnx package is loaded when a model is

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProgramError(f"cannot read the file: {exc}", code="bad_request", pointer="") from None
    return load_onnx(name, data, source="dir", limits=limits)


class Repository:
    """The functions a service serves, by name; thread-safe. Functions from the folder are
    read-only; the API adds, replaces and deletes the others."""

    # File suffix -> loader(name, path, limits): how load_dir reads each kind of file.
    LOADERS: ClassVar[dict[str, Callable[[str, Path, Limits], Function]]] = {
        ".json": _load_json,
        ".onnx": _load_onnx,
    }

    def __init__(self) -> None:
        self._functions: dict[str, Function] = {}
        self._lock = threading.RLock()

    def load_dir(self, path: str | Path, limits: Limits) -> None:
        """Load every NAME.json (and other kinds with a loader) of the folder; a file that does
        not load raises FunctionFileError and nothing of the folder is kept."""
        folder = Path(path)
        if not folder.is_dir():
            raise FunctionFileError(folder, "", "the functions folder does not exist")
        loaded: dict[str, Function] = {}
        for file in sorted(folder.iterdir()):
            loader = self.LOADERS.get(file.suffix)
            if loader is None or not file.is_file() or file.name.startswith("."):
                continue  # hidden files (an editor's, say) are not functions
            name = file.stem
            try:
                check_function_name(name)
                if name in loaded:
                    raise ProgramError(
                        f"a second function named {_said(name)} in the folder",
                        code="bad_name",
                        pointer="",
                    )
                loaded[name] = loader(name, file, limits)
            except EngineError as err:
                raise FunctionFileError(file, err.pointer or "", err.message, err.code) from err
        with self._lock:
            self._functions.update(loaded)

    def put(self, name: str, function: Function) -> bool:
        """Store `function` under `name`: True when created, False when replaced."""
        with self._lock:
            old = self._functions.get(name)
            if old is not None and old.source == "dir":
                raise FunctionReadOnly(name)
            self._functions[name] = function
            return old is None

    def get(self, name: str) -> Function:
        function = self._functions.get(name)
        if function is None:
            raise UnknownFunction(name)
        return function

    def delete(self, name: str) -> None:
        with self._lock:
            function = self.get(name)
            if function.source == "dir":
                raise FunctionReadOnly(name)
            del self._functions[name]

    def list(self) -> list[Function]:
        with self._lock:
            return [self._functions[n] for n in sorted(self._functions)]

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __len__(self) -> int:
        return len(self._functions)


__all__ = [
    "FUNCTION_NAME_PATTERN",
    "Answer",
    "Function",
    "FunctionFileError",
    "FunctionReadOnly",
    "Port",
    "Repository",
    "UnknownFunction",
    "check_function_name",
    "conform",
]
