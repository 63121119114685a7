"""Functions served by name: every derivative against closed forms or central differences in
float64, the call-argument rules, the repository, and `call` from a run program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import EngineError, Limits
from engine.functions import (
    Function,
    FunctionFileError,
    FunctionReadOnly,
    Port,
    Repository,
    UnknownFunction,
)
from engine.program import run_program

LIMITS = Limits()
RNG = np.random.default_rng(7)

TUTORIAL = {
    "doc": "the persistent-tape tutorial's forward: y = sum(x), z = y * y",
    "inputs": {"x": {"dtype": "float64", "shape": [2, 2]}},
    "program": [
        {"op": "reduce_sum", "args": ["x"], "out": "y"},
        {"op": "multiply", "args": ["y", "y"], "out": "z"},
    ],
    "outputs": ["y", "z"],
}

# y = sin(x) * w (x: [n], w: [n], broadcast), z = sum(y**2) + sum(w**3), k = count (int)
MIXED = {
    "inputs": {
        "x": {"dtype": "float64", "shape": [None]},
        "w": {"dtype": "float64", "shape": [None]},
        "n": {"dtype": "int64", "shape": [], "default": 2},
    },
    "program": [
        {"op": "sin", "args": ["x"], "out": "s"},
        {"op": "multiply", "args": ["s", "w"], "out": "y"},
        {"op": "square", "args": ["y"], "out": "y2"},
        {"op": "power", "args": ["w", 3.0], "out": "w3"},
        {"op": "add", "args": ["y2", "w3"], "out": "t"},
        {"op": "sum", "args": ["t"], "out": "z"},
        {"op": "multiply", "args": ["n", 3], "out": "k"},
    ],
    "outputs": ["y", "z", "k"],
}

# A program with a def, a loop and an inner tape (its own gradient is part of the function).
INNER = {
    "inputs": {"a": {"dtype": "float64", "shape": [3]}},
    "program": [
        {"def": "cube", "params": ["v"], "body": [
            {"op": "power", "args": ["v", 3.0], "out": "c"}, {"return": "c"},
        ]},
        {"op": "multiply", "args": ["a", 1.0], "out": "acc"},
        {"for": "i", "range": 2, "body": [
            {"op": "sin", "args": ["acc"], "out": "acc"},
        ]},
        {"tape": "t", "watch": ["a"], "body": [
            {"call": "cube", "args": ["a"], "out": "c"},
            {"op": "sum", "args": ["c"], "out": "cs"},
        ]},
        {"gradient": "t", "target": "cs", "sources": "a", "out": "g"},
        {"op": "multiply", "args": ["acc", "g"], "out": "out"},
    ],
    "outputs": ["out"],
}  # fmt: skip


def make(definition: dict[str, Any], name: str = "f") -> Function:
    return Function.from_definition(name, definition, source="api", limits=LIMITS)


def values(f: Function, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return f.apply(inputs, limits=LIMITS).outputs


def numeric_jacobian(
    f: Function, inputs: dict[str, np.ndarray], out: str, wrt: str, eps: float = 1e-6
) -> np.ndarray:
    """Central differences of one output by one input, shape out.shape + in.shape."""
    base = inputs[wrt]
    shape_out = values(f, inputs)[out].shape
    jac = np.zeros(shape_out + base.shape)
    for idx in np.ndindex(base.shape):
        hi, lo = base.copy(), base.copy()
        hi[idx] += eps
        lo[idx] -= eps
        d = values(f, {**inputs, wrt: hi})[out] - values(f, {**inputs, wrt: lo})[out]
        jac[(..., *idx)] = d / (2 * eps)
    return jac


def test_tutorial_closed_forms() -> None:
    f = make(TUTORIAL)
    x = np.ones((2, 2))
    assert [p.name for p in f.outputs] == ["y", "z"]
    assert f.outputs[1] == Port("z", np.dtype("float64"), ())
    ans = f.vjp({"x": x}, {"z": 1.0}, limits=LIMITS)
    assert ans.outputs["z"] == 16.0
    np.testing.assert_array_equal(ans.gradients["x"], np.full((2, 2), 8.0))
    # jvp of z = (sum x)^2 along v: 2 sum(x) sum(v)
    v = RNG.normal(size=(2, 2))
    jvp = f.jvp({"x": x}, {"x": v}, limits=LIMITS)
    np.testing.assert_allclose(jvp.tangents["z"], 2 * 4.0 * v.sum())
    np.testing.assert_allclose(jvp.tangents["y"], v.sum())
    # Hessian of z is 2 * ones(4, 4): H v = 2 sum(v) everywhere
    hvp = f.hvp({"x": x}, {"z": 1.0}, {"x": v}, limits=LIMITS)
    np.testing.assert_allclose(hvp.hvp["x"], np.full((2, 2), 2 * v.sum()))
    np.testing.assert_array_equal(hvp.gradients["x"], np.full((2, 2), 8.0))
    jac = f.jacobian({"x": x}, limits=LIMITS).jacobian
    np.testing.assert_array_equal(jac["z"]["x"], np.full((2, 2), 8.0))
    np.testing.assert_array_equal(jac["y"]["x"], np.ones((2, 2)))


def _mixed_point() -> dict[str, np.ndarray]:
    return {"x": RNG.normal(size=4), "w": RNG.normal(size=4)}


@pytest.mark.parametrize("definition", [MIXED, INNER], ids=["mixed", "inner_tape"])
def test_jacobian_matches_central_differences(definition: dict[str, Any]) -> None:
    f = make(definition)
    point = _mixed_point() if definition is MIXED else {"a": RNG.normal(size=3)}
    jac = f.jacobian(point, limits=LIMITS).jacobian
    floating_out = [p.name for p in f.outputs if p.floating]
    assert set(jac) == set(floating_out)
    for out in floating_out:
        for name in point:
            np.testing.assert_allclose(
                jac[out][name], numeric_jacobian(f, point, out, name), rtol=1e-6, atol=1e-8
            )


@pytest.mark.parametrize("definition", [MIXED, INNER], ids=["mixed", "inner_tape"])
def test_vjp_jvp_agree_with_the_jacobian(definition: dict[str, Any]) -> None:
    f = make(definition)
    point = _mixed_point() if definition is MIXED else {"a": RNG.normal(size=3)}
    outs = [p.name for p in f.outputs if p.floating]
    numeric = {(o, n): numeric_jacobian(f, point, o, n) for o in outs for n in point}
    cot = {o: RNG.normal(size=values(f, point)[o].shape) for o in outs}
    grads = f.vjp(point, cot, limits=LIMITS).gradients
    for n in point:
        want = sum(np.tensordot(cot[o], numeric[o, n], axes=cot[o].ndim) for o in outs)
        np.testing.assert_allclose(grads[n], want, rtol=1e-6, atol=1e-8)
    tan = {n: RNG.normal(size=point[n].shape) for n in point}
    tangents = f.jvp(point, tan, limits=LIMITS).tangents
    for o in outs:
        want = sum(np.tensordot(numeric[o, n], tan[n], axes=tan[n].ndim) for n in point)
        np.testing.assert_allclose(tangents[o], want, rtol=1e-6, atol=1e-8)


def test_hvp_matches_differences_of_the_vjp() -> None:
    f = make(MIXED)
    point = _mixed_point()
    cot = {"y": RNG.normal(size=4), "z": 1.3}
    tan = {"w": RNG.normal(size=4)}  # along w only; the Hessian's (x, w) block
    ans = f.hvp(point, cot, tan, wrt=["x", "w"], limits=LIMITS)
    eps = 1e-6

    def grads(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return f.vjp(p, cot, wrt=["x", "w"], limits=LIMITS).gradients

    hi = grads({**point, "w": point["w"] + eps * tan["w"]})
    lo = grads({**point, "w": point["w"] - eps * tan["w"]})
    for n in ("x", "w"):
        np.testing.assert_allclose(ans.hvp[n], (hi[n] - lo[n]) / (2 * eps), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ans.gradients["x"], grads(point)["x"])


def test_defaults_conversions_and_declared_outputs() -> None:
    f = make(MIXED)
    assert [(p.name, p.dtype.name, p.shape) for p in f.outputs] == [
        ("y", "float64", (None,)), ("z", "float64", ()), ("k", "int64", ()),
    ]  # fmt: skip
    ans = f.apply({"x": [0, 0], "w": [1, 2]}, limits=LIMITS)  # JSON integers to float64
    assert ans.outputs["k"] == 6 and ans.outputs["z"] == 9.0
    ans = f.apply({"x": [0.0], "w": [1.0], "n": 5}, limits=LIMITS)
    assert ans.outputs["k"] == 15


def test_unconnected_is_zeros_with_a_warning() -> None:
    f = make(
        {
            "inputs": {
                "a": {"dtype": "float32", "shape": [2]},
                "b": {"dtype": "float32", "shape": []},
            },
            "program": [{"op": "multiply", "args": ["a", 2.0], "out": "y"}],
            "outputs": ["y"],
        }
    )
    ans = f.vjp({"a": [1, 2], "b": 3}, {"y": [1, 1]}, wrt=["a", "b"], limits=LIMITS)
    np.testing.assert_array_equal(ans.gradients["a"], [2, 2])
    assert ans.gradients["a"].dtype == np.float32
    np.testing.assert_array_equal(ans.gradients["b"], 0)
    [warning] = ans.warnings
    assert warning["code"] == "unconnected" and warning["source"] == "b"
    assert warning["pointer"] == "/wrt/1" and warning["reason"] == "no_path"
    jvp = f.jvp({"a": [1, 2], "b": 3}, {"b": 1.0}, limits=LIMITS)
    np.testing.assert_array_equal(jvp.tangents["y"], [0, 0])
    assert [w["source"] for w in jvp.warnings] == ["y"]
    # no cotangent: zero gradients, nothing computed
    assert f.vjp({"a": [1, 2], "b": 3}, {}, limits=LIMITS).gradients["a"].tolist() == [0, 0]


BAD_CALLS = [
    # (method, kwargs, code, pointer)
    ("apply", {"inputs": {}}, "missing_input", "/inputs/x"),
    ("apply", {"inputs": {"x": [1.5, 2.0], "w": [1.0, 1.0], "n": 1.5}}, "dtype_error", "/inputs/n"),
    ("apply", {"inputs": {"x": [True], "w": [1.0]}}, "dtype_error", "/inputs/x"),
    ("apply", {"inputs": {"x": [[1.0]], "w": [1.0]}}, "shape_mismatch", "/inputs/x"),
    ("apply", {"inputs": {"x": [1.0], "w": [1.0], "q": 1}}, "unknown_key", "/inputs/q"),
    ("apply", {"inputs": {"x": {"data": [1.0], "dtype": "float99"}, "w": [1.0]}},
     "dtype_error", "/inputs/x/dtype"),
    ("vjp", {"cotangents": {"k": 1}}, "not_differentiable", "/cotangents/k"),
    ("vjp", {"cotangents": {"z": 1.0}, "wrt": ["n"]}, "not_differentiable", "/wrt/0"),
    ("vjp", {"cotangents": {"z": 1.0}, "wrt": ["x", "nope"]}, "unknown_name", "/wrt/1"),
    ("vjp", {"cotangents": {"y": [1.0, 2.0]}}, "shape_mismatch", "/cotangents/y"),
    ("vjp", {"cotangents": {"nope": 1.0}}, "unknown_key", "/cotangents/nope"),
    ("jvp", {"tangents": {"n": 1}}, "not_differentiable", "/tangents/n"),
    ("jvp", {"tangents": {"x": [1.0, 2.0]}}, "shape_mismatch", "/tangents/x"),
    ("jvp", {"tangents": {}, "of": ["k"]}, "not_differentiable", "/of/0"),
    ("jacobian", {"of": "z"}, "bad_value", "/of"),
    ("hvp", {"cotangents": {"z": 1.0}, "tangents": {"w": [1.0, 2.0]}}, "shape_mismatch",
     "/tangents/w"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "kwargs", "code", "pointer"), BAD_CALLS)
def test_bad_calls_are_engine_errors_with_a_pointer(
    method: str, kwargs: dict[str, Any], code: str, pointer: str
) -> None:
    f = make(MIXED)
    kwargs = {"inputs": {"x": [1.0], "w": [2.0]}, **kwargs}
    with pytest.raises(EngineError) as info:
        getattr(f, method)(**kwargs, limits=LIMITS)
    assert (info.value.code, info.value.pointer) == (code, pointer)


def test_limits_apply_to_each_call() -> None:
    f = make(MIXED)
    small = Limits(max_elements_per_tensor=10)
    with pytest.raises(EngineError) as info:
        f.apply({"x": np.zeros(11), "w": np.zeros(11)}, limits=small)
    assert (info.value.code, info.value.pointer) == ("limit_exceeded", "/inputs/x")
    with pytest.raises(EngineError) as info:
        f.jacobian({"x": np.zeros(4), "w": np.zeros(4)}, limits=small)  # 4 x 4 fits, then 16
    assert info.value.code == "limit_exceeded"


BAD_DEFINITIONS = [
    ([], "bad_request", ""),
    ({**TUTORIAL, "extra": 1}, "unknown_key", "/extra"),
    ({k: v for k, v in TUTORIAL.items() if k != "program"}, "missing_key", "/program"),
    ({**TUTORIAL, "program": [{"op": "nope", "args": ["x"], "out": "y"}]}, "unknown_op",
     "/program/0/op"),
    ({**TUTORIAL, "outputs": ["q"]}, "unknown_name", "/outputs/0"),
    ({**TUTORIAL, "program": [{"op": "add", "args": ["x", "missing"], "out": "y"}],
      "outputs": ["y"]}, "unknown_name", "/program/0/args/1"),
    ({**TUTORIAL, "program": [{"op": "matmul", "args": ["x", [1.0, 2.0, 3.0]], "out": "y"}],
      "outputs": ["y"]}, "shape_mismatch", "/program/0"),
    ({**TUTORIAL, "inputs": {"x": {"dtype": "float64"}}}, "missing_key", "/inputs/x/shape"),
    ({**TUTORIAL, "inputs": {"x": {"dtype": "f8", "shape": [2]}}}, "dtype_error",
     "/inputs/x/dtype"),
    ({**TUTORIAL, "inputs": {"x": {"dtype": "float64", "shape": [2], "default": [1.0]}}},
     "shape_mismatch", "/inputs/x/default"),
    ({**TUTORIAL, "inputs": {"x y": {"dtype": "float64", "shape": [2]}}}, "bad_name",
     "/inputs/x y"),
    ({**TUTORIAL, "program": [{"call": "elsewhere", "args": [], "out": "y"}]},
     "unknown_function", "/program/0/call"),
    ({**TUTORIAL, "inputs": {"x": {"dtype": "float64", "shape": [100000, 100000]}}},
     "limit_exceeded", "/inputs/x"),
]  # fmt: skip


@pytest.mark.parametrize(("definition", "code", "pointer"), BAD_DEFINITIONS)
def test_bad_definitions_are_refused_with_a_pointer(
    definition: Any, code: str, pointer: str
) -> None:
    with pytest.raises(EngineError) as info:
        make(definition)
    assert (info.value.code, info.value.pointer) == (code, pointer)


def test_abstract_eval_shapes_without_values() -> None:
    f = make(MIXED)
    specs = {"x": ("float64", (1000,)), "w": ("float64", (1000,))}
    assert f.abstract_eval(specs) == {
        "y": (np.dtype("float64"), (1000,)),
        "z": (np.dtype("float64"), ()),
        "k": (np.dtype("int64"), ()),
    }
    assert len(f._abstract) >= 1  # the answer is kept: asking again computes nothing
    key = next(reversed(f._abstract))
    f._abstract[key] = {"y": (np.dtype("float16"), (7,))}
    assert f.abstract_eval(specs) == {"y": (np.dtype("float16"), (7,))}
    with pytest.raises(EngineError) as info:
        f.abstract_eval({"x": ("float64", (10**12,)), "w": ("float64", (10**12,))})
    assert (info.value.code, info.value.pointer) == ("limit_exceeded", "/inputs/x")
    with pytest.raises(EngineError) as info:
        f.abstract_eval({"x": ("float64", (3,)), "w": ("float64", (4,))})
    assert info.value.code == "shape_mismatch"  # the program's own refusal
    with pytest.raises(EngineError) as info:
        f.abstract_eval({"x": ("bool", (3,)), "w": ("float64", (3,))})
    assert (info.value.code, info.value.pointer) == ("dtype_error", "/inputs/x")


def test_repository(tmp_path: Path) -> None:
    repo = Repository()
    (tmp_path / "tutorial.json").write_text(json.dumps(TUTORIAL))
    (tmp_path / "notes.txt").write_text("not a function")
    repo.load_dir(tmp_path, LIMITS)
    assert [f.name for f in repo.list()] == ["tutorial"] and "tutorial" in repo
    assert repo.get("tutorial").source == "dir"
    with pytest.raises(FunctionReadOnly) as info:
        repo.put("tutorial", make(TUTORIAL, "tutorial"))
    assert info.value.code == "function_read_only"
    with pytest.raises(FunctionReadOnly):
        repo.delete("tutorial")
    assert repo.put("mine", make(TUTORIAL, "mine")) is True
    assert repo.put("mine", make(MIXED, "mine")) is False
    assert repo.get("mine").inputs[0].name == "x"
    repo.delete("mine")
    with pytest.raises(UnknownFunction) as missing:
        repo.get("mine")
    assert missing.value.code == "unknown_function"
    with pytest.raises(UnknownFunction):
        repo.delete("mine")


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ("{not json", ""),
        (json.dumps({**TUTORIAL, "outputs": ["q"]}), "/outputs/0"),
        (json.dumps({**TUTORIAL, "program": [{"op": "add", "args": ["x"], "out": "y"}]}),
         "/program/0/args"),
    ],
)  # fmt: skip
def test_a_bad_file_names_its_path_and_pointer(tmp_path: Path, text: str, pointer: str) -> None:
    (tmp_path / "good.json").write_text(json.dumps(TUTORIAL))
    (tmp_path / "bad.json").write_text(text)
    repo = Repository()
    with pytest.raises(FunctionFileError) as info:
        repo.load_dir(tmp_path, LIMITS)
    assert info.value.path == str(tmp_path / "bad.json") and info.value.pointer == pointer
    assert str(tmp_path / "bad.json") in str(info.value)
    assert len(repo) == 0  # nothing of a folder with a bad file is kept


def _repo() -> Repository:
    repo = Repository()
    repo.put("tutorial", make(TUTORIAL, "tutorial"))
    repo.put("mixed", make(MIXED, "mixed"))
    return repo


def test_call_a_stored_function_from_a_program() -> None:
    request = {
        "inputs": {"x": [[1.0, 1.0], [1.0, 1.0]]},
        "program": [
            {"tape": "t", "watch": ["x"], "persistent": True, "body": [
                {"call": "tutorial", "args": ["x"], "out": ["y", "z"]},
            ]},
            {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
            {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"},
            {"call": "mixed", "args": [[0.0], [2.0]], "out": ["my", "mz", "mk"]},
        ],
        "outputs": ["z", "dz_dx", "dz_dy", "mz", "mk"],
    }  # fmt: skip
    out = run_program(request, functions=_repo()).outputs
    assert out["z"].value == 16.0 and out["dz_dy"].value == 8.0
    np.testing.assert_array_equal(out["dz_dx"].value, np.full((2, 2), 8.0))
    assert out["mz"].value == 8.0 and out["mk"].value == 6  # n's default
    # a def of the same name shadows the stored function
    shadow = {
        "inputs": {"x": 3.0},
        "program": [
            {"def": "tutorial", "params": ["v"], "body": [{"return": "v"}]},
            {"call": "tutorial", "args": ["x"], "out": "r"},
        ],
        "outputs": ["r"],
    }
    assert run_program(shadow, functions=_repo()).outputs["r"].value == 3.0


@pytest.mark.parametrize(
    ("program", "code", "pointer", "call_stack"),
    [
        ([{"call": "nope", "args": [], "out": "r"}], "unknown_function", "/program/0/call", None),
        ([{"call": "tutorial", "args": [], "out": "r"}], "bad_arity", "/program/0/args", None),
        ([{"call": "tutorial", "args": [[1.0, 2.0]], "out": ["a", "b"]}], "shape_mismatch",
         "/program/0/args/0", []),
        ([{"call": "mixed", "args": [[1.0, 2.0], [1.0, 2.0, 3.0]], "out": ["a", "b", "c"]}],
         "shape_mismatch", "/program/1", ["/program/0"]),
        ([{"call": "tutorial", "args": [[[1.0, 1.0], [1.0, 1.0]]], "out": "a"}], "bad_arity",
         "/program/0/out", None),
    ],
)  # fmt: skip
def test_call_errors(program: list[Any], code: str, pointer: str, call_stack: Any) -> None:
    with pytest.raises(EngineError) as info:
        run_program({"program": program}, functions=_repo())
    err = info.value
    assert (err.code, err.pointer, err.call_stack) == (code, pointer, call_stack)


def test_without_a_repository_a_call_must_name_a_def() -> None:
    with pytest.raises(EngineError) as info:
        run_program({"program": [{"call": "tutorial", "args": [1.0], "out": "r"}]})
    assert info.value.code == "unknown_function"


def test_an_output_that_follows_a_defaulted_varying_input() -> None:
    f = make(
        {
            "inputs": {
                "x": {"dtype": "float64", "shape": [3]},
                "w": {"dtype": "float64", "shape": [None, 3], "default": [[1.0, 1.0, 1.0]]},
            },
            "program": [{"op": "matmul", "args": ["w", "x"], "out": "z"}],
            "outputs": ["z"],
        }
    )
    assert f.outputs[0].shape == (None,)  # not the default's one row
    w = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    ans = f.vjp({"x": [1.0, 2.0, 3.0], "w": w}, {"z": [10.0, 100.0]}, limits=LIMITS)
    np.testing.assert_array_equal(ans.gradients["x"], [10.0, 100.0, 0.0])
    np.testing.assert_array_equal(ans.gradients["w"], [[10.0, 20.0, 30.0], [100.0, 200.0, 300.0]])
