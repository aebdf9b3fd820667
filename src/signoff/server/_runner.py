"""Run the app with uvicorn, and stop cleanly on Ctrl-C or SIGTERM (no traceback, exit 0).

Why a subclass of ``uvicorn.Server``: on a signal we first tell open long-polls and
event streams to end (``begin_shutdown``), so a graceful shutdown does not wait out a
25-second wait, and we do not re-raise the signal after the shutdown as uvicorn does
(that turns a clean Ctrl-C into a KeyboardInterrupt traceback in our CLI).
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


def run_app(app: FastAPI, *, host: str, port: int, settings: ServerSettings, log_level: str = "info",
            access_log: bool = False, on_ready: OnReady | None = None) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; ``on_ready`` runs as a task once the port listens."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=access_log, lifespan="off",
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)), server_header=False,
        loop="none",
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
