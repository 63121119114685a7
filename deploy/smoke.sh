#!/usr/bin/env bash
# End-to-end smoke test of the shipped docker-compose.yml, with no Docker engine:
# buildah builds the images, podman-compose (Debian's package) brings the file up
# as it is -- two gradtape replicas behind its nginx (least_conn), published on
# 127.0.0.1 -- and every check goes through that load balancer.
#
#   deploy/smoke.sh
#
# Steps: build the stand-in base image (once), the service image and a Debian
# stand-in for the nginx image; `podman-compose up`; run the tutorial programs
# through the load balancer and check the numbers; check the API key on /v1 and
# /metrics, the functions folder mounted read-only, that both replicas served
# traffic; stop one replica (SIGTERM: it drains, then exits) while requests keep
# coming, and check that they all succeed. `podman-compose down` on exit.
#
# podman-compose 1.0.3 leaves out one thing of the file, which this script
# supplies from the file itself: the network's subnet (`ipam`), so the network
# is created first with the file's value.
#
# Env: GRADTAPE_BASE_IMAGE  base image (default localhost/gradtape-base:bookworm,
#                           built by deploy/base-image.sh when missing)
#      SMOKE_IMAGE          service image tag to build (default localhost/gradtape:smoke)
#      SMOKE_NGINX_IMAGE    nginx image (default localhost/gradtape-nginx:bookworm, built
#                           from deploy/nginx.Containerfile when missing)
#      SMOKE_LB_PORT        port nginx publishes on 127.0.0.1 (default 18100)
#      SMOKE_REQUESTS       requests sent to check balancing (default 16)
#      SMOKE_SKIP_BUILD=1   reuse an existing service image
#      SMOKE_KEEP=1         leave the compose project running (for debugging)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE_IMAGE="${GRADTAPE_BASE_IMAGE:-localhost/gradtape-base:bookworm}"
IMAGE="${SMOKE_IMAGE:-localhost/gradtape:smoke}"
NGINX_IMAGE="${SMOKE_NGINX_IMAGE:-localhost/gradtape-nginx:bookworm}"
LB_PORT="${SMOKE_LB_PORT:-18100}"
N_REQ="${SMOKE_REQUESTS:-16}"
PROJECT="gradtape-smoke"
NAME_A="${PROJECT}_gradtape_1"
NAME_B="${PROJECT}_gradtape_2"
NAME_LB="${PROJECT}_nginx_1"
LB="http://127.0.0.1:${LB_PORT}"
API_KEY="smoke-$RANDOM$RANDOM"

