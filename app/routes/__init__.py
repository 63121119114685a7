"""The API routers: `api_router` (prefix /v1, behind the API key) and `health_router` (open)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app import problems
from app.routes import check, health, minimize, ops, run

_bearer = HTTPBearer(auto_error=False, description="required when GRADTAPE_API_KEY is set")


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def require_api_key(request: Request, credentials: BearerDep) -> None:
    """401 unless `Authorization: Bearer <key>` matches the configured key (if any)."""
    key = request.app.state.settings.api_key
    if key is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), key.encode()):
        raise problems.unauthorized()


api_router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
api_router.include_router(run.router)
api_router.include_router(check.router)
api_router.include_router(minimize.router)
api_router.include_router(ops.router)

health_router = health.router
