"""Convolution and pooling over NCW / NCHW tensors (ONNX's layout, attrs and padding)."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import OpError
from ..registry import Bool, Int, Ints, defop
from ..tensor import Tensor
from . import creation, shape

Array = np.ndarray
Dims = tuple[int, ...]


# ----- helpers (NumPy, forwards only) -----
def _geometry(
    name: str,
    spatial: Dims,
    kernel: Dims,
    strides: Dims | None,
    pads: Dims | None,
    dilations: Dims | None,
) -> tuple[Dims, Dims, Dims, Dims]:
    """strides, pads at the start, pads at the end, dilations: checked, one entry per axis."""
    n = len(spatial)
    if n < 1 or len(kernel) != n:
        raise OpError(
            f"{name}: input of {n} spatial axes and a kernel of {len(kernel)}: they must agree "
            "and be at least one (layout N, C, spatial...)",
            code="shape_mismatch",
        )
    s = tuple(strides) if strides is not None else (1,) * n
    d = tuple(dilations) if dilations is not None else (1,) * n
    p = tuple(pads) if pads is not None else (0,) * (2 * n)
    for attr, value, size in (("strides", s, n), ("dilations", d, n), ("pads", p, 2 * n)):
        if len(value) != size:
            raise OpError(
                f"{name}: {attr} needs {size} entries, got {len(value)}", code="bad_attrs"
            )
    if min(s) < 1 or min(d) < 1 or min(p) < 0 or min(kernel) < 1:
        raise OpError(
            f"{name}: strides, dilations and kernel sizes must be positive, pads non-negative",
            code="bad_attrs",
        )
    return s, p[:n], p[n:], d


def _extent(k: int, d: int) -> int:
    return (k - 1) * d + 1


def _out_spatial(
    name: str, spatial: Dims, kernel: Dims, s: Dims, pb: Dims, pe: Dims, d: Dims
) -> Dims:
    out = []
    for x, k, si, b, e, di in zip(spatial, kernel, s, pb, pe, d, strict=True):
        room = x + b + e - _extent(k, di)
        if room < 0:
            raise OpError(
                f"{name}: the padded input ({x + b + e}) is smaller than the dilated kernel "
                f"({_extent(k, di)}) along a spatial axis",
                code="shape_mismatch",
            )
        out.append(room // si + 1)
    return tuple(out)


def _windows(
    x: Array, kernel: Dims, s: Dims, pb: Dims, pe: Dims, d: Dims, fill: float = 0.0
) -> Array:
    """x's windows as a strided view, (N, C, *out, *kernel): im2col without a copy."""
    n = len(kernel)
    if any(pb) or any(pe):
        x = np.pad(x, [(0, 0), (0, 0), *zip(pb, pe, strict=True)], constant_values=fill)
    eff = tuple(_extent(k, di) for k, di in zip(kernel, d, strict=True))
    view = sliding_window_view(x, eff, axis=tuple(range(2, 2 + n)))
    return view[(slice(None),) * 2 + tuple(slice(None, None, v) for v in (*s, *d))]


def _check_channels(name: str, x: Array, w: Array, groups: int, per_group_axis: int) -> None:
    if x.ndim < 3 or w.ndim != x.ndim:
        raise OpError(
            f"{name}: input {list(x.shape)} and weight {list(w.shape)} must have the same rank, "
            "at least 3 (N, C, spatial...)",
            code="shape_mismatch",
        )
    if groups < 1 or x.shape[1] % groups or w.shape[per_group_axis] % groups:
        raise OpError(
            f"{name}: groups={groups} must divide the input's {x.shape[1]} channels and the "
            f"weight's {w.shape[per_group_axis]}",
            code="bad_attrs",
        )


def _conv_forward(
    x: Array,
    w: Array,
    *,
    strides: Ints = None,
    pads: Ints = None,
    dilations: Ints = None,
    groups: Int = 1,
) -> Array:
    _check_channels("conv", x, w, groups, 0)
    kernel = w.shape[2:]
    s, pb, pe, d = _geometry("conv", x.shape[2:], kernel, strides, pads, dilations)
    _out_spatial("conv", x.shape[2:], kernel, s, pb, pe, d)
    if x.shape[1] != w.shape[1] * groups:
        raise OpError(
            f"conv: input channels {x.shape[1]} must be weight.shape[1] ({w.shape[1]}) x groups "
            f"({groups})",
            code="shape_mismatch",
        )
    n = len(kernel)
    win = _windows(x, kernel, s, pb, pe, d)  # (N, C, *out, *kernel)
    if groups == 1:
        axes = [1, *range(2 + n, 2 + 2 * n)], [1, *range(2, 2 + n)]
        return np.moveaxis(np.tensordot(win, w, axes=axes), -1, 1)
    # groups as the batch axis of one matmul: (G, N * out, C/G * kernel) @ (G, C/G * kernel, M/G)
    nb, cg, mg, out = x.shape[0], w.shape[1], w.shape[0] // groups, win.shape[2 : 2 + n]
    p, kn = math.prod(out), math.prod(kernel)
    a = win.reshape(nb, groups, cg, p, kn).transpose(1, 0, 3, 2, 4).reshape(groups, nb * p, -1)
    b = w.reshape(groups, mg, cg * kn).transpose(0, 2, 1)
    y = np.matmul(a, b).reshape(groups, nb, p, mg).transpose(1, 0, 3, 2)
    return y.reshape(nb, groups * mg, *out)


