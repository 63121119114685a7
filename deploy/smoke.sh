#!/usr/bin/env bash
# End-to-end smoke test of the container image behind a load balancer, with
# no Docker engine: buildah builds the image, podman runs two replicas on the
# host network, and the host's nginx balances between them.
#
#   deploy/smoke.sh
#
# Steps: build the stand-in base image (once) and the service image, start
# replicas A and B, put nginx in front, run the tutorial programs through the
# load balancer and check the numbers, check that both replicas served
# traffic, stop B and check that requests still succeed. Everything it started
# is removed on exit. Exits non-zero on any failure.
#
# Env: GRADTAPE_BASE_IMAGE  base image (default localhost/gradtape-base:bookworm,
#                           built by deploy/base-image.sh when missing)
#      GRADTAPE_IMAGE       image tag to build (default gradtape)
#      SMOKE_LB_PORT / SMOKE_PORT_A / SMOKE_PORT_B   (default 18100 / 18101 / 18102)
#      SMOKE_REQUESTS       requests sent to check balancing (default 14)
#      SMOKE_SKIP_BUILD=1   reuse an existing image
#      SMOKE_KEEP=1         leave containers and nginx running (for debugging)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE_IMAGE="${GRADTAPE_BASE_IMAGE:-localhost/gradtape-base:bookworm}"
IMAGE="${GRADTAPE_IMAGE:-gradtape}"
LB_PORT="${SMOKE_LB_PORT:-18100}"
PORT_A="${SMOKE_PORT_A:-18101}"
PORT_B="${SMOKE_PORT_B:-18102}"
N_REQ="${SMOKE_REQUESTS:-14}"
NAME_A="gradtape-smoke-a"
NAME_B="gradtape-smoke-b"
LB="http://127.0.0.1:${LB_PORT}"

BUILDAH=(buildah --storage-driver vfs)
PODMAN=(podman --storage-driver vfs --cgroup-manager cgroupfs)

