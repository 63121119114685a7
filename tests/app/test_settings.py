"""Settings from GRADTAPE_* variables, and their conversion to the engine's Limits."""

from __future__ import annotations

import dataclasses

import pytest

from app.settings import Settings
from engine import Limits


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("GRADTAPE_"):
            monkeypatch.delenv(name)
    s = Settings()
    assert (s.host, s.port, s.workers, s.api_key, s.cors_origins) == (
        "127.0.0.1",
        8000,
        1,
        None,
        [],
    )
    assert s.max_body_bytes == 64 * 1024 * 1024
    limits = s.limits()
    assert limits.max_elements_per_tensor == 16_777_216
    assert limits.max_live_elements == 67_108_864
    assert limits.max_ops == 1_000_000
    assert limits.max_iterations == 100_000
    assert limits.max_call_depth == 64
    assert limits.max_nesting_depth == 64
    assert limits.timeout_s == 30
    assert s.max_concurrency >= 1 and s.max_queue >= 0


def test_every_engine_limit_is_a_setting() -> None:
    fields = {f.name for f in dataclasses.fields(Limits)}
    assert fields <= set(Settings.model_fields)


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADTAPE_PORT", "9001")
    monkeypatch.setenv("GRADTAPE_MAX_OPS", "12")
    monkeypatch.setenv("GRADTAPE_TIMEOUT_S", "2.5")
    monkeypatch.setenv("GRADTAPE_API_KEY", "k")
    monkeypatch.setenv("GRADTAPE_LOG_LEVEL", "debug")
    monkeypatch.setenv("GRADTAPE_CORS_ORIGINS", "https://a.example, https://b.example")
    s = Settings()
    assert s.port == 9001 and s.api_key == "k" and s.log_level == "DEBUG"
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert s.limits().max_ops == 12 and s.limits().timeout_s == 2.5


def test_cors_origins_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADTAPE_CORS_ORIGINS", '["https://a.example"]')
    assert Settings().cors_origins == ["https://a.example"]


def test_empty_api_key_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADTAPE_API_KEY", "")
    assert Settings().api_key is None


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError):
        Settings(max_concurrency=0)
    with pytest.raises(ValueError):
        Settings(log_level="chatty")


def test_fastapi_opentelemetry_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.main import create_app

    monkeypatch.delenv("GRADTAPE_OTEL", raising=False)
    assert Settings().otel is False
    assert create_app(Settings())._native_telemetry.enabled() is False
    monkeypatch.setenv("GRADTAPE_OTEL", "true")
    assert Settings().otel is True
    assert create_app(Settings())._native_telemetry.config["tracing"] is True
