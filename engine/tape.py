"""Tape (tf.GradientTape): a Wengert list in execution order; gradient, jacobian, stop_recording."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import OpError, TapeError
from .limits import BUDGET, Budget
from .tensor import FLOATING, Tensor, Variable, as_tensor

if TYPE_CHECKING:
    from .forward import ForwardAccumulator
    from .registry import Op

# One tape entry: the op, its inputs, its attrs, its output (a tuple for a multi-output op).
Node = tuple["Op", tuple[Tensor, ...], dict[str, Any], Any]
_UNSET: Any = object()

# The forward accumulators (engine.forward) whose context is open, outermost first.
ACCUMULATORS: ContextVar[tuple[ForwardAccumulator, ...]] = ContextVar(
    "gradtape_accumulators", default=()
)

# The tapes whose context is open in this request/thread, outermost first. A tape removed
# from recording (consumed in its own context) leaves this tuple.
ACTIVE: ContextVar[tuple[Tape, ...]] = ContextVar("gradtape_active_tapes", default=())

NON_PERSISTENT_MESSAGE = (
    "A non-persistent GradientTape can only be used to compute one set of gradients (or jacobians)"
)

# Why a source got no gradient (API section 4).
NOT_WATCHED = "not_watched"
WATCHED_AFTER_USE = "watched_after_use"
NO_PATH = "no_path"
STOPPED = "stopped"
NON_FLOATING = "non_floating"


def record(
    tapes: tuple[Tape, ...], op: Op, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: Any
) -> None:
    """Put one op application on every open tape that tracks one of its inputs."""
    if len(tapes) == 1 and op.recordable:  # the common case: one tape, one output, no variable
        tape = tapes[0]
        tracked = tape._tracked
        if (
            tape.recording
            and all(x.__class__ is Tensor for x in inputs)
            and any(id(x) in tracked for x in inputs)
        ):
            tape._nodes.append((op, inputs, attrs, out))
            tracked[id(out)] = out
            tape.elements += out.value.size
            return
    for tape in tapes:
        tracked = tape._tracked
        hit = False
        for x in inputs:
            if id(x) in tracked:
                hit = True
            elif tape._auto and x.__class__ is Variable and x.trainable:
                tape._watch_one(x)  # a trainable variable read under the tape
                hit = True
        if not tape.recording:
            tape._note_cut(inputs, out, op)
            continue
        if not hit:
            if tape._cut:
                tape._note_cut(inputs, out, op)
            seen = tape._seen
            if seen is None:
                seen = tape._seen = weakref.WeakValueDictionary()
            for x in inputs:
                seen[id(x)] = x
            continue
        if op.vjp is None:
            tape._note_cut(inputs, out, op, force=True)
            continue
        tape._nodes.append((op, inputs, attrs, out))
        if op.multi:
            for o in out:
                tracked[id(o)] = o
                tape.elements += o.value.size
        else:
            tracked[id(out)] = out
            tape.elements += out.value.size


class Tape:
    """Records ops run in its context on watched tensors; differentiates them on request."""

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._reset_state()
        self._set_state(False, False)
        self._used = False
        self.last_unconnected: list[tuple[int, str]] = []
        self.consumed_in_context = False

    def _reset_state(self) -> None:
        self._nodes: list[Node] = []
        self._tracked: dict[int, Tensor] = {}
        self._cut: dict[int, Tensor] = {}
        self._cut_edges: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        # Tensors ops read under the tape without it tracking them (by id, made on first use).
        self._seen: weakref.WeakValueDictionary[int, Tensor] | None = None
        self._late: set[int] = set()
        self._watched_vars: list[Variable] = []
        self._watched: set[int] = set()  # ids of every tensor watched (not an op's output)
        self.elements = 0

    def _set_state(self, in_context: bool, paused: bool) -> None:
        self._in_context = in_context
        self._paused = paused
        # Inside its context and not paused: read per op, so a plain attribute.
        self.recording = in_context and not paused
        self._auto = self.watch_accessed_variables and in_context

    # ----- context -----
    def __enter__(self) -> Tape:
        if self._in_context:
            raise TapeError(
                "Tape is still recording, This can happen if you try to re-enter "
                "an already-active tape.",
                code="tape_name_in_use",
            )
        self._set_state(True, False)
        ACTIVE.set((*ACTIVE.get(), self))
        return self

    def __exit__(self, *exc: object) -> None:
        self._leave()

    def _leave(self) -> None:
        self._set_state(False, False)
        active = ACTIVE.get()
        if active and active[-1] is self:  # the innermost tape leaves (a `with` block ends)
            ACTIVE.set(active[:-1])
        else:
            ACTIVE.set(tuple(t for t in active if t is not self))

    @contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Temporarily stop recording operations on this tape (`tf.GradientTape.stop_recording`)."""
        if not self.recording:
            raise TapeError(
                "Tape.stop_recording() called on a tape that is not recording",
                code="tape_not_recording",
            )
        self._set_state(True, True)
        try:
            yield
        finally:
            self._set_state(self._in_context, False)

    def reset(self) -> None:
        """Clear everything recorded, as if the context were left and entered with a new tape."""
        self._reset_state()
        self._used = False

    # ----- watching -----
    def watch(self, tensor: Any) -> None:
        """Track a tensor, a variable, or a (nested) list of them."""
        if isinstance(tensor, Tensor):
            self._watch_one(tensor)
            return
        for t in _flatten(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(f"can only watch tensors and variables, not {type(t).__name__}")
            self._watch_one(t)

    def _watch_one(self, t: Tensor) -> None:
        key = id(t)
        if key in self._tracked:
            return
        if self._seen is not None and self._seen.get(key) is t:
            self._late.add(key)
        self._tracked[key] = t
        self._watched.add(key)
        if isinstance(t, Variable):
            self._watched_vars.append(t)

    def watched_variables(self) -> tuple[Variable, ...]:
        return tuple(self._watched_vars)

    def _note_cut(self, inputs: tuple[Tensor, ...], out: Any, op: Op, force: bool = False) -> None:
        """An op that is not recorded but reads a tracked (or cut) tensor: remember the edge, so
        an unconnected source can be told apart as `stopped` rather than `no_path`."""
        ins = tuple(id(x) for x in inputs)
        if not force and not any(i in self._tracked or i in self._cut for i in ins):
            return
        outs = tuple(out) if op.multi else (out,)
        for o in outs:
            self._cut[id(o)] = o
        self._cut_edges.append((ins, tuple(id(o) for o in outs)))

    # ----- differentiation -----
    def _claim(self) -> None:
        if self._used and not self.persistent:
            raise TapeError(NON_PERSISTENT_MESSAGE, code="tape_not_persistent")
        if self._in_context and not self.persistent:
            # As TensorFlow: a one-shot tape asked for gradients inside its context stops there.
            self.consumed_in_context = True
            self._leave()
        self._used = True

    def gradient(
        self,
        target: Any,
        sources: Any,
        output_gradients: Any = None,
        unconnected_gradients: str = "none",
    ) -> Any:
        """Gradient of the sum of `target`(s) w.r.t. each source, in the structure of `sources`.

        Unconnected sources give None (or zeros with unconnected_gradients="zero"); why each is
        unconnected is left in `last_unconnected` as (flat index, reason) pairs.
        """
        _check_unconnected(unconnected_gradients)
        self._claim()
        targets = [as_tensor(t) for t in _flat(target)]
        flat_sources = _flat(sources)
        seeds = None
        if output_gradients is not None:
            seeds = [None if s is None else as_tensor(s) for s in _flat(output_gradients)]
            if len(seeds) != len(targets):
                raise OpError(
                    f"{len(seeds)} output_gradients for {len(targets)} targets",
                    code="shape_mismatch",
                )
            for t, s in zip(targets, seeds, strict=True):
                if s is not None and s.shape != t.shape:
                    raise OpError(
                        f"output_gradients shape {list(s.shape)} does not match the "
                        f"target shape {list(t.shape)}",
                        code="shape_mismatch",
                    )
        try:
            grads = self._backward(targets, seeds, flat_sources)
            result = self._collect(grads, targets, flat_sources, unconnected_gradients)
        finally:
            if not self.persistent:
                self._reset_state()
        return _shaped(sources, result)

    def _reach(self, sources: list[Any], nodes: list[Any]) -> tuple[set[int], list[Any]] | None:
        """The ids of the sources and of every output that depends on one, and the entries
        among `nodes` that make such an output: only through those can a cotangent reach a
        source (the rest of the pass would compute cotangents no source receives, such as the
        gradient of a layer not asked for, or of what made an intermediate source). A source
        the tape does not track gets no gradient whatever the pass does, so it reaches nothing.
        None when every watched tensor is a source: then every entry depends on one."""
        tracked = self._tracked
        reached = {id(s) for s in sources if id(s) in tracked}
        if self._watched <= reached:
            return None
        kept = []
        for node in nodes:
            op, inputs, _attrs, out = node
            for x in inputs:
                if id(x) in reached:
                    kept.append(node)
                    if op.multi:
                        reached.update(id(o) for o in out)
                    else:
                        reached.add(id(out))
                    break
        return reached, kept

    def _backward(
        self,
        targets: list[Tensor],
        seeds: list[Tensor | None] | None,
        sources: list[Any],
        reach: Any = _UNSET,
    ) -> dict[int, Any]:
        """Cotangents by id, from the tape entries a gradient by `sources` can need (see
        _reach; a caller running several passes by the same sources gives it once). The mode is
        chosen once: when an open tape or accumulator may see the pass (a higher-order
        gradient), the recorded pass; else the raw pass."""
        recorded = bool(ACTIVE.get() or ACCUMULATORS.get())
        grads = self._seeds(targets, seeds, recorded)
        if not grads:
            return grads
        targets_ids = set(grads)  # only tracked tensors and targets can be asked for
        tracked: Container[int] = self._tracked  # ids that may take a cotangent
        nodes = self._nodes
        if reach is _UNSET:
            reach = self._reach(sources, nodes)
        if reach is not None:  # some watched tensor is not a source: entries can be left out
            tracked, nodes = reach
        elif recorded and self.recording:  # a persistent tape asked inside its own context
            nodes = nodes[:]  # records the VJP ops on itself: not on this pass's list
        if recorded:
            _recorded_pass(grads, nodes, tracked, targets_ids)
        else:
            budget = BUDGET.get()  # a raw VJP's arrays are no larger than its op's own
            if budget is not None:
                budget.before_backward(len(nodes), self.elements)
            _raw_pass(grads, nodes, tracked, targets_ids, budget)
        return grads

    def _seeds(
        self, targets: list[Tensor], seeds: list[Tensor | None] | None, recorded: bool
    ) -> dict[int, Any]:
        """Each floating target's seed (ones, or its output gradient in its dtype), as a Tensor
        for the recorded pass or a NumPy value for the raw one."""
        from . import ops

        grads: dict[int, Any] = {}
        for i, t in enumerate(targets):
            if t.dtype not in FLOATING:
                continue
            s = seeds[i] if seeds is not None else None
            if recorded:
                seed: Any = (
                    Tensor(np.ones_like(t.value))
                    if s is None
                    else s
                    if s.dtype == t.dtype
                    else ops.cast(s, dtype=t.dtype.name)
                )
            elif s is None:
                v = t.value
                seed = v.dtype.type(1) if not v.ndim else np.ones_like(v)
            else:
                seed = s.value if s.dtype == t.dtype else np.asarray(s.value).astype(t.dtype)
            _accumulate(grads, id(t), seed)
        return grads

    def _collect(
        self, grads: dict[int, Tensor], targets: list[Tensor], sources: list[Any], unconnected: str
    ) -> list[Tensor | None]:
        out: list[Tensor | None] = []
        self.last_unconnected = []
        for i, s in enumerate(sources):
            if not isinstance(s, Tensor):
                raise TypeError(f"sources must be tensors or variables, not {type(s).__name__}")
            g = grads.get(id(s)) if id(s) in self._tracked or _is_target(s, targets) else None
            if g is None:
                self.last_unconnected.append((i, self._reason(s, targets)))
                out.append(Tensor(np.zeros_like(s.value)) if unconnected == "zero" else None)
                continue
            if not isinstance(g, Tensor):  # a value from the raw backward pass
                g = Tensor(g)
            if g.dtype != s.dtype or g.shape != s.shape:
                from . import ops

                if g.dtype != s.dtype:
                    g = ops.cast(g, dtype=s.dtype.name)
                if g.shape != s.shape:  # a target that is also a source, broadcast onto it
                    g = ops.broadcast_to(g, shape=s.shape)
            out.append(g)
        return out

    def _reason(self, s: Tensor, targets: list[Tensor]) -> str:
        if s.dtype not in FLOATING or all(t.dtype not in FLOATING for t in targets):
            return NON_FLOATING
        key = id(s)
        if key in self._late:
            return WATCHED_AFTER_USE
        if key not in self._tracked:
            return STOPPED if key in self._cut else NOT_WATCHED
        reach = {key}
        changed = True
        edges = [
            (tuple(id(x) for x in n[1]), tuple(id(o) for o in (n[3] if n[0].multi else (n[3],))))
            for n in self._nodes
        ]
        edges += self._cut_edges
        while changed:
            changed = False
            for ins, outs in edges:
                if not reach.isdisjoint(ins) and not reach.issuperset(outs):
                    reach.update(outs)
                    changed = True
        return STOPPED if any(id(t) in reach for t in targets) else NO_PATH

    def jacobian(self, target: Any, sources: Any, unconnected_gradients: str = "none") -> Any:
        """d target / d source for each source: shape target.shape + source.shape."""
        return self._jacobian(target, sources, unconnected_gradients, batch=False)

    def batch_jacobian(self, target: Any, source: Any, unconnected_gradients: str = "none") -> Any:
        """Per-example jacobian: target (B, ...) and source (B, ...) -> (B, *t[1:], *s[1:])."""
        return self._jacobian(target, source, unconnected_gradients, batch=True)

    def _jacobian(self, target: Any, sources: Any, unconnected: str, batch: bool) -> Any:
        from . import ops

        _check_unconnected(unconnected)
        self._claim()
        t = as_tensor(target)
        flat = list(_flatten(sources))
        if batch:
            for s in flat:
                if t.ndim < 1 or s.ndim < 1 or t.shape[0] != s.shape[0]:
                    raise OpError(
                        "batch_jacobian needs a target and sources of rank >= 1 with "
                        f"equal first dimensions, got {list(t.shape)} and "
                        f"{list(s.shape)}",
                        code="shape_mismatch",
                    )
        try:
            rows: list[list[Tensor | None]] = []
            reasons: dict[int, str] = {}
            n_rows = int(np.prod(t.shape[1:])) if batch else t.size
            reach = self._reach(flat, self._nodes)  # the same for every row: worked out once
            for j in range(n_rows):
                seed = np.zeros(t.shape, dtype=t.dtype if t.dtype in FLOATING else np.float64)
                if batch:
                    seed.reshape(t.shape[0], -1)[:, j] = 1
                else:
                    seed.reshape(-1)[j] = 1
                grads = self._backward([t], [Tensor(seed)], flat, reach)
                row = self._collect(grads, [t], flat, "none")
                reasons.update(dict(self.last_unconnected))
                rows.append(row)
            out: list[Tensor | None] = []
            for i, s in enumerate(flat):
                col = [r[i] for r in rows]
                shape = (t.shape[0], *t.shape[1:], *s.shape[1:]) if batch else (*t.shape, *s.shape)
                if n_rows == 0 or all(c is None for c in col):
                    if n_rows == 0:
                        reasons.setdefault(i, self._reason(s, [t]))
                    out.append(
                        Tensor(np.zeros(shape, dtype=s.dtype)) if unconnected == "zero" else None
                    )
                    continue
                reasons.pop(i, None)
                full = [ops.zeros_like(s) if c is None else c for c in col]
                stacked = ops.stack(*full, axis=1 if batch else 0)
                out.append(ops.reshape(stacked, shape=shape))
            self.last_unconnected = sorted(reasons.items())
        finally:
            if not self.persistent:
                self._reset_state()
        return _shaped(sources, out)


GradientTape = Tape


def _recorded_pass(
    grads: dict[int, Any], nodes: Sequence[Node], tracked: Container[int], targets: set[int]
) -> None:
    """Every VJP in catalog ops, cotangents as Tensors: an open tape or accumulator records the
    pass, so it can be differentiated again."""
    from . import ops

    for op, inputs, attrs, out in reversed(nodes):
        g = _cotangent(grads, op, out, ops.zeros_like)
        if g is None:
            continue
        for x, gx in zip(inputs, _vjp(op, g, out, inputs, attrs, tracked), strict=True):
            if gx is not None:  # an arity slip in a VJP fails loudly (strict)
                _add_gradient(grads, x, gx, tracked, targets)


def _raw_pass(
    grads: dict[int, Any],
    nodes: Sequence[Node],
    tracked: Container[int],
    targets: set[int],
    budget: Budget | None,
) -> None:
    """Cotangents as NumPy values, each op's raw VJP where it has one: no Tensor, dispatch or
    recording per VJP op, as nothing could record them."""
    k = 0  # VJPs run, for a look at the clock every 256
    for op, inputs, attrs, out in reversed(nodes):
        g = _cotangent(grads, op, out, _zeros_value)
        if g is None:
            continue
        k += 1
        if budget is not None and not k & 0xFF:
            budget.check_time()
        for x, gx in zip(inputs, _raw_vjp(op, g, out, inputs, attrs, tracked), strict=True):
            if gx is not None:
                _add_gradient(grads, x, gx, tracked, targets)


def _cotangent(grads: dict[int, Any], op: Op, out: Any, zeros: Callable[[Tensor], Any]) -> Any:
    """The cotangent of an entry's output (of each output, zeros where none came), or None."""
    if not op.multi:
        return grads.get(id(out))
    gs = [grads.get(id(o)) for o in out]
    if all(g is None for g in gs):
        return None
    return tuple(zeros(o) if g is None else g for g, o in zip(gs, out, strict=True))


def _zeros_value(t: Tensor) -> Any:
    return np.zeros_like(t.value)


def _raw_vjp(
    op: Op,
    g: Any,
    out: Any,
    inputs: tuple[Tensor, ...],
    attrs: dict[str, Any],
    tracked: Container[int],
) -> Sequence[Any]:
    """The op's VJP on NumPy values: its raw rule, or else its catalog-op VJP on Tensors."""
    raw = op.raw_vjp  # never set on a multi-output op
    if raw is None:
        gt = tuple(map(Tensor, g)) if op.multi else Tensor(g)
        grads = _vjp(op, gt, out, inputs, attrs, tracked)
        return [None if gx is None else gx.value for gx in grads]
    values = [x.value for x in inputs]
    if op.raw_needs:
        needs = tuple([id(x) in tracked for x in inputs])
        return raw(g, out.value, *values, needs=needs, **attrs)
    return raw(g, out.value, *values, **attrs)


def _vjp(
    op: Op,
    g: Any,
    out: Any,
    inputs: tuple[Tensor, ...],
    attrs: dict[str, Any],
    tracked: Container[int],
) -> tuple[Tensor | None, ...]:
    """The op's VJP in catalog ops."""
    assert op.vjp is not None  # only differentiable ops are recorded
    if op.vjp_needs:
        return op.vjp(g, out, *inputs, needs=tuple(id(x) in tracked for x in inputs), **attrs)
    return op.vjp(g, out, *inputs, **attrs)


def _add_gradient(
    grads: dict[int, Any], x: Tensor, gx: Any, tracked: Container[int], targets: set[int]
) -> None:
    """Add x's cotangent gx into grads if a gradient can be asked for x (a tracked tensor or
    a target: a constant's is dropped) and x is floating (an integer path is cut)."""
    key = id(x)
    if key in tracked or key in targets:
        prev = grads.get(key)
        if prev is not None:
            grads[key] = prev + gx
        elif x.value.dtype in FLOATING:
            grads[key] = gx


def _accumulate(grads: dict[int, Any], key: int, g: Any) -> None:
    prev = grads.get(key)
    grads[key] = g if prev is None else prev + g


def _is_target(s: Tensor, targets: list[Tensor]) -> bool:
    return any(s is t for t in targets)


def _check_unconnected(value: str) -> None:
    if value not in ("none", "zero"):
        raise ValueError(f"unconnected_gradients must be 'none' or 'zero', not {value!r}")


def _flat(x: Any) -> list[Any]:
    """list(_flatten(x)), without a generator for the usual one tensor or flat list."""
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, list | tuple):
        for i in x:
            if isinstance(i, list | tuple | dict):
                return list(_flatten(x))
        return list(x)
    return list(_flatten(x))


def _flatten(x: Any) -> Iterator[Any]:
    if isinstance(x, list | tuple):
        for item in x:
            yield from _flatten(item)
    elif isinstance(x, dict):
        for key in x:
            yield from _flatten(x[key])
    else:
        yield x


def _shaped(structure: Any, flat: list[Any]) -> Any:
    """_unflatten(structure, iter(flat)), without a generator for a flat list."""
    if isinstance(structure, list | tuple):
        for i in structure:
            if isinstance(i, list | tuple | dict):
                return _unflatten(structure, iter(flat))
        return type(structure)(flat)
    if not isinstance(structure, dict):
        return flat[0]
    return _unflatten(structure, iter(flat))


def _unflatten(structure: Any, flat: Iterator[Any]) -> Any:
    if isinstance(structure, list | tuple):
        return type(structure)(_unflatten(s, flat) for s in structure)
    if isinstance(structure, dict):
        return {k: _unflatten(v, flat) for k, v in structure.items()}
    return next(flat)
