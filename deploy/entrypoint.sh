#!/bin/sh
# Container entrypoint: serve app.main:app with uvicorn.
#   GRADTAPE_HOST       bind address      (default 0.0.0.0)
#   GRADTAPE_PORT       listen port       (default 8000)
#   GRADTAPE_WORKERS    worker processes  (default 1)
#   GRADTAPE_LOG_LEVEL  log level         (default info)
# The app writes its own JSON request log, so uvicorn's access log is off.
# Extra arguments are passed on to uvicorn.
set -eu

level="$(printf '%s' "${GRADTAPE_LOG_LEVEL:-info}" | tr '[:upper:]' '[:lower:]')"

exec uvicorn app.main:app \
    --host "${GRADTAPE_HOST:-0.0.0.0}" \
    --port "${GRADTAPE_PORT:-8000}" \
    --workers "${GRADTAPE_WORKERS:-1}" \
    --log-level "$level" \
    --no-access-log \
    --no-server-header \
    --proxy-headers \
    --forwarded-allow-ips "${GRADTAPE_FORWARDED_ALLOW_IPS:-*}" \
    "$@"
