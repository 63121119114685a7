"""GET /: the playground page, self-contained, with the examples and endpoints embedded."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from app.routes.page import pretty
from engine.program.schema import example_requests


def _embedded(html: str, marker: str) -> object:
    match = re.search(rf"const {marker} = (.*?) \|\|", html)
    assert match, f"{marker} is not embedded"
    return json.loads(match.group(1))


def test_page_is_html_with_the_form_and_result_areas(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for element in (
        '<select id="example"', '<select id="endpoint"', '<textarea id="request"',
        '<button id="run" type="submit">Run</button>', 'id="outputs"', 'id="warnings"',
        'id="stats"', 'id="problem"', 'id="loss-chart"', 'id="final-loss"',
        '<label for="example">', '<label for="endpoint">', '<label for="request">',
    ):  # fmt: skip
        assert element in html, element
    assert "__GRADTAPE_" not in html.replace("/*__GRADTAPE_EXAMPLES__*/", "").replace(
        "/*__GRADTAPE_ENDPOINTS__*/", ""
    )


def test_page_embeds_every_tutorial_example_as_text_that_keeps_floats(client: TestClient) -> None:
    examples = _embedded(client.get("/").text, "TUTORIAL")
    assert isinstance(examples, dict)
    assert list(examples) == list(example_requests())
    for name, request in example_requests().items():
        assert json.loads(examples[name]) == request
    assert "[[1.0, 1.0], [1.0, 1.0]]" in examples["gradient_of_input_and_intermediate"]


def test_page_lists_the_post_endpoints_the_app_serves(client: TestClient) -> None:
    endpoints = _embedded(client.get("/").text, "ENDPOINTS")
    assert isinstance(endpoints, list) and endpoints[0] == "/v1/run"
    paths = client.get("/openapi.json").json()["paths"]
    assert set(endpoints) == {"/v1/run", "/v1/minimize", "/v1/check"} & set(paths)


def test_page_is_offline_and_out_of_the_api_schema(client: TestClient) -> None:
    html = client.get("/").text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no external resources"
    assert "@import" not in html
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_page_is_open_when_an_api_key_is_set(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(api_key="secret")
    assert client.get("/").status_code == 200
    assert client.post("/v1/run", json={"program": []}).status_code == 401


def test_the_minimize_example_in_the_page_fits_a_line(client: TestClient) -> None:
    html = client.get("/").text
    text = re.search(r"const MINIMIZE_EXAMPLE = `(.*?)`;", html, re.S)
    assert text
    request = json.loads(text.group(1))
    assert request["optimizer"] == {"name": "adam", "learning_rate": 0.1}
    assert request["steps"] == 200
    response = client.post("/v1/minimize", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["loss_history"][-1] < 0.05 < body["loss_history"][0]
    assert body["variables"]["w"]["dtype"] == "float64"


def test_pretty_keeps_short_values_on_one_line() -> None:
    assert pretty({"a": [1.0, 2]}) == '{"a": [1.0, 2]}'
    long = {"program": [{"op": "multiply", "args": ["x" * 30, "y" * 30], "out": "z"}] * 2}
    text = pretty(long)
    assert json.loads(text) == long
    assert all(len(line) <= 64 for line in text.splitlines())
