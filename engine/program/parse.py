"""Request dict -> typed statements; unknown keys, kinds, ops and names -> errors with a pointer.

Each field is read by the reader of its type in the field table (syntax.KINDS), so the parser and
the published JSON Schemas cannot drift apart. Nested blocks are parsed through the trampoline,
and nesting past the limit is refused before it is descended into.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable
from typing import Any

from ..errors import EngineError, LimitError, ProgramError
from ..limits import Limits
from ..registry import ALIASES, OPS, lookup_op
from ..tensor import Tensor
from .envelope import Envelope, RunRequest, validate
from .syntax import (
    ARGS,
    ATTRS,
    BLOCK,
    BOOL,
    COUNT,
    KINDS,
    NAME,
    NAME_OR_NAMES,
    NAME_RE,
    NAMES,
    OP_NAME,
    RANGE,
    TAPE_OR_NULL,
    UNCONNECTED,
    Arg,
    Bound,
    CallStmt,
    Const,
    DefStmt,
    ForStmt,
    ForwardStmt,
    GradientStmt,
    IfStmt,
    Input,
    JacobianStmt,
    JvpStmt,
    Name,
    OpStmt,
    Request,
    ReturnStmt,
    Stmt,
    StopRecordingStmt,
    TapeStmt,
    WatchStmt,
    WhileStmt,
    quoted,
)
from .trampoline import Step, drive
from .values import decode, decode_input, pointer_to


def parse_request(
    request: Any,
    limits: Limits | None = None,
    *,
    program_key: Hashable | None = None,
    functions: Any = None,
) -> Request:
    """Validate a whole run request (inputs, program, outputs, options) and type its program.

    The envelope is checked by its model (envelope.RunRequest); the inputs' tensors and the
    statements by this module's readers. `program_key`: see parse_envelope. `functions`: the
    stored functions (engine.functions.Repository) a `call` may name besides the program's own
    defs.
    """
    return parse_envelope(
        validate(RunRequest, request), limits, program_key=program_key, functions=functions
    )


def parse_envelope(
    envelope: Envelope,
    limits: Limits | None = None,
    *,
    program_key: Hashable | None = None,
    functions: Any = None,
) -> Request:
    """A validated envelope's inputs and program, typed. `program_key`, when given, stands for
    the program (the caller's serialization of it, say): a program parsed before under the same
    key and limits is taken from PROGRAMS instead of being parsed again."""
    limits = limits or Limits()
    key = None if program_key is None else (program_key, limits)
    parsed = None if key is None else PROGRAMS.get(key)
    if parsed is None:
        parsed = _program(envelope.program, limits, functions)
        if key is not None:
            PROGRAMS.put(key, parsed)
    program, defs, statements = parsed
    outputs = envelope.outputs if isinstance(envelope, RunRequest) else None
    options = envelope.options
    return Request(
        inputs=_inputs(envelope.inputs),
        program=program,
        functions=defs,
        outputs=_outputs(outputs, limits),
        encoding="json" if options is None else options.encoding,
        statements=statements,
        library=functions,
    )


Parsed = tuple[tuple[Stmt, ...], dict[str, DefStmt], int]


def _program(raw: Any, limits: Limits, functions: Any = None) -> Parsed:
    parser = Parser(limits)
    program = drive(parser.block(raw, "/program", depth=1, in_def=False))
    parser.resolve_calls(functions)
    return program, parser.functions, parser.statements


class ProgramCache:
    """Parsed programs by key, the least recently used dropped beyond `size`. Clients send the
    same program again and again with new inputs (a training loop, a solver); a parsed program
    is immutable (frozen statements, constant tensors that no op changes), so requests share it.
    """

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, Parsed] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Parsed | None:
        with self.lock:
            parsed = self.entries.get(key)
            if parsed is not None:
                self.entries.move_to_end(key)
            return parsed

    def put(self, key: Hashable, parsed: Parsed) -> None:
        with self.lock:
            self.entries[key] = parsed
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


PROGRAMS = ProgramCache()


def _reject_unknown(obj: dict[str, Any], pointer: str, known: Collection[str], what: str) -> None:
    for key in obj:
        if key not in known:
            raise ProgramError(
                f"unknown key {quoted(key)} in {what} (known keys: {', '.join(known)})",
                code="unknown_key",
                pointer=pointer_to(pointer, key),
            )


def _inputs(raw: dict[str, Any]) -> dict[str, Input]:
    out: dict[str, Input] = {}
    for name, value in raw.items():
        pointer = pointer_to("/inputs", name)
        check_name(name, pointer)
        array, variable = decode_input(value, pointer)
        out[name] = Input(array, variable, pointer)
    return out


def _outputs(names: list[str] | None, limits: Limits) -> tuple[str, ...] | None:
    if names is None:
        return None
    if len(names) > limits.max_outputs:
        raise LimitError(
            f"{len(names)} outputs requested; the limit is {limits.max_outputs}",
            pointer="/outputs",
        )
    return tuple(names)


def check_name(name: Any, pointer: str) -> str:
    if not isinstance(name, str):
        raise ProgramError("a name must be a string", code="bad_value", pointer=pointer)
    if not NAME_RE.fullmatch(name):
        raise ProgramError(
            "not a valid name: a name is letters, digits and _, not starting with a digit",
            code="bad_name",
            pointer=pointer,
        )
    return name


# ----- readers, one per field type -----
def _name(value: Any, pointer: str) -> Name:
    return Name(check_name(value, pointer), pointer)


def _names(value: Any, pointer: str) -> tuple[Name, ...]:
    if not isinstance(value, list):
        raise ProgramError("expected a list of names", code="bad_value", pointer=pointer)
    return tuple(_name(v, f"{pointer}/{i}") for i, v in enumerate(value))


def _name_or_names(value: Any, pointer: str) -> tuple[Name, ...]:
    if isinstance(value, list):
        return _names(value, pointer)
    if not isinstance(value, str):
        raise ProgramError("expected a name or a list of names", code="bad_value", pointer=pointer)
    return (_name(value, pointer),)


def literal(value: Any, pointer: str) -> Const:
    """A literal argument: bare numbers and booleans stay Python scalars for the op."""
    tensor = Tensor(decode(value, pointer))
    if isinstance(value, bool | int | float):
        return Const(value, tensor, pointer)
    return Const(tensor, tensor, pointer)


def _args(value: Any, pointer: str) -> tuple[Arg, ...]:
    if not isinstance(value, list):
        raise ProgramError(
            "args must be a list of names and literal tensors", code="bad_value", pointer=pointer
        )
    out: list[Arg] = []
    for i, v in enumerate(value):
        p = f"{pointer}/{i}"
        out.append(_name(v, p) if isinstance(v, str) else literal(v, p))
    return tuple(out)


def _attrs(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProgramError("attrs must be an object", code="bad_attrs", pointer=pointer)
    return value


def _op_name(value: Any, pointer: str) -> Any:
    if not isinstance(value, str):
        raise ProgramError("op must be an op's name", code="bad_value", pointer=pointer)
    op = lookup_op(value)
    if op is None:
        raise ProgramError(
            f"unknown op {quoted(value)}{_suggest(value)} (GET /v1/ops lists the ops)",
            code="unknown_op",
            pointer=pointer,
        )
    return op


def _suggest(name: str) -> str:
    """'; did you mean ...?' with every op name within a few edits of `name`, nearest first
    (a swap of two neighbours is one edit, so 'tahn' is as near 'tanh' as 'tan'), or ''."""
    if len(name) > 64:
        return ""
    typed = name.lower()
    most = 1 if len(typed) <= 4 else 2 if len(typed) <= 8 else 3
    near = sorted(
        (d, abs(len(c) - len(typed)), c)
        for c in (*OPS, *ALIASES)
        if abs(len(c) - len(typed)) <= most and (d := _edits(typed, c, most)) <= most
    )
    names = [repr(c) for _, _, c in near[:5]]
    if not names:
        return ""
    if len(names) == 1:
        return f"; did you mean {names[0]}?"
    return f"; did you mean {', '.join(names[:-1])} or {names[-1]}?"


def _edits(a: str, b: str, most: int) -> int:
    """Edits (insert, delete, replace, swap of neighbours) from a to b; most + 1 once over."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > most:
            return most + 1
        previous2, previous = previous, row
    return previous[-1]


def _bool(value: Any, pointer: str) -> bool:
    if not isinstance(value, bool):
        raise ProgramError("expected true or false", code="bad_value", pointer=pointer)
    return value


def _count(value: Any, pointer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProgramError("expected a non-negative integer", code="bad_value", pointer=pointer)
    return value


def _bound(value: Any, pointer: str) -> Bound:
    if isinstance(value, str):
        return _name(value, pointer)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProgramError(
            "a range bound is an integer or the name of an integer scalar",
            code="bad_value",
            pointer=pointer,
        )
    return value


def _range(value: Any, pointer: str) -> tuple[Bound, Bound, Bound]:
    if not isinstance(value, list):
        return 0, _bound(value, pointer), 1
    if len(value) not in (2, 3):
        raise ProgramError(
            "range is N, [START, STOP] or [START, STOP, STEP]", code="bad_value", pointer=pointer
        )
    bounds = [_bound(v, f"{pointer}/{i}") for i, v in enumerate(value)]
    if len(bounds) == 3 and bounds[2] == 0:
        raise ProgramError("a range step cannot be 0", code="bad_value", pointer=f"{pointer}/2")
    return bounds[0], bounds[1], bounds[2] if len(bounds) == 3 else 1


def _unconnected(value: Any, pointer: str) -> str:
    if value not in ("none", "zero"):
        raise ProgramError(
            'unconnected must be "none" or "zero"', code="bad_value", pointer=pointer
        )
    return str(value)


def _tape_or_null(value: Any, pointer: str) -> str | None:
    return None if value is None else _name(value, pointer).name


READERS: dict[str, Callable[[Any, str], Any]] = {
    OP_NAME: _op_name,
    NAME: _name,
    NAMES: _names,
    NAME_OR_NAMES: _name_or_names,
    ARGS: _args,
    ATTRS: _attrs,
    BOOL: _bool,
    COUNT: _count,
    RANGE: _range,
    UNCONNECTED: _unconnected,
    TAPE_OR_NULL: _tape_or_null,
}  # BLOCK is read by Parser.block (nested statements go through the trampoline)


# ----- statements -----
class Parser:
    """Parses one program; collects its functions and checks calls against them at the end."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.statements = 0
        self.functions: dict[str, DefStmt] = {}
        self.calls: list[CallStmt] = []

    def block(self, raw: Any, pointer: str, depth: int, in_def: bool) -> Step[tuple[Stmt, ...]]:
        if not isinstance(raw, list):
            raise ProgramError("expected a list of statements", code="bad_value", pointer=pointer)
        out: list[Stmt] = []
        for i, item in enumerate(raw):
            out.append((yield self.stmt(item, f"{pointer}/{i}", depth, in_def)))
        return tuple(out)

    def stmt(self, obj: Any, pointer: str, depth: int, in_def: bool) -> Step[Stmt]:
        self.statements += 1
        if self.statements > self.limits.max_statements:
            raise LimitError(f"more than {self.limits.max_statements} statements", pointer=pointer)
        if depth > self.limits.max_nesting_depth:
            raise LimitError(
                f"statements nest deeper than {self.limits.max_nesting_depth} levels",
                pointer=pointer,
            )
        if not isinstance(obj, dict):
            raise ProgramError(
                "a statement must be a JSON object", code="bad_statement", pointer=pointer
            )
        kind = next((KINDS[k] for k in KINDS if k in obj), None)
        if kind is None:
            raise ProgramError(
                f"no statement kind among the keys {sorted(obj)} (kinds: {', '.join(KINDS)})",
                code="bad_statement",
                pointer=pointer,
            )
        _reject_unknown(obj, pointer, [f.name for f in kind.fields], f"a {kind.name} statement")
        values: dict[str, Any] = {}
        for field in kind.fields:
            p = pointer_to(pointer, field.name)
            if field.name not in obj:
                if field.required:
                    raise ProgramError(
                        f"a {kind.name} statement needs {field.name!r}",
                        code="missing_key",
                        pointer=p,
                    )
                values[field.name] = field.default
            elif field.type == BLOCK:
                inner = in_def or kind.name == "def"
                values[field.name] = yield self.block(obj[field.name], p, depth + 1, inner)
            else:
                values[field.name] = READERS[field.type](obj[field.name], p)
        return self.build(kind.name, pointer, values, depth, in_def)

    def build(self, kind: str, pointer: str, v: dict[str, Any], depth: int, in_def: bool) -> Stmt:
        match kind:
            case "op":
                return _op_stmt(pointer, v)
            case "tape":
                return TapeStmt(
                    pointer,
                    v["tape"].name,
                    v["persistent"],
                    v["watch_accessed_variables"],
                    tuple(v["watch"]),
                    v["body"],
                )
            case "watch":
                return WatchStmt(pointer, v["watch"], v["on"].name if v["on"] else None)
            case "gradient":
                targets, sources, seeds = v["target"], v["sources"], v["output_gradients"]
                _same_count(v["out"], sources, pointer, "out", "sources")
                if seeds is not None:
                    _same_count(seeds, targets, pointer, "output_gradients", "target")
                return GradientStmt(
                    pointer,
                    v["gradient"].name,
                    targets,
                    sources,
                    seeds,
                    v["unconnected"],
                    _plain(v["out"]),
                )
            case "jacobian" | "batch_jacobian":
                if len(v["target"]) != 1:
                    raise ProgramError(
                        f"{kind} takes one target",
                        code="bad_arity",
                        pointer=pointer_to(pointer, "target"),
                    )
                _same_count(v["out"], v["sources"], pointer, "out", "sources")
                return JacobianStmt(
                    pointer,
                    v[kind].name,
                    v["target"][0],
                    v["sources"],
                    v["unconnected"],
                    _plain(v["out"]),
                    kind == "batch_jacobian",
                )
            case "for":
                start, stop, step = v["range"]
                return ForStmt(pointer, v["for"].name, start, stop, step, v["body"])
            case "if":
                return IfStmt(pointer, v["if"], v["then"], v["else"])
            case "while":
                return WhileStmt(pointer, v["while"], v["body"], v["max_iterations"])
            case "def":
                return self._def_stmt(pointer, v, depth)
            case "call":
                stmt = CallStmt(
                    pointer,
                    v["call"].name,
                    v["args"],
                    None if v["out"] is None else _plain(v["out"]),
                )
                self.calls.append(stmt)
                return stmt
            case "return":
                if not in_def:
                    raise ProgramError(
                        "return outside a function body", code="bad_return", pointer=pointer
                    )
                return ReturnStmt(pointer, v["return"])
            case "stop_recording":
                return StopRecordingStmt(pointer, v["stop_recording"], v["body"])
            case "forward":
                if len(v["primals"]) != len(v["tangents"]):
                    raise ProgramError(
                        f"{len(v['tangents'])} tangents for {len(v['primals'])} primals",
                        code="bad_arity", pointer=pointer_to(pointer, "tangents"),
                    )  # fmt: skip
                return ForwardStmt(
                    pointer, v["forward"].name, v["primals"], v["tangents"], v["body"]
                )
            case "jvp":
                return JvpStmt(pointer, v["jvp"].name, v["target"], v["unconnected"], v["out"].name)
        raise AssertionError(f"no builder for the statement kind {kind!r}")

    def _def_stmt(self, pointer: str, v: dict[str, Any], depth: int) -> DefStmt:
        if depth != 1:
            raise ProgramError(
                "def is allowed at the top level only", code="bad_statement", pointer=pointer
            )
        name = v["def"].name
        if name in self.functions:
            raise ProgramError(
                f"function {name!r} is already defined at {self.functions[name].pointer}",
                code="bad_name",
                pointer=pointer_to(pointer, "def"),
            )
        seen: set[str] = set()
        for param in v["params"]:
            if param.name in seen:
                raise ProgramError(
                    f"parameter {param.name!r} appears twice",
                    code="bad_name",
                    pointer=param.pointer,
                )
            seen.add(param.name)
        stmt = DefStmt(pointer, name, _plain(v["params"]), v["body"])
        self.functions[name] = stmt
        return stmt

    def resolve_calls(self, library: Any = None) -> None:
        """Every call names a function defined somewhere in the program (or, failing that, a
        stored function of `library`), with its arity."""
        for call in self.calls:
            fn = self.functions.get(call.func)
            if fn is None and library is not None and call.func in library:
                _stored_arity(call, library.get(call.func))
                continue
            if fn is None:
                raise ProgramError(
                    f"no function named {call.func!r} is defined",
                    code="unknown_function",
                    pointer=pointer_to(call.pointer, "call"),
                )
            if len(call.args) != len(fn.params):
                raise ProgramError(
                    f"{call.func} takes {len(fn.params)} arguments, got {len(call.args)}",
                    code="bad_arity",
                    pointer=pointer_to(call.pointer, "args"),
                )


def _stored_arity(call: CallStmt, function: Any) -> None:
    """A call of a stored function passes its inputs in declared order; those with a default
    may be left out from the end."""
    most = len(function.inputs)
    least = max((i + 1 for i, p in enumerate(function.inputs) if p.default is None), default=0)
    if not least <= len(call.args) <= most:
        takes = f"{most}" if least == most else f"{least} to {most}"
        raise ProgramError(
            f"{call.func} takes {takes} arguments, got {len(call.args)}",
            code="bad_arity",
            pointer=pointer_to(call.pointer, "args"),
        )


def _op_stmt(pointer: str, v: dict[str, Any]) -> OpStmt:
    op, args = v["op"], v["args"]
    n = len(args)
    if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
        raise ProgramError(
            f"{op.name} takes {op.arity_text()} inputs, got {n}",
            code="bad_arity",
            pointer=pointer_to(pointer, "args"),
        )
    try:
        attrs = op.convert_attrs(v["attrs"] or {})
    except EngineError as err:
        raise err.at(pointer_to(pointer, "attrs")) from None
    except RecursionError:
        raise ProgramError(
            f"{op.name}: attrs nest too deeply",
            code="bad_attrs",
            pointer=pointer_to(pointer, "attrs"),
        ) from None
    out = v["out"]
    if not op.multi and len(out) != 1:
        raise ProgramError(
            f"{op.name} has one output, {len(out)} names given",
            code="bad_arity",
            pointer=pointer_to(pointer, "out"),
        )
    return OpStmt(pointer, op, args, attrs, _plain(out))


def _plain(names: tuple[Name, ...]) -> tuple[str, ...]:
    return tuple(n.name for n in names)


def _same_count(
    names: tuple[Name, ...], like: tuple[Name, ...], pointer: str, field: str, other: str
) -> None:
    if len(names) != len(like):
        raise ProgramError(
            f"{len(names)} names in {field!r} for {len(like)} in {other!r}",
            code="bad_arity",
            pointer=pointer_to(pointer, field),
        )
