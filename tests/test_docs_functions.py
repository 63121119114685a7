"""docs/functions.md: every curl example answers what the page shows (all but `elapsed_ms`),
run in order against one app serving the example folder."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "functions.md"
BLOCK = re.compile(r"```sh\n(.*?)\n```\n\n```(json|text)\n(.*?)\n```", re.S)
COMMAND = re.compile(
    r"curl -s(?: -X (?P<method>[A-Z]+))?(?P<status> -o /dev/null -w '%\{http_code\}\\n')?"
    r"(?: --json @-)? http://127\.0\.0\.1:8000(?P<path>\S+)(?: <<'EOF'\n(?P<body>.*)\nEOF)?$",
    re.S,
)
EXAMPLES = BLOCK.findall(PAGE.read_text())


def test_the_page_has_its_examples() -> None:
    assert len(EXAMPLES) >= 10
    assert all(COMMAND.fullmatch(command) for command, _, _ in EXAMPLES)


def test_every_example_answers_as_shown(make_client: Callable[..., TestClient]) -> None:
    client = make_client(functions_dir=str(ROOT / "functions"))
    for command, kind, shown in EXAMPLES:
        match = COMMAND.fullmatch(command)
        assert match is not None, command
        body = match["body"]
        method = match["method"] or ("POST" if body is not None else "GET")
        response = client.request(method, match["path"], content=body)
        if match["status"]:
            assert kind == "text" and str(response.status_code) == shown, command
            continue
        assert _without_time(response.json()) == _without_time(json.loads(shown)), command


def _without_time(body: Any) -> Any:
    """The body without what differs between runs: the time taken, and the request's id."""
    if isinstance(body, dict) and "instance" in body:
        body = {k: v for k, v in body.items() if k != "instance"}
    if isinstance(body, dict) and isinstance(body.get("stats"), dict):
        return {**body, "stats": {k: v for k, v in body["stats"].items() if k != "elapsed_ms"}}
    return body


@pytest.mark.parametrize("path", sorted((ROOT / "functions").glob("*.json")), ids=lambda p: p.stem)
def test_the_example_folder_is_named_in_the_page(path: Path) -> None:
    assert path.stem in PAGE.read_text()
