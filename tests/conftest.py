"""Shared fixtures: a seeded random generator, and TestClients over freshly configured apps."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():  # Starlette suggests another HTTP client for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """`make_client(**settings)`: a started TestClient over an app with these settings."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(**{"api_key": None, **overrides})
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A client of an app with default settings, no API key."""
    return make_client(api_key=None)


JS_EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "js"


@pytest.fixture(scope="session")
def js_packages() -> Path:
    """examples/js with its npm packages (@msgpack/msgpack) installed from its lock file, as
    `npm ci` does for a user; skips where npm is missing or the registry cannot be reached."""
    if not (JS_EXAMPLES / "node_modules" / "@msgpack" / "msgpack").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed (the JavaScript client's packages come from npm)")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_EXAMPLES,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"npm ci failed in examples/js: {done.stderr[-500:]}")
    return JS_EXAMPLES
