"""examples/js/tutorial.mjs (the Node client) against a live server, one transport at a time."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import ROOT

NODE = shutil.which("node")
SCRIPT = ROOT / "examples" / "js" / "tutorial.mjs"
SKIP_STATUS = 77


def node_major() -> int:
    if NODE is None:
        return 0
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=False)
    return int(out.stdout.strip().lstrip("v").split(".")[0] or 0)


pytestmark = [
    pytest.mark.skipif(node_major() < 18, reason="node 18+ (built-in fetch) is needed"),
    pytest.mark.usefixtures("js_packages"),
]


@pytest.mark.parametrize("transport", ["nested", "b64", "msgpack"])
def test_js_tutorial(base_url: str, transport: str) -> None:
    env = {**os.environ, "GRADTAPE_URL": base_url}
    env.pop("GRADTAPE_API_KEY", None)
    proc = subprocess.run(
        [str(NODE), str(SCRIPT), "--transport", transport],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode == SKIP_STATUS:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "7 passed, 0 failed" in proc.stdout, proc.stdout
