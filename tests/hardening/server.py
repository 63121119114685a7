"""A live server for the hardening tests: uvicorn in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
API_KEY = "hardening-key-7f3c"
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def read_status_kb(pid: int, key: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM, ...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass
class Server:
    """A running server process and how to reach it."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kb(self) -> int:
        return read_status_kb(self.pid, "VmRSS")

    def peak_kb(self) -> int:
        return read_status_kb(self.pid, "VmHWM")

    def reset_peak(self) -> None:
        """Reset VmHWM to the current RSS (Linux clear_refs 5), so the next peak is measurable."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server (kill it if it does not stop in time) and remove its log."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log_path.unlink(missing_ok=True)


def start_server(env: Mapping[str, str] | None = None) -> Server:
    """Start `uvicorn app.main:app` with these GRADTAPE_* settings; return once /healthz is 200."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRADTAPE_")}
    extra = {"GRADTAPE_LOG_LEVEL": "WARNING", **(env or {})}
    last_error = ""
    for _attempt in range(3):  # a free port can be taken between the probe and the bind
        port = free_port()
        log = Path(tempfile.mkstemp(prefix="gradtape-hardening-", suffix=".log")[1])
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "app.main:app",
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env={**clean, **extra},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Server(proc, port, log, dict(extra))
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline and server.alive():
            try:
                if httpx.get(server.url + "/healthz", timeout=1.0).status_code == 200:
                    return server
            except httpx.TransportError as exc:
                last_error = repr(exc)
            time.sleep(0.1)
        last_error = f"{last_error}\n{server.log_tail()}"
        server.stop()
    raise RuntimeError(f"the server did not start: {last_error}")


@contextmanager
def serving(env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """start_server(env), stopped on the way out."""
    server = start_server(env)
    try:
        yield server
    finally:
        server.stop()
