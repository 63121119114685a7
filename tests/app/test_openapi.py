"""/openapi.json is a valid OpenAPI document, and every golden request validates against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.app.wire import TUTORIAL

PROGRAMS = Path(__file__).resolve().parents[1] / "engine" / "programs"
GOLDEN = sorted(PROGRAMS.glob("*.json"))
DOC = "urn:gradtape:openapi"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    from app.main import create_app
    from app.settings import Settings

    with TestClient(create_app(Settings())) as client:
        response = client.get("/openapi.json")
        assert response.status_code == 200
        return response.json()


def _validator(spec: dict[str, Any], name: str) -> jsonschema.protocols.Validator:
    """A validator for components/schemas/<name>, resolving $refs inside the document."""
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource(DOC, resource)
    schema = {"$ref": f"{DOC}#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_the_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_paths(spec: dict[str, Any]) -> None:
    assert {"/v1/run", "/v1/ops", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])


def test_run_request_body_is_documented(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/v1/run"]["post"]["requestBody"]
    content = body["content"]
    ref = {"$ref": "#/components/schemas/RunRequest"}
    assert content["application/json"]["schema"] == ref
    assert content["application/msgpack"]["schema"] == ref
    assert content["application/json"]["examples"]
    program = spec["components"]["schemas"]["RunRequest"]["properties"]["program"]
    assert program["items"] == {"$ref": "#/components/schemas/Statement"}


def test_error_responses_are_problems(spec: dict[str, Any]) -> None:
    responses = spec["paths"]["/v1/run"]["post"]["responses"]
    for status in ("400", "413", "422", "503"):
        schema = responses[status]["content"]["application/problem+json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Problem"}


def test_every_statement_kind_is_a_component(spec: dict[str, Any]) -> None:
    from engine.program.schema import statement_schemas

    assert set(statement_schemas()) <= set(spec["components"]["schemas"])


def test_examples_validate(spec: dict[str, Any]) -> None:
    validator = _validator(spec, "RunRequest")
    examples = spec["paths"]["/v1/run"]["post"]["requestBody"]["content"]["application/json"]
    for example in examples["examples"].values():
        validator.validate(example["value"])
    validator.validate(TUTORIAL)


def test_the_schema_refuses_what_the_service_refuses(spec: dict[str, Any]) -> None:
    validator = _validator(spec, "RunRequest")
    assert not validator.is_valid({"inputs": {}})  # no program
    assert not validator.is_valid({**TUTORIAL, "optoins": {}})
    assert not validator.is_valid({**TUTORIAL, "options": {"encoding": "hex"}})


def _canonical_dtypes(node: Any) -> Any:
    """The request with each dtype alias (`FP32`, ...) spelled as its name: the schema's DType
    enum has one spelling per value and names the aliases, which the service also accepts, in
    its description."""
    from engine.program.values import DTYPE_ALIASES

    if isinstance(node, dict):
        return {
            k: DTYPE_ALIASES.get(v, v) if k == "dtype" and isinstance(v, str) else
            _canonical_dtypes(v)
            for k, v in node.items()
        }  # fmt: skip
    if isinstance(node, list):
        return [_canonical_dtypes(v) for v in node]
    return node


def test_dtype_has_one_spelling_per_value(spec: dict[str, Any]) -> None:
    from engine.program.values import DTYPE_ALIASES, DTYPES

    dtype = spec["components"]["schemas"]["DType"]
    assert dtype["enum"] == list(DTYPES)
    assert all(alias in dtype["description"] for alias in DTYPE_ALIASES)


@pytest.mark.skipif(not GOLDEN, reason="no golden programs yet")
@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_request_validates(spec: dict[str, Any], path: Path) -> None:
    case = json.loads(path.read_text())
    validator = _validator(spec, "RunRequest")
    errors = list(validator.iter_errors(_canonical_dtypes(case["request"])))
    if "error" in case:
        return  # a request the engine refuses may or may not be refused by the schema
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:3]]
