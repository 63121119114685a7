"""What the three protocol adapters share, checked on each: a body over the size limit is the
protocol's own error (413), whatever the Content-Length says."""

from __future__ import annotations

import httpx
import orjson
import pytest

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


def test_protocol_routes_go_through_the_router(functions_server: Server) -> None:
    """Each protocol call is matched by its own route (not a fast path of the middleware): the
    request metrics name the route templates."""
    url = functions_server.url
    body = {"name": "mix", "input": [[0.0] * 3, [0.0] * 6]}
    assert httpx.post(url + "/Evaluate", json=body).status_code == 200
    inputs = {"x": [0.0] * 3, "w": [[0.0] * 3] * 2}
    assert httpx.post(url + "/tesseract/mix/apply", json={"inputs": inputs}).status_code == 200
    tensors = [
        {"name": "x", "shape": [3], "datatype": "FP64", "data": [0.0] * 3},
        {"name": "w", "shape": [2, 3], "datatype": "FP64", "data": [0.0] * 6},
    ]
    infer = httpx.post(url + "/v2/models/mix/infer", json={"inputs": tensors})
    assert infer.status_code == 200
    metrics = httpx.get(url + "/metrics").text
    for route in ("/Evaluate", "/tesseract/{name}/apply", "/v2/models/{name}/infer"):
        assert f'method="POST",route="{route}",status="200"' in metrics, route


UM_BODY = {"name": "mix", "input": [[0.1, 0.2, 0.3], [0.0] * 6]}
TS_BODY = {"inputs": {"x": [0.1, 0.2, 0.3], "w": [[0.0] * 3] * 2}}
OIP_BODY = {
    "inputs": [
        {"name": "x", "shape": [3], "datatype": "FP64", "data": [0.1, 0.2, 0.3]},
        {"name": "w", "shape": [2, 3], "datatype": "FP64", "data": [0.0] * 6},
    ]
}


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "text/plain", "application/msgpack", "application/octet-stream"],
)
@pytest.mark.parametrize(
    ("path", "body"),
    [("/Evaluate", UM_BODY), ("/tesseract/mix/apply", TS_BODY), ("/v2/models/mix/infer", OIP_BODY)],
)
def test_a_json_body_whatever_the_content_type(
    functions_server: Server, path: str, body: dict[str, object], content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = httpx.post(functions_server.url + path, content=orjson.dumps(body), headers=headers)
    assert response.status_code == 200, response.text
