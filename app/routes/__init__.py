"""The API routers: `api_router` (prefix /v1, behind the API key) and `health_router` (open)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app import problems
from app.routes import check, functions, health, minimize, ops, run

_bearer = HTTPBearer(auto_error=False, description="required when GRADTAPE_API_KEY is set")


Endpoint = Callable[[Request], Awaitable[Response]]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def check_api_key(request: Request) -> None:
    """401 unless `Authorization: Bearer <key>` matches the configured key (if any), compared
    in constant time."""
    key = request.app.state.settings.api_key
    if key is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    if not hmac.compare_digest(given.strip().encode(), key.encode()):
        raise problems.unauthorized()


async def require_api_key(request: Request, _credentials: BearerDep) -> None:
    """The key check as a dependency (the bearer scheme documents it in the OpenAPI)."""
    check_api_key(request)


api_router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
api_router.include_router(run.router)
api_router.include_router(check.router)
api_router.include_router(minimize.router)
api_router.include_router(ops.router)
api_router.include_router(functions.router)

health_router = health.router


# The evaluation endpoints again as plain Starlette routes, matched ahead of their FastAPI twins
# (which stay, for the OpenAPI document): per request, FastAPI's dependency solving (the key
# dependency and the endpoint's Request parameter) costs about as much as a tiny program.
EVALUATION_ENDPOINTS: dict[str, Endpoint] = {
    "/v1/run": run.run,
    "/v1/check": check.check,
    "/v1/minimize": minimize.minimize,
}


def plain_routes() -> list[Route]:
    return [_plain(path, endpoint) for path, endpoint in EVALUATION_ENDPOINTS.items()]


class DirectRoutes(dict[str, ASGIApp]):
    """Exact paths -> ASGI apps; `get` also answers the function call paths
    (`/v1/functions/{name}/{kind}`), served by one app."""

    def __init__(self, exact: dict[str, ASGIApp]) -> None:
        super().__init__(exact)
        self.calls = _direct_endpoint(functions.direct_call)

    def get(self, path: str, default: Any = None) -> Any:  # type: ignore[override]
        app = super().get(path)
        if app is not None:
            return app
        return self.calls if functions.split_call_path(path) is not None else default


def direct_routes(routes: list[Route]) -> DirectRoutes:
    """The plain routes as ASGI apps that answer their expected errors themselves, for the
    middleware to call without the router and the exception middleware between (POST only)."""
    return DirectRoutes({route.path: _direct(route) for route in routes})


def _direct(route: Route) -> ASGIApp:
    return _direct_endpoint(route.endpoint)


def _direct_endpoint(handle: Endpoint) -> ASGIApp:

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await handle(Request(scope, receive))
        except problems.EXPECTED_ERRORS as exc:  # as the app's exception handlers answer
            response = problems.response_for(exc)
        await response(scope, receive, send)

    return app


def _plain(path: str, endpoint: Endpoint) -> Route:
    async def handle(request: Request) -> Response:
        request.scope["route"] = route  # the metrics and the log name the route
        check_api_key(request)
        return await endpoint(request)

    route = Route(path, handle, methods=["POST"], include_in_schema=False)
    return route
