"""Liveness, readiness (starting, ready, draining), metrics, and X-Request-ID on every response."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.app.wire import TUTORIAL, assert_problem


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"


def test_readyz_once_started(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_is_503_while_draining(client: TestClient) -> None:
    client.app.state.draining = True
    response = client.get("/readyz")
    assert_problem(response, 503, "draining", None)
    assert response.headers["retry-after"]
    assert client.get("/healthz").status_code == 200  # still alive


def test_readyz_is_503_before_start_up() -> None:
    client = TestClient(create_app(Settings()))  # no `with`: the lifespan has not run
    assert_problem(client.get("/readyz"), 503, "starting", None)


def test_shutdown_flips_readiness() -> None:
    app = create_app(Settings())
    with TestClient(app):
        assert app.state.ready and not app.state.draining
    assert app.state.draining


# ----- X-Request-ID -----
def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"x-request-id": "abc-123_X.y"})
    assert response.headers["x-request-id"] == "abc-123_X.y"


@pytest.mark.parametrize("given", ["has space", "x" * 129, "semi;colon", "ünï", ""])
def test_insane_request_id_is_replaced(client: TestClient, given: str) -> None:
    response = client.get("/healthz", headers={"x-request-id": given.encode("utf-8")})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_request_id_is_generated_on_errors_too(client: TestClient) -> None:
    for response in (
        client.get("/healthz"),
        client.get("/nowhere"),
        client.post("/v1/run", content=b"{"),
    ):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert client.get("/nowhere", headers={"x-request-id": "r1"}).headers["x-request-id"] == "r1"


def test_request_ids_differ(client: TestClient) -> None:
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


# ----- /metrics -----
def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def test_metrics_counters_move(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    before = client.get("/metrics").text
    assert client.post("/v1/run", json=TUTORIAL).status_code == 200
    assert client.post("/v1/run", content=b"{").status_code == 400
    assert client.get("/nowhere").status_code == 404
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def delta(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    run = {"route": "/v1/run", "method": "POST"}
    assert delta("gradtape_http_requests_total", status="200", **run) == 1
    assert delta("gradtape_http_requests_total", status="400", **run) == 1
    assert delta("gradtape_http_requests_total", route="<unmatched>", status="404") == 1
    assert delta("gradtape_http_request_duration_seconds_count", **run) == 2
    assert delta("gradtape_programs_evaluated_total", outcome="ok") == 1
    assert delta("gradtape_ops_executed_total") >= 2
    assert delta("gradtape_evaluation_seconds_count") == 1
    assert delta("gradtape_requests_rejected_total", code="invalid_json") == 1
    assert delta("gradtape_requests_rejected_total", code="not_found") == 1


def test_engine_errors_are_counted_by_code(client: TestClient) -> None:
    before = client.get("/metrics").text
    client.post("/v1/run", json={"program": [{"op": "nope", "args": [], "out": "x"}]})
    after = client.get("/metrics").text
    name = "gradtape_requests_rejected_total"
    assert _sample(after, name, code="unknown_op") - _sample(before, name, code="unknown_op") == 1
    name = "gradtape_programs_evaluated_total"
    assert (
        _sample(after, name, outcome="unknown_op") - _sample(before, name, outcome="unknown_op")
        == 1
    )