T0=$SECONDS
log() { printf '== %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
elapsed() { printf '%ss' "$((SECONDS - $1))"; }

[ "$(id -u)" -eq 0 ] || die "run as root (buildah/podman with the vfs driver, debootstrap)"

# ------------------------------------------------------------------ tools ---
need=()
for pair in buildah:buildah podman:podman runc:runc podman-compose:podman-compose \
            debootstrap:debootstrap curl:curl jq:jq; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# Container networks with DNS (nginx finds the replicas by the service name).
for pkg in netavark aardvark-dns python3-yaml; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

WORK="$(mktemp -d /tmp/gradtape-smoke.XXXXXX)"
[ -d "$WORK" ] || die "no work directory"
chmod 755 "$WORK"

# podman, buildah and podman-compose's podman calls all read these: the vfs
# driver (no overlay mounts needed), cgroupfs and runc (no systemd here), and
# rlimits no higher than this machine's hard limits (a sandbox may not raise them).
HARD_NOFILE="$(ulimit -Hn)"
[ "$HARD_NOFILE" = unlimited ] && HARD_NOFILE=1048576
NOFILE=$((HARD_NOFILE < 65536 ? HARD_NOFILE : 65536))
printf '%s\n' '[containers]' \
    "default_ulimits = [\"nofile=$NOFILE:$NOFILE\", \"nproc=1024:1024\"]" \
    '[engine]' 'cgroup_manager = "cgroupfs"' 'runtime = "runc"' >"$WORK/containers.conf"
printf '%s\n' '[storage]' 'driver = "vfs"' 'runroot = "/run/containers/storage"' \
    'graphroot = "/var/lib/containers/storage"' >"$WORK/storage.conf"
export CONTAINERS_CONF="$WORK/containers.conf" CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
BUILDAH=(buildah --storage-driver vfs)
PODMAN=(podman --storage-driver vfs)

# What the compose file reads from the environment, for this run.
export GRADTAPE_IMAGE="$IMAGE" GRADTAPE_NGINX_IMAGE="$NGINX_IMAGE" GRADTAPE_BASE_IMAGE="$BASE_IMAGE"
export GRADTAPE_PUBLISH_PORT="$LB_PORT" GRADTAPE_REPLICAS=2 GRADTAPE_API_KEY="$API_KEY"
export GRADTAPE_NOFILE="$NOFILE"
COMPOSE=(podman-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml")

cleanup() {
    local rc=$?
    if [ "${SMOKE_KEEP:-0}" = 1 ]; then
        log "SMOKE_KEEP=1: left the compose project $PROJECT running (CONTAINERS_CONF=$CONTAINERS_CONF)"
        exit "$rc"
    fi
    if [ "$rc" -ne 0 ]; then
        for c in "$NAME_A" "$NAME_B" "$NAME_LB"; do
            if "${PODMAN[@]}" container exists "$c" 2>/dev/null; then
                echo "--- last log lines of $c" >&2
                "${PODMAN[@]}" logs --tail 20 "$c" >&2 2>&1 || true
            fi
        done
        if [ -f "$WORK/compose.log" ]; then
            echo "--- podman-compose" >&2
            tail -n 30 "$WORK/compose.log" >&2
        fi
    fi
    "${COMPOSE[@]}" down -t 2 >/dev/null 2>&1 || true
    "${PODMAN[@]}" network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    if [ "$rc" -eq 0 ]; then
        log "cleaned up (total $(elapsed "$T0"))"
    else
        log "cleaned up after failure (exit $rc)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if (exec 3<>"/dev/tcp/127.0.0.1/$LB_PORT") 2>/dev/null; then
    die "port $LB_PORT on 127.0.0.1 is already in use"
fi
# Leftovers of an interrupted earlier run (this project only).
"${COMPOSE[@]}" down -t 2 >/dev/null 2>&1 || true
"${PODMAN[@]}" network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true

# ----------------------------------------------------------------- images ---
t=$SECONDS
if "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
    log "base image $BASE_IMAGE present"
elif [[ "$BASE_IMAGE" == localhost/gradtape-base* ]]; then
    "$ROOT/deploy/base-image.sh" "$BASE_IMAGE"
    log "base image built ($(elapsed "$t"))"
else
    die "base image $BASE_IMAGE not in local storage (no registry pulls here)"
fi

# Package index settings of the host, passed into the build.
pip_conf() { python3 -m pip config get "$1" 2>/dev/null || true; }
build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
index_url="${PIP_INDEX_URL:-$(pip_conf global.index-url)}"
if [[ "$index_url" == http* ]]; then
    build_args+=(--build-arg "PIP_INDEX_URL=$index_url")
fi
extra_urls=""
for u in ${PIP_EXTRA_INDEX_URL:-$(pip_conf global.extra-index-url)}; do
    [[ "$u" == http* ]] && extra_urls="${extra_urls:+$extra_urls }$u"
done
[ -n "$extra_urls" ] && build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra_urls")
trusted="${PIP_TRUSTED_HOST:-$(pip_conf global.trusted-host)}"
[ -n "$trusted" ] && build_args+=(--build-arg "PIP_TRUSTED_HOST=$trusted")
# A CA bundle the host's pip trusts (e.g. for a TLS-intercepting proxy) is
# mounted into the build's RUN steps, never copied into a layer.
cert=""
for c in "${PIP_CERT:-}" "$(pip_conf global.cert)" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}"; do
    if [ -n "$c" ] && [ -f "$c" ]; then cert="$c"; break; fi
done
volumes=()
if [ -n "$cert" ]; then
    volumes+=(-v "$cert:/etc/ssl/certs/gradtape-build-ca.pem:ro")
    build_args+=(--build-arg "PIP_CERT=/etc/ssl/certs/gradtape-build-ca.pem")
fi

if [ "${SMOKE_SKIP_BUILD:-0}" = 1 ] && "${PODMAN[@]}" image exists "$IMAGE"; then
    log "reusing image $IMAGE (SMOKE_SKIP_BUILD=1)"
else
    t=$SECONDS
    printf '   buildah bud --build-arg BASE_IMAGE=%s -t %s %s%s\n' "$BASE_IMAGE" "$IMAGE" "$ROOT" \
        "${cert:+ (pip CA bundle $cert mounted)}"
    # No --layers: with the vfs driver every cached layer is a full copy of the
    # tree, and one commit per stage is much faster than one per instruction.
    if ! "${BUILDAH[@]}" bud --isolation chroot --pull-never --format docker \
            "${build_args[@]}" "${volumes[@]}" -t "$IMAGE" "$ROOT" >"$WORK/build.log" 2>&1; then
        grep -v -E '^(Copying (blob|config)|Writing manifest|Storing signatures|Getting image source)' \
            "$WORK/build.log" | tail -n 40 >&2
        die "image build failed"
    fi
    # Drop the superseded image of an earlier build (vfs stores full copies).
    "${PODMAN[@]}" image prune -f >/dev/null 2>&1 || true
    size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
    log "image built: $IMAGE, $size ($(elapsed "$t"))"
fi
user="$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")"
case "$user" in
    0|0:*|root|root:*|"") die "image runs as root (User='$user')" ;;
    *) log "image user $user" ;;
