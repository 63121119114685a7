"""Clients generated from the served /openapi.json, calling a live server: a Python client
(openapi-python-client) and TypeScript types (openapi-typescript) type-checked with tsc.

Each runs the tutorial's persistent-tape example (x = 3; y = x*x, z = y*y under a persistent
tape; dz/dx and dy/dx) and one refused request, read through the generated types. The tools are
installed by .ci/run (`pip install -e '.[test]'`, `npm ci` here); a test skips only when its
tool is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import Server

HERE = Path(__file__).resolve().parent
BIN = HERE / "node_modules" / ".bin"
X = 3.0
# The tutorial's answers, from calculus: dz/dx = 4 x^3, dy/dx = 2 x.
EXPECTED = {"dz_dx": 4 * X**3, "dy_dx": 2 * X}
# A request whose first output is not a name: the service's problem, code and pointer.
REFUSED = [422, "bad_name", "/outputs/0"]

PYTHON_CLIENT = """
import json, sys
from gradtape_client import Client
from gradtape_client.api.run import run
from gradtape_client.models import (
    GradientStatement, OpStatement, Problem, RunRequest, RunRequestInputs, RunResponse,
    TapeStatement,
)

x = float(sys.argv[2])
program = [
    TapeStatement(tape="t", persistent=True, watch=["x"], body=[
        OpStatement(op="multiply", args=["x", "x"], out="y"),
        OpStatement(op="multiply", args=["y", "y"], out="z"),
    ]),
    GradientStatement(gradient="t", target="z", sources="x", out="dz_dx"),
    GradientStatement(gradient="t", target="y", sources="x", out="dy_dx"),
]
request = RunRequest(
    program=program, inputs=RunRequestInputs.from_dict({"x": x}), outputs=["dz_dx", "dy_dx"]
)
with Client(base_url=sys.argv[1]) as client:
    result = run.sync(client=client, body=request)
    assert isinstance(result, RunResponse), result
    bad = RunRequest(program=program, inputs=request.inputs, outputs=["1x"])
    answer = run.sync_detailed(client=client, body=bad)
    assert isinstance(answer.parsed, Problem), answer
outputs = result.outputs.additional_properties
print(json.dumps({
    "dz_dx": outputs["dz_dx"].data,
    "dy_dx": outputs["dy_dx"].data,
    "problem": [int(answer.status_code), answer.parsed.code, answer.parsed.pointer],
}))
"""


@pytest.fixture(scope="module")
def server() -> Any:
    srv = Server()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def openapi(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served document, saved to a file."""
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_bytes(httpx.get(f"{server.url}/openapi.json", timeout=30).content)
    return path


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    assert proc.returncode == 0, f"{cmd[0]}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _check(answer: str) -> None:
    got = json.loads(answer.strip().splitlines()[-1])
    assert got["dz_dx"] == pytest.approx(EXPECTED["dz_dx"])
    assert got["dy_dx"] == pytest.approx(EXPECTED["dy_dx"])
    assert got["problem"] == REFUSED


@pytest.mark.skipif(
    importlib.util.find_spec("openapi_python_client") is None,
    reason="openapi-python-client is not installed (the test extra has it)",
)
def test_generated_python_client(server: Server, openapi: Path, tmp_path: Path) -> None:
    out = tmp_path / "gradtape_client"
    generate = [sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none"]
    proc = _run([*generate, "--path", str(openapi), "--output-path", str(out)], cwd=tmp_path)
    report = proc.stdout + proc.stderr
    # Every schema and every operation generated; the one note allowed is the msgpack request
    # body, a content type the generator has no encoder for (the JSON body is generated).
    assert "Unable to" not in report and "will not be generated" not in report, report
    for operation in ("run/run", "check/check", "minimize/minimize", "ops/list_ops"):
        assert (out / "api" / f"{operation}.py").exists(), operation
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    script = tmp_path / "call.py"
    script.write_text(PYTHON_CLIENT)
    _check(_run([sys.executable, str(script), server.url, str(X)], env=env).stdout)


@pytest.mark.skipif(
    shutil.which("node") is None or not (BIN / "openapi-typescript").exists(),
    reason="node, or the npm tools of tests/codegen (npm ci there), are not installed",
)
def test_generated_typescript_types(server: Server, openapi: Path, tmp_path: Path) -> None:
    for name in ("package.json", "tsconfig.json", "tutorial.ts"):
        shutil.copy(HERE / name, tmp_path / name)
    (tmp_path / "node_modules").symlink_to(HERE / "node_modules")
    _run([str(BIN / "openapi-typescript"), str(openapi), "-o", str(tmp_path / "schema.d.ts")])
    types = (tmp_path / "schema.d.ts").read_text()
    closed = [line for line in types.splitlines() if "Record<string, never>" in line]
    # No schema object typed as empty (attrs, say); only the document's unused top-level maps.
    assert all(line.startswith("export type") for line in closed), closed
    _run([str(BIN / "tsc"), "-p", str(tmp_path)])  # includes the @ts-expect-error refusals
    env = {**os.environ, "GRADTAPE_URL": server.url, "GRADTAPE_X": str(X)}
    _check(_run(["node", str(tmp_path / "out" / "tutorial.js")], env=env).stdout)
