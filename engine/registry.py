"""Op (forward + VJP + aliases + attrs + doc), the OPS registry, and defop(): the only way in."""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np

from .errors import OpError
from .forward import ACCUMULATORS, push
from .limits import BUDGET
from .tape import ACTIVE, record
from .tensor import DTYPE_ALIASES, DTYPE_NAMES, Tensor, as_tensor

Array = np.ndarray
Vjp = Callable[..., tuple[Tensor | None, ...]]


# ----- attr kinds: the forward's keyword-only parameters are annotated with one of these -----
class AttrKind:
    """How an attr is written on the wire (JSON schema) and turned into the forward's argument."""

    def __init__(self, name: str, schema: dict[str, Any], convert: Callable[[Any], Any]) -> None:
        self.name = name
        self.schema = schema
        self.convert = convert

    def __repr__(self) -> str:
        return f"AttrKind({self.name})"


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _in_int64(v: int) -> bool:
    return INT64_MIN <= v <= INT64_MAX


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise ValueError("must be an integer")
    v = int(v)
    if not _in_int64(v):
        raise ValueError("must be an integer within the int64 range")
    return v


def _ints(v: Any) -> tuple[int, ...]:
    if isinstance(v, list | tuple):
        return tuple(_int(x) for x in v)
    raise ValueError("must be a list of integers")


def _int_or_ints(v: Any) -> int | tuple[int, ...]:
    return _ints(v) if isinstance(v, list | tuple) else _int(v)


def _axes(v: Any) -> int | tuple[int, ...] | None:
    return None if v is None else _int_or_ints(v)


def _shape(v: Any) -> tuple[int, ...]:
    dims = _ints(v) if isinstance(v, list | tuple) else (_int(v),)
    if any(d < -1 for d in dims):
        raise ValueError("dimensions must be non-negative")
    return dims


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        raise ValueError("must be a number")
    if isinstance(v, int) and not _in_int64(v):
        raise ValueError("must be a number; integers within the int64 range")
    return float(v)


def _scalar(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v in ("NaN", "Infinity", "-Infinity"):
        return float(v.replace("Infinity", "inf"))
    if not isinstance(v, int | float | np.number):
        raise ValueError("must be a number or boolean")
    if isinstance(v, int) and not _in_int64(v):
        raise ValueError("must be a number or boolean; integers within the int64 range")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool | np.bool_):
        raise ValueError("must be a boolean")
    return bool(v)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("must be a string")
    return v


def _dtype(v: Any) -> str:
    if isinstance(v, np.dtype | type):
        v = np.dtype(v).name
    name = DTYPE_ALIASES.get(v, v) if isinstance(v, str) else None
    if name not in DTYPE_NAMES:
        raise ValueError(f"must be one of {', '.join(DTYPE_NAMES)}")
    return name


def _pad_width(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return tuple(_pad_width(x) for x in v)
    x = _int(v)
    if x < 0:
        raise ValueError("pad widths must be non-negative")
    return x


def _index(v: Any) -> str | tuple[Any, ...]:
    # The wire gives NumPy basic indexing as a string (the Python API passes its key straight to
    # the op, never through here). A list would be NumPy fancy indexing: its result can be far
    # larger than its input, so the wire does not take one.
    if not isinstance(v, str):
        raise ValueError("must be a string of NumPy basic indexing, such as '1:3, ::2, None, ...'")
    return parse_index(v)


INT = {"type": "integer"}
INT_LIST = {"type": "array", "items": INT}
K_INT = AttrKind("int", INT, _int)
K_OPT_INT = AttrKind(
    "int?", {"anyOf": [INT, {"type": "null"}]}, lambda v: None if v is None else _int(v)
)
K_INTS = AttrKind(
    "ints", {"anyOf": [INT_LIST, {"type": "null"}]}, lambda v: None if v is None else _ints(v)
)
K_INT_OR_INTS = AttrKind("int|ints", {"anyOf": [INT, INT_LIST]}, _int_or_ints)
K_AXES = AttrKind("axes", {"anyOf": [INT, INT_LIST, {"type": "null"}]}, _axes)
K_SHAPE = AttrKind(
    "shape",
    {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "array", "items": {"type": "integer"}}]},
    _shape,
)
K_FLOAT = AttrKind("float", {"type": "number"}, _float)
K_SCALAR = AttrKind(
    "scalar",
    {
        "anyOf": [
            {"type": "number"},
            {"type": "boolean"},
            {"enum": ["NaN", "Infinity", "-Infinity"]},
        ]
    },
    _scalar,
)
K_BOOL = AttrKind("bool", {"type": "boolean"}, _bool)
K_STR = AttrKind("str", {"type": "string"}, _str)
K_DTYPE = AttrKind("dtype", {"enum": [*DTYPE_NAMES, *DTYPE_ALIASES]}, _dtype)
K_OPT_DTYPE = AttrKind(
    "dtype?",
    {"anyOf": [{"enum": [*DTYPE_NAMES, *DTYPE_ALIASES]}, {"type": "null"}]},
    lambda v: None if v is None else _dtype(v),
)
K_PAD = AttrKind(
    "pad_width", {"anyOf": [INT, INT_LIST, {"type": "array", "items": INT_LIST}]}, _pad_width
)
K_INDEX = AttrKind(
    "index",
    {"type": "string", "description": "NumPy basic indexing, e.g. '1:3, ::2, None, ...'"},
    _index,
)

