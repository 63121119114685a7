"""The README's tutorial requests answer what the README shows (all but `elapsed_ms`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = re.compile(
    r"curl -s --json @- http://127\.0\.0\.1:8000(/v1/\w+) <<'EOF'\n(.*?)\nEOF\n```\n\n```json\n"
    r"(.*?)\n```",
    re.S,
)
EXAMPLES = EXAMPLE.findall(README.read_text())


def test_the_readme_has_its_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize(("path", "request_text", "shown"), EXAMPLES)
def test_readme_example(client: TestClient, path: str, request_text: str, shown: str) -> None:
    response = client.post(path, content=request_text.encode())
    assert response.status_code == 200, response.text
    got, want = response.json(), json.loads(shown)
    assert _without_time(got) == _without_time(want)


def _without_time(body: dict[str, Any]) -> dict[str, Any]:
    stats = {k: v for k, v in body.get("stats", {}).items() if k != "elapsed_ms"}
    return {**body, "stats": stats}
