"""Linear algebra: products (matmul, dot, tensordot, einsum, outer), axis permutations,
diagonals, and the np.linalg factorizations and solvers."""

from __future__ import annotations

import math
import string
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import numpy as np

from ..errors import OpError
from ..registry import INT, INT_LIST, K_INT, K_INT_OR_INTS, AttrKind, Int, Ints, Op, Str, defop
from ..tensor import Tensor
from . import elementwise, shape

Array = np.ndarray
ShapeT = tuple[int, ...]


# ----- helpers (written in catalog ops, so they differentiate too) -----


def _mT(t: Tensor) -> Tensor:
    """The last two axes swapped (a batch of transposed matrices)."""
    return swapaxes(t, axis1=-1, axis2=-2)


def _reshaped(t: Tensor, target: ShapeT) -> Tensor:
    return t if t.shape == target else shape.reshape(t, shape=target)


def _inverse(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _unpermute(t: Tensor, order: Sequence[int]) -> Tensor:
    """t, whose axis k is the original axis order[k], with the original axis order restored."""
    if list(order) == list(range(len(order))):
        return t
    return transpose(t, axes=_inverse(order))


def _constant(a: Array, dtype: np.dtype) -> Tensor:
    """A constant built from shapes alone (no tensor value passes through NumPy here)."""
    return Tensor(np.asarray(a, dtype=dtype))


# ----- products -----


def _matmul_shape(sa: ShapeT, sb: ShapeT) -> ShapeT:
    """np.matmul's output shape for operands of rank >= 2."""
    return (*np.broadcast_shapes(sa[:-2], sb[:-2]), sa[-2], sb[-1])


def _matmul_size(sa: ShapeT, sb: ShapeT) -> int:
    sa = sa if len(sa) > 1 else (1, *sa)
    sb = sb if len(sb) > 1 else (*sb, 1)
    return math.prod(_matmul_shape(sa, sb))


def _matmul_vjp(
    g: Tensor, out: Tensor, a: Tensor, b: Tensor, *, needs: tuple[bool, ...] = (True, True)
) -> tuple[Tensor | None, Tensor | None]:
    if a.ndim <= 2 and b.ndim <= 2:  # no batch: the products themselves, nothing reshaped
        return _plain_products(g, a, b, needs, matmul, transpose, outer)
    # A 1-D operand is a row (a) or a column (b) whose added axis is dropped from the output.
    a2 = a if a.ndim > 1 else shape.reshape(a, shape=(1, a.shape[0]))
    b2 = b if b.ndim > 1 else shape.reshape(b, shape=(b.shape[0], 1))
    g = _reshaped(g, _matmul_shape(a2.shape, b2.shape))
    ga = _reshaped(elementwise.sum_to(matmul(g, _mT(b2)), a2.shape), a.shape) if needs[0] else None
    gb = _reshaped(elementwise.sum_to(matmul(_mT(a2), g), b2.shape), b.shape) if needs[1] else None
    return ga, gb


def _plain_products(
    g: Any, a: Any, b: Any, needs: tuple[bool, ...], mm: Any, tr: Any, outer_: Any
) -> tuple[Any, Any]:
    """The VJP of a @ b for operands of rank 1 or 2, with the given product, transpose and
    outer product (catalog ops on Tensors, or NumPy's on values)."""
    if a.ndim == 2 and b.ndim == 2:  # (m, k) @ (k, n)
        return (mm(g, tr(b)) if needs[0] else None), (mm(tr(a), g) if needs[1] else None)
    if a.ndim == 2:  # (m, k) @ (k,) -> (m,)
        return (outer_(g, b) if needs[0] else None), (mm(g, a) if needs[1] else None)
    if b.ndim == 2:  # (k,) @ (k, n) -> (n,)
        return (mm(b, g) if needs[0] else None), (outer_(a, g) if needs[1] else None)
    return (g * b if needs[0] else None), (g * a if needs[1] else None)  # (k,) @ (k,) -> ()


def _matmul_raw(
    g: Array, out: Array, a: Array, b: Array, *, needs: tuple[bool, ...] = (True, True)
) -> tuple[Array | None, Array | None]:
    if a.ndim <= 2 and b.ndim <= 2:
        return _plain_products(g, a, b, needs, np.matmul, np.transpose, np.outer)
    a2 = a if a.ndim > 1 else np.reshape(a, (1, a.shape[0]))
    b2 = b if b.ndim > 1 else np.reshape(b, (b.shape[0], 1))
    g = np.reshape(g, _matmul_shape(a2.shape, b2.shape))
    sum_to = elementwise.unbroadcast_raw
    ga = (
        np.reshape(sum_to(np.matmul(g, np.swapaxes(b2, -1, -2)), a2.shape), a.shape)
        if needs[0]
        else None
    )
    gb = (
        np.reshape(sum_to(np.matmul(np.swapaxes(a2, -1, -2), g), b2.shape), b.shape)
        if needs[1]
        else None
    )
    return ga, gb


matmul = defop(
    "matmul",
    np.matmul,
    _matmul_vjp,
    arity=(2, 2),
    size=_matmul_size,
    raw=_matmul_raw,
    doc="matrix product with batch broadcasting; a 1-D operand is a vector",
)


def _dot_forward(a: Array, b: Array) -> Array:
    if not (1 <= np.ndim(a) <= 2 and 1 <= np.ndim(b) <= 2):
        raise OpError(
            f"dot: operands of rank {np.ndim(a)} and {np.ndim(b)}; dot takes 1-D or "
            "2-D operands (matmul and tensordot take more)",
            code="shape_mismatch",
        )
    return np.dot(a, b)


dot = defop(
    "dot",
    _dot_forward,
    _matmul_vjp,
    size=_matmul_size,
    raw=_matmul_raw,
    doc="np.dot of 1-D or 2-D operands: inner, matrix-vector or matrix product",
)


def _outer_size(sa: ShapeT, sb: ShapeT) -> int:
    return math.prod(sa) * math.prod(sb)


def _outer_vjp(g: Tensor, out: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    af, bf = shape.reshape(a, shape=(-1,)), shape.reshape(b, shape=(-1,))
    return _reshaped(matmul(g, bf), a.shape), _reshaped(matmul(af, g), b.shape)


outer = defop(
    "outer",
    np.outer,
    _outer_vjp,
    arity=(2, 2),
    size=_outer_size,
    doc="outer product of the flattened operands: out[i, j] = a[i] * b[j]",
)


# tensordot's `axes`: a count N (the last N of a with the first N of b) or a pair of axis lists.
def _tensordot_axes(v: Any) -> int | tuple[tuple[int, ...], tuple[int, ...]]:
    if not isinstance(v, list | tuple):
        n = K_INT.convert(v)
        if n < 0:
            raise ValueError("must be a non-negative integer or a pair of axis lists")
        return int(n)
    if len(v) != 2:
        raise ValueError("must be a non-negative integer or a pair of axis lists")
    sides = [K_INT_OR_INTS.convert(s) for s in v]
    a, b = ((s,) if isinstance(s, int) else tuple(s) for s in sides)
    if len(a) != len(b):
        raise ValueError("must pair as many axes of a as of b")
    return a, b


K_TENSORDOT_AXES = AttrKind(
    "tensordot_axes",
    {
        "anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "minItems": 2, "maxItems": 2, "items": {"anyOf": [INT, INT_LIST]}},
        ]
    },
    _tensordot_axes,
)
TensordotAxes = Annotated[int | tuple[tuple[int, ...], tuple[int, ...]], K_TENSORDOT_AXES]


def _contracted(axes: Any, nda: int, ndb: int) -> tuple[list[int], list[int]]:
    """tensordot's axes as two lists of non-negative axes, paired in order."""
    if isinstance(axes, int | np.integer):
        n = int(axes)
        return list(range(nda - n, nda)), list(range(n))
    sa, sb = axes
    sa = [sa] if isinstance(sa, int | np.integer) else list(sa)
    sb = [sb] if isinstance(sb, int | np.integer) else list(sb)
    return [int(i) % nda for i in sa], [int(i) % ndb for i in sb]


def _tensordot_forward(a: Array, b: Array, *, axes: TensordotAxes = 2) -> Array:
    return np.tensordot(a, b, axes=axes)


def _tensordot_size(sa: ShapeT, sb: ShapeT, *, axes: Any = 2) -> int:
    ca, cb = _contracted(axes, len(sa), len(sb))
    return math.prod(n for i, n in enumerate(sa) if i not in ca) * math.prod(
        n for i, n in enumerate(sb) if i not in cb
    )


def _tensordot_vjp(
    g: Tensor, out: Tensor, a: Tensor, b: Tensor, *, axes: Any = 2
) -> tuple[Tensor, Tensor]:
    ca, cb = _contracted(axes, a.ndim, b.ndim)
    free_a = [i for i in range(a.ndim) if i not in ca]
    free_b = [i for i in range(b.ndim) if i not in cb]
    k = len(free_a)
    # The kept axes of each result come in the other operand's order: map them back.
    ga = tensordot(g, b, axes=(tuple(range(k, g.ndim)), tuple(free_b)))
    gb = tensordot(a, g, axes=(tuple(free_a), tuple(range(k))))
    order_a = free_a + [ca[cb.index(j)] for j in sorted(cb)]
    order_b = [cb[ca.index(i)] for i in sorted(ca)] + free_b
    return _unpermute(ga, order_a), _unpermute(gb, order_b)


tensordot = defop(
    "tensordot",
    _tensordot_forward,
    _tensordot_vjp,
    size=_tensordot_size,
    doc="sum of products over paired axes (axes: N, or [axes of a, axes of b])",
)


# einsum: the VJP for operand k is einsum again, with the output's labels as an input and
# operand k's labels as the output. The ellipsis is spelled out with unused letters, labels
# only operand k carries are restored by a ones vector, a repeated label (a diagonal) by an
# identity matrix, and an axis of size 1 that was broadcast is summed.
def _einsum_labels(subscripts: str, shapes: Sequence[ShapeT]) -> tuple[list[str], str, str]:
    """Each operand's labels and the output's, the ellipsis replaced by letters; and the
    letters still unused."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"{len(terms)} operand subscripts for {len(shapes)} operands")
    unused = "".join(c for c in string.ascii_letters if c not in spec)
    ranks = [len(s) - (len(t) - 3) if "..." in t else 0 for t, s in zip(terms, shapes, strict=True)]
    n = max(ranks, default=0)
    if n > len(unused):
        raise ValueError("too many dimensions under the ellipsis")
    ell, unused = unused[:n], unused[n:]
    labels = [t.replace("...", ell[n - r :]) for t, r in zip(terms, ranks, strict=True)]
    if arrow:
        out = output.replace("...", ell)
    else:  # implicit mode: the labels seen once, in alphabetical order, after the ellipsis
        counts = Counter("".join(terms).replace(".", ""))
        out = ell + "".join(sorted(c for c, m in counts.items() if m == 1))
    return labels, out, unused


def _einsum_forward(*operands: Array, subscripts: Str) -> Array:
    # A contraction order from NumPy's optimizer: 'ij,jk,kl->il' costs n^3, not n^4.
    return np.einsum(subscripts, *operands, optimize=len(operands) > 1)


def _label_sizes(labels: Sequence[str], shapes: Sequence[ShapeT]) -> dict[str, int]:
    """Each label's size after broadcasting (a 1 gives way to any other size)."""
    dims: dict[str, int] = {}
    for lab, s in zip(labels, shapes, strict=True):
        for c, n in zip(lab, s, strict=True):
            if n != 1 or c not in dims:
                dims[c] = n
    return dims


def _einsum_size(*shapes: ShapeT, subscripts: str) -> int:
    labels, out, _ = _einsum_labels(subscripts, shapes)
    dims = _label_sizes(labels, shapes)
    return math.prod(dims[c] for c in out)


def _fresh(letters: Iterator[str]) -> str:
    c = next(letters, None)
    if c is None:
        raise OpError("einsum: too many labels to differentiate", code="invalid_value")
    return c


def _einsum_vjp(g: Tensor, out: Tensor, *xs: Tensor, subscripts: str) -> tuple[Tensor | None, ...]:
    shapes = [x.shape for x in xs]
    labels, out_labels, unused = _einsum_labels(subscripts, shapes)
    dims = _label_sizes(labels, shapes)
    grads: list[Tensor | None] = []
    for k, x in enumerate(xs):
        if not x.is_floating:
            grads.append(None)
            continue
        others = [j for j in range(len(xs)) if j != k]
        terms = [out_labels, *(labels[j] for j in others)]
        operands = [g, *(xs[j] for j in others)]
        # Labels the other terms carry at full size (not as a broadcast 1).
        elsewhere = {
            c
            for t, o in zip(terms, operands, strict=True)
            for c, n in zip(t, o.shape, strict=True)
            if n == dims[c]
        }
        letters = iter(unused)
        target: list[str] = []
        seen: set[str] = set()
        for c, n in zip(labels[k], x.shape, strict=True):
            if n == 1 and dims[c] != 1:  # broadcast: summed (left out), size 1 restored below
                continue
            if c in seen:  # a repeated label: x's diagonal
                d = _fresh(letters)
                terms.append(c + d)
                operands.append(_constant(np.eye(n), g.dtype))
                target.append(d)
            else:
                if c not in elsewhere:  # summed inside x alone: the gradient is flat along c
                    terms.append(c)
                    operands.append(_constant(np.ones(n), g.dtype))
                target.append(c)
            seen.add(c)
        gx = einsum(*operands, subscripts=",".join(terms) + "->" + "".join(target))
        grads.append(_reshaped(gx, x.shape))
    return tuple(grads)


einsum = defop(
    "einsum",
    _einsum_forward,
    _einsum_vjp,
    arity=(1, None),
    size=_einsum_size,
    doc="Einstein summation over the operands (explicit '->' or implicit form, '...' allowed)",
)


# ----- axis permutations -----


def _transpose_forward(x: Array, *, axes: Ints = None) -> Array:
    return np.transpose(x, axes)


def _transpose_vjp(
    g: Tensor, out: Tensor, x: Tensor, *, axes: Sequence[int] | None = None
) -> tuple[Tensor]:
    if axes is None:
        return (transpose(g),)
    return (transpose(g, axes=_inverse([a % x.ndim for a in axes])),)


transpose = defop(
    "transpose",
    _transpose_forward,
    _transpose_vjp,
    raw=lambda g, out, x, *, axes=None: (
        np.transpose(g, None if axes is None else _inverse([a % np.ndim(x) for a in axes])),
    ),
    doc="axes permuted (reversed when axes is null)",
)


def _swapaxes_forward(x: Array, *, axis1: Int, axis2: Int) -> Array:
    return np.swapaxes(x, axis1, axis2)


swapaxes: Op = defop(
    "swapaxes",
    _swapaxes_forward,
    lambda g, out, x, *, axis1, axis2: (swapaxes(g, axis1=axis1, axis2=axis2),),
    raw=lambda g, out, x, *, axis1, axis2: (np.swapaxes(g, axis1, axis2),),
    doc="two axes interchanged",
)


# ----- diagonals -----


def _diag_embed(gd: Tensor, in_shape: ShapeT, offset: int, axis1: int, axis2: int) -> Tensor:
    """The transpose of np.diagonal: gd's last axis placed on a diagonal of zeros of in_shape."""
    nd = len(in_shape)
    a1, a2 = axis1 % nd, axis2 % nd
    n = gd.shape[-1]
    rows = _constant(np.eye(n, in_shape[a1], k=max(-offset, 0)), gd.dtype)
    cols = _constant(np.eye(n, in_shape[a2], k=max(offset, 0)), gd.dtype)
    full = einsum(gd, rows, cols, subscripts="...d,di,dj->...ij")
    return _unpermute(full, [*(i for i in range(nd) if i not in (a1, a2)), a1, a2])


def _diagonal_forward(x: Array, *, offset: Int = 0, axis1: Int = 0, axis2: Int = 1) -> Array:
    return np.diagonal(x, offset=offset, axis1=axis1, axis2=axis2)


diagonal = defop(
    "diagonal",
    _diagonal_forward,
    lambda g, out, x, *, offset=0, axis1=0, axis2=1: (
        _diag_embed(g, x.shape, offset, axis1, axis2),
    ),
    doc="the diagonal over axis1 and axis2 (offset above the main one), as a last axis",
)


def _trace_forward(x: Array, *, offset: Int = 0, axis1: Int = 0, axis2: Int = 1) -> Array:
    return np.trace(x, offset=offset, axis1=axis1, axis2=axis2)


def _trace_vjp(
    g: Tensor, out: Tensor, x: Tensor, *, offset: int = 0, axis1: int = 0, axis2: int = 1
) -> tuple[Tensor]:
    nd = x.ndim
    n1, n2 = x.shape[axis1 % nd], x.shape[axis2 % nd]
    n = max(min(n1 + min(offset, 0), n2 - max(offset, 0)), 0)  # the diagonal's length
    gd = shape.broadcast_to(shape.reshape(g, shape=(*g.shape, 1)), shape=(*g.shape, n))
    return (_diag_embed(gd, x.shape, offset, axis1, axis2),)


trace = defop(
    "trace",
    _trace_forward,
    _trace_vjp,
    doc="sum of the diagonal over axis1 and axis2 (offset above the main one)",
)


# ----- np.linalg (batched over leading axes) -----

inv = defop(
    "inv",
    np.linalg.inv,
    lambda g, out, x: (-matmul(matmul(_mT(out), g), _mT(out)),),
    arity=(1, 1),
    aliases=("matrix_inverse",),
    doc="matrix inverse",
)


def _det_vjp(g: Tensor, out: Tensor, x: Tensor) -> tuple[Tensor]:
    scale = shape.reshape(g * out, shape=(*out.shape, 1, 1))
    return (scale * _mT(inv(x)),)


det = defop(
    "det", np.linalg.det, _det_vjp, arity=(1, 1), aliases=("matrix_determinant",), doc="determinant"
)


def _slogdet_forward(x: Array) -> tuple[Array, Array]:
    sign, logabsdet = np.linalg.slogdet(x)
    return sign, logabsdet


def _slogdet_vjp(g: tuple[Tensor, Tensor], out: tuple[Tensor, Tensor], x: Tensor) -> tuple[Tensor]:
    g_log = g[1]  # the sign is piecewise constant: its cotangent contributes nothing
    return (shape.reshape(g_log, shape=(*g_log.shape, 1, 1)) * _mT(inv(x)),)


slogdet = defop(
    "slogdet",
    _slogdet_forward,
    _slogdet_vjp,
    outputs=2,
    doc="(sign, log|det|) of the determinant; only log|det| has a gradient",
    conventions={"sign": "not differentiable: its cotangent contributes nothing"},
)


def _solve_size(sa: ShapeT, sb: ShapeT) -> int:
    if len(sb) == 1:
        return math.prod(sa[:-1])
    return math.prod(np.broadcast_shapes(sa[:-2], sb[:-2])) * sb[-2] * sb[-1]


def _solve_vjp(g: Tensor, out: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    # A 1-D b is one column (NumPy 2): work with it, and with g and out, as (..., M, 1).
    col = b.ndim == 1
    b2 = (b.shape[0], 1) if col else b.shape
    g2 = shape.reshape(g, shape=(*g.shape, 1)) if col else g
    x2 = shape.reshape(out, shape=(*out.shape, 1)) if col else out
    gb = solve(_mT(a), g2)
    ga = -matmul(gb, _mT(x2))
    return elementwise.sum_to(ga, a.shape), _reshaped(elementwise.sum_to(gb, b2), b.shape)


solve = defop(
    "solve",
    np.linalg.solve,
    _solve_vjp,
    arity=(2, 2),
    size=_solve_size,
    aliases=("matrix_solve",),
    doc="x with a @ x = b (b of shape (M,) or (..., M, K), as NumPy 2)",
)


def _cholesky_forward(a: Array) -> Array:
    a = np.asarray(a)
    if a.ndim < 2:
        raise OpError(
            f"cholesky: a rank-{a.ndim} array given; it needs (..., M, M)", code="shape_mismatch"
        )
    return np.linalg.cholesky((a + np.swapaxes(a, -1, -2)) / 2)


def _cholesky_vjp(g: Tensor, out: Tensor, a: Tensor) -> tuple[Tensor]:
    # Murray (2016), arXiv:1602.07527, as autograd writes it:
    # S = L^-T phi(L^T g) L^-1, gradient (S + S^T) / 2, phi = lower triangle with halved diagonal.
    n = out.shape[-1]
    lt = _mT(out)
    phi = matmul(lt, g) * _constant(np.tril(np.ones((n, n))) - 0.5 * np.eye(n), g.dtype)
    s = _mT(solve(lt, _mT(solve(lt, phi))))
    return (0.5 * (s + _mT(s)),)


cholesky = defop(
    "cholesky",
    _cholesky_forward,
    _cholesky_vjp,
    doc="lower Cholesky factor L of a symmetric positive-definite a = L @ L^T",
    conventions={
        "input": "factors (a + a^T) / 2, as JAX does, so the gradient "
        "is symmetric; for a symmetric a this is NumPy's result"
    },
)
