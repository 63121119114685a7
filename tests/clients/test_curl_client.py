"""examples/curl/tutorial.sh against a live server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

SCRIPT = ROOT / "examples" / "curl" / "tutorial.sh"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_tutorial(base_url: str) -> None:
    env = {**os.environ, "GRADTAPE_URL": base_url, "PYTHON": sys.executable}
    env.pop("GRADTAPE_API_KEY", None)
    proc = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "8 passed, 0 failed" in proc.stdout, proc.stdout


def test_curl_tutorial_fails_on_a_mismatch(base_url: str, tmp_path: Path) -> None:
    """The script's checks bite: a server that answers wrongly makes it exit non-zero."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    broken = SCRIPT.read_text().replace("== [[8.0, 8.0], [8.0, 8.0]] and out", "== 7 and out", 1)
    env = {**os.environ, "GRADTAPE_URL": base_url, "PYTHON": sys.executable}
    env.pop("GRADTAPE_API_KEY", None)
    script = tmp_path / "tutorial.sh"
    script.write_text(broken)
    proc = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode != 0
    assert "FAILED section 8" in proc.stderr
