"""Static checks of the container deployment: Dockerfile, .dockerignore, compose file, nginx.

The image build and the two-replica run are exercised by deploy/smoke.sh; these tests only
read the files (and run hadolint / docker-compose when those tools are installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
NGINX = ROOT / "deploy" / "nginx.conf"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
MIB = 1024 * 1024


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_dockerfile_is_multi_stage_on_one_base_image_arg() -> None:
    pairs = _instructions()
    assert pairs[0] == ("ARG", "BASE_IMAGE=python:3.12-slim")
    froms = [rest for word, rest in pairs if word == "FROM"]
    assert len(froms) == 2
    assert all(f.split()[0] == "${BASE_IMAGE}" for f in froms)
    assert "COPY --from=builder /opt/venv /opt/venv" in [
        f"COPY {r}" for w, r in pairs if w == "COPY"
    ]


def test_dockerfile_runtime_settings() -> None:
    pairs = _instructions()
    final = pairs[[i for i, (w, _) in enumerate(pairs) if w == "FROM"][-1] :]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid"
    env = " ".join(rest for word, rest in final if word == "ENV")
    for var in (
        "OMP_NUM_THREADS=1",
        "OPENBLAS_NUM_THREADS=1",
        "MKL_NUM_THREADS=1",
        "PYTHONUNBUFFERED=1",
    ):
        assert var in env
    assert ("EXPOSE", "8000") in final
    health = [rest for word, rest in final if word == "HEALTHCHECK"]
    assert health and "/healthz" in health[0] and "CMD [" in health[0]
    cmd = [rest for word, rest in final if word == "CMD"]
    assert cmd and cmd[-1].startswith("["), "CMD must be exec form"


def test_entrypoint_execs_uvicorn_with_env_settings() -> None:
    assert os.access(ENTRYPOINT, os.X_OK)
    text = ENTRYPOINT.read_text()
    assert re.search(r"^exec uvicorn app\.main:app", text, re.M)
    for setting in ('"${GRADTAPE_HOST:-0.0.0.0}"', '"${GRADTAPE_PORT:-8000}"', "--workers 1 "):
        assert setting in text
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)


def test_dockerignore_keeps_build_inputs_and_drops_local_state() -> None:
    rules = [r.strip() for r in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [r for r in rules if r and not r.startswith("#")]
    for excluded in (".git", ".venv", "tests", "**/__pycache__", ".pytest_cache"):
        assert excluded in rules
    for needed in ("pyproject.toml", "README.md", "engine", "app", "gradtape"):
        assert needed not in rules and f"{needed}/" not in rules
    assert "!deploy/entrypoint.sh" in rules


def test_compose_service_and_load_balancer() -> None:
    services = _compose()["services"]
    app, lb = services["gradtape"], services["nginx"]
    assert app["build"]["dockerfile"] == "Dockerfile"
    assert str(app["deploy"]["replicas"]) == "${GRADTAPE_REPLICAS:-2}"
    assert "ports" not in app, "replicas are reached through nginx only"
    assert "/readyz" in app["healthcheck"]["test"]
    for name in (
        "GRADTAPE_API_KEY",
        "GRADTAPE_METRICS_PUBLIC",
        "GRADTAPE_DRAIN_S",
        "GRADTAPE_FUNCTIONS_DIR",
        "GRADTAPE_FORWARDED_ALLOW_IPS",
        "GRADTAPE_MAX_BODY_BYTES",
        "GRADTAPE_LOG_LEVEL",
        "GRADTAPE_CORS_ORIGINS",
    ):
        assert name in app["environment"]
    assert lb["ports"] == ["${GRADTAPE_PUBLISH_ADDR:-127.0.0.1}:${GRADTAPE_PUBLISH_PORT:-8080}:80"]
    assert lb["depends_on"]["gradtape"]["condition"] == "service_healthy"
    assert any(v.startswith("./deploy/nginx.conf:") for v in lb["volumes"])


def test_body_limits_agree_with_the_service_default() -> None:
    settings = pytest.importorskip("app.settings")
    default = settings.Settings.model_fields["max_body_bytes"].default
    assert default == 64 * MIB
    env = _compose()["services"]["gradtape"]["environment"]
    assert env["GRADTAPE_MAX_BODY_BYTES"] == f"${{GRADTAPE_MAX_BODY_BYTES:-{default}}}"
    match = re.search(r"^\s*client_max_body_size\s+(\d+)m;", NGINX.read_text(), re.M)
    assert match and int(match.group(1)) * MIB == default


def test_nginx_balances_least_conn_over_the_replicas_and_forwards_request_id() -> None:
    text = NGINX.read_text()
    upstream = re.search(r"^upstream (\w+) \{(.*?)^\}", text, re.M | re.S)
    assert upstream, "no upstream block"
    body = re.sub(r"#.*", "", upstream.group(2))
    assert re.search(r"^\s*least_conn;", body, re.M)
    assert re.search(r"^\s*server gradtape:8000\b", body, re.M)
    assert re.search(rf"proxy_pass http://{upstream.group(1)};", text)
    assert "resolver" not in re.sub(r"#.*", "", text), "no Docker-only DNS address"
    assert re.search(r"proxy_set_header X-Request-ID \$\w+;", text)
    assert re.search(r"proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;", text)
    assert "proxy_next_upstream error timeout" in text


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed")
def test_hadolint() -> None:
    subprocess.run(["hadolint", "--failure-threshold", "warning", str(DOCKERFILE)], check=True)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_config_is_valid() -> None:
    subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"], check=True, cwd=ROOT)
