"""The Python client with nothing but httpx and NumPy: a client-only install (`pip install
gradtape`, without the `server` or `client` extras) runs the tutorial against a live server."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from .conftest import ROOT, Server

# Every package of the `server` and `client` extras, and the service's own code: the script
# below runs with each of them made unimportable, as in an environment that lacks them.
ABSENT = [
    "fastapi", "fastapi_offline", "starlette", "uvicorn", "pydantic", "pydantic_settings",
    "prometheus_client", "orjson", "msgpack", "pybase64", "engine", "app",
]  # fmt: skip

SCRIPT = """
import sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (client-only install)")
        return None

sys.meta_path.insert(0, Absent())

from gradtape import Client, gradient, op, tape

program = [
    tape("t", persistent=True, watch=["x"], body=[
        op("multiply", "x", "x", out="y"), op("multiply", "y", "y", out="z")]),
    gradient("t", target="z", sources="x", out="dz_dx"),
    gradient("t", target="y", sources="x", out="dy_dx"),
]
with Client({url!r}) as client:
    json_result = client.run(program, {{"x": 3.0}}, ["dz_dx", "dy_dx"])
    b64_result = client.run(program, {{"x": 3.0}}, ["dz_dx", "dy_dx"], encoding="base64")
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in {absent!r})
print(float(json_result["dz_dx"]), float(json_result["dy_dx"]), float(b64_result["dz_dx"]), loaded)
"""


def test_the_client_needs_only_httpx_and_numpy(server: Server) -> None:
    script = textwrap.dedent(SCRIPT).format(absent=ABSENT, url=server.url)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["108.0", "6.0", "108.0", "[]"]