def _conv_size(
    xs: Dims,
    ws: Dims,
    *,
    strides: Dims | None = None,
    pads: Dims | None = None,
    dilations: Dims | None = None,
    **_: object,
) -> int:
    s, pb, pe, d = _geometry("conv", xs[2:], ws[2:], strides, pads, dilations)
    return xs[0] * ws[0] * math.prod(_out_spatial("conv", xs[2:], ws[2:], s, pb, pe, d))


def _conv_transpose_forward(
    x: Array,
    w: Array,
    *,
    strides: Ints = None,
    pads: Ints = None,
    dilations: Ints = None,
    groups: Int = 1,
    output_padding: Ints = None,
) -> Array:
    _check_channels("conv_transpose", x, w, groups, 0)
    if x.shape[1] != w.shape[0]:
        raise OpError(
            f"conv_transpose: input channels {x.shape[1]} must be weight.shape[0] ({w.shape[0]})",
            code="shape_mismatch",
        )
    kernel, spatial = w.shape[2:], x.shape[2:]
    n = len(kernel)
    s, pb, pe, d = _geometry("conv_transpose", spatial, kernel, strides, pads, dilations)
    full = _transpose_full("conv_transpose", spatial, kernel, s, pb, pe, d, output_padding)
    nb, cg, og = x.shape[0], x.shape[1] // groups, w.shape[1]
    if groups == 1:
        cols = np.moveaxis(np.tensordot(x, w, axes=([1], [0])), 1 + n, 1)
    else:  # groups as the batch axis of one matmul
        p, kn = math.prod(spatial), math.prod(kernel)
        a = x.reshape(nb, groups, cg, p).transpose(1, 0, 3, 2).reshape(groups, nb * p, cg)
        c = np.matmul(a, w.reshape(groups, cg, og * kn)).reshape(groups, nb, p, og, kn)
        cols = c.transpose(1, 0, 3, 2, 4).reshape(nb, groups * og, *spatial, *kernel)
    # cols: (N, C_out, *in, *kernel)
    out = np.zeros((x.shape[0], og * groups, *full), dtype=cols.dtype)
    for k in np.ndindex(*kernel):  # one strided add per kernel offset (col2im)
        at = tuple(
            slice(ki * di, ki * di + (i - 1) * si + 1, si)
            for ki, di, i, si in zip(k, d, spatial, s, strict=True)
        )
        out[(slice(None), slice(None), *at)] += cols[(Ellipsis, *k)]
    crop = tuple(slice(b, f - e) for b, e, f in zip(pb, pe, full, strict=True))
    return out[(slice(None), slice(None), *crop)]


def _transpose_full(
    name: str,
    spatial: Dims,
    kernel: Dims,
    s: Dims,
    pb: Dims,
    pe: Dims,
    d: Dims,
    output_padding: Dims | None,
) -> Dims:
    """conv_transpose's output before its pads are cropped; checks what remains is not empty."""
    n = len(kernel)
    op = tuple(output_padding) if output_padding is not None else (0,) * n
    if len(op) != n or min(op) < 0 or any(o >= si for o, si in zip(op, s, strict=True)):
        raise OpError(
            f"{name}: output_padding needs {n} entries, each non-negative and below its stride",
            code="bad_attrs",
        )
    full = tuple(
        (i - 1) * si + _extent(k, di) + o
        for i, k, si, di, o in zip(spatial, kernel, s, d, op, strict=True)
    )
    if any(f - b - e < 1 for f, b, e in zip(full, pb, pe, strict=True)):
        raise OpError(f"{name}: the pads crop the whole output", code="shape_mismatch")
    return full


