"""``signoff serve --log-format json``: one JSON object per log line, for log shippers.

Every line carries ``ts`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; the ticket id
as ``ticket_id`` where the line names one (an ``extra={"ticket_id": ...}``, a ticket URL in an
access line, or a ``tk_...`` id in the text); access lines add ``method``, ``path``, ``status``
and ``client``. Secrets never reach the line: API tokens (``so_agent_``/``so_rev_``), bearer
credentials, webhook secrets (``whsec_``), the password in a database URL, and the values of
query parameters that carry credentials (``token``, ``code``, ``state``, ``password``,
``secret``...) are replaced by ``[redacted]`` in every field, tracebacks included.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["JsonFormatter", "json_log_config", "redact"]

_TICKET = re.compile(r"\btk_[0-9a-f]{16}\b")
_SECRETS = (
    (re.compile(r"\bso_(?:agent|rev)_[A-Za-z0-9_\-]+"), "[redacted]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 [redacted]"),
    (re.compile(r"(://[^:/@\s]+:)[^@/\s]+@"), r"\1[redacted]@"),  # a database URL's password
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), "[redacted]"),
    (re.compile(r"(?i)([?&](?:[a-z_]*token|code|state|password|passwd|secret|key|session|signature|sig)=)[^&#\s\"']*"),
     r"\1[redacted]"),
)
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential replaced."""
    for pattern, repl in _SECRETS:
        text = pattern.sub(repl, text)
    return text


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON (see the module docstring for its fields)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _version, status = record.args
            out.update(message=redact(f"{method} {path} {status}"), method=method, path=redact(str(path)),
                       status=status, client=client)
        else:
            out["message"] = redact(record.getMessage())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = redact(value) if isinstance(value, str) else value
        if "ticket_id" not in out:
            found = _TICKET.search(out.get("path") or out["message"])
            if found:
                out["ticket_id"] = found.group()
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(out, default=str).decode()


def json_log_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn: its loggers and signoff's, JSON on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    logger = {"handlers": ["json"], "level": level.upper(), "propagate": False}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "loggers": {name: logger for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "signoff")},
    }
