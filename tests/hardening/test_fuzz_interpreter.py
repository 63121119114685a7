"""Random programs, well-formed and not, through `run_program`: only EngineError ever comes out,
within the limits, and every result encodes to JSON the way the service sends it.

Three derandomized Hypothesis tests: whole programs (every statement kind of wire format section 4,
nested, with junk mixed in), single ops with random args and attrs, and random ops under a tape
followed by their gradient (which runs the VJPs, and their VJPs for the second order).
"""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine import ALIASES, OPS, EngineError, Limits
from engine.program import encode_result, run_program

LIMITS = Limits(
    max_elements_per_tensor=10_000,
    max_live_elements=200_000,
    max_ops=10_000,
    max_iterations=1_000,
    max_call_depth=16,
    max_nesting_depth=16,
    timeout_s=2.0,
    max_statements=2_000,
    max_outputs=100,
)
SLACK_S = 3.0  # the deadline is checked between statements; one op may run past it a little

PROGRAM_EXAMPLES = 1000
OP_EXAMPLES = 500
GRADIENT_EXAMPLES = 500
FUZZ = settings(
    max_examples=PROGRAM_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

VALID_NAMES = ["x", "y", "z", "n", "b", "m", "s", "t", "u", "f", "g", "i", "w"]
JUNK_NAMES: list[Any] = ["", "1x", "a b", "x.y", "ü", 7, None, True, ["x"], {"a": 1}]
OP_NAMES = sorted(OPS) + sorted(ALIASES)
JUNK_OPS: list[Any] = ["frob", "", "EXP", "__class__", "os.system", 3, None, ["exp"]]
ATTR_NAMES = sorted({a for op in OPS.values() for a in op.attrs})
JUNK_ATTRS = ["axes", "", "out", "where", "dtype_", "__dict__"]
DTYPES = [
    "float16",
    "float32",
    "float64",
    "int32",
    "int64",
    "bool",
    "FP32",
    "INT64",
    "object",
    "complex128",
    "U8",
]
SUBSCRIPTS = [
    "ij,jk->ik",
    "i,i->",
    "i->",
    "ij->ji",
    "ii->i",
    "...i->...",
    "i,j->ij",
    "ij",
    "ab,bc,cd->ad",
    "->",
    "i,,->",
    "iii",
    "ij->k",
]
INDEXES = ["0", ":", "::-1", "1:", "None, 0", "..., 0", "-1", "0, 0", "5", ":, None", "a", ""]
KINDS = [
    "op",
    "tape",
    "watch",
    "gradient",
    "jacobian",
    "batch_jacobian",
    "for",
    "if",
    "while",
    "def",
    "call",
    "return",
    "stop_recording",
]

INPUTS: dict[str, Any] = {
    "x": {"data": [1.0, -2.0, 0.5]},
    "y": 2.0,
    "n": 3,
    "b": True,
    "m": [[1.0, 2.0], [3.0, 4.5]],
    "w": {"data": [0.25, -1.5, 3.0], "variable": True},
}

# ----- values -----
small_ints = st.integers(-3, 6)
numbers = st.one_of(
    small_ints,
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1e308, 1e-308]),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]),
)
huge_ints = st.sampled_from([10**12, -(10**12), 2**63 - 1, 2**40])


