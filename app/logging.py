"""Structured JSON logs: one object a line, with the request id of the request being served."""

from __future__ import annotations

import logging
import math
import sys
import time
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
            "time": _timestamp(record.created),
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


_SECOND: tuple[int, str] = (-1, "")  # the last second formatted, and its text


def _timestamp(created: float) -> str:
    """ISO 8601 with milliseconds in UTC, as datetime.isoformat(timespec="milliseconds") writes
    it; the date and time of day are formatted once a second."""
    global _SECOND
    fraction, whole = math.modf(created)  # datetime's own rounding to microseconds
    second, micros = int(whole), round(fraction * 1e6)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    if _SECOND[0] != second:
        _SECOND = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_SECOND[1]}.{micros // 1000:03d}+00:00"


_HANDLER: logging.Handler | None = None  # the handler configure() installed


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for our loggers and uvicorn's (whose access log ours replaces)."""
    global _HANDLER
    # No record asks for its caller's file and line, thread or process (the JSON line has
    # none of them): skip finding them, a quarter of the cost of a request's log line.
    logging._srcfile = None  # type: ignore[attr-defined]  # the documented switch for callers
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    _HANDLER = handler
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


def log_request(logger: logging.Logger, fields: dict[str, Any]) -> None:
    """`logger.info("request", extra=fields)`: the line written for every request. Where the
    line goes to the handler configure() installed and nowhere else (no other handler, filter
    or level on the way), it is formatted and written here: the JSON line JSONFormatter would
    write, without a LogRecord and the handler chain (which cost a sizeable part of a tiny
    request in-process)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    handler, parent = _HANDLER, logger.parent
    if (
        handler is None
        or parent is None
        or logger.handlers
        or logger.filters
        or not logger.propagate
        or parent.propagate
        or parent.filters
        or handler.filters
        or len(parent.handlers) != 1
        or parent.handlers[0] is not handler
        or handler.level > logging.INFO
        or type(handler.formatter) is not JSONFormatter
    ):
        logger.info("request", extra=fields)
        return
    entry = {
        "time": _timestamp(time.time()),
        "level": "INFO",
        "logger": logger.name,
        "message": "request",
        **fields,
    }
    text = orjson.dumps(entry, default=str).decode() + "\n"
    try:
        with handler.lock:  # type: ignore[union-attr]  # as Handler.handle holds it
            stream = handler.stream  # type: ignore[attr-defined]
            stream.write(text)
            stream.flush()
    except Exception:  # a closed or broken stream: the ordinary path reports it its own way
        logger.info("request", extra=fields)
