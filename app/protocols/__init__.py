"""The stored functions under standard protocols: one module per protocol.

Each module reads its protocol's request into a call of the function service
(`engine.functions`), makes the call, and writes the answer, or the error, in the protocol's own
format. What they share lives here: a router whose routes answer every expected error through
the protocol's renderer, the JSON body (whatever the Content-Type: these clients send none), the
call through the admission gate, and the description of an error (`Fault`) that each renderer
turns into its own body. A protocol is added with one module and one `include_router` line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from app import metrics, problems
from app.body import Body, decode_body, receive_body
from app.headers import first_values
from app.routes import require_api_key
from app.schemas import JSON
from engine import EngineError
from engine.functions import Function

T = TypeVar("T")

NOT_FOUND = "not_found"
INVALID = "invalid"
UNSUPPORTED = "unsupported"


class ProtocolError(Exception):
    """A request the protocol's own rules refuse (a missing field, a wrong length...)."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = INVALID,
        status: int | None = None,
        loc: Sequence[str | int] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.loc = tuple(loc)


@dataclass(frozen=True)
class Fault:
    """An error as every protocol needs it: what kind, the HTTP status the service would give
    (the protocol may choose its own for `invalid` and `not_found`), a message, where in the
    request (path tokens), a stable code, extra headers."""

    kind: str  # not_found | invalid | unsupported | http (401, 413, 503...: keep the status)
    status: int
    message: str
    loc: tuple[str | int, ...] = ()
    code: str = "bad_request"
    headers: Mapping[str, str] = field(default_factory=dict)


def fault_of(exc: BaseException) -> Fault:
    """The Fault of any error a protocol route may meet (unexpected ones are not passed here)."""
    if isinstance(exc, ProtocolError):
        status = exc.status or (404 if exc.kind == NOT_FOUND else 400)
        return Fault(exc.kind, status, exc.message, exc.loc, code=exc.kind)
    if isinstance(exc, EngineError):
        if exc.code == "unknown_function":
            return Fault(NOT_FOUND, 404, exc.message, code=exc.code)
        where = f" (at {exc.pointer})" if exc.pointer else ""
        loc = _tokens(exc.pointer)
        return Fault(INVALID, 422, exc.message + where, loc, code=exc.code)
    if isinstance(exc, problems.HTTPProblem):
        kind = INVALID if exc.status in (400, 422) else "http"
        return Fault(kind, exc.status, exc.detail, code=exc.code, headers=exc.headers)
    status, body, headers = problems.describe(exc)
    kind = INVALID if status in (400, 422) else "http"
    return Fault(kind, status, body["detail"], code=body["code"], headers=headers)


def _tokens(pointer: str | None) -> tuple[str | int, ...]:
    if not pointer:
        return ()
    return tuple(
        int(t) if t.isdigit() else t.replace("~1", "/").replace("~0", "~")
        for t in pointer.split("/")[1:]
    )


EXPECTED = (ProtocolError, *problems.EXPECTED_ERRORS)
Renderer = Callable[[Fault], Response]


def protocol_router(render: Renderer, *, prefix: str = "", tags: Sequence[str] = ()) -> APIRouter:
    """A router behind the API key whose routes answer every expected error (the key's 401, a
    body over the size limit, a full queue, the engine's errors) with `render`. Its routes stay
    out of the service's OpenAPI document, which describes the service's own API and its
    problem+json errors: each protocol is described by its own standard (and each Tesseract by
    its own openapi.json)."""

    class ProtocolRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()

            async def answer(request: Request) -> Response:
                try:
                    return await handle(request)
                except EXPECTED as exc:
                    fault = fault_of(exc)
                    metrics.child(metrics.REJECTED, fault.code).inc()
                    return render(fault)

            return answer

    return APIRouter(
        prefix=prefix,
        tags=list(tags),
        route_class=ProtocolRoute,
        dependencies=[Depends(require_api_key)],
        include_in_schema=False,
    )


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer; NumPy arrays in `body` are written natively."""
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type=JSON,
        headers=dict(headers or {}),
    )


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object whatever its Content-Type (the size and container limits
    apply as on /v1/run): 400 when it is not JSON, 422 when it is not an object."""
    (length,) = first_values(request.scope, b"content-length")
    size = int(length) if length is not None and length.isdigit() else None
    max_containers = request.app.state.settings.max_body_containers
    raw, brackets = await receive_body(
        request, size, count_brackets=size is not None and size > 2 * max_containers
    )
    return decode_body(Body(raw=raw, max_containers=max_containers, brackets=brackets))


def function(request: Request, name: str) -> Function:
    """The stored function `name` (the engine's unknown_function error, 404, otherwise)."""
    found: Function = request.app.state.functions.get(name)
    return found


async def call(
    request: Request,
    method: Callable[..., T],
    *args: Any,
    renamed: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> T:
    """`method(*args, limits=..., **kwargs)` in a worker thread through the admission gate.
    `renamed` maps the first token of an error's pointer (the function service's field names:
    inputs, wrt, of, cotangents, tangents) to the protocol's own."""
    state = request.app.state
    bound = functools.partial(method, *args, limits=state.limits, **kwargs)
    try:
        return await state.gate.run(bound)
    except EngineError as exc:
        if renamed and exc.pointer:
            head, sep, rest = exc.pointer[1:].partition("/")
            if head in renamed:
                exc.pointer = "/" + renamed[head] + sep + rest
        raise


def field_of(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """`body[key]`, which must be there and of `kind` (bool is no number); ProtocolError else."""
    if key not in body:
        raise ProtocolError(f"`{key}` is missing: {what}", loc=(key,))
    value = body[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise ProtocolError(f"`{key}` must be {what}", loc=(key,))
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def only_keys(body: Mapping[str, Any], known: Sequence[str], where: str = "the body") -> None:
    """ProtocolError for a key outside `known` (typos never pass silently)."""
    for key in body:
        if key not in known:
            shown = key if len(key) <= 64 else key[:61] + "..."
            raise ProtocolError(
                f"unknown key {shown!r} in {where} (known keys: {', '.join(known)})", loc=(key,)
            )


def is_number(value: Any) -> bool:
    return type(value) in (int, float)
