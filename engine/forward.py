"""Forward mode: ForwardAccumulator (tf.autodiff.ForwardAccumulator) pushing tangents through ops.

Every op's JVP is derived from its VJP, exactly: a VJP is linear in its cotangent u, so
J v = d/du <J^T u, v>, taken at u = 0 by one reverse pass over the VJP's own (catalog) ops.
Those ops are recorded on any open tape and seen by any outer accumulator, so forward and
reverse mode nest either way (forward-over-reverse gives Hessian-vector products).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import OpError
from .tape import ACCUMULATORS, Tape, _flatten, _unflatten
from .tensor import FLOATING, Tensor, as_tensor

if TYPE_CHECKING:
    from .registry import Op


class ForwardAccumulator:
    """Tangents given up front are pushed through every op run in the context; read with jvp()."""

    def __init__(self, primals: Any, tangents: Any) -> None:
        ps, ts = list(_flatten(primals)), list(_flatten(tangents))
        if len(ps) != len(ts):
            raise OpError(f"{len(ts)} tangents for {len(ps)} primals", code="shape_mismatch")
        self._tangents: dict[int, tuple[Tensor, Tensor]] = {}  # id(primal) -> (primal, tangent)
        for p, t in zip(ps, ts, strict=True):
            if not isinstance(p, Tensor):
                raise TypeError(f"primals must be tensors or variables, not {type(p).__name__}")
            tangent = as_tensor(t)
            if tangent.shape != p.shape:
                raise OpError(
                    f"a tangent of shape {list(tangent.shape)} for a primal of shape "
                    f"{list(p.shape)}",
                    code="shape_mismatch",
                )
            if p.dtype in FLOATING and tangent.dtype != p.dtype:
                tangent = Tensor(np.asarray(tangent.value, dtype=p.dtype))
            self._tangents[id(p)] = (p, tangent)

    def __enter__(self) -> ForwardAccumulator:
        ACCUMULATORS.set((*ACCUMULATORS.get(), self))
        return self

    def __exit__(self, *exc: object) -> None:
        ACCUMULATORS.set(tuple(a for a in ACCUMULATORS.get() if a is not self))

    def jvp(self, primals: Any, unconnected_gradients: str = "none") -> Any:
        """The tangent of each primal (None, or zeros with "zero", where none reached it)."""
        out: list[Tensor | None] = []
        for p in _flatten(primals):
            entry = self._tangents.get(id(p))
            if entry is not None and entry[0] is p:
                out.append(entry[1])
            else:
                out.append(
                    Tensor(np.zeros_like(p.value)) if unconnected_gradients == "zero" else None
                )
        return _unflatten(primals, iter(out))

    def _push(self, op: Op, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: Any) -> None:
        tangents = []
        for x in inputs:
            entry = self._tangents.get(id(x))
            tangents.append(entry[1] if entry is not None and entry[0] is x else None)
        if all(t is None for t in tangents) or op.vjp is None:
            return
        outs = out if op.multi else (out,)
        # Suspend this accumulator while its own JVP ops run (outer ones keep watching).
        ACCUMULATORS.set(tuple(a for a in ACCUMULATORS.get() if a is not self))
        try:
            results = jvp_from_vjp(op, inputs, attrs, out, tangents)
        finally:
            ACCUMULATORS.set((*ACCUMULATORS.get(), self))
        for o, t in zip(outs, results, strict=True):
            if t is not None:
                self._tangents[id(o)] = (o, t)


def push(
    accumulators: tuple[ForwardAccumulator, ...],
    op: Op,
    inputs: tuple[Tensor, ...],
    attrs: dict[str, Any],
    out: Any,
) -> None:
    for acc in accumulators:
        acc._push(op, inputs, attrs, out)


def jvp_from_vjp(
    op: Op,
    inputs: tuple[Tensor, ...],
    attrs: dict[str, Any],
    out: Any,
    tangents: list[Tensor | None],
) -> list[Tensor | None]:
    """J v for one op application, as d/du <vjp(u), v> at u = 0 (exact: vjp is linear in u)."""
    from . import ops

    assert op.vjp is not None  # only differentiable ops push tangents
    outs = out if op.multi else (out,)
    us = [Tensor(np.zeros_like(o.value)) for o in outs]
    with Tape() as tape:
        tape.watch(us)
        gin = op.vjp(tuple(us) if op.multi else us[0], out, *inputs, **attrs)
        terms = [
            ops.sum_(gx * t)
            for gx, t, x in zip(gin, tangents, inputs, strict=True)
            if gx is not None and t is not None and x.dtype in FLOATING
        ]
        if not terms:
            return [None] * len(outs)
        total = terms[0]
        for term in terms[1:]:
            total = total + term
    grads = tape.gradient(total, us)
    return [
        None if g is None or o.dtype not in FLOATING else g
        for g, o in zip(grads, outs, strict=True)
    ]
