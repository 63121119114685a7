"""The engine's errors: one tree, each with a stable `code`, a `title` and an optional pointer."""

from __future__ import annotations

TITLES: dict[str, str] = {
    "bad_request": "Bad request",
    "bad_statement": "Bad statement",
    "unknown_key": "Unknown key",
    "missing_key": "Missing key",
    "bad_value": "Bad value",
    "bad_name": "Bad name",
    "unknown_op": "Unknown op",
    "unknown_name": "Unknown name",
    "unknown_function": "Unknown function",
    "function_read_only": "Function read-only",
    "missing_input": "Missing input",
    "not_differentiable": "Not differentiable",
    "bad_function_file": "Bad function file",
    "bad_attrs": "Bad attrs",
    "bad_arity": "Bad arity",
    "bad_tensor": "Bad tensor",
    "shape_mismatch": "Shape mismatch",
    "dtype_error": "Dtype error",
    "index_error": "Index error",
    "linalg_error": "Linear algebra error",
    "invalid_value": "Invalid value",
    "unknown_tape": "Unknown tape",
    "tape_not_persistent": "Tape not persistent",
    "tape_name_in_use": "Tape name in use",
    "tape_not_recording": "Tape not recording",
    "not_in_tape": "No active tape",
    "unknown_accumulator": "Unknown accumulator",
    "bad_return": "Bad return",
    "limit_exceeded": "Limit exceeded",
}


class EngineError(Exception):
    """Base of every error the engine raises on purpose; `code` is stable and machine-readable."""

    default_code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        pointer: str | None = None,
        call_stack: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.pointer = pointer
        self.call_stack = call_stack

    @property
    def title(self) -> str:
        return TITLES.get(self.code, self.code.replace("_", " ").capitalize())

    def at(self, pointer: str) -> EngineError:
        """Attach `pointer` unless a more precise (inner) one is already set."""
        if self.pointer is None:
            self.pointer = pointer
        return self

    def __str__(self) -> str:
        return self.message


class ProgramError(EngineError):
    """The program (or a tensor in it) is malformed: caught at parse time where possible."""

    default_code = "bad_statement"


class OpError(EngineError):
    """An op refused its inputs or attrs (NumPy's own complaints land here)."""

    default_code = "shape_mismatch"


class TapeError(EngineError, RuntimeError):
    """A tape was misused (TensorFlow raises RuntimeError for these, so this is one too)."""

    default_code = "tape_not_persistent"


class LimitError(EngineError):
    """A resource limit of the request would be passed; raised before the work is done."""

    default_code = "limit_exceeded"
