"""The interpreter: typed statements run eagerly, with scopes, named tapes, functions and a budget.

Control flow is plain Python over the statements, so a tape records exactly the ops that ran.
Nested blocks run through the trampoline: deep programs are stopped by the request's limits,
never by Python's recursion limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from time import monotonic
from typing import Any

import numpy as np

from ..errors import EngineError, LimitError, OpError, ProgramError
from ..forward import ForwardAccumulator
from ..limits import Budget
from ..registry import numpy_error
from ..tape import ACTIVE, Tape
from ..tensor import FLOATING, Tensor, Variable
from .syntax import (
    Arg,
    Bound,
    CallStmt,
    Const,
    DefStmt,
    ForStmt,
    ForwardStmt,
    GradientStmt,
    IfStmt,
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
)
from .trampoline import Step, drive
from .values import pointer_to

REASONS = {
    "not_watched": "it was never watched",
    "watched_after_use": "it was watched only after the ops that read it ran",
    "no_path": "the target does not depend on it through the tape",
    "stopped": "its path to the target is cut by stop_gradient or stop_recording",
    "non_floating": "only floating-point sources and targets are differentiable",
}


def _not_floating(name: str, source: Tensor, targets: Sequence[Tensor]) -> str:
    """Why a gradient by `name` cannot flow, and the fix: the integer or bool tensor named."""
    if source.dtype not in FLOATING:
        return (
            f"{name!r} is {source.dtype.name}, not floating-point, and only floating-point "
            "tensors are differentiable: write it with a decimal point (3.0, not 3) or give it "
            '"dtype": "float64"'
        )
    dtypes = ", ".join(sorted({t.dtype.name for t in targets}))
    return f"the target is {dtypes}, not floating-point: compute it from floating-point tensors"


# Failures of NumPy (or of Python arithmetic) inside gradient computations; they become
# engine errors with a stable code, like the op forwards' in the registry.
NUMERIC_ERRORS = (ArithmeticError, ValueError, TypeError, IndexError, MemoryError)


@dataclass
class RunResult:
    """What a run returns: the requested outputs, the warnings, and counters."""

    outputs: dict[str, Tensor | None]  # None: an unconnected gradient requested as null
    warnings: list[dict[str, Any]]
    stats: dict[str, Any]  # ops_executed, ops_recorded, elapsed_ms
    encoding: str  # options.encoding: "json" or "base64"


class _Return(Exception):
    """A `return` statement unwinding to its call."""

    def __init__(self, values: tuple[Tensor | None, ...]) -> None:
        super().__init__()
        self.values = values


class Scope:
    """The variables and tapes of the top level or of one function call."""

    __slots__ = ("accumulators", "tapes", "vars")

    def __init__(self) -> None:
        self.vars: dict[str, Tensor | None] = {}
        self.tapes: dict[str, Tape] = {}
        self.accumulators: dict[str, ForwardAccumulator] = {}


def _size(value: Tensor | None) -> int:
    return 0 if value is None else int(value.size)


def _blocks(stmt: Stmt) -> tuple[tuple[Stmt, ...], ...]:
    """The statement blocks nested in stmt (a def's body belongs to its function)."""
    if isinstance(stmt, IfStmt):
        return (stmt.then, stmt.orelse)
    if isinstance(stmt, DefStmt):
        return ()
    body = getattr(stmt, "body", None)
    return (body,) if body is not None else ()


def _entries(tape: Tape) -> int:
    """Entries on the tape since it was last reset (a one-shot tape resets once used)."""
    return len(tape._nodes)


class Interpreter:
    """Runs one parsed request; the budget is the request's, set as BUDGET by the caller."""

    def __init__(self, request: Request, budget: Budget) -> None:
        self.request = request
        self.functions: dict[str, DefStmt] = request.functions
        self.returns: dict[int, bool] = {}  # can_return() of the statements asked about
        self.budget = budget
        self.limits = budget.limits
        self.top = Scope()
        self.call_stack: list[str] = []
        self.assigned: set[str] = set()  # top-level names the program bound
        self.bound_elements = 0  # elements held by the bindings of every open scope
        self.recorded = 0  # tape entries of tapes since reset or dropped
        self._parts: dict[int, list[tuple[OpStmt, ...] | Stmt]] = {}  # parts() by id(block)
        self.tapes: list[Tape] = []  # the tapes bound in every open scope
        self._warnings: dict[tuple[Any, ...], dict[str, Any]] = {}
        # Why a name holds null: a gradient's output whose source is not floating, where the
        # fix is a floating input, not "unconnected": "zero" (which would give zeros silently).
        self.null_because: dict[str, str] = {}

    # ----- running -----
    def run(self) -> dict[str, Tensor | None]:
        """Bind the inputs, run the program, return the requested outputs."""
        for name, inp in self.request.inputs.items():
            value = Variable(inp.value, name=name) if inp.variable else Tensor(inp.value)
            self.top.vars[name] = value
            self.bound_elements += value.size
        drive(self.exec_block(self.request.program, self.top))
        return self.outputs()

    def exec_block(self, block: Sequence[Stmt], scope: Scope) -> Step[None]:
        budget = self.budget
        for part in self.parts(block):
            if part.__class__ is tuple:
                self.run_ops(part, scope)  # type: ignore[arg-type]
                continue
            stmt: Stmt = part  # type: ignore[assignment]
            self.set_live()
            try:
                if monotonic() > budget.deadline:
                    budget.check_time()
                nested = self.exec(stmt, scope)
                if nested is not None:
                    yield nested
            except EngineError as err:
                err.at(stmt.pointer)  # keeps an inner pointer if one is already set
                raise

    def parts(self, block: Sequence[Stmt]) -> list[tuple[OpStmt, ...] | Stmt]:
        """The block cut into runs of single-output op statements (run by run_ops, without a
        step each) and the other statements one by one; worked out once per block."""
        parts = self._parts.get(id(block))
        if parts is None:
            parts, run = [], []
            for stmt in block:
                if stmt.__class__ is OpStmt and not stmt.op.multi:  # type: ignore[attr-defined]
                    run.append(stmt)
                    continue
                if run:
                    parts.append(tuple(run))
                    run = []
                parts.append(stmt)
            if run:
                parts.append(tuple(run))
            self._parts[id(block)] = parts  # the parsed request outlives this run: ids hold
        return parts

    def set_live(self) -> None:
        """Tell the budget the elements held now: bindings and every open tape's entries."""
        live = self.bound_elements
        for t in self.tapes:
            live += t.elements
        self.budget.live = live

    def run_ops(self, stmts: tuple[OpStmt, ...], scope: Scope) -> None:
        """Run single-output op statements: the interpreter's hot path, inline."""
        budget = self.budget
        values = scope.vars
        top = scope is self.top
        tapes = self.tapes
        for stmt in stmts:
            live = self.bound_elements  # set_live(), inline
            for t in tapes:
                live += t.elements
            budget.live = live
            try:
                if monotonic() > budget.deadline:
                    budget.check_time()
                args = []  # self.args(), inline: about 3% of the loop case's time
                for a in stmt.args:
                    if a.__class__ is Const:
                        args.append(a.value)  # type: ignore[union-attr]
                    else:
                        v = values.get(a.name)  # type: ignore[union-attr]
                        args.append(v if v is not None else self.read(a, scope))  # type: ignore[arg-type]
                result = stmt.op(*args, **stmt.attrs) if stmt.attrs else stmt.op(*args)
            except EngineError as err:
                err.at(stmt.pointer)
                raise
            name = stmt.out[0]
            old = values.get(name)
            values[name] = result
            self.bound_elements += result.value.size - (0 if old is None else old.value.size)
            if top:
                self.assigned.add(name)

    def exec(self, stmt: Stmt, scope: Scope) -> Step[None] | None:
        """Run a simple statement; for a compound one, return the step that runs it."""
        match stmt:
            case OpStmt(op=op, args=args, attrs=attrs, out=out):  # multi-output: see parts()
                result = op(*self.args(args, scope), **attrs)
                self.bind_all(scope, out, tuple(result), pointer_to(stmt.pointer, "out"))
            case WatchStmt():
                self.watch(stmt, scope)
            case GradientStmt():
                self.gradient(stmt, scope)
            case JacobianStmt():
                self.jacobian(stmt, scope)
            case ReturnStmt(names=names):
                raise _Return(tuple(self.value(n, scope) for n in names))
            case DefStmt():
                pass  # collected at parse time: callable from anywhere in the program
            case TapeStmt():
                return self.tape(stmt, scope)
            case IfStmt(cond=cond, then=then, orelse=orelse):
                return self.exec_block(then if self.truth(cond, scope) else orelse, scope)
            case ForStmt():
                return self.for_loop(stmt, scope)
            case WhileStmt():
                return self.while_loop(stmt, scope)
            case CallStmt():
                return self.call(stmt, scope)
            case StopRecordingStmt():
                return self.stop_recording(stmt, scope)
            case ForwardStmt():
                return self.forward(stmt, scope)
            case JvpStmt():
                self.jvp(stmt, scope)
            case _:
                raise AssertionError(f"unhandled {type(stmt).__name__}")  # parse guarantees kinds
        return None

    # ----- names -----
    def value(self, ref: Name, scope: Scope) -> Tensor | None:
        try:
            return scope.vars[ref.name]
        except KeyError:
            raise ProgramError(
                f"unknown name {ref.name!r}", code="unknown_name", pointer=ref.pointer
            ) from None

    def read(self, ref: Name, scope: Scope) -> Tensor:
        value = self.value(ref, scope)
        if value is None:
            why = self.null_because.get(ref.name)
            raise ProgramError(
                f"{ref.name!r} is null: {why}"
                if why
                else f"{ref.name!r} is null (an unconnected gradient); ask for "
                '"unconnected": "zero" to get zeros instead',
                code="bad_value",
                pointer=ref.pointer,
            )
        return value

    def arg(self, a: Arg, scope: Scope) -> Any:
        return a.value if isinstance(a, Const) else self.read(a, scope)

    def args(self, args: Sequence[Arg], scope: Scope) -> list[Any]:
        """arg() for each, with the common case (a bound, non-null name) inline."""
        values = scope.vars
        out = []
        for a in args:
            if a.__class__ is Const:
                out.append(a.value)  # type: ignore[union-attr]
            else:
                v = values.get(a.name)  # type: ignore[union-attr]
                out.append(v if v is not None else self.read(a, scope))  # type: ignore[arg-type]
        return out

    def bind(self, scope: Scope, name: str, value: Tensor | None) -> None:
        values = scope.vars
        old = values.get(name)
        values[name] = value
        if value is not None:
            self.bound_elements += value.value.size
        if old is not None:
            self.bound_elements -= old.value.size
        if scope is self.top:
            self.assigned.add(name)

    def bind_all(
        self, scope: Scope, names: tuple[str, ...], values: tuple[Tensor | None, ...], pointer: str
    ) -> None:
        if len(names) != len(values):
            raise ProgramError(
                f"{len(values)} values for {len(names)} names", code="bad_arity", pointer=pointer
            )
        for name, value in zip(names, values, strict=True):
            self.bind(scope, name, value)

    def truth(self, ref: Name, scope: Scope) -> bool:
        value = self.read(ref, scope)
        if value.size != 1:
            raise ProgramError(
                f"{ref.name!r} has shape {list(value.shape)}; a condition must be a scalar",
                code="shape_mismatch",
                pointer=ref.pointer,
            )
        return bool(np.asarray(value.value).item())

    def bound_value(self, bound: Bound, scope: Scope) -> int:
        if isinstance(bound, int):
            return bound
        value = self.read(bound, scope)
        if value.dtype.kind not in "iu":
            raise ProgramError(
                f"{bound.name!r} is {value.dtype.name}; a range bound is an integer",
                code="dtype_error",
                pointer=bound.pointer,
            )
        if value.size != 1:
            raise ProgramError(
                f"{bound.name!r} has shape {list(value.shape)}; a range bound is a scalar",
                code="shape_mismatch",
                pointer=bound.pointer,
            )
        return int(np.asarray(value.value).item())

    # ----- tapes -----
    def tape_named(self, name: str, scope: Scope, pointer: str) -> Tape:
        tape = scope.tapes.get(name)
        if tape is None:
            raise ProgramError(
                f"no tape named {name!r} in this scope", code="unknown_tape", pointer=pointer
            )
        return tape

    def tape(self, stmt: TapeStmt, scope: Scope) -> Step[None]:
        old = scope.tapes.get(stmt.name)
        if old is not None and old in ACTIVE.get():
            raise ProgramError(
                f"tape {stmt.name!r} is still recording; a tape name can be reused once its "
                "tape has stopped",
                code="tape_name_in_use",
                pointer=pointer_to(stmt.pointer, "tape"),
            )
        watched = [self.read(n, scope) for n in stmt.watch]
        if old is not None:
            self.recorded += _entries(old)
            self.tapes.remove(old)
        tape = Tape(stmt.persistent, stmt.watch_accessed_variables)
        scope.tapes[stmt.name] = tape
        self.tapes.append(tape)
        with tape:
            for t in watched:
                tape.watch(t)
            yield self.exec_block(stmt.body, scope)

    def watch(self, stmt: WatchStmt, scope: Scope) -> None:
        if stmt.on is None:
            active = ACTIVE.get()
            if not active:
                raise ProgramError(
                    "watch needs a tape: no tape is active here, and 'on' names none",
                    code="not_in_tape",
                    pointer=stmt.pointer,
                )
            tape = active[-1]
        else:
            tape = self.tape_named(stmt.on, scope, pointer_to(stmt.pointer, "on"))
        for ref in stmt.names:
            tape.watch(self.read(ref, scope))

    def stop_recording(self, stmt: StopRecordingStmt, scope: Scope) -> Step[None]:
        if stmt.tape is None:
            tapes = [t for t in ACTIVE.get() if t.recording]
        else:
            pointer = pointer_to(stmt.pointer, "stop_recording")
            tape = self.tape_named(stmt.tape, scope, pointer)
            if not tape.recording:
                raise ProgramError(
                    f"tape {stmt.tape!r} is not recording here",
                    code="tape_not_recording",
                    pointer=pointer,
                )
            tapes = [tape]
        with ExitStack() as paused:
            for t in tapes:
                paused.enter_context(t.stop_recording())
            yield self.exec_block(stmt.body, scope)

    # ----- forward mode -----
    def forward(self, stmt: ForwardStmt, scope: Scope) -> Step[None]:
        primals = [self.read(n, scope) for n in stmt.primals]
        tangents = [self.arg(a, scope) for a in stmt.tangents]
        try:
            acc = ForwardAccumulator(primals, tangents)
        except EngineError as err:
            raise err.at(pointer_to(stmt.pointer, "tangents")) from None
        scope.accumulators[stmt.name] = acc
        with acc:
            yield self.exec_block(stmt.body, scope)

    def jvp(self, stmt: JvpStmt, scope: Scope) -> None:
        acc = scope.accumulators.get(stmt.accumulator)
        if acc is None:
            raise ProgramError(
                f"no forward accumulator named {stmt.accumulator!r} in this scope",
                code="unknown_accumulator", pointer=pointer_to(stmt.pointer, "jvp"),
            )  # fmt: skip
        target = self.read(stmt.target, scope)
        result = acc.jvp(target, unconnected_gradients=stmt.unconnected)
        if result is None or (stmt.unconnected == "zero" and acc.jvp(target) is None):
            given = "zeros" if stmt.unconnected == "zero" else "null"
            self.warn(
                "unconnected", stmt.pointer,
                f"no tangent reaches {stmt.target.name!r}: it does not depend on the primals "
                f"inside the forward block; its result is {given}",
                source=stmt.target.name, reason="no_path",
            )  # fmt: skip
        self.bind(scope, stmt.out, result)

    # ----- differentiation -----
    def gradient(self, stmt: GradientStmt, scope: Scope) -> None:
        tape = self.tape_named(stmt.tape, scope, pointer_to(stmt.pointer, "gradient"))
        targets = [self.read(n, scope) for n in stmt.targets]
        sources = [self.read(n, scope) for n in stmt.sources]
        seeds = (
            None
            if stmt.output_gradients is None
            else [self.read(n, scope) for n in stmt.output_gradients]
        )
        grads = self.differentiate(
            tape, stmt, "gradient",
            lambda: tape.gradient(targets, sources, seeds, stmt.unconnected),
        )  # fmt: skip
        self.bind_all(scope, stmt.out, tuple(grads), pointer_to(stmt.pointer, "out"))
        self.note_unconnected(tape, stmt, sources, targets)

    def jacobian(self, stmt: JacobianStmt, scope: Scope) -> None:
        kind = "batch_jacobian" if stmt.batch else "jacobian"
        tape = self.tape_named(stmt.tape, scope, pointer_to(stmt.pointer, kind))
        target = self.read(stmt.target, scope)
        sources = [self.read(n, scope) for n in stmt.sources]
        for ref, s in zip(stmt.sources, sources, strict=True):
            if stmt.batch:
                if target.ndim < 2 or s.ndim < 2 or target.shape[0] != s.shape[0]:
                    raise OpError(
                        "batch_jacobian needs a target and sources of rank >= 2 with equal "
                        f"first dimensions; {stmt.target.name} has shape {list(target.shape)} "
                        f"and {ref.name} {list(s.shape)}",
                        code="shape_mismatch",
                    )
                elements = target.size * math.prod(s.shape[1:])
            else:
                elements = target.size * s.size
            self.budget.check_elements(f"the {kind} of {stmt.target.name} by {ref.name}", elements)
        method = tape.batch_jacobian if stmt.batch else tape.jacobian
        results = self.differentiate(
            tape, stmt, kind, lambda: method(target, sources, stmt.unconnected)
        )
        self.bind_all(scope, stmt.out, tuple(results), pointer_to(stmt.pointer, "out"))
        self.note_unconnected(tape, stmt, sources, [target])

    def differentiate(
        self, tape: Tape, stmt: GradientStmt | JacobianStmt, kind: str, compute: Callable[[], Any]
    ) -> Any:
        if not tape.persistent:
            self.recorded += _entries(tape)  # a one-shot tape drops its entries when used
        consumed = tape.consumed_in_context
        try:
            result = compute()
        except EngineError:
            raise
        except NUMERIC_ERRORS as exc:
            raise numpy_error(kind, exc) from exc
        if tape.consumed_in_context and not consumed:
            self.warn(
                "tape_consumed_in_context", stmt.pointer,
                f"tape {stmt.tape!r} is not persistent and was used inside its own body: it "
                "stopped recording here (later ops in its body are not recorded)",
                tape=stmt.tape,
            )  # fmt: skip
        return result

    def note_unconnected(
        self,
        tape: Tape,
        stmt: GradientStmt | JacobianStmt,
        sources: Sequence[Tensor],
        targets: Sequence[Tensor],
    ) -> None:
        given = "zeros" if stmt.unconnected == "zero" else "null"
        for index, reason in tape.last_unconnected:
            name = stmt.sources[index].name
            if reason == "non_floating":
                why = _not_floating(name, sources[index], targets)
                message = f"{why} (its result is {given})"
                if given == "null":
                    self.null_because[stmt.out[index]] = why
            else:
                message = (
                    f"{name!r} is unconnected to the target: {REASONS.get(reason, reason)}; "
                    f"its result is {given}"
                )
                self.null_because.pop(stmt.out[index], None)
            self.warn("unconnected", stmt.pointer, message, source=name, reason=reason)

    def warn(self, code: str, pointer: str, message: str, **extra: Any) -> None:
        """Add a warning; a statement repeated by a loop gives one warning with a count."""
        call_stack = tuple(self.call_stack)
        key = (code, pointer, call_stack, *sorted(extra.items()))
        seen = self._warnings.get(key)
        if seen is not None:
            seen["count"] = seen.get("count", 1) + 1
            return
        warning: dict[str, Any] = {"pointer": pointer, "code": code, "message": message, **extra}
        if call_stack:
            warning["call_stack"] = list(call_stack)
        self._warnings[key] = warning

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return list(self._warnings.values())

    # ----- control flow -----
    def for_loop(self, stmt: ForStmt, scope: Scope) -> Step[None]:
        start, stop, step = (self.bound_value(b, scope) for b in (stmt.start, stmt.stop, stmt.step))
        if step == 0:
            raise ProgramError(
                "a range step cannot be 0",
                code="bad_value",
                pointer=pointer_to(stmt.pointer, "range"),
            )
        budget, var, body = self.budget, stmt.var, stmt.body
        count, limit = len(range(start, stop, step)), budget.limits.max_iterations
        if budget.iterations + count > limit and not self.can_return(stmt):
            raise LimitError(  # refused before its first iteration: nothing can end it early
                f"this loop would run {count} iterations, {budget.iterations} have run before it; "
                f"the limit is {limit} loop iterations in this request"
            )
        parts = self.parts(body)
        if len(parts) == 1 and parts[0].__class__ is tuple and not self.can_return(stmt):
            # A body of op statements only, its iterations counted in advance (the check
            # above): no step per iteration; run_ops checks the time before each statement.
            budget.iterations += count
            ops: tuple[OpStmt, ...] = parts[0]  # type: ignore[assignment]
            if any(
                var in stmt.out
                or any(
                    a.__class__ is Name and a.name == var  # type: ignore[union-attr]
                    for a in stmt.args
                )
                for stmt in ops
            ):
                for i in range(start, stop, step):
                    self.bind(scope, var, Tensor(np.int64(i)))
                    self.run_ops(ops, scope)
            else:  # the body never names the loop variable: bound once, to its last value
                for _ in range(count):
                    self.run_ops(ops, scope)
                if count:
                    self.bind(scope, var, Tensor(np.int64(start + (count - 1) * step)))
            return
        for i in range(start, stop, step):
            budget.tick_iteration()
            self.bind(scope, var, Tensor(np.int64(i)))
            yield from self.exec_block(body, scope)  # one level: nested blocks still yield

    def can_return(self, stmt: Stmt) -> bool:
        """Whether a return statement stands anywhere in stmt's blocks (a function's own
        return ends the loop that holds it)."""
        known = self.returns.get(id(stmt))
        if known is None:
            known = self.returns[id(stmt)] = any(
                isinstance(inner, ReturnStmt) or self.can_return(inner)
                for block in _blocks(stmt)
                for inner in block
            )
        return known

    def while_loop(self, stmt: WhileStmt, scope: Scope) -> Step[None]:
        started = 0
        while self.truth(stmt.cond, scope):
            started += 1
            if stmt.max_iterations is not None and started > stmt.max_iterations:
                raise LimitError(
                    f"the while loop is starting iteration {started}; its max_iterations is "
                    f"{stmt.max_iterations}"
                )
            self.budget.tick_iteration()
            yield self.exec_block(stmt.body, scope)

    def call(self, stmt: CallStmt, scope: Scope) -> Step[None] | None:
        if len(self.call_stack) >= self.limits.max_call_depth:
            raise LimitError(f"calls nest deeper than {self.limits.max_call_depth}")
        if stmt.func in self.functions:  # a def of the program shadows a stored function
            return self.call_def(stmt, scope)
        library = self.request.library
        if library is None:
            raise ProgramError(
                f"no function named {stmt.func!r} is defined",
                code="unknown_function",
                pointer=pointer_to(stmt.pointer, "call"),
            )
        try:
            function = library.get(stmt.func)
        except EngineError:  # removed since the program was parsed (and cached)
            raise ProgramError(
                f"no function named {stmt.func!r} is defined or stored",
                code="unknown_function",
                pointer=pointer_to(stmt.pointer, "call"),
            ) from None
        args = [a.tensor if isinstance(a, Const) else self.value(a, scope) for a in stmt.args]
        self.call_stack.append(stmt.pointer)
        try:
            returned = function.call_from(self, args)
        except EngineError as err:
            if err.call_stack is None:
                err.call_stack = list(self.call_stack)
            raise
        finally:
            self.call_stack.pop()
        if stmt.out is not None:
            self.bind_all(scope, stmt.out, returned, pointer_to(stmt.pointer, "out"))
        return None

    def call_def(self, stmt: CallStmt, scope: Scope) -> Step[None]:
        fn = self.functions[stmt.func]
        args = [a.tensor if isinstance(a, Const) else self.value(a, scope) for a in stmt.args]
        inner = Scope()
        for param, value in zip(fn.params, args, strict=True):
            self.bind(inner, param, value)
        self.call_stack.append(stmt.pointer)
        returned: tuple[Tensor | None, ...] = ()
        try:
            yield self.exec_block(fn.body, inner)
        except _Return as ret:
            returned = ret.values
        except EngineError as err:
            if err.call_stack is None:
                err.call_stack = list(self.call_stack)
            raise
        finally:
            self.call_stack.pop()
            self.release(inner)
        if stmt.out is not None:
            self.bind_all(scope, stmt.out, returned, pointer_to(stmt.pointer, "out"))

    def release(self, scope: Scope) -> None:
        """A finished call's scope: its bindings and tapes are gone."""
        self.bound_elements -= sum(_size(v) for v in scope.vars.values())
        for tape in scope.tapes.values():
            self.recorded += _entries(tape)
            self.tapes.remove(tape)

    # ----- results -----
    def outputs(self) -> dict[str, Tensor | None]:
        names = self.request.outputs
        if names is None:
            inputs = self.request.inputs
            names = tuple(n for n in self.top.vars if n not in inputs or n in self.assigned)
        out: dict[str, Tensor | None] = {}
        size, limit = 0, self.budget.limits.max_output_elements
        for i, name in enumerate(names):
            if name not in self.top.vars:
                raise ProgramError(
                    f"output {name!r} is not a variable of the top-level scope",
                    code="unknown_name",
                    pointer=f"/outputs/{i}",
                )
            value = out[name] = self.top.vars[name]
            size += 0 if value is None else value.size
            if size > limit:  # the response is built in memory; several big outputs add up
                raise LimitError(
                    f"the outputs would hold {size} elements or more; the limit per response is "
                    f"{limit} (request fewer outputs)",
                    pointer="/outputs" if self.request.outputs is None else f"/outputs/{i}",
                )
        return out

    def ops_recorded(self) -> int:
        return self.recorded + sum(_entries(t) for t in self.tapes)
