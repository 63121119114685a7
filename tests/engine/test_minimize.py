"""minimize(): each Keras optimizer step by step against its published rule, stops, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import EngineError, Limits
from engine.program.minimize import minimize

A = np.array([1.0, 3.0, 0.5])
C = np.array([1.0, -2.0, 0.25])
W0 = np.array([0.5, 0.5, -1.0])


def quadratic(optimizer: dict[str, Any], steps: int, **extra: Any) -> dict[str, Any]:
    """loss = sum(A * (w - C)**2), gradient 2 A (w - C)."""
    request = {
        "inputs": {"w": {"data": W0.tolist(), "variable": True}, "a": A.tolist(), "c": C.tolist()},
        "program": [
            {"op": "subtract", "args": ["w", "c"], "out": "d"},
            {"op": "square", "args": ["d"], "out": "d2"},
            {"op": "multiply", "args": ["a", "d2"], "out": "e"},
            {"op": "sum", "args": ["e"], "out": "loss"},
        ],
        "loss": "loss",
        "optimizer": optimizer,
        "steps": steps,
        **extra,
    }
    return minimize(request)


def loss_of(w: np.ndarray) -> float:
    return float(np.sum(A * (w - C) ** 2))


def grad_of(w: np.ndarray) -> np.ndarray:
    return 2 * A * (w - C)


# ----- reference rules, written from the Keras 3 sources (keras/src/optimizers/*.py) -----
def ref_sgd(
    steps: int, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False
) -> list[np.ndarray]:
    w, velocity, out = W0.copy(), np.zeros(3), []
    for _ in range(steps):
        g = grad_of(w)
        if momentum:
            velocity = momentum * velocity - learning_rate * g
            w = w + (momentum * velocity - learning_rate * g if nesterov else velocity)
        else:
            w = w - learning_rate * g
        out.append(w)
    return out


def ref_adam(
    steps: int,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> list[np.ndarray]:
    w, m, v, out = W0.copy(), np.zeros(3), np.zeros(3), []
    for t in range(1, steps + 1):
        g = grad_of(w)
        m = m + (1 - beta_1) * (g - m)
        v = v + (1 - beta_2) * (g**2 - v)
        alpha = learning_rate * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        w = w - alpha * m / (np.sqrt(v) + epsilon)
        out.append(w)
    return out


def ref_rmsprop(
    steps: int,
    learning_rate: float = 0.001,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    centered: bool = False,
) -> list[np.ndarray]:
    w, ms, mg, mom, out = W0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for _ in range(steps):
        g = grad_of(w)
        ms = rho * ms + (1 - rho) * g**2
        if centered:
            mg = rho * mg + (1 - rho) * g
            increment = learning_rate * g / np.sqrt(ms - mg**2 + epsilon)
        else:
            increment = learning_rate * g / np.sqrt(ms + epsilon)
        if momentum > 0:
            mom = momentum * mom + increment
            w = w - mom
        else:
            w = w - increment
        out.append(w)
    return out


def ref_adagrad(
    steps: int,
    learning_rate: float = 0.001,
    initial_accumulator_value: float = 0.1,
    epsilon: float = 1e-7,
) -> list[np.ndarray]:
    w, acc, out = W0.copy(), np.full(3, initial_accumulator_value), []
    for _ in range(steps):
        g = grad_of(w)
        acc = acc + g**2
        w = w - learning_rate * g / np.sqrt(acc + epsilon)
        out.append(w)
    return out


REFERENCES = {"sgd": ref_sgd, "adam": ref_adam, "rmsprop": ref_rmsprop, "adagrad": ref_adagrad}
CONFIGS = [
    {"name": "sgd"},
    {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
    {"name": "adam"},
    {"name": "adam", "learning_rate": 0.1, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3},
    {"name": "rmsprop"},
    {"name": "rmsprop", "learning_rate": 0.01, "momentum": 0.5, "centered": True, "rho": 0.8},
    {"name": "adagrad"},
    {"name": "adagrad", "learning_rate": 0.5, "initial_accumulator_value": 1.0},
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_each_step_follows_the_keras_rule(config: dict[str, Any]) -> None:
    hyper = {k: v for k, v in config.items() if k != "name"}
    expected = REFERENCES[config["name"]](5, **hyper)
    for steps in range(1, 6):
        result = quadratic(config, steps)
        assert result["steps"] == steps and result["stopped"] == "steps"
        w = np.asarray(result["variables"]["w"]["data"])
        np.testing.assert_allclose(w, expected[steps - 1], rtol=0, atol=1e-12)
        before = [W0, *expected[: steps - 1]]
        np.testing.assert_allclose(
            result["loss_history"], [loss_of(x) for x in before], rtol=0, atol=1e-12
        )


def test_sgd_default_is_plain_gradient_descent_with_learning_rate_0_01() -> None:
    w = np.asarray(quadratic({"name": "sgd"}, 1)["variables"]["w"]["data"])
    np.testing.assert_allclose(w, W0 - 0.01 * grad_of(W0), atol=1e-15)


def test_stops_on_grad_norm() -> None:
    result = quadratic({"name": "adam", "learning_rate": 0.05}, 5000, stop={"grad_norm": 1e-6})
    assert result["stopped"] == "grad_norm"
    assert result["steps"] < 5000
    assert len(result["loss_history"]) == result["steps"] + 1
    np.testing.assert_allclose(result["variables"]["w"]["data"], C, atol=1e-6)


def test_stops_on_loss_delta() -> None:
    result = quadratic({"name": "sgd", "learning_rate": 0.1}, 1000, stop={"loss_delta": 1e-12})
    assert result["stopped"] == "loss_delta"
    history = result["loss_history"]
    assert abs(history[-1] - history[-2]) <= 1e-12


def test_variables_keep_their_dtype() -> None:
    request = {
        "inputs": {"w": {"data": [3.0], "dtype": "float32", "variable": True}},
        "program": [{"op": "square", "args": ["w"], "out": "q"},
                    {"op": "sum", "args": ["q"], "out": "loss"}],
        "loss": "loss", "steps": 2,
    }  # fmt: skip
    assert minimize(request)["variables"]["w"]["dtype"] == "float32"


def test_explicit_variables_need_not_be_marked() -> None:
    request = {
        "inputs": {"w": [2.0], "b": {"data": [1.0], "variable": True}},
        "program": [{"op": "multiply", "args": ["w", "b"], "out": "p"},
                    {"op": "sum", "args": ["p"], "out": "loss"}],
        "loss": "loss", "variables": ["w"], "optimizer": {"name": "sgd", "learning_rate": 0.5},
        "steps": 1,
    }  # fmt: skip
    result = minimize(request)
    assert list(result["variables"]) == ["w"]
    np.testing.assert_allclose(result["variables"]["w"]["data"], [1.5])


def base(**changes: Any) -> dict[str, Any]:
    request = {
        "inputs": {"w": {"data": [1.0, 2.0], "variable": True}, "n": 3},
        "program": [{"op": "square", "args": ["w"], "out": "q"},
                    {"op": "sum", "args": ["q"], "out": "loss"}],
        "loss": "loss", "steps": 3,
    }  # fmt: skip
    request.update(changes)
    return request


@pytest.mark.parametrize(
    ("changes", "code", "pointer"),
    [
        ({"bogus": 1}, "unknown_key", "/bogus"),
        ({"outputs": ["loss"]}, "unknown_key", "/outputs"),
        ({"optimizer": {"name": "lbfgs"}}, "bad_value", "/optimizer/name"),
        ({"optimizer": {"name": "adam", "momentum": 0.9}}, "bad_value", "/optimizer/momentum"),
        ({"optimizer": {"name": "sgd", "nesterov": 1}}, "bad_value", "/optimizer/nesterov"),
        ({"optimizer": {"name": "sgd", "learning_rate": "fast"}}, "bad_value",
         "/optimizer/learning_rate"),
        ({"stop": {"patience": 3}}, "unknown_key", "/stop/patience"),
        ({"stop": {"grad_norm": -1}}, "bad_value", "/stop/grad_norm"),
        ({"steps": 0}, "bad_value", "/steps"),
        ({"steps": 10**9}, "limit_exceeded", "/steps"),
        ({"loss": "nope"}, "unknown_name", "/loss"),
        ({"loss": "q"}, "shape_mismatch", "/loss"),
        ({"loss": "n"}, "dtype_error", "/loss"),
        ({"variables": ["x"]}, "unknown_name", "/variables/0"),
        ({"variables": ["n"]}, "dtype_error", "/variables/0"),
        ({"program": [{"op": "sqaure", "args": ["w"], "out": "q"}]}, "unknown_op",
         "/program/0/op"),
    ],
)  # fmt: skip
def test_errors_have_codes_and_pointers(changes: dict[str, Any], code: str, pointer: str) -> None:
    request = base(**changes)
    if "loss" not in changes and "program" in changes:
        request["loss"] = "q"
    with pytest.raises(EngineError) as info:
        minimize(request)
    assert (info.value.code, info.value.pointer) == (code, pointer)


def test_missing_loss_and_steps() -> None:
    for key in ("loss", "steps"):
        request = base()
        del request[key]
        with pytest.raises(EngineError) as info:
            minimize(request)
        assert (info.value.code, info.value.pointer) == ("missing_key", f"/{key}")


def test_one_budget_covers_every_step() -> None:
    with pytest.raises(EngineError) as info:
        minimize(base(steps=100), Limits(max_ops=50))  # 2 forward ops + backward per step
    assert info.value.code == "limit_exceeded"
    assert minimize(base(steps=3), Limits(max_ops=50))["steps"] == 3
