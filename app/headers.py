"""Header lookups straight on an ASGI scope, for the per-request hot path."""

from __future__ import annotations

from starlette.types import Scope


def first_values(scope: Scope, *names: bytes) -> list[str | None]:
    """The first value of each named header (lowercase names; None where it is absent), in one
    pass over the scope's headers, decoding only those asked for (as Starlette's `Headers.get`
    answers, without building a Headers object or a dict of every header)."""
    values: list[str | None] = [None] * len(names)
    for key, value in scope["headers"]:
        key = key.lower()
        if key in names:
            i = names.index(key)
            if values[i] is None:
                values[i] = value.decode("latin-1")
    return values
