"""GET /problems/{code}: what a problem kind means; every error's `type` is its URI."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app import problems
from app.schemas import problem_responses

router = APIRouter(tags=["problems"])

# The kinds the service knows, as the path's enum: an unknown one is refused before the route.
ProblemCode = Enum(  # type: ignore[misc]
    "ProblemCode", {c: c for c in sorted({*problems.TITLES, *problems.HTTP_TITLES})}, type=str
)


class ProblemType(BaseModel):
    type: str
    code: str
    title: str
    documentation: str = Field(description="where the wire format describes the errors")


@router.get(
    "/problems/{code}",
    response_model=ProblemType,
    responses=problem_responses(422),
    operation_id="get_problem_type",
)
def problem_type(code: ProblemCode) -> ProblemType:
    """The problem kind `code`: its title (the `title` of every error of this kind)."""
    return ProblemType(
        type=problems.PROBLEM_TYPES + code.value,
        code=code.value,
        title=problems.title_of(code.value) or code.value,
        documentation="docs/wire-format.md section 6",
    )
