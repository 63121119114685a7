"""The ASGI app: create_app() wires routers, middleware (request id, body size, logs, metrics),
problem+json handlers, readiness and the OpenAPI schema; `app = create_app()`."""

from __future__ import annotations

import gc
import itertools
import logging
import os
import re
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import logging as app_logging
from app import memory, metrics, problems, schemas
from app.admission import Gate, inline_limits
from app.headers import first_values
from app.logging import REQUEST, RequestInfo
from app.protocols import oip, tesseract, umbridge
from app.routes import api_router, direct_routes, health_router, page, plain_routes, problem_types
from app.settings import Settings, get_settings
from engine.functions import FunctionFileError, Repository
from engine.program import run_program
from engine.program.schema import example_requests

log = logging.getLogger("gradtape.http")

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Generated request ids: a random prefix per process and a counter (unique, and no system call
# per request, which uuid4's urandom is).
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)
UNMATCHED = "<unmatched>"
# A bad or too large Content-Length is answered before routing on these paths (problem+json);
# elsewhere (the standard protocols' routes) the route meets the error when it reads the body,
# and answers it in its protocol's format.
EARLY_LENGTH_PREFIX = "/v1/"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ServiceMiddleware:
    """Around every HTTP request: X-Request-ID, the body size limit (413), one JSON log line,
    request metrics, and the last-resort 500 (logged with its traceback, never the payload)."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, direct: dict[str, ASGIApp] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # POST paths answered without the app's router and exception middleware (the
        # evaluation endpoints; a tenth of a tiny request's time went to those layers).
        self.direct = direct or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given, length = first_values(scope, b"x-request-id", b"content-length")
        request_id = (
            given
            if given is not None and REQUEST_ID.fullmatch(given)
            else f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"
        )
        info = RequestInfo(request_id)
        token = REQUEST.set(info)
        start = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            early = self._check_length(length)
            if early is not None and scope["path"].startswith(EARLY_LENGTH_PREFIX):
                await problems.response_for(early)(scope, receive, send_with_id)
            elif early is not None:  # the route meets it when it reads, and answers in its format
                await self.app(scope, _refusing(early), send_with_id)
            else:
                direct = (
                    self.direct.get(scope["path"])
                    if scope["method"] == "POST" and not scope.get("root_path")
                    else None
                )
                await (direct or self.app)(scope, self._limited(receive), send_with_id)
        except ClientDisconnect:
            status = 499  # the client left before its body arrived: nothing to answer
        except Exception as exc:
            problems.log_unhandled(exc, scope["method"], scope["path"])
            if not started:
                await problems.response_for(exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            template = _route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            metrics.child(metrics.HTTP_REQUESTS, template, method, str(status)).inc()
            metrics.child(metrics.HTTP_LATENCY, template, method).observe(elapsed)
            app_logging.log_request(
                log,
                {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1e3, 3),
                    "ops_executed": info.ops_executed,
                },
            )
            REQUEST.reset(token)

    def _check_length(self, value: str | None) -> problems.HTTPProblem | None:
        if value is None:
            return None
        if not value.isdigit():
            return problems.bad_content_length()
        if int(value) > self.max_body_bytes:
            return problems.body_too_large(self.max_body_bytes)
        return None

    def _limited(self, receive: Receive) -> Receive:
        """`receive`, refusing a body that grows past the limit while it streams in."""
        limit = self.max_body_bytes
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise problems.body_too_large(limit)
            return message

        return limited


def _refusing(problem: problems.HTTPProblem) -> Receive:
    """A `receive` that raises `problem` instead of reading the body."""

    async def refuse() -> Message:
        raise problem

    return refuse


def _route_template(scope: Scope) -> str:
    """The matched route's path template with its router prefix (`/v1/run`), for metrics."""
    if scope.get("route") is None:
        return UNMATCHED
    effective = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(effective, "path_format", None) or getattr(scope["route"], "path", None)
    return template if isinstance(template, str) else UNMATCHED


