"""What the three protocol adapters share, checked on each: a body over the size limit is the
protocol's own error (413), whatever the Content-Length says."""

from __future__ import annotations

import httpx

from .conftest import FUNCTIONS_DIR, Server


def test_body_over_the_size_limit_is_the_protocols_error() -> None:
    srv = Server({"GRADTAPE_FUNCTIONS_DIR": str(FUNCTIONS_DIR), "GRADTAPE_MAX_BODY_BYTES": "100"})
    srv.start()
    try:
        body = {"name": "mix", "input": [[0.0] * 3, [0.0] * 6], "config": {}}
        for path, expected in [
            ("/Evaluate", {"type": "InvalidInput"}),
            ("/tesseract/mix/apply", None),
            ("/v2/models/mix/infer", None),
        ]:
            response = httpx.post(srv.url + path, json={**body, "pad": "a" * 200})
            assert response.status_code == 413, response.text
            assert response.headers["content-type"] == "application/json"
            if expected is not None:
                assert response.json()["error"]["type"] == "InvalidInput"
            assert "over the limit of 100 bytes" in response.text
    finally:
        srv.stop()
