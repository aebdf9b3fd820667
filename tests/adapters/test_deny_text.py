"""A denied call's words name only why it is denied, never "a human must approve it first".

An action may match a ``deny`` rule and an ``approve`` rule at once: the outcome keeps both
reasons (it names every rule that matched), but the text the agent reads (Decision.explanation,
the Denied error, the adapters' tool results, the MCP proxy's answer) must not invite it to
ask for an approval that cannot be given.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import signoff
from signoff._decisions import raise_for
from signoff.integrations._common import ToolCall, ToolGate, refusal_text
from tests.remote import local_or_remote

APPROVE_WORDS = "a human must approve it first"
POLICY: dict[str, Any] = {
    "version": 1,
    "defaults": {"level": "auto"},
    "rules": [
        {"name": "customer-data-changes", "match": {"action": "delete_customer_data"}, "level": "approve",
         "reason": "high_risk_action"},
        {"name": "no-data-deletion", "match": {"action": "delete_customer_data"}, "level": "deny",
         "reason": "policy_boundary"},
    ],
}
ACTION = signoff.Action(name="delete_customer_data", args={"customer": "bob"}, agent="support-bot",
                        reasoning="the customer asked")


@pytest.fixture(params=["local", "remote"])
def gate(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[signoff.Gate]:
    with local_or_remote(request.param, tmp_path, POLICY, reviewers={"alice": None}, operator="alice") as g:
        yield g


def test_outcome_keeps_every_reason(gate: signoff.Gate) -> None:
    """Both rules still show in the outcome: only the words for the agent are narrowed."""
    outcome = gate.evaluate(ACTION)
    assert (signoff.Level.DENY, ("customer-data-changes", "no-data-deletion")) == \
        (outcome.level, outcome.matched_rules)
    assert APPROVE_WORDS in "; ".join(r.message for r in outcome.reasons)


async def test_local_gate_decision_and_error(gate: signoff.Gate) -> None:
    decision = await gate.guard(ACTION)
    assert "denied" == decision.status
    assert "no-data-deletion" in decision.explanation and APPROVE_WORDS not in decision.explanation
    with pytest.raises(signoff.Denied) as raised:
        raise_for(decision)
    assert "no-data-deletion" in str(raised.value) and APPROVE_WORDS not in str(raised.value)
    with pytest.raises(signoff.Denied) as submitted:
        await gate.submit(ACTION)
    assert "no-data-deletion" in str(submitted.value) and APPROVE_WORDS not in str(submitted.value)
    assert APPROVE_WORDS not in submitted.value.decision.explanation


async def test_gated_tool_error(gate: signoff.Gate) -> None:
    @gate.gated("delete_customer_data", agent="support-bot")
    async def delete_customer_data(customer: str) -> str:
        raise AssertionError("must not run")

    with pytest.raises(signoff.Denied) as raised:
        await delete_customer_data("bob")
    assert "no-data-deletion" in str(raised.value) and APPROVE_WORDS not in str(raised.value)


async def test_adapter_tool_result(gate: signoff.Gate) -> None:
    """The text every adapter (and the MCP proxy) gives the model for a denied call."""
    core = ToolGate(gate, agent="support-bot")
    [step] = core.plan([ToolCall(id="call_1", name="delete_customer_data", args={"customer": "bob"})])
    await core.submit([step])
    assert step.decision is not None
    text = refusal_text(step.decision)
    assert text.startswith("The call to delete_customer_data is not allowed by policy and did not run")
    assert "no-data-deletion" in text and APPROVE_WORDS not in text
    [verdict] = core.verdicts([step])
    assert (False, text) == (verdict.run, verdict.text)


def test_langgraph_tool_message(gate: signoff.Gate) -> None:
    pytest.importorskip("langchain.agents")
    from langchain_core.messages import AIMessage, ToolMessage

    from tests.adapters import _lg_app as app

    agent = app.agent(gate, [app.turn(("delete_customer_data", {"customer": "bob"})), AIMessage(content="ok")])
    result = agent.invoke({"messages": [{"role": "user", "content": "delete"}]}, app.config())
    [message] = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert "no-data-deletion" in message.content and APPROVE_WORDS not in message.content


async def test_openai_agents_tool_output(gate: signoff.Gate) -> None:
    pytest.importorskip("agents.testing")
    from agents import Runner
    from agents.testing import assistant_message

    from tests.adapters import _oa_app as app

    agent, _, _ = app.build(gate, [app.turn(("delete_customer_data", {"customer": "bob"})),
                                   [assistant_message("ok")]])
    out = app.outputs(await Runner.run(agent, "delete"))["call_1"]
    assert "no-data-deletion" in out and APPROVE_WORDS not in out


async def test_mcp_proxy_answer(tmp_path: Path) -> None:
    """The proxy's denial comes from the same refusal_text: a real proxy process and upstream server."""
    pytest.importorskip("mcp")
    import yaml
    from mcp import ClientSession, StdioServerParameters, stdio_client

    root = Path(__file__).resolve().parents[2]
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    log = tmp_path / "upstream.jsonl"
    params = StdioServerParameters(
        command=str(Path(sys.executable).with_name("signoff")),
        args=["mcp-proxy", "--policy", str(policy), "--db", f"sqlite:///{tmp_path / 's.db'}", "--agent", "bot",
              "--", sys.executable, "-m", "tests.adapters._mcp_upstream", str(log)], cwd=str(root))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("delete_customer_data", {"customer": "bob"})
    text = " | ".join(getattr(c, "text", "") for c in result.content)
    assert (True, False) == (result.is_error, log.exists())
    assert "no-data-deletion" in text and APPROVE_WORDS not in text
