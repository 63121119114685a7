"""The parser: every error code it raises, with its pointer; the field table and its schemas."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from engine import EngineError, Limits, Tensor, lookup_op
from engine.errors import ProgramError
from engine.program import parse_request, run_program
from engine.program.envelope import CheckRequest, validate
from engine.program.parse import READERS, parse_envelope
from engine.program.schema import example_requests, field_type_schemas, statement_schemas
from engine.program.syntax import (
    BLOCK,
    FIELD_TYPES,
    KINDS,
    CallStmt,
    Const,
    DefStmt,
    ForStmt,
    GradientStmt,
    IfStmt,
    JacobianStmt,
    Name,
    OpStmt,
    StopRecordingStmt,
    TapeStmt,
    WatchStmt,
)

OP = {"op": "add", "args": ["x", 1.0], "out": "y"}


def nested_list(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def refused(request: Any, code: str, pointer: str, limits: Limits | None = None) -> EngineError:
    with pytest.raises(EngineError) as info:
        parse_request(request, limits)
    assert (info.value.code, info.value.pointer) == (code, pointer), str(info.value)
    return info.value


def program(*stmts: Any) -> dict[str, Any]:
    return {"inputs": {"x": 1.0}, "program": list(stmts)}


# ----- what a good request parses to -----
def test_statements_parse_to_typed_nodes_with_pointers() -> None:
    req = parse_request(program(
        OP,
        {"tape": "t", "persistent": True, "watch": "x", "body": [{"watch": ["y"], "on": "t"}]},
        {"gradient": "t", "target": ["y"], "sources": "x", "out": "g"},
        {"batch_jacobian": "t", "target": "y", "sources": ["x"], "out": ["j"]},
        {"for": "i", "range": [0, "n", 2], "body": []},
        {"if": "c", "then": [], "else": [{"stop_recording": None, "body": []}]},
        {"def": "f", "params": ["a"], "body": [{"return": ["a", "a"]}]},
        {"call": "f", "args": [2], "out": ["p", "q"]},
    ))  # fmt: skip
    op, tape, grad, jac, loop, cond, fn, call = req.program
    assert isinstance(op, OpStmt) and op.op is lookup_op("add") and op.pointer == "/program/0"
    assert op.args[0] == Name("x", "/program/0/args/0") and op.out == ("y",)
    assert isinstance(op.args[1], Const) and op.args[1].value == 1.0
    assert isinstance(op.args[1].tensor, Tensor)
    assert isinstance(tape, TapeStmt) and tape.persistent and tape.watch_accessed_variables
    assert tape.watch == (Name("x", "/program/1/watch"),)
    assert isinstance(tape.body[0], WatchStmt) and tape.body[0].pointer == "/program/1/body/0"
    assert tape.body[0].on == "t"
    assert isinstance(grad, GradientStmt) and grad.unconnected == "none"
    assert grad.output_gradients is None and grad.targets == (Name("y", "/program/2/target/0"),)
    assert isinstance(jac, JacobianStmt) and jac.batch and jac.out == ("j",)
    assert isinstance(loop, ForStmt) and (loop.start, loop.step) == (0, 2)
    assert loop.stop == Name("n", "/program/4/range/1")
    assert isinstance(cond, IfStmt) and isinstance(cond.orelse[0], StopRecordingStmt)
    assert isinstance(fn, DefStmt) and req.functions == {"f": fn} and fn.params == ("a",)
    assert isinstance(call, CallStmt) and call.out == ("p", "q")
    assert isinstance(call.args[0], Const) and call.args[0].value == 2
    assert req.statements == 11 and req.outputs is None and req.encoding == "json"


def test_bare_number_literals_stay_python_scalars() -> None:
    req = parse_request({"program": [
        {"op": "stack", "args": [2.0, True, 3, [1.0], {"data": 1.0}], "out": "y"},
    ]})  # fmt: skip
    (stmt,) = req.program
    assert isinstance(stmt, OpStmt)
    values = [a.value for a in stmt.args if isinstance(a, Const)]
    assert [type(v) for v in values[:3]] == [float, bool, int]
    assert all(isinstance(v, Tensor) for v in values[3:])


def test_aliases_and_attrs_resolve_at_parse_time() -> None:
    req = parse_request({"program": [
        {"op": "reduce_sum", "args": [[1.0, 2.0]], "attrs": {"axis": [0], "keepdims": True},
         "out": "s"},
    ]})  # fmt: skip
    (stmt,) = req.program
    assert isinstance(stmt, OpStmt) and stmt.op.name == "sum"
    assert stmt.attrs == {"axis": (0,), "keepdims": True}


def test_request_level_fields() -> None:
    req = parse_request(
        {
            "inputs": {"w": {"data": [1.0], "variable": True}},
            "program": [],
            "outputs": ["w"],
            "options": {"encoding": "base64"},
        }
    )
    assert req.inputs["w"].variable and req.inputs["w"].pointer == "/inputs/w"
    assert req.outputs == ("w",) and req.encoding == "base64"
    check = validate(CheckRequest, {"program": [], "check": {}})  # a check request's envelope
    assert parse_envelope(check).program == ()


def test_functions_may_be_called_before_their_definition() -> None:
    req = parse_request({"program": [
        {"call": "f", "args": [], "out": "y"},
        {"def": "f", "params": [], "body": [{"call": "g", "args": []}]},
        {"def": "g", "params": [], "body": []},
    ]})  # fmt: skip
    assert set(req.functions) == {"f", "g"}


# ----- every error code, with its pointer -----
def test_bad_request() -> None:
    refused([1, 2], "bad_request", "")


@pytest.mark.parametrize(
    ("request_", "pointer"),
    [
        ({"program": [], "programme": []}, "/programme"),
        ({"program": [], "options": {"encodin": "json"}}, "/options/encodin"),
        (program({**OP, "bogus": 1}), "/program/0/bogus"),
        (program({"tape": "t", "body": [{**OP, "outs": "z"}]}), "/program/0/body/0/outs"),
        (
            program({"op": "add", "args": [{"data": 1, "dtpye": "int64"}, 1], "out": "y"}),
            "/program/0/args/0/dtpye",
        ),
        ({"inputs": {"x": {"data": 1.0, "trainable": True}}, "program": []}, "/inputs/x/trainable"),
        ({"program": [], "a/b~": 1}, "/a~1b~0"),
        (
            program(
                {"gradient": "t", "target": "x", "sources": "x", "out": "g", "output_gradient": "x"}
            ),
            "/program/0/output_gradient",
        ),
        (
            program(
                {
                    "jacobian": "t",
                    "target": "x",
                    "sources": "x",
                    "out": "g",
                    "output_gradients": "x",
                }
            ),
            "/program/0/output_gradients",
        ),
    ],
)
def test_unknown_key(request_: Any, pointer: str) -> None:
    refused(request_, "unknown_key", pointer)


@pytest.mark.parametrize(
    ("request_", "pointer"),
    [
        ({"inputs": {}}, "/program"),
        (program({"op": "add", "args": ["x", "x"]}), "/program/0/out"),
        (program({"tape": "t", "watch": ["x"]}), "/program/0/body"),
        (program({"gradient": "t", "sources": "x", "out": "g"}), "/program/0/target"),
        (program({"for": "i", "body": []}), "/program/0/range"),
        (program({"if": "x", "else": []}), "/program/0/then"),
        (program({"def": "f", "params": []}), "/program/0/body"),
        (
            program({"op": "add", "args": [{"dtype": "float32"}, 1], "out": "y"}),
            "/program/0/args/0/data",
        ),
        ({"inputs": {"x": {"b64": "", "dtype": "float32"}}, "program": []}, "/inputs/x/shape"),
    ],
)
def test_missing_key(request_: Any, pointer: str) -> None:
    refused(request_, "missing_key", pointer)


@pytest.mark.parametrize(
    ("request_", "pointer"),
    [
        ({"program": {}}, "/program"),
        ({"program": [], "inputs": [1.0]}, "/inputs"),
        ({"program": [], "outputs": "y"}, "/outputs"),
        ({"program": [], "outputs": [1]}, "/outputs/0"),
        ({"program": [], "options": []}, "/options"),
        ({"program": [], "options": {"encoding": "hex"}}, "/options/encoding"),
        ({"program": [], "inputs": {"x": {"data": 1.0, "variable": 1}}}, "/inputs/x/variable"),
        (program({"op": "add", "args": "x", "out": "y"}), "/program/0/args"),
        (program({"op": 3, "args": [], "out": "y"}), "/program/0/op"),
        (program({"op": "add", "args": ["x", "x"], "out": 3}), "/program/0/out"),
        (program({"op": "add", "args": ["x", "x"], "out": ["y", None]}), "/program/0/out/1"),
        (program({"tape": "t", "body": {}}), "/program/0/body"),
        (program({"tape": "t", "persistent": "yes", "body": []}), "/program/0/persistent"),
        (program({"while": "x", "body": [], "max_iterations": -1}), "/program/0/max_iterations"),
        (program({"while": "x", "body": [], "max_iterations": 2.5}), "/program/0/max_iterations"),
        (program({"for": "i", "range": [1], "body": []}), "/program/0/range"),
        (program({"for": "i", "range": [0, 4, 0], "body": []}), "/program/0/range/2"),
        (program({"for": "i", "range": 2.5, "body": []}), "/program/0/range"),
        (program({"for": "i", "range": [0, True], "body": []}), "/program/0/range/1"),
        (
            program(
                {"gradient": "t", "target": "x", "sources": "x", "out": "g", "unconnected": "zeros"}
            ),
            "/program/0/unconnected",
        ),
        (program({"stop_recording": 1, "body": []}), "/program/0/stop_recording"),
        (program({"watch": {"x": 1}}), "/program/0/watch"),
    ],
)
def test_bad_value(request_: Any, pointer: str) -> None:
    refused(request_, "bad_value", pointer)


@pytest.mark.parametrize(
    ("request_", "pointer"),
    [
        (program(1), "/program/0"),
        (program(OP, ["op"]), "/program/1"),
        (program({"args": ["x"], "out": "y"}), "/program/0"),
        (program({}), "/program/0"),
        (
            program({"tape": "t", "body": [{"def": "f", "params": [], "body": []}]}),
            "/program/0/body/0",
        ),
        (
            program({"def": "f", "params": [], "body": [{"def": "g", "params": [], "body": []}]}),
            "/program/0/body/0",
        ),
    ],
)
def test_bad_statement(request_: Any, pointer: str) -> None:
    refused(request_, "bad_statement", pointer)


def test_kind_is_the_first_reserved_key_present() -> None:
    # `watch` is a kind and a field of `tape`: with both keys, tape (earlier) wins.
    req = parse_request(program({"watch": ["x"], "tape": "t", "body": []}))
    assert isinstance(req.program[0], TapeStmt)
    # `op` before `call`: `call` is then an unknown key of an op statement.
    refused(
        program({"call": "f", "op": "add", "args": [], "out": "y"}),
        "unknown_key",
        "/program/0/call",
    )


@pytest.mark.parametrize(
    ("request_", "pointer"),
    [
        ({"program": [], "inputs": {"a-b": 1.0}}, "/inputs/a-b"),
        ({"program": [], "inputs": {"1x": 1.0}}, "/inputs/1x"),
        ({"program": [], "outputs": ["y", "bad name"]}, "/outputs/1"),
        (program({"op": "add", "args": ["x", "x"], "out": "y.z"}), "/program/0/out"),
        (program({"op": "add", "args": ["x", "x y"], "out": "y"}), "/program/0/args/1"),
        (program({"tape": "", "body": []}), "/program/0/tape"),
        (program({"for": "i", "range": [0, "n-1"], "body": []}), "/program/0/range/1"),
        (program({"def": "f", "params": ["a", "a"], "body": []}), "/program/0/params/1"),
        (
            program({"def": "f", "params": [], "body": []}, {"def": "f", "params": [], "body": []}),
            "/program/1/def",
        ),
        (program({"op": "add", "args": ["x", "x"], "out": "y\n"}), "/program/0/out"),
    ],
)
def test_bad_name(request_: Any, pointer: str) -> None:
    refused(request_, "bad_name", pointer)


def test_unknown_op() -> None:
    err = refused(
        program(OP, {"tape": "t", "body": [{"op": "EXP", "args": [], "out": "y"}]}),
        "unknown_op",
        "/program/1/body/0/op",
    )
    assert "did you mean 'exp'" in str(err)
    stmt = {"op": "SECRET" + "q" * 100_000, "args": [], "out": "y"}
    err = refused(program(stmt), "unknown_op", "/program/0/op")
    assert "SECRET" not in str(err)


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("tahn", "did you mean 'tanh' or 'tan'?"),  # a swap is one edit: every near name, ranked
        ("sqaure", "did you mean 'square'?"),
        ("reduce_smu", "did you mean 'reduce_sum', "),  # the nearest first, then the others
        ("xyzzy", None),  # nothing near: no guess that would run the wrong function
    ],
)
def test_unknown_op_suggests_every_near_name(typed: str, suggested: str | None) -> None:
    err = refused(program({"op": typed, "args": [1.0], "out": "y"}), "unknown_op", "/program/0/op")
    if suggested is None:
        assert "did you mean" not in str(err)
    else:
        assert suggested in str(err)


def test_bad_names_are_not_echoed() -> None:
    stmt = {"op": "exp", "args": ["x"], "out": "SECRET y"}
    err = refused(program(stmt), "bad_name", "/program/0/out")
    assert "SECRET" not in str(err)


@pytest.mark.parametrize(
    ("stmt", "pointer"),
    [
        ({"op": "sum", "args": ["x"], "attrs": {"axes": 0}, "out": "y"}, "/program/0/attrs"),
        ({"op": "sum", "args": ["x"], "attrs": {"axis": "0"}, "out": "y"}, "/program/0/attrs"),
        ({"op": "sum", "args": ["x"], "attrs": {"keepdims": 1}, "out": "y"}, "/program/0/attrs"),
        ({"op": "sum", "args": ["x"], "attrs": [0], "out": "y"}, "/program/0/attrs"),
        ({"op": "reshape", "args": ["x"], "out": "y"}, "/program/0/attrs"),
        ({"op": "add", "args": ["x", "x"], "attrs": {"axis": 0}, "out": "y"}, "/program/0/attrs"),
        (
            {"op": "pad", "args": ["x"], "attrs": {"pad_width": nested_list(5000)}, "out": "y"},
            "/program/0/attrs",
        ),
    ],
)
def test_bad_attrs(stmt: dict[str, Any], pointer: str) -> None:
    refused(program(stmt), "bad_attrs", pointer)


@pytest.mark.parametrize(
    ("stmt", "pointer"),
    [
        ({"op": "add", "args": ["x"], "out": "y"}, "/program/0/args"),
        ({"op": "exp", "args": ["x", "x"], "out": "y"}, "/program/0/args"),
        ({"op": "exp", "args": ["x"], "out": ["y", "z"]}, "/program/0/out"),
        ({"gradient": "t", "target": "x", "sources": ["x", "x"], "out": "g"}, "/program/0/out"),
        (
            {
                "gradient": "t",
                "target": ["x", "x"],
                "sources": "x",
                "output_gradients": "x",
                "out": "g",
            },
            "/program/0/output_gradients",
        ),
        ({"jacobian": "t", "target": ["x", "x"], "sources": "x", "out": "g"}, "/program/0/target"),
        ({"batch_jacobian": "t", "target": "x", "sources": "x", "out": []}, "/program/0/out"),
    ],
)
def test_bad_arity(stmt: dict[str, Any], pointer: str) -> None:
    refused(program(stmt), "bad_arity", pointer)


def test_bad_arity_of_a_call() -> None:
    refused(
        program(
            {"def": "f", "params": ["a"], "body": []},
            {"tape": "t", "body": [{"call": "f", "args": ["x", 1.0]}]},
        ),
        "bad_arity",
        "/program/1/body/0/args",
    )


@pytest.mark.parametrize(
    ("arg", "pointer"),
    [
        ([[1.0], [2.0, 3.0]], "/program/0/args/1"),
        ([1.0, "two"], "/program/0/args/1"),
        (2**64, "/program/0/args/1"),
        ({"data": [1, 2], "shape": [3]}, "/program/0/args/1/data"),
        ({"b64": "AA=", "dtype": "bool", "shape": [1]}, "/program/0/args/1/b64"),
        (None, "/program/0/args/1"),
    ],
)
def test_bad_tensor_literal(arg: Any, pointer: str) -> None:
    refused(program({"op": "add", "args": ["x", arg], "out": "y"}), "bad_tensor", pointer)


def test_bad_tensor_input() -> None:
    refused({"program": [], "inputs": {"x": [[1], [2, 3]]}}, "bad_tensor", "/inputs/x")


def test_dtype_error() -> None:
    refused(
        program({"op": "add", "args": ["x", {"data": 1, "dtype": "uint8"}], "out": "y"}),
        "dtype_error",
        "/program/0/args/1/dtype",
    )


def test_unknown_function() -> None:
    refused(
        program({"def": "f", "params": [], "body": [{"call": "g", "args": []}]}),
        "unknown_function",
        "/program/0/body/0/call",
    )


@pytest.mark.parametrize(
    ("request_", "pointer"),
    [
        (program({"return": "x"}), "/program/0"),
        (
            program({"tape": "t", "body": [{"if": "x", "then": [{"return": []}]}]}),
            "/program/0/body/0/then/0",
        ),
    ],
)
def test_bad_return(request_: Any, pointer: str) -> None:
    refused(request_, "bad_return", pointer)


def test_return_anywhere_inside_a_function_is_fine() -> None:
    parse_request(program({"def": "f", "params": [], "body": [
        {"tape": "t", "body": [{"if": "x", "then": [{"return": []}]}]},
    ]}))  # fmt: skip


def nested(depth: int) -> list[Any]:
    """`depth` statements, each in the `then` block of the previous one."""
    top: list[Any] = []
    block = top
    for _ in range(depth):
        inner: list[Any] = []
        block.append({"if": "x", "then": inner})
        block = inner
    return top


def test_nesting_limit_is_checked_at_parse_time() -> None:
    parse_request({"program": nested(64)})
    err = refused({"program": nested(65)}, "limit_exceeded", "/program/0" + "/then/0" * 64)
    assert "64" in str(err)


def test_ten_thousand_deep_nesting_is_refused_without_recursion() -> None:
    refused({"program": nested(10_000)}, "limit_exceeded", "/program/0" + "/then/0" * 64)
    refused(
        {"program": nested(10_000)},
        "limit_exceeded",
        "/program/0" + "/then/0" * 9,
        Limits(max_nesting_depth=9),
    )


def test_nesting_past_the_recursion_limit_parses_when_allowed() -> None:
    req = parse_request({"program": nested(3000)}, Limits(max_nesting_depth=3000))
    assert req.statements == 3000


def test_statement_and_output_limits() -> None:
    refused({"program": [OP] * 11}, "limit_exceeded", "/program/10", Limits(max_statements=10))
    refused(
        {"program": [], "outputs": ["a", "b", "c"]},
        "limit_exceeded",
        "/outputs",
        Limits(max_outputs=2),
    )


# ----- one definition of the language: table, readers, schemas -----
def test_kind_precedence_is_the_api_order() -> None:
    assert list(KINDS) == [
        "op", "tape", "watch", "gradient", "jacobian", "batch_jacobian", "for", "if", "while",
        "def", "call", "return", "stop_recording", "forward", "jvp",
    ]  # fmt: skip
    for name, kind in KINDS.items():
        assert kind.fields[0].name == name and kind.fields[0].required


def test_every_field_type_has_a_reader_and_a_schema() -> None:
    used = {f.type for kind in KINDS.values() for f in kind.fields}
    assert used <= set(FIELD_TYPES)
    assert set(READERS) | {BLOCK} == set(FIELD_TYPES)
    assert set(field_type_schemas()) == set(FIELD_TYPES)


def validator() -> jsonschema.protocols.Validator:
    defs = statement_schemas("#/$defs/")
    root = {"$defs": defs, "type": "array", "items": {"$ref": "#/$defs/Statement"}}
    cls = jsonschema.validators.validator_for(root)
    return cls(root)  # type: ignore[no-any-return]


def test_statement_schemas_cover_every_kind() -> None:
    schemas = statement_schemas()
    assert {"Statement", "Tensor", "TensorData", "Input"} <= set(schemas)
    assert len(schemas["Statement"]["oneOf"]) == len(KINDS)
    for name, schema in schemas.items():
        if name.endswith("Statement") and name != "Statement":
            assert schema["additionalProperties"] is False
            assert schema["required"][0] in KINDS


def test_the_examples_validate_against_the_schemas() -> None:
    check = validator()
    for request in example_requests().values():
        check.validate(request["program"])


@pytest.mark.parametrize(
    "stmt",
    [
        {**OP, "bogus": 1},
        {"op": "add", "args": ["x"]},
        {"tape": "t", "body": [], "watch": [1]},
        {"for": "i", "range": [1, 2, 3, 4], "body": []},
        {"gradient": "t", "target": "x", "sources": "x", "out": "g", "unconnected": "zeros"},
        {"op": "add", "args": ["x", {"data": 1, "shape": [1], "bogus": 1}], "out": "y"},
        {"op": "add", "args": ["x", {"b64": "AA==", "dtype": "bool"}], "out": "y"},
    ],
)
def test_schema_refuses_what_the_parser_refuses(stmt: dict[str, Any]) -> None:
    assert not validator().is_valid([stmt])
    with pytest.raises(EngineError):
        parse_request(program(stmt))


def test_forward_needs_one_tangent_per_primal() -> None:
    request = {
        "inputs": {"x": 1.0},
        "program": [{"forward": "acc", "primals": ["x"], "tangents": [], "body": []}],
    }
    with pytest.raises(ProgramError) as e:
        run_program(request)
    assert (e.value.code, e.value.pointer) == ("bad_arity", "/program/0/tangents")


def test_jvp_of_an_unknown_accumulator() -> None:
    request = {"inputs": {"x": 1.0}, "program": [{"jvp": "nope", "target": "x", "out": "d"}]}
    with pytest.raises(ProgramError) as e:
        run_program(request)
    assert (e.value.code, e.value.pointer) == ("unknown_accumulator", "/program/0/jvp")


def test_tangent_of_the_wrong_shape() -> None:
    request = {
        "inputs": {"x": [1.0, 2.0]},
        "program": [{"forward": "acc", "primals": ["x"], "tangents": [1.0], "body": []}],
    }
    with pytest.raises(EngineError) as e:
        run_program(request)
    assert (e.value.code, e.value.pointer) == ("shape_mismatch", "/program/0/tangents")


# ----- the cache of parsed programs -----
def test_a_keyed_program_is_parsed_once_per_key_and_limits() -> None:
    from engine.program.parse import PROGRAMS

    key = ("test-key", 1)
    request = {"inputs": {"x": 2.0}, "program": [{"op": "square", "args": ["x"], "out": "y"}]}
    first = parse_request(request, Limits(), program_key=key)
    again = parse_request({**request, "inputs": {"x": 5.0}}, Limits(), program_key=key)
    assert again.program is first.program  # shared, not parsed again
    assert float(again.inputs["x"].value) == 5.0  # inputs are never cached
    tighter = parse_request(request, Limits(max_ops=7), program_key=key)
    assert tighter.program is not first.program  # limits are part of the key
    assert parse_request(request, Limits()).program is not first.program  # no key: no cache
    assert (key, Limits()) in PROGRAMS.entries


def test_a_cached_program_runs_with_each_requests_inputs() -> None:
    program = [
        {"tape": "t", "watch": ["x"], "body": [{"op": "multiply", "args": ["x", "x"], "out": "y"}]},
        {"gradient": "t", "target": "y", "sources": "x", "out": "g"},
    ]
    for x in (1.0, 3.0, -2.5):
        result = run_program({"inputs": {"x": x}, "program": program}, program_key="square-grad")
        assert float(result.outputs["g"].numpy()) == 2 * x


def test_the_cache_drops_the_least_recently_used() -> None:
    from engine.program.parse import ProgramCache

    cache = ProgramCache(size=2)
    empty: Any = ((), {}, 0)
    cache.put("a", empty)
    cache.put("b", empty)
    assert cache.get("a") is empty  # "a" is now the most recent
    cache.put("c", empty)
    assert cache.get("b") is None and cache.get("a") is empty and cache.get("c") is empty


def test_a_program_that_fails_to_parse_is_not_cached() -> None:
    from engine.program.parse import PROGRAMS

    bad = {"program": [{"op": "no_such_op", "args": [], "out": "y"}]}
    with pytest.raises(EngineError):
        parse_request(bad, Limits(), program_key="bad-program")
    assert ("bad-program", Limits()) not in PROGRAMS.entries
