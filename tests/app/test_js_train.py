"""examples/js/train.mjs (linear regression via POST /v1/minimize) against a live server."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.clients.conftest import ROOT, Server

NODE = shutil.which("node")
SCRIPT = ROOT / "examples" / "js" / "train.mjs"


def node_major() -> int:
    if NODE is None:
        return 0
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=False)
    return int(out.stdout.strip().lstrip("v").split(".")[0] or 0)


pytestmark = [
    pytest.mark.skipif(node_major() < 18, reason="node 18+ (built-in fetch) is needed"),
    pytest.mark.usefixtures("js_packages"),
]


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    server = Server()
    server.start()
    yield server.url
    server.stop()


def test_js_train_fits_the_truth(live_url: str) -> None:
    env = {**os.environ, "GRADTAPE_URL": live_url}
    env.pop("GRADTAPE_API_KEY", None)
    proc = subprocess.run(
        [str(NODE), str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fit ok" in proc.stdout, proc.stdout
    assert "loss: " in proc.stdout and "w: [" in proc.stdout