# ----- readiness and graceful shutdown -----
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Ready after start-up; on SIGTERM report draining for GRADTAPE_DRAIN_S seconds while the
    socket still accepts, then let uvicorn stop accepting and finish the requests in flight."""
    restore = _watch_sigterm(app, app.state.settings.drain_s)
    await anyio.to_thread.run_sync(_warm_up)
    # What is alive now (modules, the app, the op registry) lives as long as the process: out of
    # the collector's generations, a full collection no longer walks it. A program that makes
    # many small tensors (a long loop) runs ~25% faster.
    gc.freeze()
    app.state.ready = True
    try:
        yield
    finally:
        app.state.draining = True
        restore()


def _warm_up() -> None:
    """Run the first tutorial example once, so the first client request pays no start-up cost."""
    request = next(iter(example_requests().values()))
    run_program(request)


def _watch_sigterm(app: FastAPI, drain_s: float = 0.0) -> Any:
    """Chain a SIGTERM handler that flips readiness, then after `drain_s` seconds hands the
    signal to the server's own handler (at once for a second SIGTERM). Until then the listening
    socket stays open, so a load balancer that still routes here is served while its readiness
    probe sees 503 `draining` and takes the endpoint out."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    pending: list[threading.Timer] = []

    def pass_on(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        if app.state.draining or drain_s <= 0:
            for timer in pending:
                timer.cancel()
            app.state.draining = True
            log.info("SIGTERM: draining")
            pass_on(signum, frame)
            return
        app.state.draining = True
        log.info("SIGTERM: draining, still accepting for %s s", drain_s)
        # The signal again when the interval ends: handled on the main thread, it passes on.
        timer = threading.Timer(drain_s, os.kill, (os.getpid(), signal.SIGTERM))
        timer.daemon = True
        pending.append(timer)
        timer.start()

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        for timer in pending:
            timer.cancel()
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return restore


# ----- the app -----
def load_functions(settings: Settings) -> Repository:
    """The functions served: every file of GRADTAPE_FUNCTIONS_DIR, loaded now. A file that does
    not load stops start-up (FunctionFileError names the file and the pointer of the fault)."""
    repository = Repository()
    if settings.functions_dir:
        try:
            repository.load_dir(settings.functions_dir, settings.limits())
        except FunctionFileError as exc:
            log.error("cannot load the functions folder: %s", exc)
            raise
        log.info("functions loaded: %s", ", ".join(f.name for f in repository.list()) or "none")
    return repository


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service, configured by `settings` (default: the environment's)."""
    settings = settings or get_settings()
    app_logging.configure(settings.log_level)
    memory.keep_freed_memory(settings.malloc_keep_mb * 1024 * 1024)
    # Swagger UI and ReDoc from the fastapi-offline package's own copies of their assets, not a
    # CDN: /docs works where the service runs, with or without outside network.
    app = FastAPIOffline(
        title="gradtape",
        version="1.0.0",
        summary="Gradients over HTTP: tf.GradientTape semantics on a NumPy reverse-mode tape.",
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,  # operationId: the function's name
        # FastAPI's native OpenTelemetry looks for configured providers on every request;
        # the service's own observability is Prometheus and JSON logs (GRADTAPE_OTEL=true
        # turns FastAPI's back on, for a deployment that configures OpenTelemetry).
        telemetry=None if settings.otel else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.gate = Gate(settings.max_concurrency, settings.max_queue)
    app.state.limits = settings.limits()
    app.state.inline_limits = inline_limits(app.state.limits)
    app.state.ready = False
    app.state.draining = False
    app.state.functions = load_functions(settings)
    problems.install(app)
    app.include_router(api_router)
    plain = plain_routes()
    app.router.routes[:0] = plain
    app.include_router(health_router)
    app.include_router(page.router)
    app.include_router(problem_types.router)
    app.include_router(umbridge.router)
    app.include_router(tesseract.router)
    app.include_router(oip.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(  # CORS sits inside this middleware: with it, no request skips past it
        ServiceMiddleware,
        max_body_bytes=settings.max_body_bytes,
        direct=None if settings.cors_origins else direct_routes(plain),
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                schemas.components()
            )
            schemas.codegen_ready(schema["components"]["schemas"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
