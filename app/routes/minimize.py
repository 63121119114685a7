"""POST /v1/minimize: gradient descent on the server, in one round trip."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.admission import serve
from app.routes.check import lists_for_msgpack
from app.schemas import MinimizeResponse, json_request_body, msgpack_response, problem_responses
from engine.program.minimize import minimize as minimize_program

router = APIRouter(tags=["minimize"])


@router.post(
    "/minimize",
    response_model=MinimizeResponse,
    summary="Minimize a program's loss with a Keras optimizer",
    responses={
        200: msgpack_response("MinimizeResponse"),
        **problem_responses(400, 401, 413, 422, 503),
    },
    openapi_extra={
        "requestBody": json_request_body(
            "MinimizeRequest",
            "A run request plus `loss`, `steps`, and optionally `variables`, "
            "`optimizer` and `stop`.",
        )
    },
)
async def minimize(request: Request) -> Response:
    """Each step runs the program with the current variables under a tape, takes the gradient
    of `loss` and applies one update of the optimizer (`sgd`, `adam`, `rmsprop`, `adagrad`;
    Keras 3's update rules, hyperparameter names and defaults). Stops after `steps` updates, or
    earlier on `stop.grad_norm` / `stop.loss_delta`. `loss_history` holds the loss at each step
    before its update. One budget (ops, loop iterations, wall time) covers the whole run."""
    return await serve(request, MINIMIZE)


MINIMIZE = lists_for_msgpack(minimize_program)