def nested(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaf, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


@st.composite
def b64_tensors(draw: st.DrawFn) -> dict[str, Any]:
    dtype = draw(st.sampled_from(DTYPES[:6]))
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    itemsize = np.dtype(dtype).itemsize
    count = int(np.prod(shape)) * itemsize + draw(st.sampled_from([0, 0, 0, 1, -1]))
    raw = draw(st.binary(min_size=max(count, 0), max_size=max(count, 0)))
    return {"b64": base64.b64encode(raw).decode(), "dtype": dtype, "shape": shape}


finite = st.one_of(small_ints, st.floats(-10, 10, allow_nan=False))
clean_tensors = st.one_of(
    finite,
    st.booleans(),
    st.lists(finite, min_size=1, max_size=3),
    st.fixed_dictionaries({"data": st.sampled_from(["NaN", "Infinity", "-Infinity"])}),
    st.sampled_from([[[1.0, 2.0], [0.5, -1.0]], [[1, 0], [0, 1]], [[[0.5]]], [0.0, 1.0, 2.0]]),
    st.fixed_dictionaries(
        {"data": st.lists(numbers, min_size=1, max_size=3)},
        optional={"dtype": st.sampled_from(DTYPES[:6])},
    ),
)
tensors = st.one_of(
    clean_tensors,
    clean_tensors,
    nested(numbers),
    nested(st.booleans()),
    st.fixed_dictionaries(
        {"data": nested(numbers)},
        optional={
            "dtype": st.sampled_from(DTYPES),
            "shape": st.lists(st.integers(-1, 4), max_size=3),
        },
    ),
    b64_tensors(),
    st.just({"data": [1, 2], "junk": 1}),
)
input_names = st.sampled_from([*VALID_NAMES, "", "1x", "a b", "ü"])  # JSON keys are strings
attr_values = st.one_of(
    small_ints,
    small_ints,
    huge_ints,
    st.lists(small_ints, max_size=4),
    st.none(),
    st.booleans(),
    st.floats(-5, 5, allow_nan=False),
    st.sampled_from(DTYPES),
    st.sampled_from(SUBSCRIPTS),
    st.sampled_from(INDEXES),
    st.lists(st.lists(small_ints, max_size=2), max_size=3),
    st.sampled_from(["NaN", "Infinity", "constant", "reflect", "fro"]),
)
attrs = st.dictionaries(st.sampled_from(ATTR_NAMES + JUNK_ATTRS), attr_values, max_size=3)


def lookup(name: Any) -> Any:
    return OPS.get(ALIASES.get(name, name)) if isinstance(name, str) else None


@st.composite
def op_attrs(draw: st.DrawFn, name: Any) -> dict[str, Any]:
    """Mostly the op's own attrs (random values), sometimes anything."""
    op = lookup(name)
    if op is None or not op.attrs or draw(st.integers(0, 4)) == 0:
        return draw(attrs)
    keys = draw(st.lists(st.sampled_from(sorted(op.attrs)), max_size=3, unique=True))
    return {k: draw(attr_values) for k in keys}


@st.composite
def op_args(draw: st.DrawFn, name: Any, args: st.SearchStrategy[Any]) -> list[Any]:
    """Mostly as many args as the op takes, sometimes any number."""
    op = lookup(name)
    if op is None or draw(st.integers(0, 4)) == 0:
        return draw(st.lists(args, max_size=4))
    top = op.max_inputs if op.max_inputs is not None else op.min_inputs + 2
    count = draw(st.integers(op.min_inputs, top))
    return [draw(args) for _ in range(count)]


@st.composite
def _gradient(
    draw: st.DrawFn,
    kind: str,
    names: st.SearchStrategy[Any],
    targets: st.SearchStrategy[Any],
    unconnected: st.SearchStrategy[str],
) -> dict[str, Any]:
    """A gradient-like statement, mostly with one `out` per source."""
    sources = draw(st.lists(names, min_size=1, max_size=3))
    out = (
        [draw(names) for _ in sources]
        if draw(st.integers(0, 4))
        else draw(st.lists(names, max_size=3))
    )
    stmt: dict[str, Any] = {
        kind: draw(names),
        "target": draw(targets),
        "sources": sources[0] if len(sources) == 1 else sources,
        "out": out[0] if len(out) == 1 else out,
    }
    if draw(st.booleans()):
        stmt["unconnected"] = draw(unconnected)
    if kind == "gradient" and not draw(st.integers(0, 5)):
        stmt["output_gradients"] = draw(targets)
    return stmt


class Grammar:
    """Statement strategies; `junk` mixes bad names, bad ops, stray keys and non-statements
    into them, else every name and op is valid (the program may still be wrong)."""

    def __init__(self, junk: bool) -> None:
        self.junk = junk
        self.names = st.sampled_from(VALID_NAMES * 12 + JUNK_NAMES if junk else VALID_NAMES)
        self.name_or_names = st.one_of(*[self.names] * 4, st.lists(self.names, max_size=3))
        self.arguments = st.one_of(*[self.names] * 3, tensors if junk else clean_tensors)
        self.op_names = st.sampled_from(OP_NAMES + JUNK_OPS if junk else OP_NAMES)
        self.ranges = st.one_of(
            small_ints,
            small_ints,
            st.lists(st.one_of(small_ints, self.names), min_size=1, max_size=3),
            *([huge_ints, st.sampled_from(["n", "x", None, 2.5])] if junk else []),
        )
        leaf_blocks = st.lists(self.op_statements(), max_size=3)
        self.blocks = st.recursive(
            leaf_blocks,
            lambda inner: st.lists(self.statements(inner), max_size=4),
            max_leaves=10,
        )
        self.programs = st.lists(self.statements(self.blocks), min_size=1, max_size=5)

    def op_statements(self) -> st.SearchStrategy[dict[str, Any]]:
        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            name = draw(self.op_names)
            out = draw(st.one_of(*[self.names] * 6, self.name_or_names))
            stmt: dict[str, Any] = {
                "op": name,
                "args": draw(op_args(name, self.arguments)),
                "out": out,
            }
            if draw(st.booleans()):
                stmt["attrs"] = draw(op_attrs(name))
            return stmt

        return build()

    def gradients(
        self, kind: str, targets: st.SearchStrategy[Any], unconnected: st.SearchStrategy[str]
    ) -> st.SearchStrategy[dict[str, Any]]:
        return _gradient(kind, self.names, targets, unconnected)

    def statements(self, blocks: st.SearchStrategy[list[Any]]) -> st.SearchStrategy[Any]:
        names, name_or_names = self.names, self.name_or_names
        unconnected = st.sampled_from(["none", "zero", "maybe"] if self.junk else ["none", "zero"])
        kinds = [
            *[self.op_statements()] * 4,
            st.fixed_dictionaries(
                {"tape": names, "body": blocks},
                optional={
                    "persistent": st.booleans(),
                    "watch": name_or_names,
                    "watch_accessed_variables": st.booleans(),
                },
            ),
            st.fixed_dictionaries({"watch": name_or_names}, optional={"on": names}),
            self.gradients("gradient", name_or_names, unconnected),
            self.gradients("jacobian", names, unconnected),
            self.gradients("batch_jacobian", names, unconnected),
            st.fixed_dictionaries({"for": names, "range": self.ranges, "body": blocks}),
            st.fixed_dictionaries({"if": names, "then": blocks}, optional={"else": blocks}),
            st.fixed_dictionaries(
                {"while": names, "body": blocks},
                optional={"max_iterations": st.one_of(small_ints, huge_ints)},
            ),
            st.fixed_dictionaries(
                {"def": names, "params": st.lists(names, max_size=3), "body": blocks}
            ),
            st.fixed_dictionaries(
                {"call": names, "args": st.lists(self.arguments, max_size=3)},
                optional={"out": name_or_names},
            ),
            st.fixed_dictionaries({"return": name_or_names}),
            st.fixed_dictionaries({"stop_recording": st.one_of(names, st.none()), "body": blocks}),
        ]
        if self.junk:
            kinds += [
                st.dictionaries(
                    st.sampled_from([*KINDS, "body", "out", "junk", "args"]),
                    st.one_of(names, blocks, attr_values),
                    max_size=4,
                ),
                st.sampled_from([None, 3, "op", [], [{"op": "exp"}]]),
            ]
        return st.one_of(*kinds)


CLEAN, DIRTY = Grammar(junk=False), Grammar(junk=True)
requests = st.one_of(
    st.fixed_dictionaries(
        {"inputs": st.just(INPUTS), "program": CLEAN.programs},
        optional={"outputs": st.lists(CLEAN.names, max_size=4)},
    ),
    st.fixed_dictionaries({"inputs": st.just(INPUTS), "program": CLEAN.programs}),
    st.fixed_dictionaries(
        {"inputs": st.just(INPUTS), "program": DIRTY.programs},
        optional={
            "outputs": st.lists(DIRTY.names, max_size=4),
            "options": st.sampled_from(
                [{"encoding": "json"}, {"encoding": "base64"}, {"encoding": "xml"}, {"junk": 1}]
            ),
        },
    ),
    st.fixed_dictionaries(
        {"inputs": st.dictionaries(input_names, tensors, max_size=3), "program": DIRTY.programs}
    ),
    st.dictionaries(
        st.sampled_from(["inputs", "program", "outputs", "options", "junk"]),
        st.one_of(DIRTY.programs, st.just(INPUTS), attr_values),
        max_size=4,
    ),
)


# ----- the property -----
def evaluate(request: Any) -> None:
    """Run and encode as the service does; only EngineError may come out, and in time."""
    start = time.monotonic()
    try:
        result = run_program(request, LIMITS)
        orjson.dumps(encode_result(result), option=orjson.OPT_SERIALIZE_NUMPY)
        event("ran")
    except EngineError as err:
        event(f"refused: {err.code}")
        assert isinstance(err.code, str) and err.code
        assert err.pointer is None or err.pointer == "" or err.pointer.startswith("/"), err.pointer
    elapsed = time.monotonic() - start
    assert elapsed < LIMITS.timeout_s + SLACK_S, f"{elapsed:.1f} s"


@FUZZ
@given(requests)
def test_random_programs_raise_only_engine_errors(request: Any) -> None:
    evaluate(request)


@settings(FUZZ, max_examples=OP_EXAMPLES)
@given(st.one_of(CLEAN.op_statements(), DIRTY.op_statements()))
def test_random_ops_raise_only_engine_errors(stmt: dict[str, Any]) -> None:
    evaluate({"inputs": INPUTS, "program": [stmt]})


differentiable = st.sampled_from(sorted(n for n, op in OPS.items() if op.differentiable))
gradient_args = st.sampled_from(["x", "m", "y", "w", 0.5, "n", [[0.5, -1.0], [2.0, 0.25]]])


def draw_op_and_sum(data: st.DataObject) -> list[dict[str, Any]]:
    """A random differentiable op application `r`, and `s`, the sum of r."""
    name = data.draw(differentiable)
    args = data.draw(op_args(name, gradient_args))
    attrs_ = data.draw(st.one_of(st.just({}), op_attrs(name)))
    return [
        {"op": name, "args": args, "attrs": attrs_, "out": "r"},
        {"op": "sum", "args": ["r"], "out": "s"},
    ]


@settings(FUZZ, max_examples=GRADIENT_EXAMPLES)
@given(st.data())
def test_random_op_gradients_raise_only_engine_errors(data: st.DataObject) -> None:
    """A differentiable op under two nested tapes, then the first and second order gradients
    of its sum (the second runs the VJPs of the VJPs)."""
    body = draw_op_and_sum(data)
    evaluate(
        {
            "inputs": INPUTS,
            "program": [
                {
                    "tape": "outer",
                    "watch": ["x", "m", "y"],
                    "body": [
                        {"tape": "inner", "watch": ["x", "m", "y"], "body": body},
                        {
                            "gradient": "inner",
                            "target": "s",
                            "sources": ["x", "m", "y", "w"],
                            "out": ["gx", "gm", "gy", "gw"],
                            "unconnected": "zero",
                        },
                        {"op": "sum", "args": ["gx"], "out": "hx"},
                    ],
                },
                {"gradient": "outer", "target": "hx", "sources": ["x", "m"], "out": ["hxx", "hxm"]},
            ],
        }
    )


def _outcome(request: dict[str, Any]) -> tuple[str, Any]:
    try:
        result = run_program(request, LIMITS)
    except EngineError as err:
        return "refused", err.code
    return "ran", {k: None if t is None else np.asarray(t.value) for k, t in result.outputs.items()}


@settings(FUZZ, max_examples=GRADIENT_EXAMPLES)
@given(st.data())
def test_raw_and_recorded_first_order_gradients_agree(data: st.DataObject) -> None:
    """The same gradient asked after the tape's block (nothing records it: raw VJPs on NumPy
    values) and inside it (the persistent tape records it: VJPs in catalog ops) is the same
    value, or the same refusal."""
    body = draw_op_and_sum(data)
    gradient = {
        "gradient": "t",
        "target": "s",
        "sources": ["x", "m", "y"],
        "out": ["gx", "gm", "gy"],
        "unconnected": "zero",
    }
    tape = {"tape": "t", "persistent": True, "watch": ["x", "m", "y"]}
    outputs = ["gx", "gm", "gy"]
    after = _outcome(
        {"inputs": INPUTS, "outputs": outputs, "program": [{**tape, "body": body}, gradient]}
    )
    inside = _outcome(
        {"inputs": INPUTS, "outputs": outputs, "program": [{**tape, "body": [*body, gradient]}]}
    )
    event(after[0])
    assert after[0] == inside[0], (after, inside)
    if after[0] == "refused":
        assert after[1] == inside[1]
        return
    for key in outputs:
        a, b = after[1][key], inside[1][key]
        assert a.shape == b.shape and a.dtype == b.dtype, key
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=key)
