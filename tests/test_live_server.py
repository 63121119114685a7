"""The real server (`gradtape serve`, uvicorn) in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.app.wire import TUTORIAL, loop_of_matmuls

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: Path, **env: str) -> Server:
    port = _free_port()
    log = tmp / f"server-{port}.log"
    environment = {
        **os.environ,
        "GRADTAPE_LOG_LEVEL": "INFO",
        "GRADTAPE_API_KEY": "",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        **env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(server.url + "/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start\n" + log.read_text()
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("live"))
    yield s
    s.stop()


def _calibrated(url: str, seconds: float) -> dict:
    """A matmul loop on 300x300 inputs lasting about `seconds` on this machine (the marginal
    cost of an iteration, measured over HTTP, so fixed costs do not shorten the loop)."""

    def timed(iterations: int) -> float:
        start = time.perf_counter()
        response = client.post("/v1/run", json=loop_of_matmuls(300, iterations))
        assert response.status_code == 200, response.text
        return time.perf_counter() - start

    with httpx.Client(base_url=url, timeout=60) as client:
        short, long = timed(10), timed(110)
    per_iteration = max((long - short) / 100, 1e-4)
    return loop_of_matmuls(300, max(100, int(seconds / per_iteration)))


def test_tutorial_example_over_the_wire(server: Server) -> None:
    response = httpx.post(server.url + "/v1/run", json=TUTORIAL, headers={"x-request-id": "live-1"})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "live-1"
    outputs = response.json()["outputs"]
    assert outputs["dz_dx"] == {
        "dtype": "float64",
        "shape": [2, 2],
        "data": [[8.0, 8.0], [8.0, 8.0]],
    }
    assert outputs["dz_dy"] == {"dtype": "float64", "shape": [], "data": 8.0}


def test_msgpack_answers_over_the_wire_with_the_tensor_bytes_whole(server: Server) -> None:
    import msgpack
    import numpy as np

    x = np.random.default_rng(3).standard_normal((300, 200))  # 480 kB: a piece of its own
    body = msgpack.packb({
        "inputs": {"x": {"bytes": x.tobytes(), "dtype": "float64", "shape": [300, 200]}},
        "program": [
            {"tape": "t", "watch": ["x"], "body": [
                {"op": "multiply", "args": ["x", "x"], "out": "y"},
                {"op": "sum", "args": ["y"], "out": "s"}]},
            {"gradient": "t", "target": "s", "sources": "x", "out": "g"},
        ],
        "outputs": ["g", "s"],
    }, use_bin_type=True)  # fmt: skip
    r = httpx.post(
        server.url + "/v1/run",
        content=body,
        timeout=30,
        headers={"content-type": "application/msgpack", "accept": "application/msgpack"},
    )
    assert r.status_code == 200, r.text
    assert int(r.headers["content-length"]) == len(r.content)
    out = msgpack.unpackb(r.content)["outputs"]
    g = np.frombuffer(out["g"]["bytes"], "<f8").reshape(out["g"]["shape"])
    np.testing.assert_allclose(g, 2 * x, rtol=1e-15)
    assert np.frombuffer(out["s"]["bytes"], "<f8")[0] == np.sum(x * x)


def test_chunked_body_over_the_limit_is_413(tmp_path: Path) -> None:
    s = start_server(tmp_path, GRADTAPE_MAX_BODY_BYTES="1000")
    try:

        def chunks() -> Iterator[bytes]:
            yield b'{"program": [], "inputs": {"x": ['
            for _ in range(40):
                yield b"1.0, " * 10
            yield b"1.0]}}"

        response = httpx.post(s.url + "/v1/run", content=chunks(), timeout=10)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "body_too_large"
        small = httpx.post(s.url + "/v1/run", json={"program": []}, timeout=10)
        assert small.status_code == 200
    finally:
        s.stop()


def test_healthz_answers_fast_while_a_heavy_program_runs(server: Server) -> None:
    heavy = _calibrated(server.url, 2.0)
    result: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: result.append(httpx.post(server.url + "/v1/run", json=heavy, timeout=120))
    )
    latencies: list[float] = []
    with httpx.Client(base_url=server.url, timeout=5) as probe:
        probe.get("/healthz")  # open the keep-alive connection first
        worker.start()
        time.sleep(0.1)
        while worker.is_alive():
            start = time.perf_counter()
            response = probe.get("/healthz")
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200
            time.sleep(0.05)
    worker.join()
    assert result and result[0].status_code == 200, result and result[0].text
    assert len(latencies) >= 10, latencies
    assert max(latencies) < 0.1, sorted(latencies)[-5:]


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    s = start_server(tmp_path)
    try:
        heavy = _calibrated(s.url, 1.5)
        result: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: result.append(httpx.post(s.url + "/v1/run", json=heavy, timeout=60))
        )
        worker.start()
        deadline = time.monotonic() + 10
        while "gradtape_evaluations_in_progress 1.0" not in httpx.get(s.url + "/metrics").text:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        s.proc.send_signal(signal.SIGTERM)
        worker.join(60)
        assert result and result[0].status_code == 200, result and result[0].text
        assert s.proc.wait(15) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
        assert "draining" in s.log.read_text()
        with pytest.raises(httpx.TransportError):
            httpx.get(s.url + "/healthz", timeout=1)
    finally:
        s.stop()
