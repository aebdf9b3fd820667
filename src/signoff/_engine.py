"""The gate's engine: a private event loop on its own thread where the store lives.

Why: the store (an async psycopg pool, the SQLite worker, the sweeper and the poller)
must live on one loop, while users call the gate from their own loop, from several
loops, or from plain threads. Coroutines hop to the engine; waiting happens on the
caller's loop, woken through the thread-safe Notifier.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from signoff._errors import UserError

T = TypeVar("T")


class Engine:
    def __init__(self, name: str = "signoff-engine") -> None:
        self.inline = False
        """Set by the gate when its store's coroutines may run on any loop (``inline_safe``, the
        SQLite store): ``run`` then awaits them where they are called, saving two thread switches
        per call. Coroutines bound to the engine loop (its own tasks) use ``run_here``."""
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # Let pending callbacks and cancelled tasks finish before the loop closes.
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the engine loop from any loop (or where it is, when ``inline``)."""
        if self.inline:
            if not self.alive:
                coro.close()
                raise UserError("the gate is closed")
            return await coro
        return await self.run_here(coro)

    async def run_here(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the engine loop itself, whatever loop calls."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            return await coro
        if not self.alive:
            coro.close()
            raise UserError("the gate is closed")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def run_sync(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the engine and block for its result (from a thread without a loop)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise UserError("a sync gate method was called from the gate's own engine thread; use the async one")
        if not self.alive:
            coro.close()
            raise UserError("the gate is closed")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.alive:
            self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)


def check_no_running_loop(method: str) -> None:
    """Sync methods block; inside a running loop that would stall it (or deadlock): fail fast."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise UserError(f"{method}() blocks and was called inside a running event loop; "
                    f"use `await gate.{method.removesuffix('_sync')}(...)` there instead")