def _conv_transpose_size(
    xs: Dims,
    ws: Dims,
    *,
    strides: Dims | None = None,
    pads: Dims | None = None,
    dilations: Dims | None = None,
    groups: int = 1,
    output_padding: Dims | None = None,
    **_: object,
) -> int:
    s, pb, pe, d = _geometry("conv_transpose", xs[2:], ws[2:], strides, pads, dilations)
    full = _transpose_full("conv_transpose", xs[2:], ws[2:], s, pb, pe, d, output_padding)
    spatial = [f - b - e for f, b, e in zip(full, pb, pe, strict=True)]
    return xs[0] * ws[1] * groups * math.prod(spatial)


def _conv_backprop_filter_forward(
    x: Array,
    g: Array,
    *,
    kernel_shape: Ints,
    strides: Ints = None,
    pads: Ints = None,
    dilations: Ints = None,
    groups: Int = 1,
) -> Array:
    kernel = tuple(kernel_shape or ())
    _check_channels("conv_backprop_filter", x, g, groups, 1)
    s, pb, pe, d = _geometry("conv_backprop_filter", x.shape[2:], kernel, strides, pads, dilations)
    out = _out_spatial("conv_backprop_filter", x.shape[2:], kernel, s, pb, pe, d)
    if g.shape[0] != x.shape[0] or g.shape[2:] != out:
        raise OpError(
            f"conv_backprop_filter: g {list(g.shape)} must be conv's output shape "
            f"[{x.shape[0]}, M, {', '.join(map(str, out))}]",
            code="shape_mismatch",
        )
    n = len(kernel)
    win = _windows(x, kernel, s, pb, pe, d)  # (N, C, *out, *kernel)
    if groups == 1:
        axes = [0, *range(2, 2 + n)], [0, *range(2, 2 + n)]
        return np.moveaxis(np.tensordot(win, g, axes=axes), -1, 0)
    nb, cg, mg = x.shape[0], x.shape[1] // groups, g.shape[1] // groups
    p, kn = math.prod(out), math.prod(kernel)
    a = win.reshape(nb, groups, cg, p, kn).transpose(1, 2, 4, 0, 3).reshape(groups, cg * kn, -1)
    b = g.reshape(nb, groups, mg, p).transpose(1, 0, 3, 2).reshape(groups, nb * p, mg)
    dw = np.matmul(a, b).reshape(groups, cg, kn, mg).transpose(0, 3, 1, 2)
    return dw.reshape(groups * mg, cg, *kernel)


