"""Requests and assertions the app tests share."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"

# docs/wire-format.md section 8: dz_dx = [[8, 8], [8, 8]], dz_dy = 8.
TUTORIAL: dict[str, Any] = {
    "inputs": {"x": {"data": [[1.0, 1.0], [1.0, 1.0]]}},
    "program": [
        {
            "tape": "t",
            "persistent": True,
            "watch": ["x"],
            "body": [
                {"op": "reduce_sum", "args": ["x"], "out": "y"},
                {"op": "multiply", "args": ["y", "y"], "out": "z"},
            ],
        },
        {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
        {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"},
    ],
    "outputs": ["dz_dx", "dz_dy"],
}


def assert_problem(
    response: httpx.Response,
    status: int,
    code: str,
    pointer: str | None = ...,  # type: ignore[assignment]
) -> dict[str, Any]:
    """The response is problem+json with this status and code (and pointer, when given;
    None: no pointer member)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].partition(";")[0] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"] == f"/problems/{code}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str)
    if pointer is None:
        assert "pointer" not in body
    elif pointer is not ...:
        assert body.get("pointer") == pointer, body
    assert response.headers.get("x-request-id")
    assert body["instance"] == f"urn:gradtape:request:{response.headers['x-request-id']}"
    return body


def loop_of_matmuls(n: int, iterations: int) -> dict[str, Any]:
    """A CPU-heavy program: `iterations` matmuls of n x n matrices, no tape."""
    eye = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    return {
        "inputs": {"a": {"data": eye}, "b": {"data": eye}},
        "program": [
            {
                "for": "i",
                "range": iterations,
                "body": [
                    {"op": "matmul", "args": ["a", "b"], "out": "a"},
                ],
            },
            {"op": "sum", "args": ["a"], "out": "s"},
        ],
        "outputs": ["s"],
    }
