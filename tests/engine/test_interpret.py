"""The interpreter: limits, rebinding, scopes, runtime errors and their pointers, stats."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from engine import EngineError, Limits, Tape, Tensor, Variable
from engine.limits import BUDGET, Budget
from engine.program import RunResult, run_program


def run(
    program: list[Any],
    inputs: dict[str, Any] | None = None,
    outputs: list[str] | None = None,
    limits: Limits | None = None,
) -> RunResult:
    request: dict[str, Any] = {"inputs": inputs or {}, "program": program}
    if outputs is not None:
        request["outputs"] = outputs
    return run_program(request, limits)


def refused(
    program: list[Any],
    code: str,
    pointer: str,
    inputs: dict[str, Any] | None = None,
    limits: Limits | None = None,
    outputs: list[str] | None = None,
) -> EngineError:
    with pytest.raises(EngineError) as info:
        run(program, inputs, outputs, limits)
    assert (info.value.code, info.value.pointer) == (code, pointer), str(info.value)
    return info.value


def value(result: RunResult, name: str) -> Any:
    t = result.outputs[name]
    assert t is not None
    return np.asarray(t.value).tolist()


FOREVER = [
    {"op": "identity", "args": [True], "out": "go"},
    {"while": "go", "body": [{"op": "identity", "args": [True], "out": "go"}]},
]


# ----- limits -----
def test_endless_while_hits_the_iteration_limit() -> None:
    err = refused(FOREVER, "limit_exceeded", "/program/1", limits=Limits(max_iterations=500))
    assert "500" in str(err)


def test_iterations_are_counted_over_the_whole_request() -> None:
    loop = {"for": "i", "range": 300, "body": []}
    run([loop, loop], limits=Limits(max_iterations=600))
    refused([loop, loop, loop], "limit_exceeded", "/program/2", limits=Limits(max_iterations=600))


def test_a_for_loop_past_the_limit_is_refused_before_its_first_iteration() -> None:
    body = [{"op": "add", "args": ["x", 1.0], "out": "x"}]
    err = refused(
        [{"for": "i", "range": 700, "body": body}],
        "limit_exceeded",
        "/program/0",
        inputs={"x": 0.0},
        limits=Limits(max_iterations=600, max_ops=650),  # the ops limit would stop it later
    )
    assert "700 iterations" in str(err)


def test_a_loop_that_a_return_may_end_starts_anyway() -> None:
    body = [{"op": "add", "args": ["x", 1.0], "out": "x"}, {"return": ["x"]}]
    program = [
        {"def": "first", "params": ["x"], "body": [{"for": "i", "range": 10**6, "body": body}]},
        {"call": "first", "args": ["x"], "out": ["y"]},
    ]
    result = run(program, inputs={"x": 1.0}, outputs=["y"], limits=Limits(max_iterations=600))
    assert value(result, "y") == 2.0


def test_while_max_iterations_is_never_a_silent_stop() -> None:
    count = [
        {"op": "identity", "args": [0], "out": "n"},
        {"op": "less", "args": ["n", 3], "out": "go"},
        {"while": "go", "max_iterations": 3, "body": [
            {"op": "add", "args": ["n", 1], "out": "n"},
            {"op": "less", "args": ["n", 3], "out": "go"},
        ]},
    ]  # fmt: skip
    assert value(run(count, outputs=["n"]), "n") == 3  # exactly max_iterations: fine
    count[2]["max_iterations"] = 2
    refused(count, "limit_exceeded", "/program/2")


RECURSE = [
    {"def": "f", "params": ["x"], "body": [{"call": "f", "args": ["x"], "out": "y"}]},
    {"call": "f", "args": [1.0], "out": "y"},
]


def test_endless_recursion_hits_the_call_depth_limit() -> None:
    err = refused(RECURSE, "limit_exceeded", "/program/0/body/0")
    assert err.call_stack == ["/program/1"] + ["/program/0/body/0"] * 63
    err = refused(RECURSE, "limit_exceeded", "/program/0/body/0", limits=Limits(max_call_depth=5))
    assert err.call_stack is not None and len(err.call_stack) == 5


def test_deep_recursion_within_a_raised_limit_never_hits_python_recursion() -> None:
    down = [
        {"def": "down", "params": ["n"], "body": [
            {"op": "greater", "args": ["n", 0], "out": "more"},
            {"if": "more", "then": [
                {"op": "subtract", "args": ["n", 1], "out": "m"},
                {"call": "down", "args": ["m"], "out": "n"},
            ]},
            {"return": "n"},
        ]},
        {"call": "down", "args": ["n"], "out": "r"},
    ]  # fmt: skip
    result = run(down, {"n": 3000}, ["r"], Limits(max_call_depth=3001))
    assert value(result, "r") == 0


def test_deep_nesting_within_a_raised_limit_runs() -> None:
    top: list[Any] = []
    block = top
    for _ in range(3000):
        inner: list[Any] = []
        block.append({"if": "c", "then": inner})
        block = inner
    block.append({"op": "identity", "args": [1.0], "out": "y"})
    result = run(top, {"c": True}, ["y"], Limits(max_nesting_depth=3001))
    assert value(result, "y") == 1.0


def test_ten_thousand_deep_nesting_is_refused() -> None:
    top: list[Any] = []
    block = top
    for _ in range(10_000):
        inner: list[Any] = []
        block.append({"tape": "t", "body": inner})
        block = inner
    with pytest.raises(EngineError) as info:
        run(top)
    assert info.value.code == "limit_exceeded"


def test_huge_allocations_are_refused_before_they_happen() -> None:
    refused(
        [{"op": "zeros", "attrs": {"shape": [1_000_000, 1_000_000]}, "out": "z"}],
        "limit_exceeded",
        "/program/0",
    )
    refused(
        [{"op": "broadcast_to", "args": [1.0], "attrs": {"shape": [10**6, 10**6]}, "out": "z"}],
        "limit_exceeded",
        "/program/0",
    )


def test_live_elements_count_every_binding() -> None:
    limits = Limits(max_live_elements=1000)
    make = [{"op": "zeros", "attrs": {"shape": [400]}, "out": name} for name in "abc"]
    run(make[:2], limits=limits)
    refused(make, "limit_exceeded", "/program/2", limits=limits)


def test_a_finished_call_releases_its_bindings() -> None:
    limits = Limits(max_live_elements=1000)
    program = [
        {"def": "f", "params": [], "body": [
            {"op": "zeros", "attrs": {"shape": [400]}, "out": "a"},
            {"op": "sum", "args": ["a"], "out": "s"},
            {"return": "s"},
        ]},
        {"call": "f", "args": [], "out": "x"},
        {"call": "f", "args": [], "out": "y"},
        {"call": "f", "args": [], "out": "z"},
    ]  # fmt: skip
    run(program, limits=limits)


def test_oversized_jacobians_are_refused_before_computing() -> None:
    program = [
        {"tape": "t", "watch": ["x"], "body": [{"op": "exp", "args": ["x"], "out": "y"}]},
        {"jacobian": "t", "target": "y", "sources": "x", "out": "j"},
    ]
    x = [0.0] * 20
    assert value(run(program, {"x": x}, ["j"], Limits(max_elements_per_tensor=400)), "j")
    refused(program, "limit_exceeded", "/program/1", {"x": x}, Limits(max_elements_per_tensor=399))
    program[1] = {"batch_jacobian": "t", "target": "y", "sources": "x", "out": "j"}
    x2 = [[0.0] * 10] * 4
    run(program, {"x": x2}, ["j"], Limits(max_elements_per_tensor=400))
    refused(program, "limit_exceeded", "/program/1", {"x": x2}, Limits(max_elements_per_tensor=399))


def test_ops_limit() -> None:
    loop = [{"for": "i", "range": 100, "body": [{"op": "add", "args": [1.0, "i"], "out": "y"}]}]
    refused(loop, "limit_exceeded", "/program/0/body/0", limits=Limits(max_ops=50))


@pytest.mark.parametrize("max_ops", [1, 255, 256, 257, 300, 513])
def test_ops_are_counted_and_refused_exactly_at_the_limit(max_ops: int) -> None:
    """Ops counted inline (Op.__call__) or by Budget.before_op, the op past max_ops is the one
    refused, across the 256-op boundaries where the clock is read."""
    x = Tensor(np.float64(1.0))
    budget = Budget(Limits(max_ops=max_ops))
    token = BUDGET.set(budget)
    try:
        for _ in range(max_ops):
            x = x + 1.0
        assert budget.ops == max_ops
        with pytest.raises(EngineError, match=f"more than {max_ops} ops"):
            x + 1.0
    finally:
        BUDGET.reset(token)


def test_element_limits_hold_for_ops_counted_inline() -> None:
    budget = Budget(Limits(max_elements_per_tensor=100, max_live_elements=150))
    token = BUDGET.set(budget)
    try:
        a = Tensor(np.ones(100))
        a + a  # 100 elements, 0 live: within both
        with pytest.raises(EngineError, match="limit per tensor is 100"):
            Tensor(np.ones(101)) * 2.0
        budget.live = 50
        a + a  # 50 live + 100 new = 150: at the limit, allowed
        budget.live = 51
        with pytest.raises(EngineError, match="live elements to 151"):
            a + a
    finally:
        BUDGET.reset(token)


def test_an_expired_deadline_stops_ops_within_256() -> None:
    budget = Budget(Limits())
    token = BUDGET.set(budget)
    x = Tensor(np.float64(1.0))
    try:
        budget.deadline = 0.0  # long past
        with pytest.raises(EngineError, match="wall-time"):
            for _ in range(256):
                x = x + 1.0
        assert budget.ops == 256
    finally:
        BUDGET.reset(token)


def test_the_deadline_is_checked_between_statements() -> None:
    limits = Limits(timeout_s=0.05, max_iterations=10**9)
    with pytest.raises(EngineError) as info:
        run(FOREVER, limits=limits)
    assert info.value.code == "limit_exceeded" and "wall-time" in str(info.value)
    assert (info.value.pointer or "").startswith("/program/1")  # the loop or its body


def test_the_budget_is_scoped_to_the_run() -> None:
    run(FOREVER[:1])
    assert BUDGET.get() is None


# ----- bindings and scopes -----
def test_rebinding_last_binding_wins() -> None:
    program = [
        {"op": "identity", "args": [1.0], "out": "y"},
        {"for": "i", "range": 3, "body": [{"op": "multiply", "args": ["y", 2.0], "out": "y"}]},
        {"op": "cast", "args": ["y"], "attrs": {"dtype": "int32"}, "out": "y"},
    ]
    result = run(program, outputs=["y", "i"])
    assert value(result, "y") == 8 and result.outputs["y"].dtype == np.int32  # type: ignore[union-attr]
    assert value(result, "i") == 2


def test_a_tape_name_can_be_reused_once_it_stopped() -> None:
    tape = {"tape": "t", "watch": ["x"], "body": [{"op": "square", "args": ["x"], "out": "y"}]}
    grad = {"gradient": "t", "target": "y", "sources": "x", "out": "g"}
    result = run([tape, grad, tape, grad], {"x": 3.0}, ["g"])
    assert value(result, "g") == 6.0


def test_a_tape_name_in_use_inside_stop_recording_is_still_in_use() -> None:
    refused(
        [{"tape": "t", "body": [{"stop_recording": "t", "body": [{"tape": "t", "body": []}]}]}],
        "tape_name_in_use",
        "/program/0/body/0/body/0/tape",
    )


def test_functions_have_their_own_scope() -> None:
    uses_global = [
        {"def": "f", "params": [], "body": [{"op": "exp", "args": ["x"], "out": "y"}]},
        {"call": "f", "args": []},
    ]
    err = refused(uses_global, "unknown_name", "/program/0/body/0/args/0", {"x": 1.0})
    assert err.call_stack == ["/program/1"]
    locals_stay = [
        {"def": "f", "params": ["a"], "body": [
            {"op": "exp", "args": ["a"], "out": "inner"},
            {"op": "identity", "args": [5.0], "out": "x"},
            {"return": "inner"},
        ]},
        {"call": "f", "args": ["x"], "out": "r"},
    ]  # fmt: skip
    result = run(locals_stay, {"x": 0.0})
    assert set(result.outputs) == {"r"}  # not `inner`; `x` is the input, not rebound here


def test_tapes_are_scoped_but_the_active_one_reaches_into_calls() -> None:
    program = [
        {"def": "f", "params": ["a"], "body": [
            {"op": "square", "args": ["a"], "out": "b"},
            {"watch": ["b"]},  # on the innermost active tape: the caller's `t`
            {"op": "multiply", "args": ["b", 3.0], "out": "c"},
            {"return": ["b", "c"]},
        ]},
        {"tape": "t", "body": [{"call": "f", "args": ["x"], "out": ["b", "c"]}]},
        {"gradient": "t", "target": "c", "sources": "b", "out": "g"},
    ]  # fmt: skip
    assert value(run(program, {"x": 2.0}, ["g"]), "g") == 3.0
    by_name = [
        {"def": "f", "params": [], "body": [{"stop_recording": "t", "body": []}]},
        {"tape": "t", "body": [{"call": "f", "args": []}]},
    ]
    refused(by_name, "unknown_tape", "/program/0/body/0/stop_recording")


def test_variables_are_engine_variables_until_rebound() -> None:
    result = run(
        [{"op": "add", "args": ["w", 1.0], "out": "v"}],
        {"w": {"data": [1.0], "variable": True}},
        ["w", "v"],
    )
    assert isinstance(result.outputs["w"], Variable)
    assert not isinstance(result.outputs["v"], Variable)


# ----- runtime errors and their pointers -----
def test_unknown_names() -> None:
    refused([{"op": "exp", "args": ["nope"], "out": "y"}], "unknown_name", "/program/0/args/0")
    refused([], "unknown_name", "/outputs/1", {"x": 1.0}, outputs=["x", "y"])
    refused(
        [{"tape": "t", "watch": ["x", "z"], "body": []}],
        "unknown_name",
        "/program/0/watch/1",
        {"x": 1.0},
    )
    refused([{"for": "i", "range": [0, "n"], "body": []}], "unknown_name", "/program/0/range/1")


def test_conditions_must_be_scalars() -> None:
    refused([{"if": "c", "then": []}], "shape_mismatch", "/program/0/if", {"c": [True, False]})
    refused([{"while": "c", "body": []}], "shape_mismatch", "/program/0/while", {"c": []})


def test_range_bounds_must_be_integer_scalars() -> None:
    refused([{"for": "i", "range": "n", "body": []}], "dtype_error", "/program/0/range", {"n": 3.0})
    refused(
        [{"for": "i", "range": [0, "n"], "body": []}],
        "shape_mismatch",
        "/program/0/range/1",
        {"n": [1, 2]},
    )
    refused(
        [{"for": "i", "range": [0, 5, "s"], "body": []}], "bad_value", "/program/0/range", {"s": 0}
    )


def test_null_gradients_cannot_be_computed_with() -> None:
    program = [
        {"tape": "t", "body": [{"op": "exp", "args": ["x"], "out": "y"}]},
        {"gradient": "t", "target": "y", "sources": "x", "out": "g"},
        {"op": "add", "args": ["g", 1.0], "out": "h"},
    ]
    refused(program, "bad_value", "/program/2/args/0", {"x": 1.0})


def test_output_counts_are_checked_at_run_time() -> None:
    returns_two = {"def": "f", "params": [], "body": [
        {"op": "identity", "args": [1.0], "out": "a"},
        {"return": ["a", "a"]},
    ]}  # fmt: skip
    refused([returns_two, {"call": "f", "args": [], "out": "y"}], "bad_arity", "/program/1/out")
    refused(
        [
            {
                "op": "split",
                "args": [[1.0, 2.0, 3.0]],
                "attrs": {"indices_or_sections": 3},
                "out": ["a", "b"],
            }
        ],
        "bad_arity",
        "/program/0/out",
    )


def test_op_errors_carry_the_statement_pointer() -> None:
    refused(
        [{"tape": "t", "body": [{"op": "add", "args": [[1.0, 2.0], [1.0, 2.0, 3.0]], "out": "y"}]}],
        "shape_mismatch",
        "/program/0/body/0",
    )
    refused([{"op": "power", "args": [2, -1], "out": "y"}], "dtype_error", "/program/0")


def test_output_gradients_must_match_the_targets() -> None:
    program = [
        {"tape": "t", "watch": ["x"], "body": [{"op": "exp", "args": ["x"], "out": "y"}]},
        {"gradient": "t", "target": "y", "sources": "x", "output_gradients": "s", "out": "g"},
    ]
    refused(program, "shape_mismatch", "/program/1", {"x": [1.0, 2.0], "s": [1.0]})


def test_batch_jacobian_needs_rank_two_and_equal_batches() -> None:
    def program(target: str, source: str) -> list[Any]:
        return [
            {"tape": "t", "persistent": True, "watch": ["v", "m", "n"], "body": [
                {"op": "exp", "args": ["v"], "out": "ev"},
                {"op": "exp", "args": ["m"], "out": "em"},
            ]},
            {"batch_jacobian": "t", "target": target, "sources": source, "out": "j"},
        ]  # fmt: skip

    inputs = {"v": [1.0, 2.0], "m": [[1.0], [2.0]], "n": [[1.0], [2.0], [3.0]]}
    refused(program("ev", "v"), "shape_mismatch", "/program/1", inputs)
    refused(program("em", "v"), "shape_mismatch", "/program/1", inputs)
    refused(program("em", "n"), "shape_mismatch", "/program/1", inputs)
    got = value(run(program("em", "m"), inputs, ["j"]), "j")
    np.testing.assert_allclose(got, [[[np.e]], [[np.e**2]]])


def test_stop_recording_on_a_paused_tape_is_refused() -> None:
    program = [{"tape": "t", "body": [
        {"stop_recording": None, "body": [{"stop_recording": "t", "body": []}]},
    ]}]  # fmt: skip
    refused(program, "tape_not_recording", "/program/0/body/0/body/0/stop_recording")
    run([{"stop_recording": None, "body": []}])  # no active tape: nothing to pause


def test_errors_deep_in_calls_carry_the_call_stack() -> None:
    program = [
        {"def": "inner", "params": ["a"], "body": [
            {"if": "a", "then": [{"op": "reshape", "args": ["a"], "attrs": {"shape": [5]},
                                  "out": "b"}]},
        ]},
        {"def": "outer", "params": [], "body": [
            {"tape": "t", "body": [{"call": "inner", "args": [[True]]}]},
        ]},
        {"call": "outer", "args": []},
    ]  # fmt: skip
    err = refused(program, "shape_mismatch", "/program/0/body/0/then/0")
    assert err.call_stack == ["/program/2", "/program/1/body/0/body/0"]


# ----- warnings, stats, isolation -----
def test_a_loop_repeats_a_warning_as_a_count() -> None:
    program = [
        {"tape": "t", "persistent": True, "body": [{"op": "exp", "args": ["x"], "out": "y"}]},
        {"for": "i", "range": 3, "body": [
            {"gradient": "t", "target": "y", "sources": "x", "out": "g"},
        ]},
    ]  # fmt: skip
    result = run(program, {"x": 1.0})
    (warning,) = result.warnings
    assert warning["source"] == "x" and warning["reason"] == "not_watched"
    assert warning["count"] == 3 and warning["pointer"] == "/program/1/body/0"


def test_warnings_inside_functions_carry_the_call_stack() -> None:
    program = [
        {"def": "f", "params": ["x"], "body": [
            {"tape": "t", "body": [{"op": "exp", "args": ["x"], "out": "y"}]},
            {"gradient": "t", "target": "y", "sources": "x", "unconnected": "zero", "out": "g"},
            {"return": "g"},
        ]},
        {"call": "f", "args": [1.0], "out": "g"},
    ]  # fmt: skip
    result = run(program)
    assert value(result, "g") == 0.0
    (warning,) = result.warnings
    assert warning["pointer"] == "/program/0/body/1" and warning["call_stack"] == ["/program/1"]


def test_stats_count_executed_and_recorded_ops() -> None:
    program = [
        {"tape": "t", "watch": ["x"], "body": [
            {"op": "multiply", "args": ["x", "x"], "out": "y"},
            {"op": "sin", "args": ["y"], "out": "z"},
        ]},
        {"gradient": "t", "target": "z", "sources": "x", "out": "g"},
        {"tape": "t", "watch": ["x"], "body": [{"op": "exp", "args": ["x"], "out": "e"}]},
    ]  # fmt: skip
    result = run(program, {"x": 0.5})
    assert result.stats["ops_recorded"] == 3  # the one-shot tape's two entries survive its reset
    assert result.stats["ops_executed"] > 3  # the VJPs' ops count too
    assert result.stats["elapsed_ms"] >= 0
    assert result.encoding == "json"


def test_a_run_does_not_record_on_the_callers_tapes() -> None:
    x = Tensor(np.array(2.0))
    with Tape() as outer:
        outer.watch(x)
        run([{"op": "exp", "args": [1.0], "out": "y"}])
    assert outer.elements == 0


def test_overflow_is_a_value_not_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run(
            [
                {"op": "exp", "args": [1000.0], "out": "y"},
                {"op": "divide", "args": [1.0, 0.0], "out": "z"},
            ]
        )
    assert value(result, "y") == np.inf and value(result, "z") == np.inf


@pytest.mark.parametrize("op", ["add", "multiply", "maximum", "squared_difference"])
def test_broadcasting_bomb_is_refused_before_numpy_allocates(op: str) -> None:
    # (10**6, 1) and (1, 10**6) broadcast to 10**12 elements: the inputs are small, the output not.
    request = {"inputs": {}, "program": [
        {"op": "zeros", "attrs": {"shape": [1_000_000, 1]}, "out": "a"},
        {"op": "zeros", "attrs": {"shape": [1, 1_000_000]}, "out": "b"},
        {"op": op, "args": ["a", "b"], "out": "c"},
    ]}  # fmt: skip
    with pytest.raises(EngineError) as e:
        run_program(request)
    assert (e.value.code, e.value.pointer) == ("limit_exceeded", "/program/2")
    assert "1000000000000 elements" in str(e.value)


CHAIN = [
    {"tape": "t", "watch": ["x"], "body": [
        {"op": "identity", "args": ["x"], "out": "y"},
        {"for": "i", "range": 40, "body": [{"op": "sin", "args": ["y"], "out": "y"}]},
    ]},
    {"gradient": "t", "target": "y", "sources": "x", "out": "g"},
]  # fmt: skip


def test_a_gradient_counts_its_backward_pass_before_running_it() -> None:
    result = run(CHAIN, {"x": 0.5}, ["g"])
    assert result.stats["ops_executed"] == 41 + 41  # 41 forward ops, one VJP per tape entry
    run(CHAIN, {"x": 0.5}, ["g"], Limits(max_ops=82))
    err = refused(CHAIN, "limit_exceeded", "/program/1", {"x": 0.5}, limits=Limits(max_ops=81))
    assert "41 recorded ops" in str(err)


def test_a_gradient_refuses_cotangents_that_would_pass_the_live_limit() -> None:
    # 41 entries of 10 elements on the tape and ~20 bound: the cotangents need 410 more.
    x = [0.5] * 10
    run(CHAIN, {"x": x}, ["g"], Limits(max_live_elements=1000))
    err = refused(
        CHAIN, "limit_exceeded", "/program/1", {"x": x}, limits=Limits(max_live_elements=800)
    )
    assert "cotangents" in str(err)


def test_the_loop_variable_keeps_its_last_value_when_the_body_never_names_it() -> None:
    program = [{"for": "i", "range": [2, 11, 3], "body": [
        {"op": "add", "args": ["acc", 1.0], "out": "acc"}]}]  # fmt: skip
    result = run(program, {"acc": 0.0}, ["i", "acc"])
    assert (value(result, "i"), value(result, "acc")) == (8, 3.0)
    empty = [{"for": "i", "range": [5, 5], "body": [{"op": "add", "args": [1.0, 1.0], "out": "z"}]}]
    refused(empty, "unknown_name", "/outputs/0", outputs=["i"])


def test_an_integer_source_is_named_with_the_fix() -> None:
    """`"x": 3` is int64: its gradient is null, and both the warning and the error of a later
    read of that null say the input is an integer and how to make it floating, not to ask for
    zeros (which would hide the mistake)."""
    tape = {"tape": "t", "persistent": True, "watch": ["x"], "body": [
        {"op": "multiply", "args": ["x", "x"], "out": "y"}]}  # fmt: skip
    grad = {"gradient": "t", "target": "y", "sources": "x", "out": "dx"}
    jac = {"jacobian": "t", "target": "y", "sources": "x", "out": "jx"}
    result = run_program({"inputs": {"x": 3}, "program": [tape, grad, jac]})
    for warning in result.warnings:
        assert warning["reason"] == "non_floating"
        assert "'x' is int64" in warning["message"]
        assert "3.0" in warning["message"] and '"dtype": "float64"' in warning["message"]
    use = {"op": "add", "args": ["dx", 1.0], "out": "z"}
    with pytest.raises(EngineError) as err:
        run_program({"inputs": {"x": 3}, "program": [tape, grad, use]})
    assert err.value.pointer == "/program/2/args/0"
    assert "'x' is int64" in str(err.value) and "unconnected" not in str(err.value)
    floating = run_program({"inputs": {"x": 3.0}, "program": [tape, grad]})
    assert float(floating.outputs["dx"].value) == 6.0


@pytest.mark.parametrize(
    ("a", "b", "says"),
    [
        ([[1.0, 2.0, 3.0]] * 2, [[1.0, 2.0, 3.0]] * 2, "shapes (2, 3) and (2, 3) do not align"),
        ([1.0, 2.0], [[1.0, 2.0, 3.0]], "the first's only axis (2)"),
        (1.0, [1.0], "got shapes () and (1,)"),
        ([[[1.0]]] * 2, [[[1.0]]] * 3, "batch axes (2,) and (3,) do not broadcast"),
    ],
)
def test_a_matrix_product_names_both_shapes(a: Any, b: Any, says: str) -> None:
    program = [{"op": "matmul", "args": ["a", "b"], "out": "c"}]
    with pytest.raises(EngineError) as err:
        run_program({"inputs": {"a": a, "b": b}, "program": program})
    assert err.value.code == "shape_mismatch" and err.value.pointer == "/program/0"
    assert says in str(err.value) and "gufunc" not in str(err.value)
