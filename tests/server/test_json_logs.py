"""The JSON log formatter: fields, ticket ids, and secrets redacted everywhere (tracebacks included)."""

from __future__ import annotations

import json
import logging
import sys

from signoff.server._logs import JsonFormatter

AGENT_TOKEN = "so_agent_" + "A1b2" * 10
DSN = "postgresql://signoff:hunter2hunter2@db-7.internal:5432/signoff"


def record(name: str, msg: str, args: tuple[object, ...] | None = None, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


class TestJsonFormatter:
    def test_access_line_fields_and_query_credentials(self) -> None:
        """An access line gives method, path, status and client; credential-carrying query values are gone."""
        rec = record("uvicorn.access", '%s - "%s %s HTTP/%s" %d',
                     ("10.0.0.7:5123", "GET", "/login/oidc/callback?code=abc123&state=xyz789&next=/", "1.1", 302))
        line = json.loads(JsonFormatter().format(rec))
        assert ("GET", 302, "10.0.0.7:5123", "/login/oidc/callback?code=[redacted]&state=[redacted]&next=/") == (
            line["method"], line["status"], line["client"], line["path"])
        assert "abc123" not in json.dumps(line) and "xyz789" not in json.dumps(line)

    def test_ticket_id_from_text_or_extra(self) -> None:
        """The ticket id comes from ``extra`` when given, else from a ``tk_`` id in the message."""
        fmt = JsonFormatter()
        from_text = json.loads(fmt.format(record("signoff.notify", "sent tk_0123456789abcdef to ops")))
        from_extra = json.loads(fmt.format(record("signoff.server", "decided", ticket_id="tk_fedcba9876543210")))
        assert ["tk_0123456789abcdef", "tk_fedcba9876543210"] == [from_text["ticket_id"], from_extra["ticket_id"]]

    def test_no_secret_in_message_extra_or_traceback(self) -> None:
        """Tokens, bearer credentials, webhook secrets and a database URL's password never reach the line."""
        try:
            raise RuntimeError(f"could not reach {DSN} with Authorization: Bearer {AGENT_TOKEN}")
        except RuntimeError:
            rec = record("signoff.server", "store %s failed for %s", (DSN, AGENT_TOKEN),
                         webhook="whsec_c2VjcmV0c2VjcmV0c2VjcmV0")
            rec.exc_info = sys.exc_info()
        text = JsonFormatter().format(rec)
        line = json.loads(text)
        assert [] == [s for s in ("hunter2hunter2", AGENT_TOKEN, "c2VjcmV0c2VjcmV0c2VjcmV0") if s in text]
        assert ("RuntimeError" in line["exception"], "db-7.internal" in line["message"]) == (True, True)
