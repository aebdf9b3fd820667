"""The server's doors against a real `signoff serve` process: bounded request heads, and
health/readiness that ask the store.

The PostgreSQL-down case (health answers 503 and shows no connection details) is in
tests/integration/test_health_postgres.py; the login door is in test_login_doors.py.
"""

from __future__ import annotations

import socket
import threading

import httpx

from tests.server.conftest import Server


def raw_request(url: str, head: bytes) -> bytes:
    """Send ``head`` on a fresh connection (from a thread: the server may answer before it has read
    it all) and return what the server answers up to when it closes."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)

    def send() -> None:
        try:
            sock.sendall(head)
        except OSError:
            pass  # the server answered and closed before reading everything: fine

    sender = threading.Thread(target=send)
    sender.start()
    chunks = []
    try:
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and b"connection: close" not in b"".join(chunks).lower():
                break  # a keep-alive answer (the server accepted the request)
    finally:
        sender.join(timeout=30)
        sock.close()
    return b"".join(chunks)


class TestHeaderLimit:
    def test_a_huge_header_is_refused_with_431(self, server: Server) -> None:
        """A 2 MiB header (30 MB was once accepted) gets 431; the server keeps serving."""
        head = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\n"
        answer = raw_request(server.url, head)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert 200 == httpx.get(server.url + "/api/v1/health").status_code

    def test_many_headers_adding_up_are_refused_too(self, server: Server) -> None:
        """The limit is on the whole head, not one header: 2000 headers of 100 bytes are refused."""
        lines = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(2000))
        answer = raw_request(server.url, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]

    def test_a_long_url_is_counted(self, server: Server) -> None:
        """The request line counts: a 1 MiB query string is refused."""
        answer = raw_request(server.url, b"GET /api/v1/health?x=" + b"c" * (1024 * 1024) + b" HTTP/1.1\r\n"
                                         b"Host: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]

    def test_a_large_but_allowed_header_is_served(self, server: Server) -> None:
        """A 32 KiB cookie (under the documented 64 KiB) is served as usual."""
        r = httpx.get(server.url + "/api/v1/health", headers={"Cookie": "x=" + "d" * 32 * 1024})
        assert 200 == r.status_code


class TestHealth:
    def test_health_ready_and_live_answer_while_the_store_does(self, server: Server) -> None:
        """/api/v1/health and /readyz ask the store; /healthz only says the process lives."""
        health = httpx.get(server.url + "/api/v1/health")
        ready = httpx.get(server.url + "/readyz")
        live = httpx.get(server.url + "/healthz")
        assert (200, 200, 200) == (health.status_code, ready.status_code, live.status_code)
        assert ("ok", "ok", "ok") == (health.json()["status"], ready.json()["status"], live.json()["status"])
        assert {"store": "ok"} == health.json()["checks"]

