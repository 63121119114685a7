"""POST /v1/check over HTTP: the response shape, problem+json errors, the OpenAPI entry."""

from __future__ import annotations

from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
REQUEST = {
    "inputs": {"x": {"data": [[1.0, 1.0], [1.0, 1.0]], "dtype": "float32"}},
    "program": [
        {"tape": "t", "persistent": True, "watch": ["x"], "body": [
            {"op": "reduce_sum", "args": ["x"], "out": "y"},
            {"op": "multiply", "args": ["y", "y"], "out": "z"},
        ]},
        {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
        {"jacobian": "t", "target": "z", "sources": "x", "out": "jz_x"},
    ],
    "check": {"eps": 1e-5, "rtol": 1e-6},
}  # fmt: skip


def test_a_correct_program_passes(client: TestClient) -> None:
    response = client.post("/v1/check", json=REQUEST)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["passed"] is True
    assert [(r["kind"], r["source"], r["passed"]) for r in body["results"]] == [
        ("gradient", "x", True),
        ("jacobian", "x", True),
    ]
    first = body["results"][0]
    assert first["analytic"] == {"dtype": "float64", "shape": [2, 2], "data": [[8.0] * 2] * 2}
    assert first["numeric"]["shape"] == [2, 2] and first["checked_elements"] == 4
    assert {"ops_executed", "runs", "elapsed_ms"} <= set(body["stats"])


def test_errors_are_problems_with_pointers(client: TestClient) -> None:
    cases = [
        ({**REQUEST, "check": {"epsilon": 1e-3}}, "unknown_key", "/check/epsilon"),
        ({**REQUEST, "check": {"eps": -1}}, "bad_value", "/check/eps"),
        ({**REQUEST, "minimize": True}, "unknown_key", "/minimize"),
        ({**REQUEST, "program": [{"gradient": "u", "target": "x", "sources": "x", "out": "g"}]},
         "unknown_tape", "/program/0/gradient"),
    ]  # fmt: skip
    for request, code, pointer in cases:
        response = client.post("/v1/check", json=request)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert (response.json()["code"], response.json()["pointer"]) == (code, pointer)


def test_not_json_is_400(client: TestClient) -> None:
    response = client.post("/v1/check", content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


def test_documented_in_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/check"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/CheckRequest"}
    assert "check" in spec["components"]["schemas"]["CheckRequest"]["properties"]
    assert "CheckResponse" in spec["components"]["schemas"]