esac


if "${PODMAN[@]}" image exists "$NGINX_IMAGE"; then
    log "nginx image $NGINX_IMAGE present"
else
    t=$SECONDS
    if ! "${BUILDAH[@]}" bud --isolation chroot --pull-never --format docker \
            --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$ROOT/deploy/nginx.Containerfile" \
            -t "$NGINX_IMAGE" "$ROOT/deploy" >"$WORK/nginx-build.log" 2>&1; then
        tail -n 30 "$WORK/nginx-build.log" >&2
        die "nginx image build failed"
    fi
    log "nginx image built: $NGINX_IMAGE ($(elapsed "$t"))"
fi

# ---------------------------------------------------------------- compose ---
# The network first, with the subnet the file gives (podman-compose 1.0.3 skips ipam).
subnet="$(/usr/bin/python3 -c '
import os, re, sys, yaml
value = yaml.safe_load(open(sys.argv[1]))["networks"]["default"]["ipam"]["config"][0]["subnet"]
print(re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m[1]) or m[2], value))
' "$ROOT/docker-compose.yml")"
"${PODMAN[@]}" network create --subnet "$subnet" \
    --label "io.podman.compose.project=$PROJECT" "${PROJECT}_default" >/dev/null
log "network ${PROJECT}_default on $subnet"

t=$SECONDS
if ! "${COMPOSE[@]}" up -d --no-build >"$WORK/compose.log" 2>&1; then
    die "podman-compose up failed"
fi
for c in "$NAME_A" "$NAME_B" "$NAME_LB"; do
    [ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ] \
        || die "container $c is not running after podman-compose up"
