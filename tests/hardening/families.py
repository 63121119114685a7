"""Families of requests, each a function of a scale (distinct requests with predictable
answers): the mix of the concurrency test and of bench/soak.py. `REFUSED` ones are answered
422, the others 200."""

from __future__ import annotations

from typing import Any

from .hostile_cases import op, run


def tutorial(scale: float) -> dict[str, Any]:
    """The TensorFlow tutorial of wire format section 8, on a scaled input."""
    return run(
        [
            {
                "tape": "t",
                "persistent": True,
                "watch": ["x"],
                "body": [op("reduce_sum", ["x"], "y"), op("multiply", ["y", "y"], "z")],
            },
            {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
            {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"},
        ],
        {"x": {"data": [[scale, 1.0], [1.0, scale]]}},
        outputs=["dz_dx", "dz_dy"],
    )


def variables_with_warnings(scale: float) -> dict[str, Any]:
    """A variable watched automatically, an unwatched input, an int source: three warnings."""
    return run(
        [
            {"tape": "t", "body": [op("multiply", ["w", "x"], "p"), op("sum", ["p"], "loss")]},
            {
                "gradient": "t",
                "target": "loss",
                "sources": ["w", "x", "n"],
                "out": ["gw", "gx", "gn"],
                "unconnected": "zero",
            },
        ],
        {"w": {"data": [scale, 2.0, -1.0], "variable": True}, "x": [1.0, scale, 3.0], "n": 4},
    )


def second_order(scale: float) -> dict[str, Any]:
    """d2/dx2 of tanh(x) through nested tapes."""
    return run(
        [
            {
                "tape": "outer",
                "watch": ["x"],
                "body": [
                    {"tape": "inner", "watch": ["x"], "body": [op("tanh", ["x"], "y")]},
                    {"gradient": "inner", "target": "y", "sources": "x", "out": "dy"},
                ],
            },
            {"gradient": "outer", "target": "dy", "sources": "x", "out": "d2y"},
        ],
        {"x": [scale / 10, -scale / 7, 0.25]},
        outputs=["dy", "d2y"],
    )


def loop_and_function(scale: float) -> dict[str, Any]:
    """A function called in a loop, then a jacobian."""
    return run(
        [
            {
                "def": "step",
                "params": ["v"],
                "body": [
                    op("multiply", ["v", 0.9], "r"),
                    op("add", ["r", 0.1], "r"),
                    {"return": "r"},
                ],
            },
            {
                "tape": "t",
                "watch": ["x"],
                "body": [
                    op("identity", ["x"], "v"),
                    {
                        "for": "i",
                        "range": 25,
                        "body": [{"call": "step", "args": ["v"], "out": "v"}],
                    },
                ],
            },
            {"jacobian": "t", "target": "v", "sources": "x", "out": "j"},
        ],
        {"x": [scale, 1.0]},
        outputs=["v", "j"],
    )


def wide_input(scale: float) -> dict[str, Any]:
    """5,000 elements: past the inline attempt's limits, so it runs in a worker thread."""
    return run(
        [
            {
                "tape": "t",
                "body": [
                    op("sin", ["x"], "s"),
                    op("multiply", ["s", "v"], "p"),
                    op("sum", ["p"], "loss"),
                ],
            },
            {"gradient": "t", "target": "loss", "sources": ["v", "x"], "out": ["gv", "gx"]},
            op("sum", ["gv"], "total"),
        ],
        {
            "x": {"data": [scale * i / 5000 for i in range(5000)]},
            "v": {"data": [1.0] * 5000, "variable": True},
        },
        outputs=["loss", "total", "gx"],
    )


def long_loop(scale: float) -> dict[str, Any]:
    """600 iterations under a persistent tape: past the inline attempt's iteration limit."""
    return run(
        [
            {
                "tape": "t",
                "persistent": True,
                "watch": ["x"],
                "body": [
                    op("identity", ["x"], "v"),
                    {"for": "i", "range": 600, "body": [op("multiply", ["v", 0.999], "v")]},
                    op("sum", ["v"], "s"),
                ],
            },
            {"gradient": "t", "target": "s", "sources": "x", "out": "g"},
            {"gradient": "t", "target": "v", "sources": "x", "out": "g2"},
        ],
        {"x": [scale, 2.0]},
        outputs=["s", "g", "g2"],
    )


def base64_out(scale: float) -> dict[str, Any]:
    return run(
        [op("exp", ["x"], "y"), op("log", [0.0], "z")],
        {"x": [scale, 0.0]},
        outputs=["y", "z"],
        options={"encoding": "base64"},
    )


def undefined_name(scale: float) -> dict[str, Any]:
    return run([op("exp", ["x"], "y"), op("add", ["y", "nope"], "z")], {"x": [scale]})


def shape_error(scale: float) -> dict[str, Any]:
    return run([op("matmul", ["a", "a"])], {"a": [[scale, 1.0, 2.0]]})


def tape_misuse(scale: float) -> dict[str, Any]:
    return run(
        [
            {"tape": "t", "watch": ["x"], "body": [op("square", ["x"], "y")]},
            {"gradient": "t", "target": "y", "sources": "x", "out": "g1"},
            {"gradient": "t", "target": "y", "sources": "x", "out": "g2"},
        ],
        {"x": scale},
    )


def loop_limit(scale: float) -> dict[str, Any]:
    return run(
        [{"while": "c", "max_iterations": int(scale) + 3, "body": [op("add", ["k", 1.0], "k")]}],
        {"c": True, "k": 0.0},
    )


def element_limit(scale: float) -> dict[str, Any]:
    return run([op("zeros", [], "big", shape=[int(scale) + 10**6, 10**6])])


FAMILIES = [
    tutorial,
    variables_with_warnings,
    second_order,
    loop_and_function,
    wide_input,
    long_loop,
    base64_out,
    undefined_name,
    shape_error,
    tape_misuse,
    loop_limit,
    element_limit,
]
REFUSED = frozenset({undefined_name, shape_error, tape_misuse, loop_limit, element_limit})
