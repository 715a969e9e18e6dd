"""Structured logs: one JSON object per line on stderr."""

from __future__ import annotations

import json
import logging
import sys
import time

import orjson

_STD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _dumps(out: dict) -> str:
    try:
        return orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError: e.g. an integer wider than 64 bits
        return json.dumps(out, default=str, separators=(",", ":"))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg and the record's ``extra`` fields.

    Cheap, because the access log writes one per request: orjson, and the time stamp's date and
    time formatted once a second (they took half of a ``/healthz`` request's log line).
    """

    _second = -1
    _prefix = ""

    def _ts(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int(record.msecs):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": self._ts(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STD and key[0] != "_":
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _dumps(out)


def configure(level: str = "INFO") -> None:
    root = logging.getLogger("scloud_api")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level.upper())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
