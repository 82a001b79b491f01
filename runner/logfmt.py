"""Structured logs for the runner: every line carries the runner id and, inside a build, the build and attempt.

`configure_logging(level, fmt)` installs one handler on stderr: `text` (`time level logger: message key=value`)
or `json` (one object per line: `ts`, `level`, `logger`, `message`, and the fields). Fields come from the
`build_fields` context variable, which `runner.pipeline` sets for the tasks of one build (anyio copies the
context into child tasks), and from `extra={...}` on a call.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["StructuredFormatter", "build_fields", "configure_logging", "runner_fields"]

build_fields: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "daas_build_fields", default=None
)
runner_fields: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "daas_runner_fields", default=None
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class StructuredFormatter(logging.Formatter):
    def __init__(self, fmt: str = "text") -> None:
        super().__init__()
        if fmt not in ("text", "json"):
            raise ValueError(f"log format {fmt!r}: use text or json")
        self.fmt = fmt

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {**(runner_fields.get() or {}), **(build_fields.get() or {})}
        fields.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        return fields

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        fields = self.fields(record)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        if self.fmt == "json":
            document = {
                "ts": round(record.created, 3),
                "level": record.levelname,
                "logger": record.name,
                "message": message,
                **fields,
            }
            return json.dumps(document, default=str, ensure_ascii=False)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        exception = fields.pop("exception", None)
        pairs = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{stamp}.{int(record.msecs):03d}Z {record.levelname} {record.name}: {message}"
        line = f"{line} {pairs}" if pairs else line
        return f"{line}\n{exception}" if exception else line


# Libraries that narrate every request or job at INFO: only their warnings, unless DEBUG is asked for.
_CHATTY = ("httpx", "apscheduler", "alembic", "pysui")


def configure_logging(level: str, fmt: str = "text") -> None:
    """Send every logger's records to stderr through `StructuredFormatter`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(StructuredFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(level if level == "DEBUG" else "WARNING")
