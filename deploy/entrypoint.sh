#!/bin/sh
# Container entrypoint: serve app.main:app with uvicorn, one worker process.
#   GRADTAPE_HOST                 bind address      (default 0.0.0.0)
#   GRADTAPE_PORT                 listen port       (default 8000)
#   GRADTAPE_LOG_LEVEL            log level         (default info)
#   GRADTAPE_FORWARDED_ALLOW_IPS  addresses/CIDRs whose X-Forwarded-For/-Proto are believed
#                                 (default 127.0.0.1: none but the container itself; set it to
#                                 the proxy in front, as docker-compose.yml does)
#   GRADTAPE_WORKERS              must be 1 (or unset): one worker per container. The
#                                 admission gate and /metrics are per process, so more
#                                 workers would each gate and count on their own; scale with
#                                 replicas instead (compose replicas, the Kubernetes HPA).
# The app writes its own JSON request log, so uvicorn's access log is off.
# Extra arguments are passed on to uvicorn.
set -eu

if [ "${GRADTAPE_WORKERS:-1}" != 1 ]; then
    echo "gradtape: GRADTAPE_WORKERS=${GRADTAPE_WORKERS} is not supported in a container:" \
        "run one worker per container and scale the replicas" >&2
    exit 64
fi

level="$(printf '%s' "${GRADTAPE_LOG_LEVEL:-info}" | tr '[:upper:]' '[:lower:]')"

exec uvicorn app.main:app \
    --host "${GRADTAPE_HOST:-0.0.0.0}" \
    --port "${GRADTAPE_PORT:-8000}" \
    --workers 1 \
    --log-level "$level" \
    --no-access-log \
    --no-server-header \
    --proxy-headers \
    --forwarded-allow-ips "${GRADTAPE_FORWARDED_ALLOW_IPS:-127.0.0.1}" \
    "$@"
