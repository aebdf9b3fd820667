"""The one server-sent-event loop: replay from the audit log, then live changes, each once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from signoff import Action, Gate
from signoff.server._sse import event_stream
from signoff.store._records import Event

POLICY = {"version": 1, "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}]}


def deploy(n: int) -> Action:
    return Action(name="deploy", args={"n": n}, agent="bot", reasoning="r")


def frame(ev: Event) -> bytes:
    return b"%d %s\n" % (ev.seq, ev.kind.encode())


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Gate]:
    async with Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/sse.db", sweep=False) as g:
        yield g


class TestEventStream:
    async def test_replay_then_live_each_change_once(self, gate: Gate) -> None:
        """After ``after``: the missed changes from the audit log, then a new one live, none twice."""
        first = await gate.submit(deploy(1))
        await gate.submit(deploy(2))
        await gate.submit(deploy(3))
        stop = asyncio.Event()
        frames: list[bytes] = []
        stream = event_stream(gate, after=1, frame=frame, heartbeat=30, stop=stop, hello=b"hi\n")
        async for chunk in stream:
            frames.append(chunk)
            if len(frames) == 3:  # hello and the two missed submissions: now one live change
                await gate.cancel(first.id)
            if chunk.endswith(b"cancelled\n"):
                stop.set()
        assert [b"hi\n", b"2 submitted\n", b"3 submitted\n", b"4 cancelled\n"] == frames

    async def test_without_after_only_new_changes(self, gate: Gate) -> None:
        """A first connection gets no history: only what commits from then on."""
        await gate.submit(deploy(1))
        stop = asyncio.Event()
        frames: list[bytes] = []
        async for chunk in event_stream(gate, after=None, frame=frame, heartbeat=30, stop=stop, hello=b"hi\n"):
            frames.append(chunk)
            if chunk == b"hi\n":
                await gate.submit(deploy(2))
            else:
                stop.set()
        assert [b"hi\n", b"2 submitted\n"] == frames

    async def test_a_quiet_stream_sends_heartbeats_and_ends_with_its_lifetime(self, gate: Gate) -> None:
        """With nothing happening the stream sends keep-alive comments and ends after ``lifetime``."""
        frames = [chunk async for chunk in event_stream(gate, after=None, frame=frame, heartbeat=0.01,
                                                         lifetime=0.2)]
        assert frames and {b": keep-alive\n\n"} == set(frames)