def _conv_backprop_filter_size(
    xs: Dims, gs: Dims, *, kernel_shape: Dims | None = None, groups: int = 1, **_: object
) -> int:
    return gs[1] * (xs[1] // max(groups, 1)) * math.prod(kernel_shape or ())


def _pool_windows(
    name: str,
    x: Array,
    kernel_shape: Dims | None,
    strides: Dims | None,
    pads: Dims | None,
    dilations: Dims | None,
    fill: float = 0.0,
) -> tuple[Array, Dims]:
    kernel = tuple(kernel_shape or ())
    if x.ndim < 3:
        raise OpError(
            f"{name}: input {list(x.shape)} needs N, C and a spatial axis", code="shape_mismatch"
        )
    s, pb, pe, d = _geometry(name, x.shape[2:], kernel, strides, pads, dilations)
    out = _out_spatial(name, x.shape[2:], kernel, s, pb, pe, d)
    return _windows(x, kernel, s, pb, pe, d, fill), out


def _lowest(x: Array) -> float:
    return -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min


def _max_pool_forward(
    x: Array, *, kernel_shape: Ints, strides: Ints = None, pads: Ints = None, dilations: Ints = None
) -> Array:
    win, _ = _pool_windows("max_pool", x, kernel_shape, strides, pads, dilations, _lowest(x))
    return np.max(win, axis=tuple(range(win.ndim - len(kernel_shape or ()), win.ndim)))


def _max_pool_mask_forward(
    x: Array, *, kernel_shape: Ints, strides: Ints = None, pads: Ints = None, dilations: Ints = None
) -> Array:
    win, out = _pool_windows("max_pool_mask", x, kernel_shape, strides, pads, dilations, _lowest(x))
    n, c, kn = x.shape[0], x.shape[1], math.prod(kernel_shape or ())
    first = np.argmax(win.reshape(n, c, *out, kn), axis=-1)  # the first maximum wins a tie
    hot = np.arange(kn) == first[..., None]
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    return np.moveaxis(hot, -1, 2).astype(dtype).reshape(n, c * kn, *out)


def _avg_pool_forward(
    x: Array,
    *,
    kernel_shape: Ints,
    strides: Ints = None,
    pads: Ints = None,
    dilations: Ints = None,
    count_include_pad: Bool = False,
) -> Array:
    win, _ = _pool_windows("avg_pool", x, kernel_shape, strides, pads, dilations)
    n = len(kernel_shape or ())
    total = np.sum(win, axis=tuple(range(win.ndim - n, win.ndim)))
    return total / _pool_count(
        x.shape, x.dtype, kernel_shape, strides, pads, dilations, count_include_pad
    )


def _pool_count(
    xs: Dims,
    dtype: np.dtype,
    kernel_shape: Dims | None,
    strides: Dims | None,
    pads: Dims | None,
    dilations: Dims | None,
    count_include_pad: bool,
) -> Array:
    kernel = tuple(kernel_shape or ())
    if count_include_pad:
        return np.asarray(math.prod(kernel), dtype=dtype)
    ones = np.ones((1, 1, *xs[2:]), dtype=dtype)
    win, _ = _pool_windows("avg_pool", ones, kernel, strides, pads, dilations)
    return np.sum(win, axis=tuple(range(win.ndim - len(kernel), win.ndim)))


def _pool_size(
    xs: Dims,
    *,
    kernel_shape: Dims | None = None,
    strides: Dims | None = None,
    pads: Dims | None = None,
    dilations: Dims | None = None,
    **_: object,
) -> int:
    kernel = tuple(kernel_shape or ())
    s, pb, pe, d = _geometry("pool", xs[2:], kernel, strides, pads, dilations)
    return xs[0] * xs[1] * math.prod(_out_spatial("pool", xs[2:], kernel, s, pb, pe, d))


# ----- helpers (catalog ops, for the VJPs) -----
def _residue(
    spatial: Dims,
    kernel: Dims,
    strides: Dims | None,
    pads: Dims | None,
    dilations: Dims | None,
) -> tuple[int, ...]:
    """The input positions past the last window (a stride that does not divide evenly): the
    output_padding that makes conv_transpose give back the input's shape."""
    s, pb, pe, d = _geometry("conv", spatial, kernel, strides, pads, dilations)
    return tuple(
        (x + b + e - _extent(k, di)) % si
        for x, k, si, b, e, di in zip(spatial, kernel, s, pb, pe, d, strict=True)
    )


def _geo(strides: Dims | None, pads: Dims | None, dilations: Dims | None) -> dict[str, object]:
    return {"strides": strides, "pads": pads, "dilations": dilations}


# ----- convolution -----
def _conv_vjp(
    g: Tensor,
    out: Tensor,
    x: Tensor,
    w: Tensor,
    *,
    strides: Dims | None = None,
    pads: Dims | None = None,
    dilations: Dims | None = None,
    groups: int = 1,
    needs: tuple[bool, ...] = (True, True),
) -> tuple[Tensor | None, Tensor | None]:
    geo = _geo(strides, pads, dilations)
    kernel = w.shape[2:]
    residue = _residue(x.shape[2:], kernel, strides, pads, dilations)
    return (
        conv_transpose(g, w, **geo, groups=groups, output_padding=residue) if needs[0] else None,
        conv_backprop_filter(x, g, kernel_shape=kernel, **geo, groups=groups) if needs[1] else None,
    )


conv = defop(
    "conv",
    _conv_forward,
    _conv_vjp,
    size=_conv_size,
    doc="ONNX Conv (cross-correlation): x (N, C, *spatial), w (M, C / groups, *kernel); "
    "pads [begin..., end...]",
)


def _conv_transpose_vjp(
    g: Tensor,
    out: Tensor,
    x: Tensor,
    w: Tensor,
    *,
    strides: Dims | None = None,
    pads: Dims | None = None,
    dilations: Dims | None = None,
    groups: int = 1,
    output_padding: Dims | None = None,
    needs: tuple[bool, ...] = (True, True),
) -> tuple[Tensor | None, Tensor | None]:
    geo = _geo(strides, pads, dilations)
    kernel = w.shape[2:]
    return (
        conv(g, w, **geo, groups=groups) if needs[0] else None,
        conv_backprop_filter(g, x, kernel_shape=kernel, **geo, groups=groups) if needs[1] else None,
    )


conv_transpose = defop(
    "conv_transpose",
    _conv_transpose_forward,
    _conv_transpose_vjp,
    size=_conv_transpose_size,
    doc="ONNX ConvTranspose (conv's transpose wrt its input): x (N, C, *spatial), "
    "w (C, M / groups, *kernel)",
)


def _conv_backprop_filter_vjp(
    gw: Tensor,
    out: Tensor,
    x: Tensor,
    g: Tensor,
    *,
    kernel_shape: Dims | None = None,
    strides: Dims | None = None,
    pads: Dims | None = None,
    dilations: Dims | None = None,
    groups: int = 1,
    needs: tuple[bool, ...] = (True, True),
) -> tuple[Tensor | None, Tensor | None]:
    geo = _geo(strides, pads, dilations)
    residue = _residue(x.shape[2:], tuple(kernel_shape or ()), strides, pads, dilations)
    return (
        conv_transpose(g, gw, **geo, groups=groups, output_padding=residue) if needs[0] else None,
        conv(x, gw, **geo, groups=groups) if needs[1] else None,
    )


conv_backprop_filter = defop(
    "conv_backprop_filter",
    _conv_backprop_filter_forward,
    _conv_backprop_filter_vjp,
    size=_conv_backprop_filter_size,
    doc="conv's VJP wrt its weight: x (N, C, *spatial) and the output cotangent g give "
    "(M, C / groups, *kernel_shape)",
)


# ----- pooling -----
def _scatter_windows(
    cols: Tensor,
    x: Tensor,
    kernel: Dims,
    strides: Dims | None,
    pads: Dims | None,
    dilations: Dims | None,
) -> Tensor:
    """Per-window values (N, C * prod(kernel), *out) added back at their input positions (col2im),
    as a grouped conv_transpose by one-hot filters."""
    c, kn = x.shape[1], math.prod(kernel)
    eye = creation.eye(N=kn, dtype=cols.dtype.name)
    filters = shape.tile(
        shape.reshape(eye, shape=(kn, 1, *kernel)), reps=(c, 1, *(1,) * len(kernel))
    )
    residue = _residue(x.shape[2:], kernel, strides, pads, dilations)
    geo = _geo(strides, pads, dilations)
    return conv_transpose(cols, filters, **geo, groups=c, output_padding=residue)


def _max_pool_vjp(
    g: Tensor,
    out: Tensor,
    x: Tensor,
    *,
    kernel_shape: Dims | None = None,
    strides: Dims | None = None,
    pads: Dims | None = None,
    dilations: Dims | None = None,
) -> tuple[Tensor]:
    kernel = tuple(kernel_shape or ())
    geo = _geo(strides, pads, dilations)
    mask = max_pool_mask(x, kernel_shape=kernel, **geo)  # a constant: not differentiable
    n, c, kn = g.shape[0], g.shape[1], math.prod(kernel)
    spread = shape.expand_dims(g, axis=2) * shape.reshape(mask, shape=(n, c, kn, *g.shape[2:]))
    cols = shape.reshape(spread, shape=(n, c * kn, *g.shape[2:]))
    return (_scatter_windows(cols, x, kernel, strides, pads, dilations),)


# Ties: the whole cotangent goes to the first maximum of a window (row-major order), as in
# PyTorch and TensorFlow, rather than being shared.
max_pool = defop(
    "max_pool",
    _max_pool_forward,
    _max_pool_vjp,
    size=_pool_size,
    doc="ONNX MaxPool: the maximum of each window of x (N, C, *spatial); pads never win",
)

max_pool_mask = defop(
    "max_pool_mask",
    _max_pool_mask_forward,
    None,
    size=lambda xs, *, kernel_shape=None, **a: (
        _pool_size(xs, kernel_shape=kernel_shape, **a) * math.prod(kernel_shape or ())
    ),
    doc="one-hot of each max_pool window's first maximum: (N, C * prod(kernel_shape), *out)",
)


def _avg_pool_vjp(
    g: Tensor,
    out: Tensor,
    x: Tensor,
    *,
    kernel_shape: Dims | None = None,
    strides: Dims | None = None,
    pads: Dims | None = None,
    dilations: Dims | None = None,
    count_include_pad: bool = False,
) -> tuple[Tensor]:
    kernel = tuple(kernel_shape or ())
    geo = _geo(strides, pads, dilations)
    if count_include_pad:
        share = g / float(math.prod(kernel))
    else:
        ones = creation.ones(shape=(1, 1, *x.shape[2:]), dtype=g.dtype.name)
        window = creation.ones(shape=(1, 1, *kernel), dtype=g.dtype.name)
        share = g / conv(ones, window, **geo)
    c = x.shape[1]
    filters = creation.ones(shape=(c, 1, *kernel), dtype=g.dtype.name)
    residue = _residue(x.shape[2:], kernel, strides, pads, dilations)
    return (conv_transpose(share, filters, **geo, groups=c, output_padding=residue),)


avg_pool = defop(
    "avg_pool",
    _avg_pool_forward,
    _avg_pool_vjp,
    size=_pool_size,
    doc="ONNX AveragePool: the mean of each window of x (N, C, *spatial); pads counted only "
    "with count_include_pad",
)
