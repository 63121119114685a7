"""The app's middleware: one structured log line per request, CORS when configured."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from app.logging import JSONFormatter
from tests.app.wire import TUTORIAL


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger = logging.getLogger("gradtape")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def _request_lines(records: list[logging.LogRecord]) -> list[dict[str, object]]:
    formatter = JSONFormatter()
    return [orjson.loads(formatter.format(r)) for r in records if r.getMessage() == "request"]


def test_one_json_line_per_request(client: TestClient, records: list[logging.LogRecord]) -> None:
    secret = 12345.678
    request = {**TUTORIAL, "inputs": {"x": {"data": [[secret, 1.0], [1.0, 1.0]]}}}
    client.post("/v1/run", json=request, headers={"x-request-id": "log-1"})
    client.get("/nowhere")
    first, second = _request_lines(records)
    assert first["request_id"] == "log-1"
    assert (first["method"], first["path"], first["route"], first["status"]) == (
        "POST",
        "/v1/run",
        "/v1/run",
        200,
    )
    assert first["ops_executed"] >= 2
    assert isinstance(first["duration_ms"], float)
    assert first["level"] == "INFO" and first["logger"] == "gradtape.http"
    assert second["status"] == 404 and second["ops_executed"] is None
    assert all(str(secret) not in r.getMessage() + str(r.__dict__) for r in records)


def test_log_level_from_settings(
    make_client: Callable[..., TestClient], records: list[logging.LogRecord]
) -> None:
    client = make_client(log_level="WARNING")
    client.get("/healthz")
    assert _request_lines(records) == []


def test_no_cors_by_default(client: TestClient) -> None:
    response = client.get("/healthz", headers={"origin": "https://a.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_when_origins_are_configured(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins=["https://a.example"])
    response = client.options(
        "/v1/run",
        headers={
            "origin": "https://a.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://a.example"
    assert response.headers["x-request-id"]
    simple = client.post("/v1/run", json=TUTORIAL, headers={"origin": "https://a.example"})
    assert simple.headers["access-control-allow-origin"] == "https://a.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    other = client.get("/healthz", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_the_request_line_written_directly_is_the_formatters(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only the configured handler in the way, the request line skips the LogRecord; the
    line is the one JSONFormatter writes for `log.info("request", extra=...)`, byte for byte."""
    from app import logging as app_logging

    handler = logging.getLogger("gradtape").handlers[0]
    assert handler is app_logging._HANDLER
    monkeypatch.setattr(logging.getLogger("gradtape"), "handlers", [handler])  # pytest's out
    stream = io.StringIO()
    monkeypatch.setattr(handler, "stream", stream)
    monkeypatch.setattr(app_logging.time, "time", lambda: 1_790_000_000.0625)
    fields = {
        "request_id": "r-1",
        "method": "POST",
        "path": "/v1/run",
        "route": "/v1/run",
        "status": 200,
        "duration_ms": 0.25,
        "ops_executed": None,
    }
    log = logging.getLogger("gradtape.http")
    record = log.makeRecord(log.name, logging.INFO, "", 0, "request", (), None, extra=fields)
    record.created = 1_790_000_000.0625

    def no_records(*args: object, **kwargs: object) -> logging.LogRecord:
        raise AssertionError("the direct path makes no LogRecord")

    monkeypatch.setattr(log, "makeRecord", no_records)
    app_logging.log_request(log, fields)
    assert stream.getvalue() == JSONFormatter().format(record) + "\n"
    response = client.post("/v1/run", json=TUTORIAL, headers={"x-request-id": "direct-1"})
    (line,) = [orjson.loads(x) for x in stream.getvalue().splitlines()[1:]]
    assert (line["request_id"], line["status"], line["ops_executed"]) == (
        "direct-1",
        200,
        response.json()["stats"]["ops_executed"],
    )


def test_log_times_read_as_datetime_writes_them() -> None:
    import random
    from datetime import UTC, datetime

    from app.logging import _timestamp

    rng = random.Random(5)
    times = [rng.uniform(1.7e9, 1.8e9) for _ in range(20_000)]
    times += [1.7e9, 1.7e9 + 0.9999996, 1.7e9 + 0.0005, 1.7e9 + 0.9995]  # carries and halves
    for t in times:
        assert _timestamp(t) == datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def test_cors_headers_on_evaluation_answers_too(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins=["https://a.example"])
    for body in (TUTORIAL, {"program": "nope"}):  # an answer and a problem
        response = client.post("/v1/run", json=body, headers={"origin": "https://a.example"})
        assert response.headers["access-control-allow-origin"] == "https://a.example"


def test_header_lookups_take_the_first_value_of_each_name_in_any_case() -> None:
    from app.headers import first_values

    scope = {
        "headers": [
            (b"Accept", b"application/msgpack"),
            (b"x-request-id", b"a"),
            (b"accept", b"application/json"),
            (b"X-Request-ID", b"b"),
        ]
    }
    assert first_values(scope, b"accept", b"x-request-id", b"content-type") == [
        "application/msgpack",
        "a",
        None,
    ]
