"""GET /v1/ops: every registry op, as the registry describes it, with its conventions."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from engine import OPS


def test_lists_every_registry_op(client: TestClient) -> None:
    response = client.get("/v1/ops")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    ops = response.json()["ops"]
    assert [op["name"] for op in ops] == list(OPS)
    assert {op["name"] for op in ops} == {op.name for op in OPS.values()}


def test_each_entry_is_the_registry_info(client: TestClient) -> None:
    ops = {op["name"]: op for op in client.get("/v1/ops").json()["ops"]}
    for name, op in OPS.items():
        entry = ops[name]
        assert set(entry) == {
            "name",
            "aliases",
            "inputs",
            "outputs",
            "attrs",
            "differentiable",
            "conventions",
            "doc",
        }
        assert entry["differentiable"] == (op.vjp is not None)
        assert entry["aliases"] == list(op.aliases)
        assert entry["attrs"]["type"] == "object"


def test_kink_conventions_are_published(client: TestClient) -> None:
    ops = {op["name"]: op for op in client.get("/v1/ops").json()["ops"]}
    with_conventions = {n for n, op in ops.items() if op["conventions"]}
    assert with_conventions
    for name in ("abs", "maximum", "sqrt"):
        if name in ops:
            assert ops[name]["conventions"], name


def test_tensorflow_aliases_are_listed(client: TestClient) -> None:
    aliases = {a for op in client.get("/v1/ops").json()["ops"] for a in op["aliases"]}
    assert {"reduce_sum", "reduce_mean"} <= aliases


def test_every_field_keeps_one_json_type(client: TestClient) -> None:
    """Typed clients need one type per field: outputs is an integer, or null for split alone
    (its attrs set the count); a multi-output op that is fixed says how many."""
    ops = {op["name"]: op for op in client.get("/v1/ops").json()["ops"]}
    assert ops["split"]["outputs"] is None
    assert ops["slogdet"]["outputs"] == 2
    assert ops["add"]["outputs"] == 1
    types = {
        key: {type(op[key]).__name__ for op in ops.values() if op[key] is not None}
        for key in ops["add"]
    }
    assert all(len(kinds) == 1 for kinds in types.values()), types
    assert types["outputs"] == {"int"}
    assert {type(op["inputs"]["max"]) for op in ops.values()} <= {int, type(None)}
    # the split's outputs run with its attrs: that count is what the program sees
    pieces = OPS["split"](np.arange(6.0), indices_or_sections=3)
    assert len(pieces) == 3
