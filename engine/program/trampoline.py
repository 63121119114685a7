"""Run nested generators from a loop, so deep nesting never grows Python's call stack.

A step that needs a nested step's result yields that nested generator and receives its return
value (or its exception, thrown in at the `yield`, so `with` and `try` behave as in plain calls).
Parsing and interpreting both use it: a 10,000-deep program is refused by a limit, never by a
RecursionError.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

T = TypeVar("T")

Step = Generator[Any, Any, T]


def drive(step: Step[T]) -> T:
    """Run `step` to completion, running each generator it yields as a nested call."""
    stack: list[Step[Any]] = [step]
    value: Any = None
    error: BaseException | None = None
    while True:
        top = stack[-1]
        try:
            child = top.send(value) if error is None else top.throw(error)
        except StopIteration as stop:
            stack.pop()
            if not stack:
                return stop.value  # type: ignore[no-any-return]
            value, error = stop.value, None
            continue
        except BaseException as exc:
            stack.pop()
            if not stack:
                raise
            value, error = None, exc
            continue
        stack.append(child)
        value, error = None, None
