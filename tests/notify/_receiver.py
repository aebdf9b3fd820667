"""A real HTTP receiver for webhook tests: uvicorn serving a small Starlette app on a loopback port.

Runs in the test's own event loop (``async with Receiver() as r``), records each request
(headers and raw body) and answers what the test queues (default 200).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[Answer] = []
        self._release = asyncio.Event()
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    async def _hook(self, request: Request) -> Response:
        self.received.append(Received(dict(request.headers), await request.body()))
        answer = self.answers.pop(0) if self.answers else Answer()
        if answer.hang:
            await self._release.wait()
        return Response(status_code=answer.status, headers=answer.headers)

    async def __aenter__(self) -> Receiver:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._release.set()
        self._server.should_exit = True
        assert self._task is not None
        await self._task
        self._sock.close()
