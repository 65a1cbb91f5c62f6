"""Logging for people on call: one line per event, text by default or JSON for collectors.

In JSON, the fields a call passes as ``extra=`` (``count``, ``ms``, ``site``...) come out as
keys of the line's object, so a collector can filter and sum them; the text format shows the
message alone, as it always has.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from datetime import UTC, datetime
from typing import Any, Final

#: What every LogRecord carries: anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES: Final = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))
) | {"message", "asctime", "taskName"}


def _json_value(value: Any) -> Any:
    """``value`` if JSON writes it as is, else its ``str`` (a UUID, a datetime, a path)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or Infinity
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {
            key: _json_value(value)
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
        }
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName if record.processName != "MainProcess" else None,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = {k: v for k, v in entry.items() if v is not None}
        # The line's own fields come first and win over an ``extra`` of the same name.
        line.update((k, v) for k, v in extra.items() if k not in entry)
        return json.dumps(line)


def configure(level: str, fmt: str, role: str) -> None:
    """Send logs to stderr; ``role`` (web, worker, serve) tags each line."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s %(levelname)s {role}[%(process)d] %(name)s: %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log is one line per request: useful, but not at INFO on a busy day.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # The embedded PostgreSQL narrates every step of its start at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
