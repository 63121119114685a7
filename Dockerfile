# syntax=docker/dockerfile:1
#
# gradtape service image.
#   docker build -t gradtape .
#   docker run -p 8000:8000 gradtape
# BASE_IMAGE may be any Debian-like image with python3 (>= 3.11) and the venv
# module: the official python:3.12-slim, or the stand-in deploy/base-image.sh builds.
ARG BASE_IMAGE=python:3.12-slim

# ---------------------------------------------------------------- builder ---
FROM ${BASE_IMAGE} AS builder

# Optional package index settings, e.g. --build-arg PIP_INDEX_URL=https://mirror/simple.
# PIP_CERT names a CA bundle for a TLS-intercepting proxy; the file has to be
# mounted into the build (buildah bud -v /host/ca.crt:/path/ca.crt:ro, or a
# BuildKit secret), it is never copied into an image layer.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_CERT

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=120

WORKDIR /src
RUN python3 -m venv /opt/venv

# Dependencies first (from pyproject.toml alone), so code changes reuse this layer.
COPY pyproject.toml README.md ./
RUN /opt/venv/bin/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['server']))" > /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

COPY engine ./engine
COPY app ./app
COPY gradtape ./gradtape
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/python -I -c "import app.main" \
    && rm -rf /opt/venv/lib/python3*/site-packages/pip /opt/venv/lib/python3*/site-packages/pip-* \
              /opt/venv/lib/python3*/site-packages/setuptools /opt/venv/lib/python3*/site-packages/setuptools-* \
              /opt/venv/lib/python3*/site-packages/_distutils_hack /opt/venv/lib/python3*/site-packages/distutils-precedence.pth \
              /opt/venv/bin/pip /opt/venv/bin/pip3*

# ------------------------------------------------------------------ final ---
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="gradtape" \
      org.opencontainers.image.description="Gradient computation service (GradientTape semantics over HTTP)" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --gid 10001 gradtape \
    && useradd --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin gradtape

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    GRADTAPE_HOST=0.0.0.0 \
    GRADTAPE_PORT=8000 \
    GRADTAPE_WORKERS=1

WORKDIR /srv
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GRADTAPE_PORT', '8000'), timeout=4).read()"]

COPY deploy/entrypoint.sh /usr/local/bin/gradtape-entrypoint
# Last, so that a code change only replaces this layer.
COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
CMD ["/usr/local/bin/gradtape-entrypoint"]
