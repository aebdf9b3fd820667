"""Login rate limiting: failed attempts counted per user name and per client address.

A password guesser is stopped whichever it varies: many names from one address, or
one name from many addresses. Only failures count, and a success clears the name's
count. The counts live in this process (several servers each count their own: the
limit then applies per server, which still bounds guessing to a few tries a minute).
"""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["LoginLimiter"]

_MAX_KEYS = 100_000


class LoginLimiter:
    def __init__(self, max_attempts: int, window_seconds: float) -> None:
        self.max_attempts = max_attempts
        self.window = window_seconds
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._fails[key]
        return q

    def retry_after(self, address: str, name: str, *, now: float | None = None) -> float | None:
        """Seconds until another attempt is allowed, or None when one is allowed now."""
        now = time.monotonic() if now is None else now
        waits: list[float] = []
        with self._lock:
            for key in (f"ip:{address}", f"name:{name.lower()}"):
                q = self._recent(key, now)
                if len(q) >= self.max_attempts:
                    waits.append(q[0] + self.window - now)
        return max(waits) if waits else None

    def failure(self, address: str, name: str, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._fails) >= _MAX_KEYS:
                for key in list(self._fails)[: _MAX_KEYS // 10]:  # oldest-inserted first
                    del self._fails[key]
            for key in (f"ip:{address}", f"name:{name.lower()}"):
                self._fails.setdefault(key, deque()).append(now)

    def success(self, name: str) -> None:
        with self._lock:
            self._fails.pop(f"name:{name.lower()}", None)