# Annotated aliases for forward signatures.
Int = Annotated[int, K_INT]
OptInt = Annotated[int | None, K_OPT_INT]
Ints = Annotated[tuple[int, ...] | None, K_INTS]
IntOrInts = Annotated[int | tuple[int, ...], K_INT_OR_INTS]
Axes = Annotated[int | tuple[int, ...] | None, K_AXES]
Shape = Annotated[tuple[int, ...], K_SHAPE]
Float = Annotated[float, K_FLOAT]
Scalar = Annotated[float, K_SCALAR]
Bool = Annotated[bool, K_BOOL]
Str = Annotated[str, K_STR]
DType = Annotated[str, K_DTYPE]
OptDType = Annotated[str | None, K_OPT_DTYPE]
PadWidth = Annotated[Any, K_PAD]
Index = Annotated[Any, K_INDEX]


@dataclass(frozen=True, slots=True)
class AttrSpec:
    name: str
    kind: AttrKind
    default: Any  # inspect.Parameter.empty when required
    choices: tuple[str, ...] | None = None

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def schema(self) -> dict[str, Any]:
        s = dict(self.kind.schema)
        if self.choices:
            s = {"enum": list(self.choices)}
        if not self.required:
            s["default"] = list(self.default) if isinstance(self.default, tuple) else self.default
        return s


