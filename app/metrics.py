"""Prometheus metrics of the service (process-wide; served as text by GET /metrics)."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

HTTP_REQUESTS = Counter(
    "gradtape_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "gradtape_http_request_duration_seconds",
    "Time from request start to response end, by route.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
PROGRAMS = Counter(
    "gradtape_programs_evaluated",
    "Programs evaluated, by outcome (ok or the error code).",
    ["outcome"],
)
OPS_EXECUTED = Counter("gradtape_ops_executed", "Catalog ops executed by successful programs.")
EVALUATION_SECONDS = Histogram(
    "gradtape_evaluation_seconds",
    "Time spent evaluating one program (parse to encoded result).",
    buckets=LATENCY_BUCKETS,
)
REJECTED = Counter(
    "gradtape_requests_rejected", "Requests answered with an error, by problem code.", ["code"]
)
IN_PROGRESS = Gauge(
    "gradtape_evaluations_in_progress", "Evaluations admitted (running or queued for a core)."
)


def child(metric: Any, *values: str) -> Any:
    """metric.labels(*values), remembered: a request's labels repeat, and labels() costs
    several microseconds (validation and a lock) where a dict lookup costs a tenth of one."""
    key = (id(metric), values)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*values)
    return found


# Bounded: route templates, methods, statuses and problem codes are finite sets.
_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def render(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
