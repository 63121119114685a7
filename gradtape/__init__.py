"""Python client for the gradtape service: `Client`, `AsyncClient` and program builders."""

from __future__ import annotations

from . import client
from .client import *  # noqa: F403 (the client module's __all__ is the package's)

__all__ = client.__all__