# ----- the Op -----
@dataclass(frozen=True, slots=True, eq=False)
class Op:
    """One catalog op: NumPy forward, VJP in catalog ops (None: not differentiable), metadata."""

    name: str
    forward: Callable[..., Any]
    vjp: Vjp | None
    aliases: tuple[str, ...] = ()
    doc: str = ""
    conventions: dict[str, str] = field(default_factory=dict)
    min_inputs: int = 1
    max_inputs: int | None = 1
    attrs: dict[str, AttrSpec] = field(default_factory=dict)
    outputs: int | None = 1  # how many arrays the forward returns; None: the attrs say (split)
    size: Callable[..., int] | None = None  # elements the output will have, from input shapes
    # The VJP takes `needs` (one bool per input): entries for inputs that carry no gradient
    # (constants) may be skipped. Worth it where an entry costs a product (matmul, multiply).
    vjp_needs: bool = False
    # The same VJP on NumPy values, for a backward pass nothing records (no open tape or
    # accumulator): a first-order gradient needs no differentiable VJP. Optional; the table
    # test checks it against `vjp` for every op that has one.
    raw_vjp: Callable[..., tuple[Any, ...]] | None = None
    raw_needs: bool = False
    # Facts __call__ reads on every application, worked out once in __post_init__.
    input_limit: int = field(init=False)  # max_inputs, or a number no call reaches
    multi: bool = field(init=False)  # the forward returns a tuple of arrays
    recordable: bool = field(init=False)  # differentiable, one output: recorded inline

    def __post_init__(self) -> None:
        most = self.max_inputs if self.max_inputs is not None else 2**62
        object.__setattr__(self, "input_limit", most)
        object.__setattr__(self, "multi", self.outputs != 1)
        object.__setattr__(self, "recordable", self.vjp is not None and not self.multi)

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    def __call__(self, *args: Any, **attrs: Any) -> Any:
        """Lift the arguments to tensors, charge the request's budget, run the forward, record
        the application on the open tapes and push it through the open accumulators."""
        self.check_call(len(args), attrs)
        inputs = args if all(a.__class__ is Tensor for a in args) else _lift(args)
        values = tuple([x.value for x in inputs])
        budget = BUDGET.get()
        if budget is not None:
            budget.charge(self.name, self.out_elements(inputs, attrs))
        try:
            value = self.forward(*values, **attrs)
        except Exception as exc:  # NumPy's refusals: shapes, dtypes, indices, singular matrices
            raise numpy_error(self.name, exc, values) from exc
        out = tuple(Tensor(v) for v in value) if self.multi else Tensor(value)
        tapes = ACTIVE.get()
        if tapes:
            record(tapes, self, inputs, attrs, out)
        accumulators = ACCUMULATORS.get()
        if accumulators:
            push(accumulators, self, inputs, attrs, out)
        return out

    def check_call(self, n: int, attrs: dict[str, Any]) -> None:
        """The arity and the attrs' names (their values are the forward's to check)."""
        if not self.min_inputs <= n <= self.input_limit:
            raise OpError(
                f"{self.name} takes {self.arity_text()} inputs, got {n}", code="bad_arity"
            )
        if attrs and not attrs.keys() <= self.attrs.keys():
            unknown = sorted(attrs.keys() - self.attrs.keys())
            raise OpError(f"{self.name} has no attr {', '.join(unknown)}", code="bad_attrs")

    def out_elements(self, inputs: tuple[Tensor, ...], attrs: dict[str, Any]) -> int:
        """Elements this application will create, computed before NumPy allocates anything:
        the op's own estimate, else the size of its inputs broadcast together."""
        if self.size is not None:
            try:
                return int(self.size(*[t.shape for t in inputs], **attrs))
            except OpError:
                raise
            except Exception:  # let the forward produce NumPy's own message
                return 0
        if not inputs:
            return 1
        first = inputs[0].value
        if len(inputs) == 1:
            return first.size
        if len(inputs) == 2:  # the common binary op: same shapes, or a scalar on either side
            second = inputs[1].value
            if first.shape == second.shape or not second.ndim:
                return first.size
            if not first.ndim:
                return second.size
        shapes = [t.value.shape for t in inputs]
        if shapes.count(first.shape) == len(shapes):
            return first.size
        try:  # (10**6, 1) + (1, 10**6) would be 10**12 elements
            return prod(np.broadcast_shapes(*shapes))
        except ValueError:
            return 0  # not broadcastable: the forward says so, with NumPy's message

    def arity_text(self) -> str:
        if self.max_inputs is None:
            return f"at least {self.min_inputs}"
        if self.max_inputs == self.min_inputs:
            return str(self.min_inputs)
        return f"{self.min_inputs} to {self.max_inputs}"

    def convert_attrs(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Wire attrs (JSON values) -> the forward's keyword arguments; bad ones raise bad_attrs."""
        out: dict[str, Any] = {}
        for key, value in raw.items():
            spec = self.attrs.get(key)
            if spec is None:
                known = ", ".join(self.attrs) or "none"
                raise OpError(
                    f"{self.name} has no attr {key!r} (its attrs: {known})", code="bad_attrs"
                )
            try:
                converted = spec.kind.convert(value)
                if spec.choices is not None and converted not in spec.choices:
                    raise ValueError(f"must be one of {', '.join(spec.choices)}")
            except (ValueError, TypeError, RecursionError) as exc:
                raise OpError(f"{self.name}: attr {key!r} {exc}", code="bad_attrs") from None
            out[key] = converted
        for spec in self.attrs.values():
            if spec.required and spec.name not in out:
                raise OpError(f"{self.name} needs the attr {spec.name!r}", code="bad_attrs")
        return out

    def info(self) -> dict[str, Any]:
        """What GET /v1/ops publishes about this op."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "inputs": {"min": self.min_inputs, "max": self.max_inputs},
            "outputs": self.outputs,
            "attrs": {
                "type": "object",
                "properties": {n: s.schema() for n, s in self.attrs.items()},
                "required": [n for n, s in self.attrs.items() if s.required],
                "additionalProperties": False,
            },
            "differentiable": self.differentiable,
            "conventions": dict(self.conventions),
            "doc": self.doc,
        }


def _lift(args: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """Tensors for args that are not: Python scalars take the dtype NumPy 2 gives them beside
    the tensor args (they are weak, NEP 50), so `x * 2.0` keeps a float32 x float32."""
    if len(args) == 2:  # a tensor and a Python number, the usual literal in an expression
        x, y = args
        if isinstance(x, Tensor) and y.__class__ in _NUMBERS:
            dtype = x.value.dtype
            if dtype.kind == "f":
                return x, Tensor(dtype.type(y))
        elif isinstance(y, Tensor) and x.__class__ in _NUMBERS:
            dtype = y.value.dtype
            if dtype.kind == "f":
                return Tensor(dtype.type(x)), y
    arrays = [a.value for a in args if isinstance(a, Tensor)]
    like = arrays[0].dtype if len(arrays) == 1 else None
    out: list[Tensor] = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif arrays and isinstance(a, bool | int | float):
            if like is not None and (like.kind == "f" or (like.kind == "i" and type(a) is int)):
                out.append(Tensor(like.type(a)))  # the common case, without asking NumPy
            else:
                out.append(Tensor(np.asarray(a, dtype=np.result_type(*arrays, a))))
        else:
            out.append(as_tensor(a))
    return tuple(out)


_NUMBERS = frozenset({int, float})  # exact types: a bool is not lifted as a number here


OPS: dict[str, Op] = {}
ALIASES: dict[str, str] = {}


def defop(
    name: str,
    forward: Callable[..., Any],
    vjp: Vjp | None,
    *,
    aliases: tuple[str, ...] = (),
    doc: str = "",
    conventions: dict[str, str] | None = None,
    outputs: int | None = 1,
    size: Callable[..., int] | None = None,
    choices: dict[str, tuple[str, ...]] | None = None,
    arity: tuple[int, int | None] | None = None,
    raw: Callable[..., tuple[Any, ...]] | None = None,
) -> Op:
    """Create an op and register it (and its aliases) in OPS; its attrs come from `forward`.
    `raw`: the VJP again on NumPy values, for backward passes nothing records (optional)."""
    if name in OPS or name in ALIASES:
        raise ValueError(f"op {name!r} defined twice")
    attrs: dict[str, AttrSpec]
    if arity is not None and not inspect.isfunction(forward):  # a NumPy callable: no attrs
        (lo, hi), attrs = arity, {}
    else:
        lo, hi, attrs = _signature(forward, choices or {})
        if arity is not None:
            lo, hi = arity
    vjp_needs = vjp is not None and "needs" in inspect.signature(vjp).parameters
    if raw is not None and (vjp is None or outputs != 1):
        raise ValueError(f"op {name!r}: a raw VJP needs a VJP and a single output")
    raw_needs = raw is not None and "needs" in inspect.signature(raw).parameters
    op = Op(
        name,
        forward,
        vjp,
        tuple(aliases),
        doc,
        conventions or {},
        lo,
        hi,
        attrs,
        outputs,
        size,
        vjp_needs,
        raw,
        raw_needs,
    )
    OPS[name] = op
    for alias in aliases:
        if alias in OPS or alias in ALIASES:
            raise ValueError(f"alias {alias!r} defined twice")
        ALIASES[alias] = name
    return op


def lookup_op(name: str) -> Op | None:
    """The op called `name` or an alias of it."""
    op = OPS.get(name)
    if op is None and name in ALIASES:
        op = OPS[ALIASES[name]]
    return op


def _signature(
    fn: Callable[..., Any], choices: dict[str, tuple[str, ...]]
) -> tuple[int, int | None, dict[str, AttrSpec]]:
    if isinstance(fn, np.ufunc):
        return fn.nin, fn.nin, {}
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    lo = 0
    hi: int | None = 0
    attrs: dict[str, AttrSpec] = {}
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            hi = None if hi is None else hi + 1
            if p.default is p.empty:
                lo += 1
        elif p.kind == p.VAR_POSITIONAL:
            hi = None
        elif p.kind == p.KEYWORD_ONLY:
            meta = getattr(hints.get(p.name), "__metadata__", ())
            kind = next((m for m in meta if isinstance(m, AttrKind)), None)
            if kind is None:
                raise TypeError(f"{fn.__name__}: attr {p.name} needs an AttrKind annotation")
            attrs[p.name] = AttrSpec(p.name, kind, p.default, choices.get(p.name))
    return lo, hi, attrs


# ----- NumPy's exceptions -> engine errors with stable codes -----
_SHAPE_WORDS = (
    "shape",
    "broadcast",
    "align",
    "dimension",
    "size",
    "operands could not",
    "must have",
    "mismatch",
    "same number",
    "square",
    "rank",
)


def numpy_error(name: str, exc: Exception, values: tuple[Any, ...] = ()) -> OpError:
    msg = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OpError):
        return exc
    if ("gufunc" in msg or "remapped shapes" in msg) and len(
        values
    ) == 2:  # a matrix product's operands: name their shapes
        return OpError(f"{name}: {_core_mismatch(*(np.shape(v) for v in values))}")
    if isinstance(exc, np.exceptions.AxisError):
        code = "bad_attrs"
    elif isinstance(exc, np.linalg.LinAlgError):
        code = "linalg_error"
    elif isinstance(exc, IndexError):
        code = "index_error"
    elif isinstance(exc, MemoryError | OverflowError):
        code = "limit_exceeded"
    elif isinstance(exc, TypeError) and "unexpected keyword" in msg:
        code = "bad_attrs"
    elif isinstance(exc, ValueError) and ("subscript" in msg or "value in 'axis'" in msg):
        code = "bad_attrs"  # einsum's subscripts string, a repeated axis
    elif isinstance(exc, TypeError) or "integer" in msg.lower() or "dtype" in msg.lower():
        code = "dtype_error"
    elif isinstance(exc, ValueError) and any(w in msg.lower() for w in _SHAPE_WORDS):
        code = "shape_mismatch"
    else:
        code = "invalid_value"
    prefix = f"{name}: "
    return OpError(msg if msg.startswith(prefix) else prefix + msg, code=code)


def _core_mismatch(a: tuple[int, ...], b: tuple[int, ...]) -> str:
    """Why a matrix product refuses operands of shapes a and b, in their own terms."""
    if not a or not b:
        return f"operands must have at least one axis, got shapes {a} and {b}"
    inner = "last axis" if len(a) > 1 else "only axis"
    other = "second-to-last axis" if len(b) > 1 else "only axis"
    k_b = b[-2] if len(b) > 1 else b[0]
    if a[-1] == k_b:
        return (
            f"shapes {a} and {b} do not align: their batch axes {a[:-2]} and {b[:-2]} do not "
            "broadcast together"
        )
    return (
        f"shapes {a} and {b} do not align: the first's {inner} ({a[-1]}) must equal the "
        f"second's {other} ({k_b})"
    )


# ----- indexing strings: "1:3, ::2, None, ..." -> a NumPy basic-indexing key -----
def parse_index(text: str) -> tuple[Any, ...]:
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    key: list[Any] = []
    for part in parts:
        if part == "...":
            key.append(Ellipsis)
        elif part in ("None", "newaxis"):
            key.append(None)
        elif ":" in part:
            bits = part.split(":")
            if len(bits) > 3:
                raise ValueError(f"bad slice {part!r}")
            key.append(slice(*(int(b) if b.strip() else None for b in bits)))
        else:
            key.append(int(part))
    if key.count(Ellipsis) > 1:
        raise ValueError("an index can have only one '...'")
    return tuple(key)


def prod(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
