"""SIGTERM on a real server process (`gradtape serve`): /readyz answers 503 `draining` for
GRADTAPE_DRAIN_S while the socket still accepts and a slow request finishes, then it exits."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from tests.app.wire import TUTORIAL, assert_problem
from tests.test_live_server import _calibrated, start_server

DRAIN_S = 2.0


def test_sigterm_drains_then_exits(tmp_path: Path) -> None:
    s = start_server(tmp_path, GRADTAPE_DRAIN_S=str(DRAIN_S))
    try:
        slow = _calibrated(s.url, DRAIN_S + 1.5)  # still running when the drain ends
        result: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: result.append(httpx.post(s.url + "/v1/run", json=slow, timeout=60))
        )
        worker.start()
        deadline = time.monotonic() + 10
        while "gradtape_evaluations_in_progress 1.0" not in httpx.get(s.url + "/metrics").text:
            assert time.monotonic() < deadline
            time.sleep(0.02)

        s.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        readiness: list[httpx.Response] = []
        served: list[int] = []
        while time.monotonic() - signalled < DRAIN_S * 0.75:
            readiness.append(httpx.get(s.url + "/readyz", timeout=2))
            # New connections are still accepted and served during the drain.
            with httpx.Client(timeout=5) as fresh:
                served.append(fresh.post(s.url + "/v1/run", json=TUTORIAL).status_code)
            time.sleep(0.1)
        assert readiness and served
        for response in readiness:
            assert_problem(response, 503, "draining", None)
        assert set(served) == {200}

        worker.join(60)
        assert result and result[0].status_code == 200, result and result[0].text
        assert s.proc.wait(15) is not None
        exited = time.monotonic()
        assert exited - signalled >= DRAIN_S
        assert "draining" in s.log.read_text()
        try:
            httpx.get(s.url + "/healthz", timeout=1)
        except httpx.TransportError:
            pass
        else:
            raise AssertionError("the server still answers after it exited")
    finally:
        s.stop()
