"""/docs and /redoc work without outside network: every asset they load is served here."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_local_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"(?:src|href)=[\"']?(?:https?:)?//", html), "an asset from elsewhere"
    assets = re.findall(r"(?:src|href)=[\"']([^\"']+)[\"']", html)
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts, html[:500]
    kinds = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert kinds[asset[asset.rindex(".") :]] in served.headers["content-type"], asset
        assert len(served.content) > 1000, asset
    assert "/openapi.json" in html
