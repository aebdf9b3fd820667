"""A TCP proxy in front of ``signoff serve`` that loses chosen answers after the server has sent them.

It stands for a server that committed a request and died (or a network that broke) before the
caller heard back: the request reaches the server whole, the server answers, and the proxy
closes the caller's connection instead of passing the answer on. ``drop(marker, times)`` picks
the requests whose first line contains ``marker`` (``POST /api/v1/tickets/tk_1/execution/claim``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from tests.server.conftest import free_port


class DroppingProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._rules: dict[str, int] = {}
        self.seen: dict[str, int] = {}
        """How many requests matching each marker passed (dropped or not)."""
        self.dropped: dict[str, int] = {}
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self, marker: str, times: int = 1) -> None:
        """Lose the answers to the next ``times`` requests whose request line contains ``marker``."""
        with self._lock:
            self._rules[marker] = times
            self.seen.setdefault(marker, 0)
            self.dropped.setdefault(marker, 0)

    def _match(self, head: bytes) -> bool:
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        with self._lock:
            for marker, left in self._rules.items():
                if marker in line:
                    self.seen[marker] += 1
                    if left > 0:
                        self._rules[marker] = left - 1
                        self.dropped[marker] += 1
                        return True
        return False

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            doomed = threading.Event()
            threading.Thread(target=self._up, args=(client, server, doomed), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, doomed), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, doomed: threading.Event) -> None:
        # A request's first bytes carry its request line (httpx writes the head in one piece).
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if data[:8].split(b" ", 1)[0] in (b"GET", b"POST", b"PUT", b"DELETE", b"PATCH") and self._match(data):
                    doomed.set()
                server.sendall(data)
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _down(self, server: socket.socket, client: socket.socket, doomed: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if doomed.is_set():
                    break  # the server answered (it committed): the caller never hears it
                client.sendall(data)
        for s in (client, server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()


@contextmanager
def dropping_proxy(upstream: str) -> Iterator[DroppingProxy]:
    proxy = DroppingProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()
