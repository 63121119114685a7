"""The hostile request catalog: one table of requests the service must refuse (or survive) cleanly.

Each row is sent over HTTP to a live server. Rows expect a status, a problem `code` and, where
the fault is in the program, a `pointer`: the actual pointer must be the expected one or lie
inside it (a field of the statement named). A tuple of statuses or codes is accepted only where
the contract leaves the choice open (a comment says why). `bomb` rows ask for far more memory
than the limits allow and are also run by test_rss.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

MARKER = "ZQXW_MARKER_4711"  # put in request bodies; must never come back in an error body
TERA = 10**12
MEGA = 10**6
MIB = 1024 * 1024
HUNDRED_MB = 100 * 1000 * 1000

Body = bytes | Callable[[], bytes] | Any


@dataclass(frozen=True)
class Hostile:
    """One hostile request and the answer the contract requires."""

    id: str
    body: Body  # bytes are sent as they are, a callable is called for them, the rest is JSON
    status: int | tuple[int, ...]
    code: str | tuple[str, ...] | None = None
    pointer: str | tuple[str, ...] | None = None
    path: str = "/v1/run"
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: bool = True  # send the module server's API key
    chunked: bool = False  # stream the body without Content-Length
    bomb: bool = False
    outputs: Mapping[str, Any] | None = None  # for 200 rows: expected `data` of these outputs
    bug: str | None = None  # a known deviation from the contract: the row is a strict xfail
    rss_bug: str | None = None  # a known memory blow-up: a strict xfail in test_rss.py only
    # The protocol whose error format the answer is in (umbridge, tesseract, oip; None: our own
    # problem+json); for those, `code` is the UM-Bridge error type, the Tesseract detail type.
    protocol: str | None = None

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if callable(self.body):
            return self.body()
        return json.dumps(self.body, allow_nan=False).encode()

    def statuses(self) -> tuple[int, ...]:
        return self.status if isinstance(self.status, tuple) else (self.status,)

    def codes(self) -> tuple[str, ...] | None:
        if self.code is None:
            return None
        return self.code if isinstance(self.code, tuple) else (self.code,)


# ----- builders -----
def run(
    program: list[Any],
    inputs: Mapping[str, Any] | None = None,
    outputs: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": dict(inputs or {}), "program": program}
    if outputs is not None:
        body["outputs"] = outputs
    body.update(extra)
    return body


def op(name: str, args: list[Any], out: Any = "y", **attrs: Any) -> dict[str, Any]:
    stmt: dict[str, Any] = {"op": name, "args": args, "out": out}
    if attrs:
        stmt["attrs"] = attrs
    return stmt


X = {"x": {"data": [1.0, 2.0, 3.0]}}
M23 = {"a": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "b": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}
TRUE = {"c": True}


def squared_under_tape(tape: str = "t", persistent: bool = False) -> dict[str, Any]:
    return {
        "tape": tape,
        "persistent": persistent,
        "watch": ["x"],
        "body": [op("multiply", ["x", "x"], "y")],
    }


def grad(
    tape: str = "t", target: str = "y", sources: Any = "x", out: Any = "g", **extra: Any
) -> dict[str, Any]:
    return {"gradient": tape, "target": target, "sources": sources, "out": out, **extra}


def forwarder(name: str, callee: str) -> dict[str, Any]:
    """def name(a): return callee(a)"""
    return {
        "def": name,
        "params": ["a"],
        "body": [{"call": callee, "args": ["a"], "out": "b"}, {"return": "b"}],
    }


def nested_ifs(depth: int) -> bytes:
    """`depth` if statements, each the only statement of the previous one's `then`."""
    head = '{"if": "c", "then": [' * depth
    tail = "]}" * depth
    inner = '{"op": "identity", "args": ["c"], "out": "d"}'
    return f'{{"inputs": {{"c": true}}, "program": [{head}{inner}{tail}]}}'.encode()


def json_nesting(depth: int) -> bytes:
    return b'{"inputs": {"x": ' + b"[" * depth + b"]" * depth + b'}, "program": []}'


def deep_list(depth: int, leaf: Any = 1) -> str:
    return "[" * depth + json.dumps(leaf) + "]" * depth


def deep_json(inputs: str, program: str, leaf: Any = 1, depth: int = 1000) -> bytes:
    """A request whose `inputs` and `program` texts have DEEP replaced by a deep list."""
    text = f'{{"inputs": {inputs}, "program": {program}}}'
    return text.replace("DEEP", deep_list(depth, leaf)).encode()


def deep_data(depth: int) -> dict[str, Any]:
    data: Any = 1.0
    for _ in range(depth):
        data = [data]
    return run([], {"x": data})


def big_body(size: int) -> Callable[[], bytes]:
    """A valid JSON request padded with a string to `size` bytes."""

    def make() -> bytes:
        head, tail = b'{"inputs": {}, "program": [], "pad": "', b'"}'
        return head + b"a" * (size - len(head) - len(tail)) + tail

    return make


def many_statements(n: int) -> bytes:
    stmt = b'{"op": "identity", "args": ["x"], "out": "y"},'
    return b'{"inputs": {"x": 1.0}, "program": [' + stmt * (n - 1) + stmt[:-1] + b"]}"


def vector(n: int, name: str) -> dict[str, Any]:
    return op("arange", [], name, start=n)


def column(n: int, name: str, src: str) -> dict[str, Any]:
    return op("reshape", [src], name, shape=[n, 1])


def row(n: int, name: str, src: str) -> dict[str, Any]:
    return op("reshape", [src], name, shape=[1, n])


MSGPACK = {"Content-Type": "application/msgpack"}


