"""Fixtures of the hardening tests: the real server, started with uvicorn as a subprocess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import API_KEY, Server, start_server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One server with the default settings for the whole test module."""
    srv = start_server()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[Server]:
    """One server with an API key configured (every /v1 request needs `Bearer API_KEY`) and a
    10 s wall-time limit per request, so that a runaway request costs the suite little."""
    srv = start_server({"GRADTAPE_API_KEY": API_KEY, "GRADTAPE_TIMEOUT_S": "10"})
    try:
        yield srv
    finally:
        srv.stop()
