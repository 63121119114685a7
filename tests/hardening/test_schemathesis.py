"""Schemathesis against the service's own OpenAPI schema, with every request sent to a live server.

The schema is the app's own (`create_app().openapi()`, checked equal to what the live server
serves at /openapi.json); it is loaded at import time because schemathesis parametrizes at
collection. The settings come from `schemathesis.toml` at the repository root (bounded,
derandomized examples; 422 counts as acceptance of schema-valid data). Every check of
schemathesis runs: no 5xx, every status and content type declared, responses that match their
schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from .server import API_KEY, ROOT, Server, serving

CONFIG_PATH = ROOT / "schemathesis.toml"
PROBLEM_JSON = "application/problem+json"


def load_config() -> SchemathesisConfig:
    return SchemathesisConfig.from_path(CONFIG_PATH)


@pytest.fixture(scope="module")
def fuzzed_server() -> Iterator[Server]:
    """A server with an API key, as the schema's bearer security scheme describes."""
    with serving({"GRADTAPE_API_KEY": API_KEY}) as srv:
        yield srv


@pytest.fixture(scope="module")
def openapi(fuzzed_server: Server) -> dict[str, Any]:
    response = httpx.get(fuzzed_server.url + "/openapi.json", timeout=30)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def own_openapi() -> dict[str, Any]:
    from app.main import create_app

    document: dict[str, Any] = create_app().openapi()
    return document


schema = schemathesis.openapi.from_dict(own_openapi(), config=load_config())


def test_live_server_serves_the_same_schema(openapi: dict[str, Any]) -> None:
    assert openapi == own_openapi()


def test_config_is_the_repository_one() -> None:
    project = load_config().projects.get_default()
    assert project.generation.max_examples == 50
    assert project.generation.deterministic
    assert project.checks.positive_data_acceptance.expected_statuses == ["2xx", "422"]


def test_schema_is_valid_openapi(openapi: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(openapi)


def test_every_error_response_is_declared_as_problem_json(openapi: dict[str, Any]) -> None:
    """Each 4xx/5xx an operation declares has application/problem+json content."""
    wrong = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45" and PROBLEM_JSON not in response.get("content", {}):
                    wrong.append(f"{method.upper()} {path} {status}")
    assert not wrong, wrong


def test_evaluating_routes_declare_their_errors(openapi: dict[str, Any]) -> None:
    """The errors wire format section 6 gives an evaluating route are all in its schema."""
    required = {"400", "401", "413", "422", "503"}
    for path, item in openapi["paths"].items():
        post = item.get("post")
        if post is None or not path.startswith("/v1/"):
            continue
        missing = required - set(post["responses"])
        assert not missing, f"POST {path} does not declare {sorted(missing)}"


@schema.parametrize()
def test_api_conforms_to_its_schema(case: Any, fuzzed_server: Server) -> None:
    response = case.call_and_validate(
        base_url=fuzzed_server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    )
    assert response.status_code < 500
    assert fuzzed_server.alive()
    if response.status_code >= 400:
        media = response.headers.get("content-type", [""])
        assert (media[0] if isinstance(media, list) else media).startswith(PROBLEM_JSON)