done
wait_ready() { # container seconds: the compose health check (GET /readyz) passes
    local deadline=$((SECONDS + $2))
    until "${PODMAN[@]}" healthcheck run "$1" >/dev/null 2>&1; do
        if [ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" != true ]; then
            die "container $1 exited: $("${PODMAN[@]}" logs --tail 5 "$1" 2>&1 | tr '\n' ' ')"
        fi
        [ "$SECONDS" -lt "$deadline" ] || die "$1 not healthy after $2s"
        sleep 0.5
    done
}
wait_http() { # url seconds
    local deadline=$((SECONDS + $2))
    until curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
wait_ready "$NAME_A" 90
wait_ready "$NAME_B" 90
wait_http "$LB/healthz" 30 || die "load balancer not answering on $LB/healthz"
published="$("${PODMAN[@]}" port "$NAME_LB" 80/tcp)"
[[ "$published" == 127.0.0.1:* ]] || die "nginx published on $published, not 127.0.0.1"
log "compose project up: $NAME_A, $NAME_B ready behind $NAME_LB on $published ($(elapsed "$t"))"

# The functions folder, mounted read-only at GRADTAPE_FUNCTIONS_DIR in every replica.
for c in "$NAME_A" "$NAME_B"; do
    dir="$("${PODMAN[@]}" exec "$c" printenv GRADTAPE_FUNCTIONS_DIR)"
    for f in "$ROOT"/functions/*.json; do
        "${PODMAN[@]}" exec -i "$c" cmp -s "$dir/$(basename "$f")" - <"$f" \
            || die "$c: $dir/$(basename "$f") differs from functions/$(basename "$f")"
    done
    if "${PODMAN[@]}" exec "$c" touch "$dir/.w" 2>/dev/null; then die "$c: $dir is writable"; fi
    if "${PODMAN[@]}" exec "$c" touch /srv/.w 2>/dev/null; then die "$c: root filesystem is writable"; fi
done
log "functions/ mounted read-only at $dir in both replicas; root filesystems read-only"

# The default concurrency follows the container's CPU quota (GRADTAPE_CPUS, default 1).
cpus="${GRADTAPE_CPUS:-1}"
seen="$("${PODMAN[@]}" exec "$NAME_A" python -c \
    'from app.settings import Settings; s = Settings(); print(s.max_concurrency, s.max_queue)')"
[ "$seen" = "$cpus $((2 * cpus))" ] \
    || die "replica A: max_concurrency, max_queue = $seen under a $cpus-CPU quota (host: $(nproc) CPUs)"
log "replica A under a $cpus-CPU quota on a $(nproc)-CPU host: max_concurrency, max_queue = $seen"

# The API key: /v1 and /metrics refuse a request without it.
for path in /v1/ops /metrics; do
    status="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$LB$path")"
    [ "$status" = 401 ] || die "GET $path without the key: HTTP $status, expected 401"
done
curl -fsS -o /dev/null --max-time 10 -H "Authorization: Bearer $API_KEY" "$LB/metrics" \
    || die "GET /metrics with the key failed"
log "API key required on /v1 and /metrics (401 without, 200 with)"

# -------------------------------------------------------- tutorial checks ---
cat >"$WORK/t1.json" <<'EOF'
{"inputs": {"x": {"data": [[1.0, 1.0], [1.0, 1.0]]}},
 "program": [
   {"tape": "t", "persistent": true, "watch": ["x"], "body": [
     {"op": "reduce_sum", "args": ["x"], "out": "y"},
     {"op": "multiply", "args": ["y", "y"], "out": "z"}]},
   {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
   {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"}],
 "outputs": ["dz_dx", "dz_dy"]}
EOF
cat >"$WORK/t2.json" <<'EOF'
{"inputs": {"x": {"data": 3.0}},
 "program": [
   {"tape": "t", "persistent": true, "watch": ["x"], "body": [
     {"op": "multiply", "args": ["x", "x"], "out": "y"},
     {"op": "multiply", "args": ["y", "y"], "out": "z"}]},
   {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
   {"gradient": "t", "target": "y", "sources": "x", "out": "dy_dx"}],
 "outputs": ["dz_dx", "dy_dx"]}
EOF
cat >"$WORK/t3.json" <<'EOF'
{"inputs": {"x": {"data": 1.0, "variable": true}},
 "program": [
   {"tape": "t", "body": [
     {"tape": "t2", "body": [
       {"op": "multiply", "args": ["x", "x"], "out": "x2"},
       {"op": "multiply", "args": ["x2", "x"], "out": "y"}]},
     {"gradient": "t2", "target": "y", "sources": "x", "out": "dy_dx"}]},
   {"gradient": "t", "target": "dy_dx", "sources": "x", "out": "d2y_dx2"}],
 "outputs": ["dy_dx", "d2y_dx2"]}
EOF
# A ~1.3 MB body: above nginx's 1 MiB default, so it needs client_max_body_size.
python3 - "$WORK/big.json" <<'EOF'
import json, sys
n = 512
body = {"inputs": {"x": {"data": [[1.0] * n for _ in range(n)]}},
        "program": [{"tape": "t", "watch": ["x"], "body": [
                        {"op": "reduce_sum", "args": ["x"], "out": "y"},
                        {"op": "multiply", "args": ["y", "y"], "out": "z"}]},
                    {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"}],
        "outputs": ["dz_dy"]}
with open(sys.argv[1], "w") as f:
    json.dump(body, f)
EOF

# shellcheck disable=SC2016  # jq code, not shell
JQ_DEFS='def close($a; $b): (($a - $b) | fabs) <= 1e-9 * (1 + ($b | fabs));
         def all_close($v; $b): [$v | .. | numbers] as $xs | ($xs | length) > 0 and all($xs[]; close(.; $b));'

post() { # body-file out-file request-id -> prints HTTP status
    curl -sS -o "$2" -w '%{http_code}' --max-time 60 \
        -H 'Content-Type: application/json' -H "X-Request-ID: $3" -H "Authorization: Bearer $API_KEY" \
        -D "$2.headers" --data-binary "@$1" "$LB/v1/run" 2>>"$WORK/curl.log" || echo 000
}
check() { # label body-file jq-check summary-jq
    local status
    status="$(post "$2" "$WORK/out.json" "smoke-$RANDOM$RANDOM")"
    if [ "$status" != 200 ]; then
        echo "--- response ($status):" >&2; head -c 2000 "$WORK/out.json" >&2 || true; echo >&2
        die "$1: HTTP $status"
    fi
    if ! jq -e "$JQ_DEFS $3" "$WORK/out.json" >/dev/null; then
        echo "--- response:" >&2; head -c 2000 "$WORK/out.json" >&2; echo >&2
        die "$1: wrong result"
    fi
    log "$1: $(jq -r "$4" "$WORK/out.json") ok"
}

T1_CHECK='(.outputs.dz_dx.shape == [2,2]) and all_close(.outputs.dz_dx.data; 8) and all_close(.outputs.dz_dy.data; 8) and (.warnings == [])'
T1_SUM='"dz_dx=\(.outputs.dz_dx.data|tojson) dz_dy=\(.outputs.dz_dy.data)"'
check "tutorial 1 (persistent tape, reduce_sum)" "$WORK/t1.json" "$T1_CHECK" "$T1_SUM"
check "tutorial 2 (persistent tape, two gradients)" "$WORK/t2.json" \
    'all_close(.outputs.dz_dx.data; 108) and all_close(.outputs.dy_dx.data; 6)' \
    '"dz_dx=\(.outputs.dz_dx.data) dy_dx=\(.outputs.dy_dx.data)"'
check "tutorial 3 (nested tapes, second derivative)" "$WORK/t3.json" \
    'all_close(.outputs.dy_dx.data; 3) and all_close(.outputs.d2y_dx2.data; 6)' \
    '"dy_dx=\(.outputs.dy_dx.data) d2y_dx2=\(.outputs.d2y_dx2.data)"'
check "large body ($(( $(stat -c %s "$WORK/big.json") / 1024 )) KiB) through nginx" "$WORK/big.json" \
    'all_close(.outputs.dz_dy.data; 524288)' '"dz_dy=\(.outputs.dz_dy.data)"'

# X-Request-ID: the caller's id goes through nginx to the replica and comes back.
rid="smoke-rid-$RANDOM$RANDOM"
post "$WORK/t1.json" "$WORK/rid.json" "$rid" >/dev/null
grep -qi "^x-request-id: $rid" "$WORK/rid.json.headers" || die "X-Request-ID $rid not passed through"
log "X-Request-ID passed through nginx and echoed ($rid)"

# --------------------------------------------------------------- balancing ---
count_ids() { # container pattern -> request log lines whose request id matches
    "${PODMAN[@]}" logs "$1" 2>&1 | grep -E '"message": ?"request"' \
        | grep -c -E "\"request_id\": ?\"$2" || true
}
for i in $(seq 1 "$N_REQ"); do
    status="$(post "$WORK/t1.json" "$WORK/out.json" "smoke-lb-$i")"
    [ "$status" = 200 ] || die "balancing request $i: HTTP $status"
    jq -e "$JQ_DEFS $T1_CHECK" "$WORK/out.json" >/dev/null || die "balancing request $i: wrong result"
done
sleep 0.5
served_a="$(count_ids "$NAME_A" 'smoke-lb-[0-9]+"')"
served_b="$(count_ids "$NAME_B" 'smoke-lb-[0-9]+"')"
log "replica A served $served_a requests, replica B served $served_b (of $N_REQ, from the request ids in their logs)"
[ "$((served_a + served_b))" -eq "$N_REQ" ] || die "the replicas logged $((served_a + served_b)) of $N_REQ requests"
[ "$served_a" -gt 0 ] && [ "$served_b" -gt 0 ] || die "load not spread over both replicas"

# ---------------------------------------------------------------- failover ---
# `podman stop` sends SIGTERM: B answers /readyz with 503 for GRADTAPE_DRAIN_S while it
# still serves, then exits. Replica A watches B's /readyz from inside the network (podman
# exec into B waits while B stops), and requests go on through the load balancer all along.
b_ip="$("${PODMAN[@]}" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$NAME_B")"
PROBE='import sys, time, urllib.request, urllib.error
print("watching", flush=True)
end = time.monotonic() + 30
while time.monotonic() < end:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).read()
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode(), flush=True)
        break
    except OSError as e:
        print("gone", e, flush=True)
        break
    time.sleep(0.05)'
"${PODMAN[@]}" exec "$NAME_A" python -c "$PROBE" "http://$b_ip:8000/readyz" >"$WORK/drain.txt" 2>&1 &
prober=$!
for _ in $(seq 1 100); do grep -q watching "$WORK/drain.txt" && break; sleep 0.1; done
t=$SECONDS
"${PODMAN[@]}" stop -t 45 "$NAME_B" >/dev/null 2>>"$WORK/podman.log" &
stopper=$!
ok=0
i=0
while kill -0 "$stopper" 2>/dev/null || [ "$i" -lt 12 ]; do
    i=$((i + 1))
    [ "$i" -le 200 ] || die "replica B did not stop"
    status="$(post "$WORK/t1.json" "$WORK/out.json" "smoke-failover-$i")"
    [ "$status" = 200 ] || die "failover request $i: HTTP $status"
    jq -e "$JQ_DEFS $T1_CHECK" "$WORK/out.json" >/dev/null || die "failover request $i: wrong result"
    ok=$((ok + 1))
    sleep 0.2
done
wait "$stopper" || die "podman stop $NAME_B failed"
wait "$prober" || true
drain_seen="$(grep -v watching "$WORK/drain.txt" || true)"
[[ "$drain_seen" == 503*draining* ]] \
    || die "replica B's /readyz after SIGTERM: '$drain_seen', expected 503 draining"
[ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$NAME_B")" = false ] || die "replica B still running"
log "replica B drained (/readyz: ${drain_seen%% *} draining) and stopped"
log "failover ok: $ok/$ok requests succeeded while replica B drained and after it stopped ($(elapsed "$t"))"
log "smoke test passed ($(elapsed "$T0"))"
