"""GET /v1/ops: the op catalog, built from engine.OPS (nothing is listed by hand)."""

from __future__ import annotations

from functools import cache

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from app.schemas import JSON, OpsResponse, problem_responses
from engine import OPS

router = APIRouter(tags=["ops"])


@cache
def catalog() -> bytes:
    """The catalog's JSON, built once (the registry is fixed at import)."""
    return orjson.dumps({"ops": [op.info() for op in OPS.values()]})


@router.get("/ops", response_model=OpsResponse, responses=problem_responses(401))
def list_ops() -> Response:
    """Every op: name, aliases, arity, attrs schema, differentiability, kink conventions, doc."""
    return Response(catalog(), media_type=JSON)
