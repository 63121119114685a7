"""Every error body the service sends: application/problem+json (RFC 9457), built here only."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from app import metrics
from app.logging import REQUEST
from app.schemas import PROBLEM_JSON
from engine import EngineError
from engine.errors import TITLES
from engine.functions import FunctionReadOnly, UnknownFunction

RETRY_AFTER_S = 1
MAX_DETAIL = 500  # characters: a detail never carries a large piece of the request

log = logging.getLogger("gradtape.app")

# Codes of the errors the HTTP layer raises itself (the engine's codes are in engine/errors.py).
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
    503: "unavailable",
}

# Every problem kind is a `type` URI of its own, a path under the service that answers what the
# code means (GET /problems/{code}); its title is the kind's, whatever the occurrence.
PROBLEM_TYPES = "/problems/"
HTTP_TITLES: dict[str, str] = {
    "invalid_json": "Invalid JSON",
    "bad_content_length": "Bad Content-Length",
    "unauthorized": "Unauthorized",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "not_acceptable": "Not acceptable",
    "body_too_large": "Body too large",
    "unsupported_media_type": "Unsupported media type",
    "internal_error": "Internal error",
    "unavailable": "Unavailable",
    "over_capacity": "Over capacity",
    "draining": "Draining",
    "starting": "Starting",
}


def title_of(code: str) -> str | None:
    """The title of a problem kind the service knows, else None."""
    return TITLES.get(code) or HTTP_TITLES.get(code)


class HTTPProblem(Exception):
    """An error found by the HTTP layer (not the engine): status, stable code, safe detail."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        pointer: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or title_of(code) or HTTPStatus(status).phrase
        self.pointer = pointer
        self.headers = dict(headers or {})


# ----- the HTTP layer's own errors -----
def invalid_json(reason: str) -> HTTPProblem:
    """400: the body is not JSON (or msgpack) that the parser accepts; `reason` names no data."""
    return HTTPProblem(400, "invalid_json", f"the request body is not valid: {reason}", pointer="")


def not_an_object(kind: str) -> HTTPProblem:
    return HTTPProblem(
        422,
        "bad_request",
        f"the request body must be an object, not {kind}",
        title="Bad request",
        pointer="",
    )


def body_too_large(limit: int) -> HTTPProblem:
    return HTTPProblem(
        413, "body_too_large", f"the request body is over the limit of {limit} bytes", pointer=""
    )


def bad_content_length() -> HTTPProblem:
    return HTTPProblem(400, "bad_content_length", "the Content-Length header is not a number")


def body_over_length(length: int) -> HTTPProblem:
    return HTTPProblem(
        400, "bad_content_length", f"the body is longer than its Content-Length ({length} bytes)"
    )


def unauthorized() -> HTTPProblem:
    return HTTPProblem(
        401,
        "unauthorized",
        "missing or wrong API key: send `Authorization: Bearer <key>`",
        headers={"WWW-Authenticate": 'Bearer realm="gradtape"'},
    )


def over_capacity() -> HTTPProblem:
    return HTTPProblem(
        503,
        "over_capacity",
        "the service is at its concurrency limit; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def draining() -> HTTPProblem:
    return HTTPProblem(
        503, "draining", "the service is shutting down", headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def starting() -> HTTPProblem:
    return HTTPProblem(
        503, "starting", "the service is starting", headers={"Retry-After": str(RETRY_AFTER_S)}
    )


# ----- bodies -----
def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    pointer: str | None = None,
    call_stack: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The problem object: type, title, status, code, detail, then pointer, call_stack and the
    request's id as `instance`, where there are."""
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "\u2026"
    body: dict[str, Any] = {
        "type": PROBLEM_TYPES + code,
        "title": title or title_of(code) or HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if pointer is not None:
        body["pointer"] = pointer
    if call_stack:
        body["call_stack"] = list(call_stack)
    info = REQUEST.get()
    if info is not None:
        body["instance"] = f"urn:gradtape:request:{info.request_id}"
    return body


def engine_status(exc: EngineError) -> int:
    """422 for every engine error but the function service's: an unknown function is 404, a
    change to a read-only one 409."""
    if isinstance(exc, UnknownFunction):
        return 404
    if isinstance(exc, FunctionReadOnly):
        return 409
    return 422


def describe(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, problem body and extra headers for any exception (unknown ones are a 500)."""
    if isinstance(exc, EngineError):
        status = engine_status(exc)
        body = problem_body(
            status,
            exc.code,
            exc.message,
            title=exc.title,
            pointer=exc.pointer,
            call_stack=exc.call_stack,
        )
        return status, body, {}
    if isinstance(exc, HTTPProblem):
        body = problem_body(exc.status, exc.code, exc.detail, title=exc.title, pointer=exc.pointer)
        return exc.status, body, exc.headers
    if isinstance(exc, RequestValidationError):
        return 422, _validation_body(exc), {}
    if isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        code = HTTP_CODES.get(status, f"http_{status}")
        detail = _http_detail(exc, status)
        return status, problem_body(status, code, detail), dict(exc.headers or {})
    return 500, problem_body(500, "internal_error", "internal error: this is a bug"), {}


def render(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    """The problem+json response; counts the rejection by code."""
    metrics.child(metrics.REJECTED, body["code"]).inc()
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


def response_for(exc: BaseException) -> Response:
    status, body, headers = describe(exc)
    return render(status, body, headers)


def _http_detail(exc: StarletteHTTPException, status: int) -> str:
    if status == 404:
        return "no such resource"
    if status == 405:
        return "method not allowed on this resource"
    return HTTPStatus(status).description or HTTPStatus(status).phrase


def _validation_body(exc: RequestValidationError) -> dict[str, Any]:
    """The first pydantic error, without its `input` (never echo the payload)."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "type": "value_error", "msg": "invalid request"}
    loc = [str(part) for part in first.get("loc", ())]
    kind = str(first.get("type", ""))
    code = {"missing": "missing_key", "extra_forbidden": "unknown_key"}.get(kind, "bad_value")
    if loc and loc[0] == "body":
        pointer = "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in loc[1:])
        where = pointer or "the body"
    else:
        pointer = None
        where = " ".join(loc) or "the request"
    message = str(first.get("msg", "invalid value"))
    detail = f"{where}: {message}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    title = {"missing_key": "Missing key", "unknown_key": "Unknown key"}.get(code, "Bad value")
    return problem_body(422, code, detail, title=title, pointer=pointer)


def log_unhandled(exc: BaseException, method: str, path: str) -> None:
    """The last resort's log entry: the traceback, never the payload (a 500 is always a bug)."""
    log.error(
        "unhandled error on %s %s", method, path, exc_info=(type(exc), exc, exc.__traceback__)
    )


# The errors answered with their problem+json; anything else is a bug for the middleware's
# last resort (a 500, logged).
EXPECTED_ERRORS = (EngineError, HTTPProblem, RequestValidationError, StarletteHTTPException)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path. (The router names only the first
    route whose path matches, and a path may have one route per method.)"""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Register the handlers that turn every expected error into problem+json (unexpected ones
    reach app.main's middleware, which logs them and answers 500 from `describe`)."""

    async def _problem(request: Request, exc: Exception) -> Response:
        response = response_for(exc)
        if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    for kind in EXPECTED_ERRORS:
        app.add_exception_handler(kind, _problem)
