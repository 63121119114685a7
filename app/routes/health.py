"""Liveness, readiness and metrics: /healthz, /readyz, /metrics (open even with an API key)."""

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
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def prometheus() -> Response:
    """Prometheus metrics (text exposition format)."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
