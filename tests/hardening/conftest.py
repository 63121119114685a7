"""Fixtures of the hardening tests: the real server, started with uvicorn as a subprocess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import API_KEY, ROOT, Server, serving

# Functions the keyed server serves (the hostile catalog's rows call them): the test functions
# every suite shares.
FUNCTIONS = str(ROOT / "tests" / "functions")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One server with the default settings for the whole test module."""
    with serving() as srv:
        yield srv


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[Server]:
    """One server with an API key configured (every /v1 request needs `Bearer API_KEY`), a
    10 s wall-time limit per request, so that a runaway request costs the suite little, and the
    test functions of tests/functions (the hostile catalog's rows call them)."""
    env = {
        "GRADTAPE_API_KEY": API_KEY,
        "GRADTAPE_TIMEOUT_S": "10",
        "GRADTAPE_FUNCTIONS_DIR": FUNCTIONS,
    }
    with serving(env) as srv:
        yield srv
