"""Defaults that make a container deployment safe and right: concurrency from the cgroup CPU
quota, /metrics behind the API key, one worker per container, X-Forwarded-* trusted only from
the proxy in front, and compose publishing on loopback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import settings as settings_module
from app.settings import Settings, container_cpus

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
HOST_CPUS = len(os.sched_getaffinity(0))


def _cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "100000 100000\n"}, 1),  # v2: limits.cpu 1
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: two evaluations at once
        ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU: still one
        ({"cpu.max": "max 100000\n"}, HOST_CPUS),  # no quota
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # v1
        ({"cpu,cpuacct/cpu.cfs_quota_us": "200000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 2),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, HOST_CPUS),
        ({"cpu.max": "garbage\n"}, HOST_CPUS),
        ({"cpu.max": "100000 0\n"}, HOST_CPUS),
        ({}, HOST_CPUS),  # no cgroup files at all
    ],
)
def test_container_cpus_from_the_cgroup_quota(
    tmp_path: Path, files: dict[str, str], expected: int
) -> None:
    assert container_cpus(_cgroup(tmp_path, files)) == min(expected, HOST_CPUS)


def test_a_big_quota_does_not_exceed_the_cpus_we_may_run_on(tmp_path: Path) -> None:
    root = _cgroup(tmp_path, {"cpu.max": f"{(HOST_CPUS + 8) * 100000} 100000"})
    assert container_cpus(root) == HOST_CPUS


def test_default_concurrency_follows_the_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRADTAPE_MAX_CONCURRENCY", raising=False)
    monkeypatch.delenv("GRADTAPE_MAX_QUEUE", raising=False)
    monkeypatch.setattr(settings_module, "CGROUP", _cgroup(tmp_path, {"cpu.max": "100000 100000"}))
    s = Settings()
    assert (s.max_concurrency, s.max_queue) == (1, 2)


# ----- /metrics and the API key -----
@pytest.mark.parametrize(
    ("api_key", "public", "authorization", "status"),
    [
        (None, False, None, 200),  # no key set: open
        ("k3y", False, None, 401),
        ("k3y", False, "Bearer wrong", 401),
        ("k3y", False, "Bearer k3y", 200),
        ("k3y", True, None, 200),  # GRADTAPE_METRICS_PUBLIC=true
    ],
)
def test_metrics_behind_the_api_key(
    make_client: Callable[..., TestClient],
    api_key: str | None,
    public: bool,
    authorization: str | None,
    status: int,
) -> None:
    client = make_client(api_key=api_key, metrics_public=public)
    headers = {"authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert "gradtape_http_requests" in response.text
    else:
        assert response.json()["code"] == "unauthorized"
    assert client.get("/healthz").status_code == 200  # probes never need the key
    assert client.get("/readyz").status_code == 200


def test_metrics_public_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADTAPE_METRICS_PUBLIC", "true")
    assert Settings().metrics_public is True
    monkeypatch.delenv("GRADTAPE_METRICS_PUBLIC")
    assert Settings().metrics_public is False


# ----- the entrypoint: one worker, forwarded headers from nobody by default -----
def _entrypoint(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run deploy/entrypoint.sh with a stand-in `uvicorn` on PATH that prints its arguments."""
    (tmp_path / "uvicorn").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (tmp_path / "uvicorn").chmod(0o755)
    environment = {"PATH": f"{tmp_path}:/usr/bin:/bin", **env}
    return subprocess.run(
        ["sh", str(ROOT / "deploy" / "entrypoint.sh")],
        env=environment,
        capture_output=True,
        text=True,
    )


def test_entrypoint_runs_one_worker_trusting_only_localhost(tmp_path: Path) -> None:
    done = _entrypoint(tmp_path)
    assert done.returncode == 0, done.stderr
    args = done.stdout.splitlines()
    assert args[args.index("--workers") + 1] == "1"
    assert args[args.index("--forwarded-allow-ips") + 1] == "127.0.0.1"
    done = _entrypoint(tmp_path, GRADTAPE_FORWARDED_ALLOW_IPS="10.1.2.0/24")
    args = done.stdout.splitlines()
    assert args[args.index("--forwarded-allow-ips") + 1] == "10.1.2.0/24"


@pytest.mark.parametrize("workers", ["2", "4"])
def test_entrypoint_refuses_more_workers(tmp_path: Path, workers: str) -> None:
    done = _entrypoint(tmp_path, GRADTAPE_WORKERS=workers)
    assert done.returncode == 64
    assert "one worker per container" in done.stderr
    assert done.stdout == ""


# ----- compose -----
def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_publishes_on_loopback_and_trusts_only_its_network() -> None:
    compose = _compose()
    (port,) = compose["services"]["nginx"]["ports"]
    assert port.startswith("${GRADTAPE_PUBLISH_ADDR:-127.0.0.1}:")
    env = compose["services"]["gradtape"]["environment"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    default_subnet = subnet.partition(":-")[2].rstrip("}")
    assert env["GRADTAPE_FORWARDED_ALLOW_IPS"] == (
        f"${{GRADTAPE_FORWARDED_ALLOW_IPS:-{default_subnet}}}"
    )
    assert "ports" not in compose["services"]["gradtape"]


def test_compose_mounts_the_functions_read_only() -> None:
    app = _compose()["services"]["gradtape"]
    folder = app["environment"]["GRADTAPE_FUNCTIONS_DIR"]
    assert f"./functions:{folder}:ro" in app["volumes"]
    assert (ROOT / "functions").is_dir()
    assert "GRADTAPE_WORKERS" not in app["environment"]
