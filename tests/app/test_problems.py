"""Every error the HTTP layer answers: status, problem+json media type, code and pointer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import orjson
import pytest
from fastapi import Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from app import admission
from app.main import create_app
from app.settings import Settings
from tests.app.wire import TUTORIAL, assert_problem

RUN = "/v1/run"


# ----- 400: not JSON -----
@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[1, 2",
        b"",
        b"NaN",
        b'{"inputs": NaN}',
        b"{'a': 1}",
        b"[" * 2000 + b"]" * 2000,
        b"\xff\xfe",
    ],
    ids=[
        "open-brace",
        "unterminated",
        "empty",
        "bare-nan",
        "nan-token",
        "single-quotes",
        "too-deep",
        "not-utf8",
    ],
)
def test_body_that_is_not_json_is_400(client: TestClient, body: bytes) -> None:
    problem = assert_problem(client.post(RUN, content=body), 400, "invalid_json", "")
    assert "NaN" not in problem["detail"] or body == b"NaN"


def test_bad_msgpack_is_400(client: TestClient) -> None:
    response = client.post(RUN, content=b"\xc1", headers={"content-type": "application/msgpack"})
    assert_problem(response, 400, "invalid_json", "")


# ----- 413: too large -----
def test_413_from_content_length_before_reading(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=100)
    body = orjson.dumps({"inputs": {"x": list(range(100))}, "program": []})
    problem = assert_problem(client.post(RUN, content=body), 413, "body_too_large", "")
    assert "100 bytes" in problem["detail"]


def test_413_while_streaming_a_chunked_body(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=1000)
    chunks_sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal chunks_sent
        yield b'{"program": [], "inputs": {"x": ['
        for _ in range(200):
            chunks_sent += 1
            yield b"1.0, " * 10
        yield b"1.0]}}"

    response = client.post(RUN, content=chunks())
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "body_too_large", "")


def test_body_at_the_limit_is_read(make_client: Callable[..., TestClient]) -> None:
    body = b"[1]"
    client = make_client(max_body_bytes=len(body))
    assert_problem(client.post(RUN, content=body), 422, "bad_request", "")


def test_bad_content_length_is_400(client: TestClient) -> None:
    response = client.post(RUN, content=b"{}", headers={"content-length": "two"})
    assert_problem(response, 400, "bad_content_length")


# ----- 422: valid JSON, wrong request -----
@pytest.mark.parametrize("body", [b"[1, 2]", b"3", b'"run"', b"null", b"true"])
def test_json_that_is_not_an_object_is_422(client: TestClient, body: bytes) -> None:
    assert_problem(client.post(RUN, content=body), 422, "bad_request", "")


def test_unknown_top_level_key_is_422_with_its_pointer(client: TestClient) -> None:
    response = client.post(RUN, json={**TUTORIAL, "optoins": {}})
    assert_problem(response, 422, "unknown_key", "/optoins")


def test_unknown_key_in_options(client: TestClient) -> None:
    response = client.post(RUN, json={**TUTORIAL, "options": {"encodng": "json"}})
    assert_problem(response, 422, "unknown_key", "/options/encodng")


def test_missing_program_is_422(client: TestClient) -> None:
    assert_problem(client.post(RUN, json={"inputs": {}}), 422, "missing_key", "/program")


def test_unknown_op_points_at_its_statement(client: TestClient) -> None:
    program = [
        {"op": "add", "args": [1.0, 2.0], "out": "a"},
        {"op": "frobnicate", "args": ["a"], "out": "b"},
    ]
    response = client.post(RUN, json={"program": program})
    assert_problem(response, 422, "unknown_op", "/program/1/op")


def test_unknown_name_inside_a_tape_body(client: TestClient) -> None:
    program = [{"tape": "t", "body": [{"op": "exp", "args": ["nope"], "out": "y"}]}]
    response = client.post(RUN, json={"program": program})
    body = assert_problem(response, 422, "unknown_name")
    assert body["pointer"].startswith("/program/0/body/0")


def test_shape_mismatch_from_numpy(client: TestClient) -> None:
    request = {
        "inputs": {"a": [[1.0, 2.0, 3.0]], "b": [[1.0, 2.0, 3.0]]},
        "program": [{"op": "matmul", "args": ["a", "b"], "out": "c"}],
    }
    assert_problem(client.post(RUN, json=request), 422, "shape_mismatch", "/program/0")


def test_second_gradient_on_a_one_shot_tape(client: TestClient) -> None:
    program = [
        {"tape": "t", "watch": ["x"], "body": [{"op": "square", "args": ["x"], "out": "y"}]},
        {"gradient": "t", "target": "y", "sources": "x", "out": "g1"},
        {"gradient": "t", "target": "y", "sources": "x", "out": "g2"},
    ]
    response = client.post(RUN, json={"inputs": {"x": 3.0}, "program": program})
    assert_problem(response, 422, "tape_not_persistent", "/program/2")


def test_bad_tensor_in_an_input(client: TestClient) -> None:
    request = {"inputs": {"x": [[1.0, 2.0], [3.0]]}, "program": []}
    body = assert_problem(client.post(RUN, json=request), 422, "bad_tensor")
    assert body["pointer"].startswith("/inputs/x")


def test_limit_exceeded(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_ops=3)
    program = [{"for": "i", "range": 10, "body": [{"op": "add", "args": [1.0, 1.0], "out": "a"}]}]
    body = assert_problem(client.post(RUN, json={"program": program}), 422, "limit_exceeded")
    assert body["pointer"].startswith("/program/0")


def test_error_inside_a_function_carries_the_call_stack(client: TestClient) -> None:
    program = [
        {
            "def": "f",
            "params": ["u"],
            "body": [
                {"op": "matmul", "args": ["u", "u"], "out": "v"},
                {"return": "v"},
            ],
        },
        {"call": "f", "args": [[[1.0, 2.0, 3.0]]], "out": "w"},
    ]
    body = assert_problem(client.post(RUN, json={"program": program}), 422, "shape_mismatch")
    assert body["pointer"] == "/program/0/body/0"
    assert body["call_stack"] == ["/program/1"]


def test_error_bodies_never_echo_the_payload(client: TestClient) -> None:
    secret = "s3cr3t_payload_value"
    requests = [
        {"inputs": {"x": {"data": [1.0], "bogus": secret}}, "program": []},
        {"program": [{"op": "add", "args": [secret + "_literal_is_a_name"], "out": "y"}]},
        {"program": "x" * 50 + secret},
    ]
    for request in requests:
        response = client.post(RUN, json=request)
        assert response.status_code == 422
        assert secret not in response.text or secret + "_literal_is_a_name" in response.text


# ----- 401 -----
def test_api_key_required_when_configured(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="k3y")
    assert_problem(client.post(RUN, json=TUTORIAL), 401, "unauthorized", None)
    wrong = {"authorization": "Bearer nope"}
    assert_problem(client.post(RUN, json=TUTORIAL, headers=wrong), 401, "unauthorized", None)
    basic = {"authorization": "Basic azNeTo="}
    assert_problem(client.get("/v1/ops", headers=basic), 401, "unauthorized", None)
    response = client.post(RUN, json=TUTORIAL, headers={"authorization": "Bearer k3y"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_open_paths_need_no_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="k3y")
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path
    # /metrics is behind the key (tests/deploy/test_container_defaults.py has the table).
    assert_problem(client.get("/metrics"), 401, "unauthorized", None)


def test_no_key_configured_means_open(client: TestClient) -> None:
    assert client.get("/v1/ops").status_code == 200


def test_401_is_checked_before_the_body_is_parsed(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="k3y")
    assert_problem(client.post(RUN, content=b"{not json"), 401, "unauthorized", None)


# ----- 404, 405 -----
def test_unknown_path_is_404(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing"), 404, "not_found", None)
    assert_problem(client.post("/v2/run", json=TUTORIAL), 404, "not_found", None)


def test_wrong_method_is_405(client: TestClient) -> None:
    response = client.get(RUN)
    assert_problem(response, 405, "method_not_allowed", None)
    assert "POST" in response.headers["allow"]


# ----- 503 -----
def test_503_when_the_limiter_and_queue_are_full(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(max_concurrency=1, max_queue=1)
    release = threading.Event()
    entered = threading.Semaphore(0)
    real = admission.evaluate

    def blocking(*args: object, trial: bool = False) -> object:
        if trial:
            return None  # as if the inline attempt hit its limits: on to the gate
        entered.release()
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(admission, "evaluate", blocking)
    results: list[int] = []
    workers = [
        threading.Thread(target=lambda: results.append(client.post(RUN, json=TUTORIAL).status_code))
        for _ in range(2)
    ]
    try:
        workers[0].start()
        assert entered.acquire(timeout=10)  # one running
        workers[1].start()  # one queued for the core
        _wait_for(lambda: client.app.state.gate.admitted == 2)
        response = client.post(RUN, json=TUTORIAL)
        assert_problem(response, 503, "over_capacity", None)
        assert response.headers["retry-after"] == "1"
    finally:
        release.set()
        for w in workers:
            w.join(10)
    assert results == [200, 200]
    assert client.post(RUN, json=TUTORIAL).status_code == 200


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: int


# ----- 500, validation errors: on a test app with extra routes -----
@pytest.fixture
def odd_client() -> Iterator[TestClient]:
    app = create_app(Settings())

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug, with a secret in its message")

    @app.get("/needs-int")
    def needs_int(n: int = Query()) -> dict[str, int]:
        return {"n": n}

    @app.post("/thing")
    def thing(t: Thing) -> dict[str, int]:
        return {"a": t.a}

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_unhandled_error_is_a_logged_500(
    odd_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    logger = logging.getLogger("gradtape")
    logger.addHandler(caplog.handler)
    try:
        response = odd_client.get("/boom", headers={"x-request-id": "req-500"})
    finally:
        logger.removeHandler(caplog.handler)
    body = assert_problem(response, 500, "internal_error", None)
    assert "secret" not in body["detail"]
    assert response.headers["x-request-id"] == "req-500"
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and errors[0].exc_info is not None


def test_request_validation_error_is_422_problem(odd_client: TestClient) -> None:
    body = assert_problem(odd_client.get("/needs-int?n=abc"), 422, "bad_value", None)
    assert "abc" not in body["detail"]
    body = assert_problem(odd_client.get("/needs-int"), 422, "missing_key", None)
    assert "n" in body["detail"]


def test_body_validation_error_points_into_the_body(odd_client: TestClient) -> None:
    body = assert_problem(odd_client.post("/thing", json={"a": "zzz"}), 422, "bad_value", "/a")
    assert "zzz" not in orjson.dumps(body).decode()
    assert_problem(odd_client.post("/thing", json={"a": 1, "b": 2}), 422, "unknown_key", "/b")


def test_long_details_are_cut(client: TestClient) -> None:
    name = "q" * 5000
    request = {"inputs": {"x": 1.0}, "program": [{"op": "exp", "args": [name], "out": "y"}]}
    body = assert_problem(client.post(RUN, json=request), 422, "unknown_name")
    assert len(body["detail"]) <= 500


def test_each_problem_kind_has_a_type_uri_that_explains_it(client: TestClient) -> None:
    """RFC 9457: `type` names the kind (a path under the service, answering its title), the
    title is the kind's, and `instance` names this occurrence by the request's id."""
    response = client.post(
        "/v1/run",
        json={"inputs": {}, "program": [{"op": "tahn", "args": [1.0], "out": "y"}]},
        headers={"X-Request-ID": "abc-123"},
    )
    body = response.json()
    assert body["type"] == "/problems/unknown_op"
    assert body["instance"] == "urn:gradtape:request:abc-123"
    kind = client.get(body["type"])
    assert kind.status_code == 200
    assert kind.json()["title"] == body["title"] == "Unknown op"
    assert kind.json()["code"] == "unknown_op"
    missing = client.get("/problems/no_such_kind")
    assert missing.status_code == 422
    assert missing.json()["code"] == "bad_value"
    known = {error["code"] for error in [body]} | {"shape_mismatch", "invalid_json", "draining"}
    for code in known:
        assert client.get(f"/problems/{code}").json()["type"] == f"/problems/{code}"
