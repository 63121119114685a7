"""Golden programs: every programs/<name>.json runs through run_program and encode_result.

A file is `{"request": ..., "expect": {"outputs": {...}, "warnings": [...]?}}` or, for a refused
request, `{"request": ..., "error": {"code": ..., "pointer": ..., "call_stack": [...]?}}`.
Expected outputs are encoded tensors; numbers compare with a tolerance (`"rtol"`/`"atol"` in
`expect` override it), "NaN"/"Infinity" strings and b64 payloads exactly. Expected warnings list
the fields to compare (`code`, `pointer`, and `source`/`reason` where given), in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import EngineError
from engine.program import encode_result, run_program
from engine.program.schema import example_requests

PROGRAMS = Path(__file__).resolve().parent / "programs"
FILES = sorted(PROGRAMS.glob("*.json"))
NON_FINITE = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}


def _numbers(data: Any) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.astype(np.float64)
    if isinstance(data, list):
        return np.array([_numbers(d) for d in data], dtype=np.float64).reshape(np.shape(data))
    return np.asarray(NON_FINITE.get(data, data) if isinstance(data, str) else data, np.float64)


def assert_tensor(
    name: str, got: dict[str, Any] | None, want: dict[str, Any] | None, rtol: float, atol: float
) -> None:
    if want is None:
        assert got is None, f"{name}: expected null, got {got}"
        return
    assert got is not None, f"{name}: expected a tensor, got null"
    assert got["dtype"] == want["dtype"], f"{name}: dtype"
    assert got["shape"] == want["shape"], f"{name}: shape"
    if "b64" in want:
        assert got["b64"] == want["b64"], f"{name}: b64"
        return
    np.testing.assert_allclose(
        _numbers(got["data"]),
        _numbers(want["data"]),
        rtol=rtol,
        atol=atol,
        equal_nan=True,
        err_msg=name,
    )


def run(request: dict[str, Any]) -> dict[str, Any]:
    return encode_result(run_program(request))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_golden_program(path: Path) -> None:
    case = json.loads(path.read_text())
    assert set(case) in ({"request", "expect"}, {"request", "error"}), "bad golden file"
    if "error" in case:
        want = case["error"]
        with pytest.raises(EngineError) as info:
            run(case["request"])
        err = info.value
        assert (err.code, err.pointer) == (want["code"], want["pointer"]), str(err)
        if "call_stack" in want:
            assert err.call_stack == want["call_stack"]
        return
    expect = case["expect"]
    body = run(case["request"])
    assert set(body) == {"outputs", "warnings", "stats"}
    assert set(body["outputs"]) == set(expect["outputs"])
    for name, want in expect["outputs"].items():
        got = body["outputs"][name]
        assert_tensor(name, got, want, expect.get("rtol", 1e-9), expect.get("atol", 1e-12))
    want_warnings = expect.get("warnings", [])
    got_warnings = [
        {k: w[k] for k in want if k in w}
        for w, want in zip(body["warnings"], want_warnings, strict=False)
    ]
    assert len(body["warnings"]) == len(want_warnings), body["warnings"]
    assert got_warnings == want_warnings
    for w in body["warnings"]:
        assert isinstance(w["message"], str) and w["message"]
    assert {"ops_executed", "ops_recorded", "elapsed_ms"} <= set(body["stats"])
    for key in ("ops_executed", "ops_recorded"):
        if key in expect:
            assert body["stats"][key] == expect[key], key


def test_there_are_golden_programs() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("name", sorted(example_requests()))
def test_published_examples_are_golden_programs(name: str) -> None:
    """The OpenAPI examples (schema.example_requests) are the tutorial goldens, verbatim."""
    case = json.loads((PROGRAMS / f"tutorial_{name}.json").read_text())
    assert case["request"] == example_requests()[name]
