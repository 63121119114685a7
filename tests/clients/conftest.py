"""A real gradtape server (uvicorn, `app.main:app`) on a free loopback port, for client tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One uvicorn process serving the app; `url` is its base URL."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ROOT / ".pytest_cache" / f"client-server-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("GRADTAPE_")}
        self._env = {**inherited, "GRADTAPE_LOG_LEVEL": "WARNING", **(env or {})}
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        tail = self.log.read_text(errors="replace")[-3000:]
        pytest.fail(f"the server did not start on {self.url}:\n{tail}", pytrace=False)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The shared server, without an API key."""
    srv = Server()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def base_url(server: Server) -> str:
    return server.url


API_KEY = "client-test-key"


@pytest.fixture(scope="session")
def keyed_server() -> Iterator[Server]:
    """A second server that requires `Authorization: Bearer client-test-key`."""
    srv = Server({"GRADTAPE_API_KEY": API_KEY})
    srv.start()
    yield srv
    srv.stop()


FUNCTIONS_DIR = ROOT / "tests" / "functions"


@pytest.fixture(scope="session")
def functions_server() -> Iterator[Server]:
    """A server with the test functions of tests/functions (mix, ratio, count) stored."""
    srv = Server({"GRADTAPE_FUNCTIONS_DIR": str(FUNCTIONS_DIR)})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def keyed_functions_server() -> Iterator[Server]:
    """The test functions behind the API key `client-test-key`."""
    srv = Server({"GRADTAPE_FUNCTIONS_DIR": str(FUNCTIONS_DIR), "GRADTAPE_API_KEY": API_KEY})
    srv.start()
    yield srv
    srv.stop()