def packed(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def msgpack_deep_input(depth: int) -> bytes:
    """{"inputs": {"x": [[[...1...]]]}, "program": []} with `depth` nested arrays, in msgpack."""
    return b"\x82\xa6inputs\x81\xa1x" + b"\x91" * depth + b"\x01" + b"\xa7program\x90"


def tutorial_check(**check: Any) -> dict[str, Any]:
    """The wire format section 8 program with a gradient, plus `check` settings."""
    body = run([squared_under_tape(), grad()], X)
    if check:
        body["check"] = check
    return body


def minimize(**extra: Any) -> dict[str, Any]:
    """Least squares on w: loss = sum((w - [1, 2])^2), five steps unless told."""
    program = [
        op("subtract", ["w", [1.0, 2.0]], "d"),
        op("square", ["d"], "q"),
        op("sum", ["q"], "loss"),
    ]
    body = {
        "inputs": {"w": {"data": [0.0, 0.0], "variable": True}},
        "program": program,
        "loss": "loss",
        "steps": 5,
    }
    body.update(extra)
    return body


# The keyed server serves the functions of tests/functions: `mixed` has floating
# inputs x ([null]) and w ([], default 1), an integer input n, outputs y, s and integer k.
MIXED_URL = "/v1/functions/mixed"


def fn(
    kind: str, body: dict[str, Any] | bytes, name: str = "mixed", **extra: Any
) -> dict[str, Any]:
    """The keyword arguments of a Hostile row that POSTs `body` to a function's route."""
    return {"body": body, "path": f"/v1/functions/{name}/{kind}", **extra}


def definition(**overrides: Any) -> dict[str, Any]:
    """A valid function definition (y = 2 x over a float64 vector), with `overrides`."""
    body: dict[str, Any] = {
        "inputs": {"x": {"dtype": "float64", "shape": [None]}},
        "program": [op("multiply", ["x", 2.0])],
        "outputs": ["y"],
    }
    body.update(overrides)
    return body


def nested_tapes(depth: int) -> dict[str, Any]:
    """`depth` tape statements, each the only statement of the previous one's body."""
    stmt: dict[str, Any] = op("multiply", ["x", 2.0])
    for i in range(depth):
        stmt = {"tape": f"t{i}", "body": [stmt]}
    return stmt


def put(name: str = "hostile") -> dict[str, Any]:
    return {"path": f"/v1/functions/{name}", "method": "PUT"}


ONNX_PUT: dict[str, Any] = {**put("hostile_onnx"), "headers": {"Content-Type": "application/onnx"}}


def onnx_model(
    *, external: bool = False, domain: str = "", cycle: bool = False, declared: int = 0
) -> bytes:
    """A tiny model (y = x + w), made hostile one way: weights stored outside it, an op of
    another domain, a graph cycle, or a weight that declares `declared` elements and holds none."""
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.DOUBLE, [3], [1.0, 2.0, 3.0])
    if external:
        w.ClearField("double_data")
        w.data_location = TensorProto.EXTERNAL
        entry = w.external_data.add()
        entry.key, entry.value = "location", "/etc/passwd"
    if declared:
        w = TensorProto(name="w", data_type=TensorProto.DOUBLE, dims=[declared])
    size = declared or 3
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], domain=domain)]
    if cycle:
        nodes = [helper.make_node("Add", ["x", "z"], ["y"]), helper.make_node("Relu", ["y"], ["z"])]
    graph = helper.make_graph(
        nodes,
        "hostile",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [size])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [size])],
        [w],
    )
    opsets = [helper.make_opsetid("", 18)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


# ----- the catalog -----
CASES: list[Hostile] = [
    # ----- the body is not JSON (400) -----
    Hostile("json_truncated", b'{"program": [', 400, "invalid_json"),
    Hostile("json_garbage", b"not json at all " + MARKER.encode(), 400, "invalid_json"),
    Hostile("json_empty_body", b"", 400, "invalid_json"),
    Hostile("json_bare_nan", b"NaN", 400, "invalid_json"),
    Hostile(
        "json_nan_token_in_tensor", b'{"inputs": {"x": NaN}, "program": []}', 400, "invalid_json"
    ),
    Hostile(
        "json_infinity_token",
        b'{"inputs": {"x": [1, -Infinity]}, "program": []}',
        400,
        "invalid_json",
    ),
    Hostile("json_trailing_comma", b'{"program": [],}', 400, "invalid_json"),
    Hostile("json_single_quotes", b"{'program': []}", 400, "invalid_json"),
    Hostile("json_invalid_utf8", b'{"program": [], "outputs": ["\xff\xfe"]}', 400, "invalid_json"),
    Hostile("json_lone_surrogate", b'{"program": [], "outputs": ["\\ud800"]}', 400, "invalid_json"),
    Hostile(
        "json_number_overflows_double",
        b'{"inputs": {"x": 1e400}, "program": []}',
        400,
        "invalid_json",
    ),
    Hostile("json_nesting_100k_arrays", b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
    Hostile(
        "json_nesting_100k_objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, "invalid_json"
    ),
    Hostile("json_nesting_100k_in_input", json_nesting(100_000), 400, "invalid_json"),
    # ----- valid JSON, wrong top-level type (422) -----
    Hostile("top_array", b"[]", 422, "bad_request", ""),
    Hostile("top_string", b'"hello"', 422, "bad_request", ""),
    Hostile("top_number", b"42", 422, "bad_request", ""),
    Hostile("top_null", b"null", 422, "bad_request", ""),
    Hostile("top_bool", b"true", 422, "bad_request", ""),
    # ----- the envelope -----
    Hostile("missing_program", {"inputs": {}}, 422, "missing_key", "/program"),
    Hostile("program_not_a_list", {"program": {"op": "exp"}}, 422, "bad_value", "/program"),
    Hostile("unknown_top_level_key", run([], programm=[]), 422, "unknown_key", "/programm"),
    Hostile(
        "unknown_option_key",
        run([], options={"encodin": "json"}),
        422,
        "unknown_key",
        "/options/encodin",
    ),
    Hostile(
        "bad_encoding", run([], options={"encoding": MARKER}), 422, "bad_value", "/options/encoding"
    ),
    Hostile("inputs_not_an_object", {"inputs": [1, 2], "program": []}, 422, "bad_value", "/inputs"),
    Hostile(
        "outputs_not_a_list",
        {**run([op("exp", ["x"])], X), "outputs": "y"},
        422,
        "bad_value",
        "/outputs",
    ),
    Hostile(
        "input_variable_not_bool",
        run([], {"x": {"data": 1.0, "variable": "yes"}}),
        422,
        "bad_value",
        "/inputs/x/variable",
    ),
    # ----- statements -----
    Hostile("statement_not_an_object", run([42]), 422, "bad_statement", "/program/0"),
    Hostile(
        "statement_without_kind",
        run([{"args": ["x"], "out": "y"}], X),
        422,
        "bad_statement",
        "/program/0",
    ),
    Hostile(
        "statement_unknown_kind",
        run([{"opp": "exp", "args": ["x"], "out": "y"}], X),
        422,
        "bad_statement",
        "/program/0",
    ),
    Hostile(
        "statement_unknown_key",
        run([{**op("exp", ["x"]), "colour": "red"}], X),
        422,
        "unknown_key",
        "/program/0/colour",
    ),
    Hostile(
        "nested_statement_unknown_key",
        run([{"tape": "t", "body": [op("exp", ["x"]), {**op("exp", ["x"]), "oops": 1}]}], X),
        422,
        "unknown_key",
        "/program/0/body/1/oops",
    ),
    Hostile(
        "op_without_out", run([{"op": "exp", "args": ["x"]}], X), 422, "missing_key", "/program/0"
    ),
    Hostile(
        "block_not_a_list",
        run([{"if": "c", "then": {"op": "exp"}}], TRUE),
        422,
        "bad_value",
        "/program/0",
    ),
    Hostile("return_outside_function", run([{"return": "x"}], X), 422, "bad_return", "/program/0"),
    Hostile(
        "def_inside_tape",
        run([{"tape": "t", "body": [{"def": "f", "params": [], "body": []}]}]),
        422,
        "bad_statement",
        "/program/0/body/0",
    ),
    # ----- unknown ops -----
    Hostile("unknown_op", run([op("frobnicate", ["x"])], X), 422, "unknown_op", "/program/0"),
    Hostile("unknown_op_wrong_case", run([op("EXP", ["x"])], X), 422, "unknown_op", "/program/0"),
    Hostile("unknown_op_dunder", run([op("__class__", ["x"])], X), 422, "unknown_op", "/program/0"),
    Hostile(
        "unknown_op_module_path", run([op("os.system", ["x"])], X), 422, "unknown_op", "/program/0"
    ),
    Hostile(
        "op_name_not_a_string",
        run([{"op": 5, "args": ["x"], "out": "y"}], X),
        422,
        "bad_value",
        "/program/0",
    ),
    # ----- arity and attrs -----
    Hostile("arity_too_few", run([op("add", ["x"])], X), 422, "bad_arity", "/program/0"),
    Hostile("arity_too_many", run([op("exp", ["x", "x"])], X), 422, "bad_arity", "/program/0"),
    Hostile("arity_variadic_empty", run([op("concatenate", [])]), 422, "bad_arity", "/program/0"),
    Hostile("attr_unknown", run([op("sum", ["x"], axes=0)], X), 422, "bad_attrs", "/program/0"),
    Hostile(
        "attr_wrong_type", run([op("sum", ["x"], axis=MARKER)], X), 422, "bad_attrs", "/program/0"
    ),
    Hostile(
        "attr_bool_for_int", run([op("sum", ["x"], axis=True)], X), 422, "bad_attrs", "/program/0"
    ),
    Hostile(
        "attrs_not_an_object",
        run([{**op("sum", ["x"]), "attrs": [0]}], X),
        422,
        ("bad_attrs", "bad_value"),
        "/program/0",
    ),  # the contract names neither
    Hostile(
        "attr_required_missing", run([op("reshape", ["x"])], X), 422, "bad_attrs", "/program/0"
    ),
    Hostile(
        "attr_float_in_shape",
        run([op("reshape", ["x"], shape=[1.5, 2])], X),
        422,
        "bad_attrs",
        "/program/0",
    ),
    Hostile(
        "cast_to_object_dtype",
        run([op("cast", ["x"], dtype="object")], X),
        422,
        "bad_attrs",
        "/program/0",
    ),
    Hostile(
        "cast_to_complex",
        run([op("cast", ["x"], dtype="complex128")], X),
        422,
        "bad_attrs",
        "/program/0",
    ),
    Hostile(
        "split_into_zero_sections",
        run([op("split", ["x"], ["a"], indices_or_sections=0)], X),
        422,
        "bad_attrs",
        "/program/0",
    ),
    Hostile(
        "linspace_negative_num",
        run([op("linspace", [], start=0, stop=1, num=-5)]),
        422,
        "bad_attrs",
        "/program/0",
    ),
    # ----- names -----
    Hostile("undefined_name", run([op("exp", ["nope"])]), 422, "unknown_name", "/program/0"),
    Hostile(
        "undefined_output",
        run([op("exp", ["x"])], X, outputs=["nope"]),
        422,
        "unknown_name",
        "/outputs/0",
    ),
    Hostile(
        "undefined_function",
        run([{"call": "f", "args": [], "out": "y"}]),
        422,
        "unknown_function",
        "/program/0",
    ),
    Hostile("bad_name_space", run([op("exp", ["x"], "my var")], X), 422, "bad_name", "/program/0"),
    Hostile(
        "bad_name_unicode", run([op("exp", ["x"], "ünïcödé")], X), 422, "bad_name", "/program/0"
    ),
    Hostile(
        "bad_name_leading_digit", run([op("exp", ["x"], "1x")], X), 422, "bad_name", "/program/0"
    ),
    Hostile("bad_name_empty", run([op("exp", ["x"], "")], X), 422, "bad_name", "/program/0"),
    Hostile(
        "bad_name_path",
        run([op("exp", ["x"], "../../etc/passwd")], X),
        422,
        "bad_name",
        "/program/0",
    ),
    Hostile(
        "bad_name_nul_byte", run([op("exp", ["x"], "y\u0000")], X), 422, "bad_name", "/program/0"
    ),
    Hostile(
        "bad_name_newline",
        run([op("exp", ["x"], "y\nINFO forged log line")], X),
        422,
        "bad_name",
        "/program/0",
    ),
    Hostile("bad_name_input", run([], {"a-b": 1.0}), 422, "bad_name", "/inputs/a-b"),
    Hostile("bad_name_tape", run([{"tape": "t.1", "body": []}]), 422, "bad_name", "/program/0"),
    Hostile(
        "bad_name_loop_variable",
        run([{"for": "i j", "range": 2, "body": []}]),
        422,
        "bad_name",
        "/program/0",
    ),
    # ----- tape misuse -----
    Hostile(
        "unknown_tape", run([op("exp", ["x"]), grad("t")], X), 422, "unknown_tape", "/program/1"
    ),
    Hostile(
        "non_persistent_reused",
        run([squared_under_tape(), grad(), grad(out="g2")], X),
        422,
        "tape_not_persistent",
        "/program/2",
    ),
    Hostile("watch_outside_tape", run([{"watch": ["x"]}], X), 422, "not_in_tape", "/program/0"),
    Hostile(
        "watch_on_unknown_tape",
        run([{"tape": "t", "body": [{"watch": ["x"], "on": "zz"}]}], X),
        422,
        "unknown_tape",
        "/program/0/body/0",
    ),
    Hostile(
        "stop_recording_not_recording",
        run([squared_under_tape(), {"stop_recording": "t", "body": []}], X),
        422,
        "tape_not_recording",
        "/program/1",
    ),
    Hostile(
        "stop_recording_unknown_tape",
        run([{"stop_recording": "zz", "body": []}]),
        422,
        "unknown_tape",
        "/program/0",
    ),
    Hostile(
        "recording_tape_name_reused",
        run([{"tape": "t", "body": [{"tape": "t", "body": []}]}]),
        422,
        "tape_name_in_use",
        "/program/0/body/0",
    ),
    Hostile(
        "gradient_unknown_source",
        run([squared_under_tape(), grad(sources="nope")], X),
        422,
        "unknown_name",
        "/program/1",
    ),
    Hostile(
        "output_gradients_wrong_shape",
        run([squared_under_tape(), grad(output_gradients="s")], {**X, "s": [1.0, 2.0]}),
        422,
        "shape_mismatch",
        "/program/1",
    ),
    Hostile(
        "batch_jacobian_rank_1",
        run(
            [
                squared_under_tape(),
                {"batch_jacobian": "t", "target": "y", "sources": "x", "out": "j"},
            ],
            X,
        ),
        422,
        "shape_mismatch",
        "/program/1",
    ),
    # ----- tensors on the wire -----
    Hostile("ragged_input", run([], {"x": [[1.0, 2.0], [3.0]]}), 422, "bad_tensor", "/inputs/x"),
    Hostile(
        "ragged_literal_argument",
        run([op("exp", [[[1.0, 2.0], [3.0]]])]),
        422,
        "bad_tensor",
        "/program/0",
    ),
    Hostile("deeply_nested_data", deep_data(200), 422, "bad_tensor", "/inputs/x"),
    Hostile("string_in_data", run([], {"x": [1.0, MARKER]}), 422, "bad_tensor", "/inputs/x"),
    Hostile(
        "lowercase_nan_string",
        run([], {"x": {"data": ["nan", 1.0]}}),
        422,
        "bad_tensor",
        "/inputs/x",
    ),
    Hostile("object_in_data", run([], {"x": [1.0, {"k": MARKER}]}), 422, "bad_tensor", "/inputs/x"),
    Hostile(
        "int_beyond_int64",
        b'{"inputs": {"x": [1, 9223372036854775808]}, "program": []}',
        422,
        "bad_tensor",
        "/inputs/x",
    ),
    Hostile(
        "int_beyond_uint64",
        b'{"inputs": {"x": 36893488147419103232}, "program": []}',
        422,
        "bad_tensor",
        "/inputs/x",
    ),
    Hostile(
        "int_below_int64",
        b'{"inputs": {"x": -9223372036854775809}, "program": []}',
        422,
        "bad_tensor",
        "/inputs/x",
    ),
    Hostile(
        "data_size_differs_from_shape",
        run([], {"x": {"data": [1, 2, 3], "shape": [2, 2]}}),
        422,
        "bad_tensor",
        "/inputs/x",
    ),
    Hostile(
        "scalar_data_with_huge_shape",
        run([], {"x": {"data": 0.0, "shape": [MEGA, MEGA]}}),
        422,
        ("bad_tensor", "limit_exceeded"),
        "/inputs/x",
        bomb=True,
    ),  # either refusal
    Hostile(
        "negative_dimension",
        run([], {"x": {"data": [1, 2], "shape": [-1, 2]}}),
        422,
        "bad_tensor",
        "/inputs/x",
    ),
    Hostile(
        "tensor_unknown_key",
        run([], {"x": {"data": 1.0, "dtyp": "float32"}}),
        422,
        "unknown_key",
        "/inputs/x/dtyp",
    ),
    Hostile(
        "unknown_dtype",
        run([], {"x": {"data": 1.0, "dtype": MARKER}}),
        422,
        "dtype_error",
        "/inputs/x/dtype",
    ),
    Hostile(
        "object_dtype",
        run([], {"x": {"data": 1.0, "dtype": "object"}}),
        422,
        "dtype_error",
        "/inputs/x/dtype",
    ),
    Hostile(
        "b64_not_base64",
        run([], {"x": {"b64": MARKER + "!!", "dtype": "float64", "shape": [1]}}),
        422,
        "bad_tensor",
        "/inputs/x",
    ),
    Hostile(
        "b64_wrong_byte_length",
        run([], {"x": {"b64": "AAAA", "dtype": "float64", "shape": [1]}}),
        422,
        "bad_tensor",
        "/inputs/x",
    ),
    Hostile(
        "b64_without_shape",
        run([], {"x": {"b64": "AAAAAAAAAAA=", "dtype": "float64"}}),
        422,
        ("missing_key", "bad_tensor"),
        "/inputs/x",
    ),  # the contract names neither
    Hostile(
        "b64_huge_shape",
        run([], {"x": {"b64": "", "dtype": "float64", "shape": [MEGA, MEGA]}}),
        422,
        ("bad_tensor", "limit_exceeded"),
        "/inputs/x",
        bomb=True,
    ),  # either refusal
    Hostile(
        "bool_b64_not_0_or_1",
        run([], {"x": {"b64": "Ag==", "dtype": "bool", "shape": [1]}}),
        422,
        "bad_tensor",
        "/inputs/x",
    ),
    # 1,000 levels: under orjson's depth limit, so these reach the engine
    Hostile(
        "deeply_nested_dtype",
        deep_json('{"x": {"data": 1.0, "dtype": DEEP}}', "[]", "float64"),
        422,
        "dtype_error",
        "/inputs/x/dtype",
    ),
    Hostile(
        "deeply_nested_attr",
        deep_json(
            "{}", '[{"op": "pad", "args": [[1.0]], "out": "y", "attrs": {"pad_width": DEEP}}]'
        ),
        422,
        "bad_attrs",
        "/program/0",
    ),
    Hostile(
        "deeply_nested_literal_arg",
        deep_json("{}", '[{"op": "exp", "args": [DEEP], "out": "y"}]'),
        422,
        "bad_tensor",
        "/program/0",
    ),
    # ----- msgpack bodies (the service also reads application/msgpack) -----
    Hostile("msgpack_garbage", b"\xc1", 400, "invalid_json", headers=MSGPACK),
    Hostile(
        "msgpack_array_header_4g", b"\xdd\xff\xff\xff\xff", 400, "invalid_json", headers=MSGPACK
    ),
    Hostile(
        "msgpack_nesting_100k", b"\x91" * 100_000 + b"\xc0", 400, "invalid_json", headers=MSGPACK
    ),
    Hostile(
        "msgpack_nesting_1000_in_input",
        msgpack_deep_input(1000),
        (400, 422),
        ("invalid_json", "bad_tensor"),
        headers=MSGPACK,
    ),
    # a msgpack map may have binary keys; a JSON object cannot: refused either way, never a 500
    Hostile(
        "msgpack_binary_key_top_level",
        packed({b"program": []}),
        (400, 422),
        ("invalid_json", "bad_value", "unknown_key"),
        headers=MSGPACK,
    ),
    Hostile(
        "msgpack_binary_key_in_statement",
        packed({"program": [{b"op": "exp", "args": [1.0], "out": "y"}]}),
        (400, 422),
        ("invalid_json", "bad_value", "bad_statement"),
        headers=MSGPACK,
    ),
    Hostile(
        "msgpack_two_million_empty_maps",
        packed({"program": [{}] * 2 * MEGA}),
        422,
        "limit_exceeded",
        "",
        headers=MSGPACK,
        bomb=True,
    ),
    Hostile("inputs_null", b'{"inputs": null, "program": []}', 422, "bad_value", "/inputs"),
    Hostile(
        "json_sent_as_msgpack", json.dumps(run([])).encode(), 400, "invalid_json", headers=MSGPACK
    ),
    Hostile("msgpack_top_array", packed([1, 2]), 422, "bad_request", "", headers=MSGPACK),
    Hostile(
        "msgpack_ext_type",
        packed({"inputs": {"x": msgpack.ExtType(5, b"abc")}, "program": []}),
        422,
        "bad_value",
        "/inputs/x",
        headers=MSGPACK,
    ),
    Hostile(
        "msgpack_bytes_wrong_length",
        packed(
            {"inputs": {"x": {"bytes": b"\0" * 3, "dtype": "float64", "shape": [1]}}, "program": []}
        ),
        422,
        "bad_tensor",
        "/inputs/x",
        headers=MSGPACK,
    ),
    Hostile(
        "msgpack_bytes_huge_shape",
        packed(
            {
                "inputs": {"x": {"bytes": b"", "dtype": "float64", "shape": [MEGA, MEGA]}},
                "program": [],
            }
        ),
        422,
        ("bad_tensor", "limit_exceeded"),
        "/inputs/x",
        bomb=True,
        headers=MSGPACK,
    ),
    Hostile(
        "msgpack_uint64",
        packed({"inputs": {"x": 2**64 - 1}, "program": []}),
        422,
        "bad_tensor",
        "/inputs/x",
        headers=MSGPACK,
    ),
    # ----- shape errors in every op family -----
    Hostile(
        "broadcast_mismatch",
        run([op("add", ["x", [1.0, 2.0]])], X),
        422,
        "shape_mismatch",
        "/program/0",
    ),
    Hostile(
        "matmul_not_aligned",
        run([op("matmul", ["a", "b"])], M23),
        422,
        "shape_mismatch",
        "/program/0",
    ),
    Hostile(
        "matmul_scalar", run([op("matmul", [2.0, "x"])], X), 422, "shape_mismatch", "/program/0"
    ),
    Hostile(
        "concatenate_mismatch",
        run([op("concatenate", [[[1.0, 2.0]], [[1.0, 2.0, 3.0]]], axis=0)]),
        422,
        "shape_mismatch",
        "/program/0",
    ),
    Hostile(
        "concatenate_rank_mismatch",
        run([op("concatenate", [[1.0, 2.0], [[1.0]]])]),
        422,
        "shape_mismatch",
        "/program/0",
    ),
    Hostile(
        "stack_mismatch",
        run([op("stack", [[1.0, 2.0], [1.0]])]),
        422,
        "shape_mismatch",
        "/program/0",
    ),
    Hostile(
        "reshape_mismatch",
        run([op("reshape", ["x"], shape=[2, 2])], X),
        422,
        "shape_mismatch",
        "/program/0",
    ),
    Hostile(
        "reshape_65_dimensions",
        run([op("reshape", ["x"], shape=[1] * 64 + [3])], X),
        422,
        ("shape_mismatch", "bad_attrs"),
        "/program/0",
    ),  # the contract names neither
    Hostile("sum_bad_axis", run([op("sum", ["x"], axis=5)], X), 422, "bad_attrs", "/program/0"),
    Hostile(
        "mean_bad_negative_axis",
        run([op("mean", ["x"], axis=-3)], X),
        422,
        "bad_attrs",
        "/program/0",
    ),
    Hostile(
        "max_duplicate_axis",
        run([op("max", ["a"], axis=[0, 0])], M23),
        422,
        "bad_attrs",
        "/program/0",
    ),
    Hostile(
        "softmax_bad_axis", run([op("softmax", ["x"], axis=1)], X), 422, "bad_attrs", "/program/0"
    ),
    Hostile(
        "einsum_mismatch",
        run([op("einsum", ["a", "b"], subscripts="ij,jk->ik")], M23),
        422,
        "shape_mismatch",
        "/program/0",
    ),
    Hostile(
        "einsum_bad_subscripts",
        run([op("einsum", ["a"], subscripts="ij->ik")], M23),
        422,
        "bad_attrs",
        "/program/0",
    ),
    Hostile(
        "where_mismatch",
        run([op("where", [[True, False], "x", "x"])], X),
        422,
        "shape_mismatch",
        "/program/0",
    ),
    Hostile(
        "getitem_out_of_range",
        run([op("getitem", ["x"], index="7")], X),
        422,
        "index_error",
        "/program/0",
    ),
    Hostile(
        "take_out_of_range", run([op("take", ["x", [0, 9]])], X), 422, "index_error", "/program/0"
    ),
    Hostile(
        "int_to_negative_int_power", run([op("power", [2, -1])]), 422, "dtype_error", "/program/0"
    ),
    Hostile(
        "axis_beyond_c_long",
        run([op("sum", ["x"], axis=10**30)], X),
        422,
        "bad_attrs",
        "/program/0",
    ),
    Hostile(
        "unknown_op_long_name",
        run([op(MARKER + "q" * 100_000, ["x"])], X),
        422,
        "unknown_op",
        "/program/0",
    ),
    Hostile(
        "bad_name_long",
        run([op("exp", ["x"], MARKER + " " + "q" * 100_000)], X),
        422,
        "bad_name",
        "/program/0",
    ),
    Hostile(
        "if_on_a_vector",
        run([{"if": "x", "then": []}], X),
        422,
        ("bad_value", "shape_mismatch"),
        "/program/0",
    ),  # the contract names neither
    # ----- element bombs: refused before allocation -----
    Hostile(
        "bomb_zeros",
        run([op("zeros", [], shape=[MEGA, MEGA])]),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_ones",
        run([op("ones", [], shape=[TERA])]),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_full",
        run([op("full", [], shape=[MEGA, MEGA], fill_value=1.0)]),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_eye", run([op("eye", [], N=MEGA)]), 422, "limit_exceeded", "/program/0", bomb=True
    ),
    Hostile(
        "bomb_reshape",
        run([op("reshape", ["x"], shape=[MEGA, MEGA])], X),
        422,
        ("limit_exceeded", "shape_mismatch"),
        "/program/0",
        bomb=True,
    ),  # either refusal
    Hostile(
        "bomb_broadcast_to",
        run([op("broadcast_to", ["x"], shape=[TERA // 3, 3])], X),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_tile",
        run([op("tile", ["x"], reps=[MEGA, MEGA])], X),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_repeat",
        run([op("repeat", ["x"], repeats=TERA)], X),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_outer",
        run([vector(MEGA, "v"), op("outer", ["v", "v"])]),
        422,
        "limit_exceeded",
        "/program/1",
        bomb=True,
    ),
    Hostile(
        "bomb_einsum",
        run([vector(MEGA, "v"), op("einsum", ["v", "v"], subscripts="i,j->ij")]),
        422,
        "limit_exceeded",
        "/program/1",
        bomb=True,
    ),
    # 10^16 multiply-adds for a scalar: answered (if contracted smartly) or refused in time
    Hostile(
        "bomb_einsum_cpu",
        run([vector(10_000, "v"), op("einsum", ["v", "v", "v", "v"], subscripts="i,j,k,l->")]),
        (200, 422),
        "limit_exceeded",
        "/program/1",
        bomb=True,
    ),
    Hostile(
        "bomb_matmul",
        run(
            [
                vector(MEGA, "v"),
                column(MEGA, "c", "v"),
                row(MEGA, "r", "v"),
                op("matmul", ["c", "r"]),
            ]
        ),
        422,
        "limit_exceeded",
        "/program/3",
        bomb=True,
    ),
    Hostile(
        "bomb_pad",
        run([op("pad", [[[1.0]]], pad_width=MEGA)]),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_arange",
        run([op("arange", [], start=0, stop=TERA)]),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_arange_tiny_step",
        run([op("arange", [], start=0, stop=1, step=1e-12)]),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_linspace",
        run([op("linspace", [], start=0, stop=1, num=TERA)]),
        422,
        "limit_exceeded",
        "/program/0",
        bomb=True,
    ),
    Hostile(
        "bomb_jacobian",
        run(
            [
                vector(100_000, "v"),
                op("cast", ["v"], "w", dtype="float64"),
                {"tape": "t", "watch": ["w"], "body": [op("multiply", ["w", 2.0], "y")]},
                {"jacobian": "t", "target": "y", "sources": "w", "out": "j"},
            ]
        ),
        422,
        "limit_exceeded",
        "/program/3",
        bomb=True,
    ),
    Hostile(
        "bomb_jacobian_zero_fill",
        run(
            [
                vector(100_000, "v"),
                op("cast", ["v"], "w", dtype="float64"),
                {"tape": "t", "body": [op("multiply", ["w", 2.0], "y")]},
                {"jacobian": "t", "target": "y", "sources": "w", "unconnected": "zero", "out": "j"},
            ]
        ),
        422,
        "limit_exceeded",
        "/program/3",
        bomb=True,
    ),
    Hostile(
        "bomb_live_elements",
        run([op("zeros", [], f"z{i}", shape=[16 * MEGA], dtype="bool") for i in range(6)]),
        422,
        "limit_exceeded",
        "/program/4",
        bomb=True,
    ),
    # 10^8 elements (800 MB) from a list index of 2,000 zeros: small enough that NumPy really
    # allocates them when nothing refuses the op first
    Hostile(
        "bomb_getitem_list_index",
        run(
            [op("ones", [], "z", shape=[1, 50_000]), op("getitem", ["z"], index=[0] * 2_000)],
            outputs=["z"],
        ),
        422,
        "bad_attrs",  # the wire takes basic indexing only, as a string
        "/program/1/attrs",
        bomb=True,
    ),
    Hostile(
        "bomb_split_sections",
        run([op("split", ["x"], "p", indices_or_sections=[1] * 2 * MEGA)], X),
        422,
        ("limit_exceeded", "bad_arity"),
        "/program/0",
        bomb=True,
    ),
    # ----- runaway control flow -----
    Hostile(
        "endless_while_own_limit",
        run([{"while": "c", "max_iterations": 5, "body": [op("identity", ["c"], "c")]}], TRUE),
        422,
        "limit_exceeded",
        "/program/0",
    ),
    Hostile(
        "endless_while_service_limit",
        run([{"while": "c", "body": [op("identity", ["c"], "c")]}], TRUE),
        422,
        "limit_exceeded",
        "/program/0",
    ),
    Hostile(
        "for_range_10_to_the_12",
        run([{"for": "i", "range": TERA, "body": []}]),
        422,
        "limit_exceeded",
        "/program/0",
    ),
    Hostile(
        "for_range_beyond_int64",
        run([{"for": "i", "range": [0, 2**63 - 1, 1], "body": []}]),
        422,
        "limit_exceeded",
        "/program/0",
    ),
    Hostile(
        "recursion_through_call",
        run([forwarder("f", "f"), {"call": "f", "args": ["x"], "out": "y"}], X),
        422,
        "limit_exceeded",
        "/program/0/body/0",
    ),
    Hostile(
        "mutual_recursion",
        run(
            [forwarder("f", "g"), forwarder("g", "f"), {"call": "f", "args": ["x"], "out": "y"}], X
        ),
        422,
        "limit_exceeded",
        ("/program/0/body/0", "/program/1/body/0"),
    ),
    Hostile("statement_nesting_100", nested_ifs(100), 422, "limit_exceeded", "/program/0"),
    # 10,000 nested statements are 20,000 levels of JSON: the parser may refuse them (400)
    # before the engine's nesting limit does (422); either is the contract's answer.
    Hostile(
        "statement_nesting_10k", nested_ifs(10_000), (400, 422), ("invalid_json", "limit_exceeded")
    ),
    Hostile("statements_200k", many_statements(200_000), 422, "limit_exceeded"),
    Hostile(
        "outputs_100k",
        run([op("exp", ["x"])], X, outputs=["y"] * 100_000),
        422,
        "limit_exceeded",
        "/outputs",
    ),
    # ----- non-finite results are values, not errors (200) -----
    Hostile(
        "overflow_to_infinity",
        run([op("exp", [1000.0], "y")], outputs=["y"]),
        200,
        outputs={"y": "Infinity"},
    ),
    Hostile(
        "overflow_multiply",
        run([op("multiply", [1e308, 10.0], "y"), op("negative", ["y"], "z")], outputs=["y", "z"]),
        200,
        outputs={"y": "Infinity", "z": "-Infinity"},
    ),
    Hostile(
        "float16_overflow",
        run([op("cast", [70000.0], "y", dtype="float16")], outputs=["y"]),
        200,
        outputs={"y": "Infinity"},
    ),
    Hostile(
        "log_of_zero", run([op("log", [0.0], "y")], outputs=["y"]), 200, outputs={"y": "-Infinity"}
    ),
    Hostile(
        "nan_everywhere",
        run(
            [
                {
                    "tape": "t",
                    "watch": ["x"],
                    "body": [op("log", ["x"], "y"), op("sum", ["y"], "s")],
                },
                grad("t", "s", "x", "g"),
            ],
            {"x": {"data": ["NaN", -1.0, "Infinity"]}},
            outputs=["y", "g"],
        ),
        200,
        outputs={"y": ["NaN", "NaN", "Infinity"], "g": ["NaN", -1.0, 0.0]},
    ),
    Hostile(
        "nan_scalar_literal",
        run([op("add", [{"data": "NaN"}, 1.0], "y")], outputs=["y"]),
        200,
        outputs={"y": "NaN"},
    ),
    Hostile(
        "zero_over_zero",
        run([op("divide", [0.0, 0.0], "y")], outputs=["y"]),
        200,
        outputs={"y": "NaN"},
    ),
    Hostile("int_divide_by_zero", run([op("floor_divide", [1, 0], "y")], outputs=["y"]), 200),
    # ----- /v1/check and /v1/minimize -----
    Hostile("check_not_json", b"{check", 400, "invalid_json", path="/v1/check"),
    Hostile(
        "check_eps_zero", tutorial_check(eps=0), 422, "bad_value", "/check/eps", path="/v1/check"
    ),
    Hostile(
        "check_eps_nan", tutorial_check(eps="NaN"), 422, "bad_value", "/check/eps", path="/v1/check"
    ),
    Hostile(
        "check_unknown_key",
        tutorial_check(epsilon=1e-3),
        422,
        "unknown_key",
        "/check/epsilon",
        path="/v1/check",
    ),
    Hostile(
        "check_bomb",
        run([op("zeros", [], shape=[MEGA, MEGA])]),
        422,
        "limit_exceeded",
        "/program/0",
        path="/v1/check",
        bomb=True,
    ),
    Hostile(
        "check_endless_loop_under_tape",
        run(
            [
                {
                    "tape": "t",
                    "watch": ["x"],
                    "body": [
                        op("greater", ["x", 0.0], "c"),
                        {"while": "c", "body": [op("identity", ["c"], "c")]},
                        op("square", ["x"], "s"),
                    ],
                },
                grad("t", "s"),
            ],
            {"x": 0.5},
        ),
        422,
        "limit_exceeded",
        "/program/0",
        path="/v1/check",
    ),
    Hostile(
        "minimize_steps_10_to_12",
        minimize(steps=TERA),
        422,
        "limit_exceeded",
        "/steps",
        path="/v1/minimize",
    ),
    Hostile(
        "minimize_unknown_optimizer",
        minimize(optimizer={"name": "lbfgs"}),
        422,
        "bad_value",
        "/optimizer/name",
        path="/v1/minimize",
    ),
    Hostile(
        "minimize_learning_rate_nan",
        minimize(optimizer={"learning_rate": "NaN"}),
        422,
        "bad_value",
        "/optimizer/learning_rate",
        path="/v1/minimize",
    ),
    Hostile(
        "minimize_loss_not_scalar",
        minimize(loss="q"),
        422,
        "shape_mismatch",
        "/loss",
        path="/v1/minimize",
    ),
    Hostile(
        "minimize_unknown_variable",
        minimize(variables=["nope"]),
        422,
        "unknown_name",
        "/variables/0",
        path="/v1/minimize",
    ),
    Hostile(
        "minimize_bomb",
        minimize(program=[op("ones", [], shape=[TERA])]),
        422,
        "limit_exceeded",
        "/program/0",
        path="/v1/minimize",
        bomb=True,
    ),
    Hostile(
        "minimize_diverges_to_nan",
        minimize(optimizer={"learning_rate": 1e300}),
        200,
        path="/v1/minimize",
    ),
    # ----- functions served by name -----
    Hostile(
        "fn_unknown",
        **fn("vjp", {"inputs": {"x": [1.0]}}, name="nowhere"),
        status=404,
        code="unknown_function",
    ),
    Hostile(
        "fn_unknown_abstract_eval",
        **fn("abstract_eval", {}, name="nowhere"),
        status=404,
        code="unknown_function",
    ),
    Hostile(
        "fn_get_unknown", b"", 404, "unknown_function", path="/v1/functions/nowhere", method="GET"
    ),
    Hostile(
        "fn_delete_unknown",
        b"",
        404,
        "unknown_function",
        path="/v1/functions/nowhere",
        method="DELETE",
    ),
    Hostile("fn_delete_read_only", b"", 409, "function_read_only", path=MIXED_URL, method="DELETE"),
    Hostile("fn_put_read_only", definition(), 409, "function_read_only", **put("mixed")),
    Hostile(
        "fn_put_broken_program",
        definition(program=[op("nope", ["x"])]),
        422,
        "unknown_op",
        "/program/0/op",
        **put(),
    ),
    Hostile(
        "fn_put_unknown_name_in_program",
        definition(program=[op("add", ["x", "q"])]),
        422,
        "unknown_name",
        "/program/0/args/1",
        **put(),
    ),
    Hostile(
        "fn_put_output_never_bound",
        definition(outputs=["nope"]),
        422,
        "unknown_name",
        "/outputs/0",
        **put(),
    ),
    Hostile("fn_put_not_an_object", b"[1, 2]", 422, "bad_request", "", **put()),
    Hostile("fn_put_not_json", b'{"inputs": ', 400, "invalid_json", **put()),
    Hostile("fn_put_unknown_key", definition(extra=1), 422, "unknown_key", "/extra", **put()),
    Hostile(
        "fn_put_bad_dtype",
        definition(inputs={"x": {"dtype": "complex128", "shape": []}}),
        422,
        "dtype_error",
        "/inputs/x/dtype",
        **put(),
    ),
    Hostile(
        "fn_put_bad_shape",
        definition(inputs={"x": {"dtype": "float64", "shape": [-1]}}),
        422,
        "bad_value",
        "/inputs/x/shape",
        **put(),
    ),
    Hostile(
        "fn_put_huge_declared_shape",
        definition(inputs={"x": {"dtype": "float64", "shape": [TERA, TERA]}}),
        422,
        "limit_exceeded",
        "/inputs/x",
        **put(),
    ),
    Hostile(
        "fn_put_default_of_wrong_shape",
        definition(inputs={"x": {"dtype": "float64", "shape": [2], "default": [1.0]}}),
        422,
        "shape_mismatch",
        "/inputs/x/default",
        **put(),
    ),
    Hostile("fn_put_bad_name", definition(), 422, "bad_name", **put("-bad")),
    Hostile(
        "fn_put_program_nests_too_deep",
        definition(program=[nested_tapes(100)]),
        422,
        "limit_exceeded",
        **put(),
    ),
    Hostile(
        "fn_missing_input",
        **fn("apply", {"inputs": {}}),
        status=422,
        code="missing_input",
        pointer="/inputs/x",
    ),
    Hostile(
        "fn_wrong_dtype_bool",
        **fn("apply", {"inputs": {"x": [True]}}),
        status=422,
        code="dtype_error",
        pointer="/inputs/x",
    ),
    Hostile(
        "fn_float_for_int_input",
        **fn("apply", {"inputs": {"x": [1.0], "n": 1.5}}),
        status=422,
        code="dtype_error",
        pointer="/inputs/n",
    ),
    Hostile(
        "fn_wrong_rank",
        **fn("apply", {"inputs": {"x": [[1.0]]}}),
        status=422,
        code="shape_mismatch",
        pointer="/inputs/x",
    ),
    Hostile(
        "fn_unknown_input",
        **fn("apply", {"inputs": {"x": [1.0], "q": 1}}),
        status=422,
        code="unknown_key",
        pointer="/inputs/q",
    ),
    Hostile(
        "fn_unknown_body_key",
        **fn("vjp", {"inputs": {"x": [1.0]}, "cotangent": {}}),
        status=422,
        code="unknown_key",
        pointer="/cotangent",
    ),
    Hostile(
        "fn_wrt_not_a_list",
        **fn("vjp", {"inputs": {"x": [1.0]}, "wrt": "x"}),
        status=422,
        code="bad_value",
        pointer="/wrt",
    ),
    Hostile(
        "fn_wrt_integer_input",
        **fn("vjp", {"inputs": {"x": [1.0]}, "wrt": ["n"]}),
        status=422,
        code="not_differentiable",
        pointer="/wrt/0",
    ),
    Hostile(
        "fn_wrt_unknown",
        **fn("vjp", {"inputs": {"x": [1.0]}, "wrt": ["x", "q"]}),
        status=422,
        code="unknown_name",
        pointer="/wrt/1",
    ),
    Hostile(
        "fn_cotangent_integer_output",
        **fn("vjp", {"inputs": {"x": [1.0]}, "cotangents": {"k": 1}}),
        status=422,
        code="not_differentiable",
        pointer="/cotangents/k",
    ),
    Hostile(
        "fn_cotangent_wrong_shape",
        **fn("vjp", {"inputs": {"x": [1.0]}, "cotangents": {"y": [1.0, 2.0]}}),
        status=422,
        code="shape_mismatch",
        pointer="/cotangents/y",
    ),
    Hostile(
        "fn_tangent_integer_input",
        **fn("jvp", {"inputs": {"x": [1.0]}, "tangents": {"n": 1}}),
        status=422,
        code="not_differentiable",
        pointer="/tangents/n",
    ),
    Hostile(
        "fn_tangent_wrong_shape",
        **fn("hvp", {"inputs": {"x": [1.0]}, "tangents": {"x": [1.0, 2.0]}}),
        status=422,
        code="shape_mismatch",
        pointer="/tangents/x",
    ),
    Hostile(
        "fn_of_integer_output",
        **fn("jacobian", {"inputs": {"x": [1.0]}, "of": ["k"]}),
        status=422,
        code="not_differentiable",
        pointer="/of/0",
    ),
    Hostile(
        "fn_b64_claims_huge_shape",
        **fn("apply", {"inputs": {"x": {"b64": "", "dtype": "float64", "shape": [TERA]}}}),
        status=422,
        code="bad_tensor",
        pointer="/inputs/x",
    ),
    Hostile(
        "fn_jacobian_too_big",
        **fn("jacobian", {"inputs": {"x": [0.5] * 5000}}),
        status=422,
        code="limit_exceeded",
    ),
    Hostile(
        "fn_abstract_eval_huge_shape",
        **fn("abstract_eval", {"inputs": {"x": {"dtype": "float64", "shape": [TERA]}}}),
        status=422,
        code="limit_exceeded",
        pointer="/inputs/x",
    ),
    Hostile(
        "fn_abstract_eval_wrong_rank",
        **fn("abstract_eval", {"inputs": {"x": {"dtype": "float64", "shape": [2, 2]}}}),
        status=422,
        code="shape_mismatch",
        pointer="/inputs/x",
    ),
    Hostile(
        "fn_abstract_eval_bad_dtype",
        **fn("abstract_eval", {"inputs": {"x": {"dtype": "object", "shape": [2]}}}),
        status=422,
        code="dtype_error",
        pointer="/inputs/x/dtype",
    ),
    Hostile(
        "fn_body_not_an_object", **fn("apply", b'"x"'), status=422, code="bad_request", pointer=""
    ),
    Hostile(
        "fn_run_calls_unknown_function",
        run([{"call": "nowhere", "args": [], "out": "y"}]),
        422,
        "unknown_function",
        "/program/0/call",
    ),
    Hostile(
        "fn_run_call_of_wrong_arity",
        run([{"call": "mixed", "args": [], "out": "y"}]),
        422,
        "bad_arity",
        "/program/0/args",
    ),
    Hostile(
        "fn_run_call_wrong_rank",
        run([{"call": "mixed", "args": [[[1.0]]], "out": ["y", "s", "k"]}]),
        422,
        "shape_mismatch",
        "/program/0/args/0",
    ),
    # ----- auth, methods, paths -----
    Hostile("no_api_key", run([]), 401, "unauthorized", auth=False),
    Hostile(
        "wrong_api_key",
        run([]),
        401,
        "unauthorized",
        auth=False,
        headers={"Authorization": "Bearer " + MARKER},
    ),
    Hostile(
        "basic_auth_instead_of_bearer",
        run([]),
        401,
        "unauthorized",
        auth=False,
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    ),
    Hostile("get_on_run", b"", 405, "method_not_allowed", method="GET"),
    Hostile("unknown_path", run([]), 404, "not_found", path="/v1/nothing"),
    # ----- bodies over the size limit (413) -----
    Hostile("body_100mb_content_length", big_body(HUNDRED_MB), 413, "body_too_large", bomb=True),
    Hostile(
        "body_100mb_chunked", big_body(HUNDRED_MB), 413, "body_too_large", chunked=True, bomb=True
    ),
    # ----- ONNX models put as functions (application/onnx): each refused before it allocates -----
    Hostile("onnx_random_bytes", bytes(range(256)) * 8, 422, "bad_onnx", "", **ONNX_PUT),
    Hostile("onnx_empty", b"", 422, "bad_onnx", "", **ONNX_PUT),
    Hostile("onnx_truncated", lambda: onnx_model()[:60], 422, "bad_onnx", "", **ONNX_PUT),
    Hostile(
        "onnx_external_data",
        lambda: onnx_model(external=True),
        422,
        "onnx_external_data",
        "",
        **ONNX_PUT,
    ),
    Hostile(
        "onnx_unknown_domain",
        lambda: onnx_model(domain="com.example"),
        422,
        "unsupported_onnx_op",
        "",
        **ONNX_PUT,
    ),
    Hostile("onnx_graph_cycle", lambda: onnx_model(cycle=True), 422, "bad_onnx", "", **ONNX_PUT),
    Hostile(
        "onnx_declares_1e9_elements",
        lambda: onnx_model(declared=10**9),
        422,
        "limit_exceeded",
        "",
        **ONNX_PUT,
    ),
]

# ----- the standard protocols over the test functions (tests/functions: mix, ratio, count) -----
ZEROS = [[0.0] * 3, [0.0] * 6]  # mix's UM-Bridge inputs: x (3), w (6)


def um(
    key: str, path: str, body: Body, code: str | None, status: int = 400, **extra: Any
) -> Hostile:
    return Hostile(f"umbridge_{key}", body, status, code, path=path, protocol="umbridge", **extra)


def um_call(**fields: Any) -> dict[str, Any]:
    return {"name": "mix", "input": ZEROS, "config": {}, **fields}


def ts(key: str, endpoint: str, body: Body, code: str | tuple[str, ...] | None, status: int = 422,
       name: str = "mix", **extra: Any) -> Hostile:  # fmt: skip
    path = f"/tesseract/{name}/{endpoint}"
    return Hostile(f"tesseract_{key}", body, status, code, path=path, protocol="tesseract", **extra)


def ts_array(buffer: Any, encoding: str = "json", **extra: Any) -> dict[str, Any]:
    data = {"buffer": buffer, "encoding": encoding}
    return {"object_type": "array", "shape": [3], "dtype": "float64", "data": data, **extra}


TS_INPUTS = {"x": [0.1, 0.2, 0.3], "w": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]}


def oip(key: str, body: Body, status: int = 400, model: str = "mix", **extra: Any) -> Hostile:
    path = f"/v2/models/{model}/infer"
    return Hostile(f"oip_{key}", body, status, path=path, protocol="oip", **extra)


def oip_body(**x: Any) -> dict[str, Any]:
    tensor = {"name": "x", "shape": [3], "datatype": "FP64", "data": [0.1, 0.2, 0.3], **x}
    w = {"name": "w", "shape": [2, 3], "datatype": "FP64", "data": [0.0] * 6}
    return {"inputs": [tensor, w]}


CASES += [
    um("not_json", "/Evaluate", b"{name: mix", "InvalidInput"),
    um("array_body", "/Evaluate", [1, 2], "InvalidInput"),
    um("empty_body", "/Evaluate", b"", "InvalidInput"),
    um("name_not_string", "/Evaluate", {"name": 5, "input": ZEROS}, "InvalidInput"),
    um("unknown_model", "/Evaluate", {"name": "nothing", "input": [[MARKER]]}, "ModelNotFound"),
    # ratio's input varies in size, count has integers: not UM-Bridge models
    um("varying_not_a_model", "/InputSizes", {"name": "ratio"}, "ModelNotFound"),
    um("integer_not_a_model", "/Evaluate", {"name": "count", "input": [[1, 2]]}, "ModelNotFound"),
    um("missing_input", "/Evaluate", {"name": "mix"}, "InvalidInput"),
    um("input_not_list", "/Evaluate", um_call(input={"x": [0.0]}), "InvalidInput"),
    um("input_strings", "/Evaluate", um_call(input=[[MARKER, 0, 0], [0.0] * 6]), "InvalidInput"),
    um("input_nested", "/Evaluate", um_call(input=[[[0.0]] * 3, [0.0] * 6]), "InvalidInput"),
    um("input_bools", "/Evaluate", um_call(input=[[True] * 3, [0.0] * 6]), "InvalidInput"),
    um("too_few_inputs", "/Evaluate", um_call(input=[[0.0] * 3]), "InvalidInput"),
    um("input_too_long", "/Evaluate", um_call(input=[[0.0] * 4, [0.0] * 6]), "InvalidInput"),
    um(
        "input_million_long",
        "/Evaluate",
        um_call(input=[[0.0] * 1_000_000, [0.0] * 6]),
        "InvalidInput",
    ),
    um("config_not_empty", "/Evaluate", um_call(config={"level": 3}), "InvalidInput"),
    um("unknown_key", "/Evaluate", um_call(extra=MARKER), "InvalidInput"),
    um(
        "inwrt_equal_count",
        "/Gradient",
        um_call(outWrt=0, inWrt=2, sens=[1.0, 1.0]),
        "InvalidInput",
    ),
    um(
        "outwrt_negative", "/Gradient", um_call(outWrt=-1, inWrt=0, sens=[1.0, 1.0]), "InvalidInput"
    ),
    um(
        "outwrt_float",
        "/ApplyJacobian",
        um_call(outWrt=0.5, inWrt=0, vec=[1.0] * 3),
        "InvalidInput",
    ),
    um("sens_missing", "/Gradient", um_call(outWrt=0, inWrt=0), "InvalidInput"),
    um(
        "sens_wrong_length",
        "/Gradient",
        um_call(outWrt=1, inWrt=0, sens=[1.0, 1.0]),
        "InvalidInput",
    ),
    um(
        "vec_wrong_length",
        "/ApplyJacobian",
        um_call(outWrt=0, inWrt=1, vec=[1.0] * 3),
        "InvalidInput",
    ),
    um(
        "hessian_vec_sized_like_inwrt1",
        "/ApplyHessian",
        um_call(outWrt=0, inWrt1=0, inWrt2=1, sens=[1.0, 1.0], vec=[1.0] * 3),
        "InvalidInput",
    ),
    um(
        "hessian_inwrt2_out_of_range",
        "/ApplyHessian",
        um_call(outWrt=0, inWrt1=0, inWrt2=7, sens=[1.0, 1.0], vec=[1.0] * 3),
        "InvalidInput",
    ),
    um("no_api_key", "/Info", b"", "Unauthorized", 401, method="GET", auth=False),
    ts("not_json", "apply", b"\x00\x01", "invalid_json"),
    ts("unknown_function", "apply", {"inputs": TS_INPUTS}, "unknown_function", 404, name="nothing"),
    ts(
        "unknown_function_health",
        "health",
        b"",
        "unknown_function",
        404,
        name="nothing",
        method="GET",
    ),
    ts("missing_inputs", "apply", {}, "invalid"),
    ts("unknown_key", "apply", {"inputs": TS_INPUTS, "run": MARKER}, "invalid"),
    ts("binref", "apply", {"inputs": {**TS_INPUTS, "x": ts_array("x.bin:0", "binref")}}, "invalid"),
    ts(
        "compressed",
        "apply",
        {
            "inputs": {
                **TS_INPUTS,
                "x": {
                    **ts_array("AAAA", "base64"),
                    "data": {"buffer": "AAAA", "encoding": "base64", "compression": "lz4"},
                },
            }
        },
        "invalid",
    ),
    ts(
        "base64_short",
        "apply",
        {"inputs": {**TS_INPUTS, "x": ts_array("AAAA", "base64")}},
        "bad_tensor",
    ),
    ts(
        "base64_not_base64",
        "apply",
        {"inputs": {**TS_INPUTS, "x": ts_array(MARKER + "!!", "base64")}},
        "bad_tensor",
    ),
    ts(
        "object_type_not_array",
        "apply",
        {"inputs": {**TS_INPUTS, "x": ts_array([0.0] * 3, object_type="tensor")}},
        "invalid",
    ),
    ts(
        "array_unknown_key",
        "apply",
        {"inputs": {**TS_INPUTS, "x": ts_array([0.0] * 3, strides=[8])}},
        "invalid",
    ),
    ts(
        "complex_dtype",
        "apply",
        {"inputs": {**TS_INPUTS, "x": ts_array([0.0] * 3, dtype="complex128")}},
        "dtype_error",
    ),
    ts("wrong_shape", "apply", {"inputs": {**TS_INPUTS, "x": [0.0] * 4}}, "shape_mismatch"),
    ts("value_a_string", "apply", {"inputs": {**TS_INPUTS, "x": MARKER}}, "invalid"),
    ts(
        "abstract_shape_strings",
        "abstract_eval",
        {"inputs": {"x": {"shape": ["3"], "dtype": "float64"}}},
        "invalid",
    ),
    ts(
        "abstract_unknown_key",
        "abstract_eval",
        {
            "inputs": {
                "x": {"shape": [3], "dtype": "float64"},
                "w": {"shape": [2, 3], "dtype": "float64"},
            },
            "extra": 1,
        },
        "invalid",
    ),
    ts(
        "abstract_tera_elements",
        "abstract_eval",
        {
            "inputs": {
                "v": {"shape": [TERA], "dtype": "float64"},
                "k": {"shape": [], "dtype": "float64"},
            }
        },
        "limit_exceeded",
        name="ratio",
    ),
    ts(
        "jacobian_unknown_output",
        "jacobian",
        {"inputs": TS_INPUTS, "jac_inputs": ["x"], "jac_outputs": ["q"]},
        "unknown_name",
    ),
    ts(
        "jacobian_names_not_list",
        "jacobian",
        {"inputs": TS_INPUTS, "jac_inputs": "x", "jac_outputs": ["y"]},
        "invalid",
    ),
    ts(
        "jvp_tangent_keys",
        "jacobian_vector_product",
        {
            "inputs": TS_INPUTS,
            "jvp_inputs": ["x"],
            "jvp_outputs": ["y"],
            "tangent_vector": {"w": [[0.0] * 3] * 2},
        },
        "invalid",
    ),
    ts(
        "vjp_cotangent_shape",
        "vector_jacobian_product",
        {
            "inputs": TS_INPUTS,
            "vjp_inputs": ["x"],
            "vjp_outputs": ["y"],
            "cotangent_vector": {"y": [1.0, 2.0, 3.0]},
        },
        "shape_mismatch",
    ),
    ts(
        "vjp_integer_input",
        "vector_jacobian_product",
        {
            "inputs": {"n": [1, 2], "x": [0.5, 1.0]},
            "vjp_inputs": ["n"],
            "vjp_outputs": ["y"],
            "cotangent_vector": {"y": [1.0, 1.0]},
        },
        "not_differentiable",
        name="count",
    ),
    ts("no_api_key", "health", b"", "unauthorized", 401, method="GET", auth=False),
    oip("unknown_model", oip_body(), 404, model="nothing"),
    oip("not_json", b"\x00\x01"),
    oip("array_body", [1]),
    oip("inputs_missing", {"id": "a"}),
    oip("inputs_an_object", {"inputs": {"x": [1.0]}}),
    oip("bytes_datatype", oip_body(datatype="BYTES", data=[MARKER])),
    oip("uint8_datatype", oip_body(datatype="UINT8", data=[1, 2, 3])),
    oip("data_strings", oip_body(data=[0.1, MARKER, 0.3])),
    oip("data_shorter_than_shape", oip_body(data=[0.1])),
    oip("shape_wrong", oip_body(shape=[4], data=[0.0] * 4)),
    oip("shape_tera", oip_body(shape=[TERA, TERA], data=[0.0])),
    oip("no_data", {"inputs": [{"name": "x", "shape": [3], "datatype": "FP64"}]}),
    oip("binary_parameters", oip_body(parameters={"binary_data_size": 24})),
    oip("binary_header", oip_body(), headers={"Inference-Header-Content-Length": "120"}),
    oip("input_twice", {"inputs": oip_body()["inputs"] * 2}),
    oip("unknown_output", {**oip_body(), "outputs": [{"name": "q"}]}),
    oip("id_not_string", {**oip_body(), "id": 7}),
    oip("no_api_key", oip_body(), 401, auth=False),
]

BY_ID: dict[str, Hostile] = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "hostile case ids must be unique"
BOMBS: list[Hostile] = [case for case in CASES if case.bomb]
