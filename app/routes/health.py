"""Liveness, readiness and metrics: /healthz and /readyz are open; /metrics asks for the API key
when one is set, unless GRADTAPE_METRICS_PUBLIC is true."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app import metrics, problems
from app.schemas import HealthResponse, problem_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """Liveness: 200 while the process serves (answered on the event loop, never queued)."""
    return HealthResponse(status="ok")


@router.get("/readyz", response_model=HealthResponse, responses=problem_responses(503))
async def readyz(request: Request) -> HealthResponse:
    """Readiness: 200 once started, 503 while starting or draining (shutdown under way)."""
    state = request.app.state
    if state.draining:
        raise problems.draining()
    if not state.ready:
        raise problems.starting()
    return HealthResponse(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        **problem_responses(401),
    },
)
async def prometheus(request: Request) -> Response:
    """Prometheus metrics (text exposition format). With an API key set, the scraper sends it
    (`Authorization: Bearer <key>`), unless GRADTAPE_METRICS_PUBLIC=true opens the endpoint."""
    if not request.app.state.settings.metrics_public:
        from app.routes import check_api_key  # the package imports this module

        check_api_key(request)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
