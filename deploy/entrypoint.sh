#!/bin/sh
# Container entrypoint: serve app.main:app with uvicorn.
#   GRADTAPE_HOST     bind address         (default 0.0.0.0)
#   GRADTAPE_PORT     listen port          (default 8000)
#   GRADTAPE_WORKERS  worker processes     (default 1)
# Extra arguments are passed on to uvicorn.
set -eu

exec uvicorn app.main:app \
    --host "${GRADTAPE_HOST:-0.0.0.0}" \
    --port "${GRADTAPE_PORT:-8000}" \
    --workers "${GRADTAPE_WORKERS:-1}" \
    --proxy-headers \
    --forwarded-allow-ips "${GRADTAPE_FORWARDED_ALLOW_IPS:-*}" \
    --no-server-header \
    "$@"
