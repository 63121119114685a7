"""Every hostile request of the catalog, over HTTP, against one live server: the right problem,
never a 5xx, never the payload echoed, and the same server process healthy afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .client import REQUEST_TIMEOUT_S, Answer, send
from .hostile_cases import CASES, MARKER, Hostile
from .server import Server

PROBLEM_JSON = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "code", "detail"}
TIME_LIMIT_S = 10.0  # the keyed server's GRADTAPE_TIMEOUT_S
SLACK_S = 15.0
MAX_PROBLEM_BYTES = 16 * 1024


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        yield client


def pointer_matches(actual: Any, expected: str | tuple[str, ...]) -> bool:
    """The actual pointer is an expected one, or lies inside it (a field of that statement)."""
    options = expected if isinstance(expected, tuple) else (expected,)
    if not isinstance(actual, str):
        return False
    return any(actual == e or actual.startswith(e.rstrip("/") + "/") for e in options)


def assert_problem(case: Hostile, answer: Answer) -> dict[str, Any]:
    """The body is a complete problem+json object that matches the row and echoes nothing."""
    media = answer.headers.get("content-type", "")
    assert media.startswith(PROBLEM_JSON), f"{case.id}: content-type {media!r}"
    problem = answer.json()
    assert isinstance(problem, dict), f"{case.id}: {problem!r}"
    missing = PROBLEM_KEYS - problem.keys()
    assert not missing, f"{case.id}: problem lacks {sorted(missing)}: {problem}"
    assert problem["status"] == answer.status, f"{case.id}: {problem}"
    assert all(isinstance(problem[k], str) for k in ("type", "title", "code", "detail")), problem
    codes = case.codes()
    if codes is not None:
        assert problem["code"] in codes, (
            f"{case.id}: code {problem['code']!r}, not {codes}: {problem}"
        )
    if case.pointer is not None:
        assert pointer_matches(problem.get("pointer"), case.pointer), (
            f"{case.id}: pointer {problem.get('pointer')!r}, expected {case.pointer!r}: {problem}"
        )
    assert MARKER.encode() not in answer.body, f"{case.id}: the error echoes the payload"
    assert len(answer.body) <= MAX_PROBLEM_BYTES, f"{case.id}: a {len(answer.body)}-byte problem"
    return problem


def assert_protocol_error(case: Hostile, answer: Answer) -> None:
    """The body is the protocol's own error, matching the row, echoing nothing."""
    media = answer.headers.get("content-type", "")
    assert media.startswith("application/json"), f"{case.id}: content-type {media!r}"
    body = answer.json()
    codes = case.codes()
    if case.protocol == "umbridge":  # {"error": {"type", "message"}}, the type is the code
        assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
        found = body["error"]["type"]
    elif case.protocol == "tesseract":  # {"detail": [{"type", "loc", "msg"}]}
        assert set(body) == {"detail"} and len(body["detail"]) == 1, body
        (detail,) = body["detail"]
        assert set(detail) == {"type", "loc", "msg"} and detail["loc"][:1] == ["body"], body
        assert isinstance(detail["msg"], str) and detail["msg"], body
        found = detail["type"]
    else:  # oip: {"error": "message"}
        assert case.protocol == "oip", case.protocol
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
        found = None
    if codes is not None:
        assert found in codes, f"{case.id}: {found!r}, not {codes}: {body}"
    assert MARKER.encode() not in answer.body, f"{case.id}: the error echoes the payload"
    assert len(answer.body) <= MAX_PROBLEM_BYTES, f"{case.id}: a {len(answer.body)}-byte error"


SUCCESS_KEYS = {
    "/v1/run": {"outputs", "warnings", "stats"},
    "/v1/check": {"passed", "results"},
    "/v1/minimize": {"variables", "loss_history", "steps"},
}


def assert_outputs(case: Hostile, answer: Answer) -> None:
    body = answer.json()
    assert set(body) >= SUCCESS_KEYS[case.path], body
    for name, data in (case.outputs or {}).items():
        assert body["outputs"][name]["data"] == data, f"{case.id}: {name} = {body['outputs'][name]}"


def assert_same_server_healthy(server: Server, http: httpx.Client, case: Hostile) -> None:
    assert server.alive(), f"{case.id}: the server died:\n{server.log_tail()}"
    health = http.get(server.url + "/healthz")
    assert health.status_code == 200, f"{case.id}: /healthz answered {health.status_code}"
    assert server.alive() and server.proc.pid == server.pid


def test_catalog_is_big_enough() -> None:
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)


def params() -> list[Any]:
    """The catalog as test parameters; a row with a known bug is a strict xfail, so the fix of
    the bug turns it into a failure that asks for the mark to go."""
    return [
        pytest.param(
            c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.bug)] if c.bug else []
        )
        for c in CASES
    ]


@pytest.mark.parametrize("case", params())
def test_hostile_request(case: Hostile, keyed_server: Server, http: httpx.Client) -> None:
    pid = keyed_server.pid
    answer = send(keyed_server, case, http)
    try:
        assert answer.status < 500, (
            f"{case.id}: {answer.status} {answer.body[:500]!r}\n{keyed_server.log_tail()}"
        )
        assert answer.status in case.statuses(), (
            f"{case.id}: status {answer.status}, expected {case.statuses()}: {answer.body[:500]!r}"
        )
        assert "x-request-id" in answer.headers, f"{case.id}: no X-Request-ID"
        if answer.status >= 400 and case.protocol is not None:
            assert_protocol_error(case, answer)
        elif answer.status >= 400:
            assert_problem(case, answer)
        else:
            assert_outputs(case, answer)
        assert answer.elapsed_s < TIME_LIMIT_S + SLACK_S, f"{case.id}: {answer.elapsed_s:.1f} s"
    finally:
        assert_same_server_healthy(keyed_server, http, case)
        assert keyed_server.pid == pid


def test_401_problem_carries_www_authenticate(keyed_server: Server, http: httpx.Client) -> None:
    response = http.post(keyed_server.url + "/v1/run", json={"program": []})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_health_needs_no_key(keyed_server: Server, http: httpx.Client) -> None:
    assert http.get(keyed_server.url + "/healthz").status_code == 200
