"""Run the app with uvicorn, and stop cleanly on Ctrl-C or SIGTERM (no traceback, exit 0).

Why a subclass of ``uvicorn.Server``: on a signal we first tell open long-polls and
event streams to end (``begin_shutdown``), so a graceful shutdown does not wait out a
25-second wait, and we do not re-raise the signal after the shutdown as uvicorn does
(that turns a clean Ctrl-C into a KeyboardInterrupt traceback in our CLI).

Why a subclass of uvicorn's httptools protocol: that parser (the fast one, picked when
httptools is installed) buffers a request's line and headers without any bound, so one
client could hold a 30 MB header in memory. ``_bounded_httptools`` counts the bytes of
each request head as they arrive and answers 431 once they pass
``ServerSettings.max_header_bytes``; without httptools, h11 gets the same bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Generator
from types import FrameType
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI

from signoff._errors import UserError
from signoff.server import begin_shutdown
from signoff.server._settings import ServerSettings

__all__ = ["check_port", "run_app"]

log = logging.getLogger("signoff.server")
OnReady = Callable[[], Coroutine[Any, Any, None]]


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_exit: list[Callable[[], None]] = []

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def stop(self) -> None:
        """Begin a graceful shutdown (callable from the loop's thread)."""
        begin_shutdown(self._app)
        for fn in self.on_exit:
            fn()
        self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for requests
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.stop)
        else:
            self.should_exit = True

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


_LINGER_SECONDS = 2.0
_LINGER_BYTES = 64 * 1024 * 1024
"""After a 431, the rest of the request is read and dropped for this long (or this many bytes)."""


def _bounded_httptools(limit: int) -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol refusing request heads over ``limit`` bytes; None without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
    except ImportError:
        return None

    class BoundedHead(HttpToolsProtocol):
        # The bytes of the current head seen so far. A pipelined request that starts inside a
        # chunk whose earlier part ended the previous one has that start uncounted: at most one
        # chunk, so a head still never grows past twice the limit.
        _head_open = True
        _head_bytes = 0
        _discarded: int | None = None  # bytes read and dropped after the 431; None before it
        _linger: asyncio.TimerHandle | None = None

        def data_received(self, data: bytes) -> None:
            if self._discarded is not None:
                self._discarded += len(data)
                if self._discarded > _LINGER_BYTES:
                    self.transport.close()
                return
            while data:
                if not self._head_open:
                    super().data_received(data)
                    return
                room = limit - self._head_bytes
                if room <= 0:
                    self._refuse()
                    return
                part, data = data[:room], data[room:]
                self._head_bytes += len(part)
                super().data_received(part)
                if self.parser is None or self.transport.is_closing() or self.transport.get_protocol() is not self:
                    return

        def on_headers_complete(self) -> None:
            self._head_open = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._head_open, self._head_bytes = True, 0

        def _refuse(self) -> None:
            body = orjson.dumps({
                "type": "about:blank", "title": "Request Header Fields Too Large", "status": 431,
                "detail": f"the request line and headers are larger than this server takes ({limit} bytes)"})
            head = [STATUS_LINE[431]]
            head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
            head += [b"content-type: application/problem+json\r\n",
                     b"content-length: " + str(len(body)).encode() + b"\r\n", b"connection: close\r\n\r\n"]
            self.transport.write(b"".join(head) + body)
            # Close only once the client stopped sending (or after a moment): closing with its data
            # unread makes the kernel reset the connection, and the client never sees the 431.
            self._discarded = 0
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self._linger = self.loop.call_later(_LINGER_SECONDS, self.transport.close)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._linger is not None:
                self._linger.cancel()
            super().connection_lost(exc)

    return BoundedHead


def check_port(host: str, port: int) -> None:
    """Fail early, with a sentence, when the address is taken (uvicorn would log and exit 1)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                            "is another server running there? Pick another with --port") from None


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _log_like_uvicorn(level: str) -> None:
    """signoff's own loggers (the notification deliverer's retries and failures, the server's notes)
    print as uvicorn's do, at the level ``--log-level`` asks for."""
    ours = logging.getLogger("signoff")
    if not ours.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)-9s %(message)s"))
        ours.addHandler(handler)
        ours.propagate = False
    ours.setLevel(level.upper())


def run_app(app: FastAPI, *, host: str, port: int, settings: ServerSettings, log_level: str = "info",
            access_log: bool = False, on_ready: OnReady | None = None, log_format: str = "text") -> None:
    """Serve ``app`` until SIGINT/SIGTERM; ``on_ready`` runs as a task once the port listens.
    ``log_format="json"``: one JSON object per log line (``signoff.server._logs``)."""
    bounded = _bounded_httptools(settings.max_header_bytes)
    _log_like_uvicorn(log_level)
    extra: dict[str, Any] = {}
    if log_format == "json":
        from signoff.server._logs import json_log_config

        extra["log_config"] = json_log_config(log_level)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=access_log, lifespan="on",
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)), server_header=False,
        loop="none", http=bounded or "h11", h11_max_incomplete_event_size=settings.max_header_bytes, **extra,
    )
    server = _Server(config, app)

    async def main() -> None:
        ready_task: asyncio.Task[None] | None = None

        async def when_ready() -> None:
            while not server.started:
                if server.should_exit:
                    return
                await asyncio.sleep(0.02)
            if on_ready is not None:
                await on_ready()

        ready_task = asyncio.ensure_future(when_ready())

        def stop_ready() -> None:
            ready_task.cancel()

        server.on_exit.append(stop_ready)
        try:
            await server.serve()
        finally:
            if not ready_task.done():
                ready_task.cancel()
            await asyncio.gather(ready_task, return_exceptions=True)

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(main())
