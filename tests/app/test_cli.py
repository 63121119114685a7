"""`gradtape run FILE` evaluates locally and prints the response; `gradtape serve` parses args."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import orjson
import pytest

from app import cli
from tests.app.wire import TUTORIAL


def _write(tmp_path: Path, request: object) -> str:
    path = tmp_path / "request.json"
    path.write_bytes(orjson.dumps(request))
    return str(path)


def test_run_prints_the_response(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", _write(tmp_path, TUTORIAL)]) == 0
    response = orjson.loads(capsys.readouterr().out)
    assert response["outputs"]["dz_dx"]["data"] == [[8.0, 8.0], [8.0, 8.0]]
    assert response["outputs"]["dz_dy"]["data"] == 8.0
    assert set(response) == {"outputs", "warnings", "stats"}


def test_run_with_base64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", _write(tmp_path, TUTORIAL), "--encoding", "base64"]) == 0
    out = orjson.loads(capsys.readouterr().out)["outputs"]["dz_dx"]
    assert out["dtype"] == "float64" and out["shape"] == [2, 2]
    values = np.frombuffer(base64.b64decode(out["b64"]), dtype="<f8")
    assert values.tolist() == [8.0] * 4


def test_run_prints_problem_json_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = {"program": [{"op": "frobnicate", "args": [], "out": "x"}]}
    assert cli.main(["run", _write(tmp_path, request)]) == 1
    problem = orjson.loads(capsys.readouterr().out)
    assert (problem["status"], problem["code"], problem["pointer"]) == (
        422,
        "unknown_op",
        "/program/0/op",
    )


def test_run_with_a_file_that_is_not_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"{nope")
    assert cli.main(["run", str(path)]) == 1
    assert orjson.loads(capsys.readouterr().out)["code"] == "invalid_json"


def test_run_with_a_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "/nonexistent/request.json"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_serve_passes_settings_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    assert cli.main(["serve", "--port", "9123", "--host", "0.0.0.0", "--workers", "2"]) == 0
    assert seen["app"] == "app.main:app"
    assert (seen["host"], seen["port"], seen["workers"]) == ("0.0.0.0", 9123, 2)
    assert seen["loop"] in ("uvloop", "asyncio") and seen["http"] in ("httptools", "h11")


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([])


def test_without_the_service_packages_the_command_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A client-only install has the `gradtape` script but not the service's packages."""
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ModuleNotFoundError
    assert cli.main(["serve"]) == 2
    assert "pip install 'gradtape[server]'" in capsys.readouterr().err
