"""Login rate limiting: failed attempts counted per user name and per client address.

A password guesser is stopped whichever it varies: many names from one address, or
one name from many addresses. Only failures count, and a success clears the name's
count.

Why ``reserve`` counts an attempt *before* its password is checked: checking the count,
then the password (slow, on another thread), then recording a failure let 40 guesses sent
at once all pass the check before any was recorded. ``reserve`` checks and counts in one
step under the lock, so at most ``max_attempts`` passwords are ever checked per window;
a success gives its slot back. The counts live in this process (several servers each count their own: the
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

    def reserve(self, address: str, name: str, *, now: float | None = None) -> float | None:
        """Take an attempt slot before the password is checked: None when one was free (the attempt
        now counts as a failure until ``success`` gives it back), else the seconds to wait."""
        now = time.monotonic() if now is None else now
        waits: list[float] = []
        with self._lock:
            for key in (f"ip:{address}", f"name:{name.lower()}"):
                q = self._recent(key, now)
                if len(q) >= self.max_attempts:
                    waits.append(q[0] + self.window - now)
            if waits:
                return max(waits)
            self._record(address, name, now)
        return None

    def failure(self, address: str, name: str, *, now: float | None = None) -> None:
        """Count a failed attempt that was not reserved."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._record(address, name, now)

    def _record(self, address: str, name: str, now: float) -> None:
        if len(self._fails) >= _MAX_KEYS:
            for key in list(self._fails)[: _MAX_KEYS // 10]:  # oldest-inserted first
                del self._fails[key]
        for key in (f"ip:{address}", f"name:{name.lower()}"):
            self._fails.setdefault(key, deque()).append(now)

    def success(self, name: str, address: str | None = None) -> None:
        """Clear the name's count; with ``address``, also give back the slot ``reserve`` took there."""
        with self._lock:
            self._fails.pop(f"name:{name.lower()}", None)
            if address is not None:
                q = self._fails.get(f"ip:{address}")
                if q:
                    q.pop()
                    if not q:
                        del self._fails[f"ip:{address}"]
