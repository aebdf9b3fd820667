"""A local Slack-compatible HTTP server for the tests: the Web API methods signoff calls, and response URLs.

Speaks what Slack documents for ``chat.postMessage``, ``chat.update``, ``views.open`` and
``users.info`` (``Authorization: Bearer`` token, JSON or form bodies, ``{"ok": true, ...}``
or ``{"ok": false, "error": "..."}``, HTTP 429 with ``Retry-After`` for ``ratelimited``) and
accepts the JSON posts Slack's ``response_url``s take. Every request is recorded. Runs in a
thread, so both slack_sdk's blocking client and async code can reach it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "xoxb-test-token"
CHANNEL_ID = "C0APPROVALS"


@dataclass
class Call:
    method: str
    """The Web API method (``chat.postMessage``) or ``response`` for a response_url post."""
    args: dict[str, Any]
    headers: dict[str, str]
    path: str


@dataclass
class SlackAPI:
    """State of the fake workspace; tests read ``calls`` and set ``errors`` / ``emails``."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    errors: dict[str, tuple[str, int, dict[str, str]]] = field(default_factory=dict)
    """method -> (error, HTTP status, headers): the next call to it fails so (once)."""
    emails: dict[str, str] = field(default_factory=dict)
    """Slack user id -> the email ``users.info`` reports."""
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """ts -> the message as last posted or updated."""
    _ts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/response/{name}"

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def answer(self, method: str, args: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any],
                                                                                          dict[str, str]]:
        with self.lock:
            if method in self.errors:
                error, status, extra = self.errors.pop(method)
                return status, {"ok": False, "error": error}, extra
            if headers.get("authorization") != f"Bearer {TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            if method == "chat.postMessage":
                if not args.get("channel"):
                    return 200, {"ok": False, "error": "channel_not_found"}, {}
                self._ts += 1
                ts = f"1700000000.{self._ts:06d}"
                self.messages[ts] = dict(args)
                return 200, {"ok": True, "channel": CHANNEL_ID, "ts": ts, "message": {"text": args.get("text")}}, {}
            if method == "chat.update":
                ts = str(args.get("ts"))
                if args.get("channel") != CHANNEL_ID or ts not in self.messages:
                    return 200, {"ok": False, "error": "message_not_found"}, {}
                self.messages[ts] = dict(args)
                return 200, {"ok": True, "channel": CHANNEL_ID, "ts": ts, "text": args.get("text")}, {}
            if method == "views.open":
                if not args.get("trigger_id"):
                    return 200, {"ok": False, "error": "invalid_trigger"}, {}
                return 200, {"ok": True, "view": {"id": "V1", **_json(args.get("view"))}}, {}
            if method == "users.info":
                uid = str(args.get("user"))
                if uid not in self.emails:
                    return 200, {"ok": False, "error": "user_not_found"}, {}
                return 200, {"ok": True, "user": {"id": uid, "profile": {"email": self.emails[uid]}}}, {}
            return 200, {"ok": False, "error": "unknown_method"}, {}


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _handler(api: SlackAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            self._serve(self.rfile.read(int(self.headers.get("content-length") or 0)))

        def _serve(self, raw: bytes) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            args: dict[str, Any] = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if raw and headers.get("content-type", "").startswith("application/json"):
                args.update(json.loads(raw))
            elif raw:
                args.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
            if parts.path.startswith("/response/"):
                api.calls.append(Call("response", args, headers, parts.path))
                self._send(200, b"ok", {"content-type": "text/plain"})
                return
            method = parts.path.removeprefix("/api/")
            api.calls.append(Call(method, args, headers, parts.path))
            status, body, extra = api.answer(method, args, headers)
            self._send(status, json.dumps(body).encode(), {"content-type": "application/json; charset=utf-8",
                                                            **extra})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def serve() -> Iterator[SlackAPI]:
    """Run a fake Slack on a free local port for as long as the generator is open."""
    api = SlackAPI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
