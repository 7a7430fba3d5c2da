"""Log output of ``ringpush serve``: a level, and text for people or JSON for a log
pipeline (one object per line). Lines go to standard error; standard output is kept for
what the command itself prints."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from enum import StrEnum


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: LogLevel, form: LogFormat) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if form is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.value.upper())
    # Libraries stay at warning unless asked for debug.
    for noisy in ("asyncio", "uvicorn", "hpack", "h2"):
        logging.getLogger(noisy).setLevel(
            logging.DEBUG if level is LogLevel.DEBUG else logging.WARNING
        )


#: At most one line per kind of repeated failure in this many seconds.
THROTTLE_SECONDS = 10.0


class Throttled:
    """At most one line per key in ``seconds``, saying how many were held back: a
    database that is full fails every request and every claim, and one line a while
    says so better than thousands."""

    def __init__(self, logger: logging.Logger, seconds: float = THROTTLE_SECONDS) -> None:
        self._log = logger
        self._seconds = seconds
        self._last: dict[str, tuple[float, int]] = {}

    def log(self, level: int, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        logged_at, held = self._last.get(key, (now - self._seconds, 0))
        if now - logged_at < self._seconds:
            self._last[key] = (logged_at, held + 1)
            return
        self._last[key] = (now, 0)
        if held:
            message += " (%d more like it since the last line)"
            args = (*args, held)
        self._log.log(level, message, *args)
