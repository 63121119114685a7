"""Service settings from GRADTAPE_* environment variables; `Settings.limits()` feeds the engine."""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine import Limits

MIB = 1024 * 1024


CGROUP = Path("/sys/fs/cgroup")


def _cgroup_quota(root: Path) -> float | None:
    """The CPUs the cgroup's quota allows (cgroup v2 `cpu.max`, else v1 `cpu.cfs_quota_us` /
    `cpu.cfs_period_us`), or None where there is no quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        if int(period) > 0:
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        try:
            quota_us = int((root / folder / "cpu.cfs_quota_us").read_text())
            period_us = int((root / folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    return None


def container_cpus(root: Path = CGROUP) -> int:
    """The CPUs this process may use: the CPUs it may run on (affinity), capped by the
    container's cgroup CPU quota rounded up (a 1.5-CPU limit runs two evaluations at once)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def _cores() -> int:
    return container_cpus(CGROUP)


class Settings(BaseSettings):
    """Everything the service reads from its environment (prefix `GRADTAPE_`)."""

    model_config = SettingsConfigDict(env_prefix="GRADTAPE_", extra="ignore")

    # ----- server -----
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # One worker per container is the supported deployment (the image's entrypoint refuses
    # more): the admission gate (max_concurrency, max_queue) and the Prometheus registry behind
    # /metrics are per process, so only then are both exact. Scale with replicas. More workers
    # (`gradtape serve --workers N`, for a local run) each gate and count on their own.
    workers: int = Field(default=1, ge=1)
    log_level: str = "INFO"
    api_key: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    otel: bool = False  # FastAPI's native OpenTelemetry instrumentation
    # A folder whose NAME.json files are loaded as functions at start-up (read-only ones).
    functions_dir: str | None = None
    # /metrics asks for the API key when one is set, unless this says it is public.
    metrics_public: bool = False
    # After SIGTERM: seconds /readyz answers 503 `draining` while the socket still accepts and
    # requests finish; then the server stops accepting, finishes what is in flight and exits.
    drain_s: float = Field(default=0.0, ge=0)

    # ----- HTTP layer -----
    max_body_bytes: int = Field(default=64 * MIB, ge=1)
    max_body_containers: int = Field(default=1_048_576, ge=1)
    malloc_keep_mb: int = Field(default=64, ge=0)
    max_concurrency: int = Field(default_factory=_cores, ge=1)
    max_queue: int = Field(default_factory=lambda: 2 * _cores(), ge=0)

    # ----- engine limits (docs/wire-format.md section 6) -----
    max_elements_per_tensor: int = Field(default=16_777_216, ge=1)
    max_live_elements: int = Field(default=67_108_864, ge=1)
    max_ops: int = Field(default=1_000_000, ge=1)
    max_iterations: int = Field(default=100_000, ge=0)
    max_call_depth: int = Field(default=64, ge=1)
    max_nesting_depth: int = Field(default=64, ge=1)
    timeout_s: float = Field(default=30.0, gt=0)
    max_statements: int = Field(default=100_000, ge=1)
    max_outputs: int = Field(default=10_000, ge=1)
    max_output_elements: int = Field(default=16_777_216, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        """Accept a JSON list or a comma-separated string."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @field_validator("api_key")
    @classmethod
    def _empty_key_is_none(cls, value: str | None) -> str | None:
        return value or None

    def limits(self) -> Limits:
        """The engine's limits for one request."""
        return Limits(
            max_elements_per_tensor=self.max_elements_per_tensor,
            max_live_elements=self.max_live_elements,
            max_ops=self.max_ops,
            max_iterations=self.max_iterations,
            max_call_depth=self.max_call_depth,
            max_nesting_depth=self.max_nesting_depth,
            timeout_s=self.timeout_s,
            max_statements=self.max_statements,
            max_outputs=self.max_outputs,
            max_output_elements=self.max_output_elements,
        )


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