T0=$SECONDS
log() { printf '== %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
elapsed() { printf '%ss' "$((SECONDS - $1))"; }

[ "$(id -u)" -eq 0 ] || die "run as root (buildah/podman with the vfs driver, debootstrap)"

# ------------------------------------------------------------------ tools ---
need=()
for pair in buildah:buildah podman:podman runc:runc nginx:nginx-light \
            debootstrap:debootstrap curl:curl jq:jq; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

WORK="$(mktemp -d /tmp/gradtape-smoke.XXXXXX)"
chmod 755 "$WORK"
NGINX_PID_FILE="$WORK/nginx.pid"

cleanup() {
    local rc=$?
    if [ "${SMOKE_KEEP:-0}" = 1 ]; then
        log "SMOKE_KEEP=1: left $NAME_A, $NAME_B and nginx (pid file $NGINX_PID_FILE) running"
        exit "$rc"
    fi
    if [ "$rc" -ne 0 ]; then
        for c in "$NAME_A" "$NAME_B"; do
            if "${PODMAN[@]}" container exists "$c" 2>/dev/null; then
                echo "--- last log lines of $c" >&2
                "${PODMAN[@]}" logs --tail 20 "$c" >&2 2>&1 || true
            fi
        done
        [ -f "$WORK/error.log" ] && { echo "--- nginx error log" >&2; tail -n 20 "$WORK/error.log" >&2; }
    fi
    if [ -s "$NGINX_PID_FILE" ]; then
        kill "$(cat "$NGINX_PID_FILE")" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            [ -e "$NGINX_PID_FILE" ] || break
            sleep 0.2
        done
    fi
    "${PODMAN[@]}" rm -f -t 2 "$NAME_A" "$NAME_B" >/dev/null 2>&1 || true
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

for port in "$LB_PORT" "$PORT_A" "$PORT_B"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port on 127.0.0.1 is already in use"
    fi
done
# Leftovers of an interrupted earlier run (same names only).
"${PODMAN[@]}" rm -f -t 2 "$NAME_A" "$NAME_B" >/dev/null 2>&1 || true

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

# --------------------------------------------------------------- replicas ---
start_replica() { # name port
    "${PODMAN[@]}" run -d --name "$1" --runtime runc --network host \
        --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        -e GRADTAPE_PORT="$2" -e GRADTAPE_WORKERS=1 -e GRADTAPE_LOG_LEVEL=info \
        "$IMAGE" >/dev/null 2>>"$WORK/podman.log"
}
wait_replica() { # name port seconds
    local deadline=$((SECONDS + $3))
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$2/healthz" 2>/dev/null; do
        if [ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" != true ]; then
            die "container $1 exited: $("${PODMAN[@]}" logs --tail 5 "$1" 2>&1 | tr '\n' ' ')"
        fi
        [ "$SECONDS" -lt "$deadline" ] || die "$1 not healthy on :$2 after $3s"
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

t=$SECONDS
start_replica "$NAME_A" "$PORT_A"
start_replica "$NAME_B" "$PORT_B"
wait_replica "$NAME_A" "$PORT_A" 90
wait_replica "$NAME_B" "$PORT_B" 90
log "replicas up: A on :$PORT_A, B on :$PORT_B ($(elapsed "$t"))"
if "${PODMAN[@]}" healthcheck run "$NAME_A" >/dev/null 2>>"$WORK/podman.log"; then
    log "image HEALTHCHECK passes in replica A"
else
    die "image HEALTHCHECK failed in replica A"
fi

# ------------------------------------------------------------------ nginx ---
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
pid $NGINX_PID_FILE;
error_log $WORK/error.log warn;
events { worker_connections 256; }
http {
    log_format lb '\$remote_addr "\$request" \$status rid=\$req_id upstream=\$upstream_addr';
    access_log $WORK/access.log lb;
    client_body_temp_path $WORK/client_body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;

    # Same limit as the service's GRADTAPE_MAX_BODY_BYTES default (64 MiB).
    client_max_body_size 64m;

    map \$http_x_request_id \$req_id {
        default \$http_x_request_id;
        ""      \$request_id;
    }

    upstream gradtape {
        server 127.0.0.1:$PORT_A max_fails=1 fail_timeout=10s;
        server 127.0.0.1:$PORT_B max_fails=1 fail_timeout=10s;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:$LB_PORT;
        location / {
            proxy_pass http://gradtape;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Request-ID \$req_id;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_connect_timeout 2s;
            proxy_read_timeout 120s;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 2;
        }
    }
}
EOF
nginx -t -q -e "$WORK/error.log" -p "$WORK" -c "$WORK/nginx.conf" || die "nginx config invalid"
nginx -e "$WORK/error.log" -p "$WORK" -c "$WORK/nginx.conf" # daemonizes, writes $NGINX_PID_FILE
wait_http "$LB/healthz" 30 || die "load balancer not answering on $LB/healthz"
log "nginx load balancer up on 127.0.0.1:$LB_PORT -> :$PORT_A, :$PORT_B"

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
        -H 'Content-Type: application/json' -H "X-Request-ID: $3" \
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

# X-Request-ID passthrough: informational (depends on the app echoing it).
rid="smoke-rid-$RANDOM$RANDOM"
post "$WORK/t1.json" "$WORK/rid.json" "$rid" >/dev/null
if grep -qi "^x-request-id: $rid" "$WORK/rid.json.headers"; then
    log "X-Request-ID passed through and echoed ($rid)"
elif grep -q "$rid" "$WORK/access.log"; then
    log "X-Request-ID set by nginx (the response does not echo it)"
fi

# --------------------------------------------------------------- balancing ---
count_runs() { # container -> number of POST /v1/run log lines (JSON log or access log)
    "${PODMAN[@]}" logs "$1" 2>&1 \
        | grep -c -E '"path": ?"/v1/run"|POST /v1/run' || true
}
count_ids() { # container pattern -> request log lines whose request id matches
    "${PODMAN[@]}" logs "$1" 2>&1 | grep -E '"message": ?"request"' \
        | grep -c -E "\"request_id\": ?\"$2" || true
}
a0="$(count_runs "$NAME_A")"; b0="$(count_runs "$NAME_B")"
for i in $(seq 1 "$N_REQ"); do
    status="$(post "$WORK/t1.json" "$WORK/out.json" "smoke-lb-$i")"
    [ "$status" = 200 ] || die "balancing request $i: HTTP $status"
    jq -e "$JQ_DEFS $T1_CHECK" "$WORK/out.json" >/dev/null || die "balancing request $i: wrong result"
done
sleep 0.5
served_a="$(count_ids "$NAME_A" 'smoke-lb-[0-9]+"')"; served_b="$(count_ids "$NAME_B" 'smoke-lb-[0-9]+"')"
source_note="request ids in the container logs"
if [ $((served_a + served_b)) -eq 0 ]; then
    served_a=$(($(count_runs "$NAME_A") - a0)); served_b=$(($(count_runs "$NAME_B") - b0))
    source_note="/v1/run lines in the container logs"
fi
if [ $((served_a + served_b)) -eq 0 ]; then
    # The app logs no requests at all: count nginx's upstream choices instead.
    served_a="$(grep 'smoke-lb-' "$WORK/access.log" | grep -c "upstream=127.0.0.1:$PORT_A\$" || true)"
    served_b="$(grep 'smoke-lb-' "$WORK/access.log" | grep -c "upstream=127.0.0.1:$PORT_B\$" || true)"
    source_note="nginx access log (no /v1/run lines in the container logs)"
fi
log "replica A served $served_a requests, replica B served $served_b (of $N_REQ, from $source_note)"
[ "$served_a" -gt 0 ] && [ "$served_b" -gt 0 ] || die "load not spread over both replicas"

# ---------------------------------------------------------------- failover ---
t=$SECONDS
"${PODMAN[@]}" stop -t 5 "$NAME_B" >/dev/null 2>>"$WORK/podman.log"
if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT_B/healthz" 2>/dev/null; then
    die "replica B still answers after podman stop"
fi
log "replica B stopped"
ok=0
for i in 1 2 3 4 5 6; do
    status="$(post "$WORK/t1.json" "$WORK/out.json" "smoke-failover-$i")"
    [ "$status" = 200 ] || die "failover request $i: HTTP $status"
    jq -e "$JQ_DEFS $T1_CHECK" "$WORK/out.json" >/dev/null || die "failover request $i: wrong result"
    ok=$((ok + 1))
done
log "failover ok: $ok/6 requests succeeded with replica B down ($(elapsed "$t"))"
log "smoke test passed ($(elapsed "$T0"))"
