"""check_program(): analytic gradients beside central differences of the re-run program."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from engine import OPS, EngineError, Limits
from engine.program.check import MAX_CHECKED, check_program

TUTORIAL = {
    "inputs": {"x": {"data": [[1.0, 1.0], [1.0, 1.0]]}},
    "program": [
        {"tape": "t", "persistent": True, "watch": ["x"], "body": [
            {"op": "reduce_sum", "args": ["x"], "out": "y"},
            {"op": "multiply", "args": ["y", "y"], "out": "z"},
        ]},
        {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
        {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"},
    ],
}  # fmt: skip


def data(encoded: dict[str, Any]) -> np.ndarray:
    return np.asarray(encoded["data"], dtype=float)


def tape_program(body: list[dict[str, Any]], *after: dict[str, Any], **inputs: Any) -> dict:
    watch = sorted(inputs)
    return {
        "inputs": inputs,
        "program": [{"tape": "t", "persistent": True, "watch": watch, "body": body}, *after],
    }


def test_the_tutorial_passes_and_intermediates_are_skipped() -> None:
    result = check_program(TUTORIAL)
    assert result["passed"] is True
    by_x, by_y = result["results"]
    assert (by_x["pointer"], by_x["kind"], by_x["source"]) == ("/program/1", "gradient", "x")
    assert by_x["passed"] is True and by_x["checked_elements"] == 4
    np.testing.assert_allclose(data(by_x["numeric"]), np.full((2, 2), 8.0), rtol=1e-8)
    assert by_x["max_abs_err"] < 1e-6
    assert by_y["skipped"] == "intermediate source"
    assert by_y["numeric"] is None and by_y["passed"] is None


def test_output_gradients_seed_the_estimate() -> None:
    # A seed unlike ones: the numeric side must use it too, or the check would fail.
    request = tape_program(
        [{"op": "sin", "args": ["x"], "out": "y"}],
        {"gradient": "t", "target": "y", "sources": "x", "output_gradients": "s", "out": "g"},
        x=[0.3, -1.2, 2.0], s=[10.0, -3.0, 0.0],
    )  # fmt: skip
    (result,) = check_program(request)["results"]
    assert result["passed"] is True
    expected = np.array([10.0, -3.0, 0.0]) * np.cos([0.3, -1.2, 2.0])
    np.testing.assert_allclose(data(result["analytic"]), expected, rtol=1e-12)
    np.testing.assert_allclose(data(result["numeric"]), expected, rtol=1e-7, atol=1e-9)


def test_a_wrong_vjp_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = dataclasses.replace(
        OPS["sin"],
        vjp=lambda g, out, x: (g,),  # d sin = 1: wrong
        raw_vjp=lambda g, out, x: (g,),
    )
    monkeypatch.setitem(OPS, "sin", wrong)
    request = tape_program(
        [{"op": "sin", "args": ["x"], "out": "y"}],
        {"gradient": "t", "target": "y", "sources": "x", "out": "g"},
        x=[0.3, 1.0],
    )  # fmt: skip
    result = check_program(request)
    assert result["passed"] is False
    assert result["results"][0]["passed"] is False
    assert result["results"][0]["max_abs_err"] > 0.01


def test_a_kink_is_reported_not_hidden() -> None:
    # relu'(0) = 0 by convention; central differences see 1/2 there.
    request = tape_program(
        [{"op": "relu", "args": ["x"], "out": "y"}],
        {"gradient": "t", "target": "y", "sources": "x", "out": "g"},
        x=[0.0, 1.0],
    )  # fmt: skip
    (result,) = check_program(request)["results"]
    assert result["passed"] is False
    np.testing.assert_allclose(data(result["numeric"]), [0.5, 1.0], rtol=1e-6)


def test_jacobian_and_batch_jacobian() -> None:
    request = tape_program(
        [{"op": "matmul", "args": ["x", "w"], "out": "y"},
         {"op": "tanh", "args": ["y"], "out": "z"}],
        {"jacobian": "t", "target": "z", "sources": ["x", "w"], "out": ["jx", "jw"]},
        {"batch_jacobian": "t", "target": "z", "sources": "x", "out": "bj"},
        x=[[0.1, 0.2, 0.3], [-0.4, 0.5, 0.6]], w=[[0.7, -0.8], [0.9, 1.0], [-1.1, 0.2]],
    )  # fmt: skip
    result = check_program(request)
    assert result["passed"] is True
    kinds = [(r["kind"], r["source"], r["numeric"]["shape"]) for r in result["results"]]
    assert kinds == [
        ("jacobian", "x", [2, 2, 2, 3]),
        ("jacobian", "w", [2, 2, 3, 2]),
        ("batch_jacobian", "x", [2, 2, 3]),
    ]


def test_float32_inputs_are_checked_in_float64() -> None:
    request = tape_program(
        [{"op": "exp", "args": ["x"], "out": "y"}],
        {"gradient": "t", "target": "y", "sources": "x", "out": "g"},
        x={"data": [0.5, 1.5], "dtype": "float32"},
    )  # fmt: skip
    result = check_program(request, rtol=1e-7, atol=1e-9)
    assert result["results"][0]["analytic"]["dtype"] == "float64"
    assert result["passed"] is True


def test_every_run_of_a_statement_in_a_loop_is_checked() -> None:
    request = {
        "inputs": {"x": [0.5, 2.0]},
        "program": [
            {"for": "i", "range": 3, "body": [
                {"tape": "t", "watch": ["x"], "body": [
                    {"op": "cast", "args": ["i"], "attrs": {"dtype": "float64"}, "out": "k"},
                    {"op": "power", "args": ["x", "k"], "out": "y"},
                ]},
                {"gradient": "t", "target": "y", "sources": "x", "unconnected": "zero",
                 "out": "g"},
            ]},
        ],
    }  # fmt: skip
    result = check_program(request)
    assert result["passed"] is True
    assert [r["occurrence"] for r in result["results"]] == [0, 1, 2]


def test_second_order_through_nested_tapes() -> None:
    request = {
        "inputs": {"x": 0.3},
        "program": [
            {"tape": "outer", "watch": ["x"], "body": [
                {"tape": "inner", "watch": ["x"], "body": [
                    {"op": "tanh", "args": ["x"], "out": "y"}]},
                {"gradient": "inner", "target": "y", "sources": "x", "out": "dy"},
            ]},
            {"gradient": "outer", "target": "dy", "sources": "x", "out": "d2y"},
        ],
    }  # fmt: skip
    result = check_program(request)
    assert result["passed"] is True
    t = np.tanh(0.3)
    assert result["results"][1]["analytic"]["data"] == pytest.approx(-2 * t * (1 - t * t))


def test_large_inputs_are_sampled() -> None:
    request = tape_program(
        [{"op": "square", "args": ["x"], "out": "y"}],
        {"gradient": "t", "target": "y", "sources": "x", "out": "g"},
        x=np.linspace(-1, 1, 100).tolist(),
    )  # fmt: skip
    (result,) = check_program(request)["results"]
    assert result["passed"] is True and result["checked_elements"] == MAX_CHECKED
    numeric = data(result["numeric"])  # "NaN" for the elements not moved
    assert int(np.sum(~np.isnan(numeric))) == MAX_CHECKED


@pytest.mark.parametrize(
    ("check", "code", "pointer"),
    [
        ({"tolerance": 1}, "unknown_key", "/check/tolerance"),
        ({"eps": 0}, "bad_value", "/check/eps"),
        ({"rtol": "tight"}, "bad_value", "/check/rtol"),
        ([1], "bad_value", "/check"),
    ],
)
def test_bad_check_options(check: Any, code: str, pointer: str) -> None:
    with pytest.raises(EngineError) as info:
        check_program({**TUTORIAL, "check": check})
    assert (info.value.code, info.value.pointer) == (code, pointer)


def test_program_errors_keep_their_pointers() -> None:
    request = {**TUTORIAL, "program": [{"op": "reduce_sum", "args": ["nope"], "out": "y"}]}
    with pytest.raises(EngineError) as info:
        check_program(request)
    assert (info.value.code, info.value.pointer) == ("unknown_name", "/program/0/args/0")


def test_the_limits_cover_every_run() -> None:
    assert check_program(TUTORIAL, Limits(max_ops=200))["passed"] is True
    with pytest.raises(EngineError) as info:
        check_program(TUTORIAL, Limits(max_ops=40))  # 9 runs, 6 ops each
    assert info.value.code == "limit_exceeded"
