"""GET /problems/{code}: what a problem kind means; every error's `type` is its URI."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app import problems
from app.schemas import problem_responses

router = APIRouter(tags=["problems"])


class ProblemType(BaseModel):
    type: str
    code: str
    title: str
    documentation: str = Field(description="where the wire format describes the errors")


@router.get(
    "/problems/{code}",
    response_model=ProblemType,
    responses=problem_responses(404),
    operation_id="get_problem_type",
)
def problem_type(code: str) -> ProblemType:
    """The problem kind `code`: its title (the `title` of every error of this kind)."""
    title = problems.title_of(code)
    if title is None:
        raise problems.HTTPProblem(404, "not_found", f"no problem kind {code!r}")
    return ProblemType(
        type=problems.PROBLEM_TYPES + code,
        code=code,
        title=title,
        documentation="docs/wire-format.md section 6",
    )
