"""Structured JSON logs: one object a line, with the request id of the request being served."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

LOGGER = "gradtape"

# Attributes every LogRecord has; anything else passed with `extra=` goes into the JSON object.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
}


@dataclass(slots=True)
class RequestInfo:
    """What the log line of one request reports; filled in while the request is served."""

    request_id: str
    ops_executed: int | None = None


# The request being served in this context (copied into worker threads, so they can fill it in).
REQUEST: ContextVar[RequestInfo | None] = ContextVar("gradtape_request", default=None)


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        info = REQUEST.get()
        if info is not None and "request_id" not in record.__dict__:
            entry["request_id"] = info.request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for our loggers and uvicorn's (whose access log ours replaces)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger(LOGGER)
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler] if name == "uvicorn" else []
        logger.propagate = name != "uvicorn"
        logger.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True
