"""The console channel: one readable block per message, agent words marked, no terminal escapes."""

from __future__ import annotations

import io
import logging

import pytest

from signoff._model import Action
from signoff.notify import Channel
from signoff.notify.console import ConsoleChannel
from tests.notify._tickets import message, ticket


class TestConsoleChannel:
    async def test_block_to_stream(self) -> None:
        """The block names the event, the action, why, the arguments, the agent's words and the link."""
        out = io.StringIO()
        ch = ConsoleChannel("dev", stream=out)
        assert isinstance(ch, Channel)
        sent = await ch.send(message())
        text = out.getvalue()
        assert "[signoff] needs approval: deploy by agent-7  (ticket.created, channel dev)" == text.splitlines()[0]
        assert '        "service": "api",' in text.splitlines()
        assert "reasoning (the agent's words, unverified):" in text
        assert "      | Tests pass." in text.splitlines()
        assert "https://signoff.example/tickets/tk_1" in text
        assert "written to the server log" == sent.detail

    async def test_no_terminal_escapes(self) -> None:
        """Escape sequences in anything the agent wrote arrive as visible <U+001B>, never as ESC."""
        action = Action(name="x\x1b[2J", agent="\x1b]8;;https://evil\x07a", args={"k\x1b": "\x9b31m"},
                        reasoning="line\x1b[1A\rover", alternatives=("\u202eevil",))
        out = io.StringIO()
        await ConsoleChannel("dev", stream=out).send(message(ticket(action=action)))
        text = out.getvalue()
        assert not any(c in text for c in "\x1b\x07\x9b\r\u202e")
        assert "<U+001B>" in text and "<U+202E>" in text
        assert "hidden or control characters" in text

    async def test_logger(self, caplog: pytest.LogCaptureFixture) -> None:
        """With a logger, the block is one INFO record."""
        caplog.set_level(logging.INFO, logger="test.console")
        await ConsoleChannel("dev", stream=logging.getLogger("test.console")).send(message())
        [record] = caplog.records
        assert logging.INFO == record.levelno
        assert record.getMessage().startswith("[signoff] needs approval")
