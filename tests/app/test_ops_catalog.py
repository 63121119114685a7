"""GET /v1/ops: every registry op, as the registry describes it, with its conventions."""

from __future__ import annotations

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
