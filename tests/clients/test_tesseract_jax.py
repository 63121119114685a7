"""tesseract-jax (`apply_tesseract` under jax.grad, jax.jvp, jax.jacrev, jax.jacfwd) against a live
server, through jax_check.py run by a Python that has tesseract-jax (it needs 3.12, the suite
runs on older ones too): the interpreter named by TESSERACT_JAX_PYTHON, else the repository's
.venv312 (which .ci/run creates)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, Server

CHECK = Path(__file__).with_name("jax_check.py")
CHECKS = 10  # the `ok` lines jax_check.py prints when every check passes
TIMEOUT_S = 600


def interpreter() -> Path | None:
    given = os.environ.get("TESSERACT_JAX_PYTHON")
    path = Path(given) if given else ROOT / ".venv312" / "bin" / "python"
    return path if path.exists() else None


def test_tesseract_jax_transforms(functions_server: Server) -> None:
    python = interpreter()
    if python is None:
        pytest.skip(
            "no Python with tesseract-jax: set TESSERACT_JAX_PYTHON to one (Python 3.12 with "
            "tesseract-jax, tesseract-core, jax, lz4, fsspec, fastapi, uvicorn, numpy), or create "
            ".venv312 as .ci/run does"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [str(python), str(CHECK), functions_server.url],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-4000:]}"
    passed = [line for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert len(passed) == CHECKS, done.stdout
