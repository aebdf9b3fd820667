"""What the framework adapters cost: per auto tool call, and per pause -> approve -> resume.

For each framework (LangChain/LangGraph, OpenAI Agents SDK, Pydantic AI, MCP, Claude Code, Google ADK, Strands,
Microsoft Agent Framework, Claude Agent SDK):

* **auto overhead**: the cost the adapter adds to one tool call the policy lets pass.
  Measured two ways: the adapter's hooks timed directly on one call (``hook µs``: what
  signoff runs: build the Action, evaluate the policy, the framework-side wrapper), and
  the same scripted run with and without the adapter (``run delta µs``: medians of
  interleaved runs, so noisier). Target (issue 7): under 100 µs. For MCP the proxy is a
  separate process, so its "delta" is the extra stdio hop, not policy work.
* **round trip**: pause -> approve -> resume of one gated call through signoff (SQLite
  store; LangGraph also with its SQLite checkpointer), next to the framework's own
  interrupt-and-resume on the same scripted run (approve without signoff). The anchors'
  last run (/work/shared/anchors) measured LangGraph interrupt+resume at 5.6 ms via its
  SQLite checkpointer and the OpenAI RunState approve+resume at 7.6 ms.

Everything is offline (scripted models); files live in a temporary directory.
Run alone (``python benchmarks/bench_adapters.py``) or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import itertools
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent

POLICY: dict[str, Any] = {
    "version": 1,
    "defaults": {"level": "auto"},
    "rules": [
        {"name": "refunds", "match": {"action": "issue_refund"}, "level": "approve", "reason": "high_risk_action"},
        {"name": "deletions", "match": {"action": "delete_customer_data"}, "level": "deny",
         "reason": "policy_boundary"},
    ],
}
ANCHORS = {"langgraph_interrupt_resume_ms": 5.59, "openai_runstate_approve_resume_ms": 7.59}


def _us(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e6, 2)


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e3, 2)


def time_sync(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


async def time_async(fn: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


def rounds_sync(fns: list[Callable[[], Any]], n: int) -> list[list[float]]:
    """Each function n times, interleaved (one of each per round), so drifts hit all alike."""
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(n):
        for i, fn in enumerate(fns):
            out[i] += time_sync(fn, 1)
    return out


async def rounds_async(fns: list[Callable[[], Awaitable[Any]]], n: int) -> list[list[float]]:
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(n):
        for i, fn in enumerate(fns):
            out[i] += await time_async(fn, 1)
    return out


def interleaved_sync(a: Callable[[], Any], b: Callable[[], Any], n: int) -> tuple[list[float], list[float]]:
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(n):
        ta += time_sync(a, 1)
        tb += time_sync(b, 1)
    return ta, tb


async def interleaved_async(a: Callable[[], Awaitable[Any]], b: Callable[[], Awaitable[Any]], n: int
                            ) -> tuple[list[float], list[float]]:
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(n):
        ta += await time_async(a, 1)
        tb += await time_async(b, 1)
    return ta, tb


def _runs(plain: list[float], own_hook: list[float] | None, signoff_: list[float]) -> dict[str, Any]:
    """Medians of whole scripted runs: no hook, the framework's own HITL hook letting the call pass, signoff."""
    out = {"run_without_us": _us(plain), "run_with_us": _us(signoff_),
           "run_delta_us": round(_us(signoff_) - _us(plain), 2)}
    if own_hook is not None:
        out["run_own_hook_us"] = _us(own_hook)
        out["run_delta_vs_own_hook_us"] = round(_us(signoff_) - _us(own_hook), 2)
    return out


# ---------------------------------------------------------------- LangChain / LangGraph
def bench_langgraph(work: Path, n: int, n_rt: int) -> dict[str, Any]:
    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.types import Command

    import signoff
    from signoff.integrations.langgraph import SignoffMiddleware, resume

    class Scripted(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kw: Any) -> Scripted:
            return self

    @tool
    def lookup_order(order: str) -> str:
        """Look up an order."""
        return f"order {order}"

    @tool
    def issue_refund(order: str, amount: float) -> str:
        """Refund."""
        return "refunded"

    auto_turn = AIMessage(content="looking", tool_calls=[{"name": "lookup_order", "args": {"order": "A"}, "id": "c1"}])
    gated_turn = AIMessage(content="refund", tool_calls=[
        {"name": "issue_refund", "args": {"order": "A", "amount": 1.0}, "id": "c1"}])
    done = AIMessage(content="done")
    gate = signoff.Gate.open(policy=POLICY, store=f"sqlite:///{work / 'lg.db'}")
    gate.add_reviewer("alice")
    try:
        mw = SignoffMiddleware(gate, agent="bench")
        flow = mw._flow
        cfg = {"configurable": {"thread_id": "t", "__pregel_task_id": "x"}}
        state = {"messages": [auto_turn]}
        request = ToolCallRequest(tool_call={"name": "lookup_order", "args": {"order": "A"}, "id": "c1"},
                                  tool=None, state=state, runtime=None)  # type: ignore[arg-type]

        def hooks() -> None:  # after_model's work on an auto turn, then wrap_tool_call's
            msg = state["messages"][-1]
            mw._update(state, flow.verdicts_sync(msg, cfg))
            flow.wrap_sync(request, lambda r: None)

        time_sync(hooks, 200)
        hook = _us(time_sync(hooks, 5000))

        def make(middleware: list[Any]) -> Any:
            model = Scripted(messages=itertools.cycle([auto_turn, done]))
            return create_agent(model, tools=[lookup_order], middleware=middleware, checkpointer=InMemorySaver())

        plain, gated = make([]), make([SignoffMiddleware(gate, agent="bench")])
        own_hook = make([HumanInTheLoopMiddleware(interrupt_on={"issue_refund": True})])
        ids = itertools.count()
        user = {"messages": [{"role": "user", "content": "hi"}]}
        runs = [lambda a=a: a.invoke(user, {"configurable": {"thread_id": f"w{next(ids)}"}})  # type: ignore[misc]
                for a in (plain, own_hook, gated)]
        rounds_sync(runs, 10)
        tp, th, tg = rounds_sync(runs, n)

        def sqlite_agent(middleware: list[Any], name: str) -> Any:
            conn = sqlite3.connect(work / f"{name}.ckpt", check_same_thread=False)
            model = Scripted(messages=itertools.cycle([gated_turn, done]))
            return create_agent(model, tools=[issue_refund], middleware=middleware, checkpointer=SqliteSaver(conn))

        own = sqlite_agent([HumanInTheLoopMiddleware(interrupt_on={"issue_refund": True})], "own")
        ours = sqlite_agent([SignoffMiddleware(gate, agent="bench")], "ours")

        def own_cycle() -> None:
            c = {"configurable": {"thread_id": f"o{next(ids)}"}}
            own.invoke(user, c)
            own.invoke(Command(resume={"decisions": [{"type": "approve"}]}), c)

        def ours_cycle() -> None:
            c = {"configurable": {"thread_id": f"s{next(ids)}"}}
            [tid] = ours.invoke(user, c)["__interrupt__"][0].value["tickets"]
            gate.approve_sync(tid, reviewer="alice")
            resume(ours, gate, tid)

        interleaved_sync(own_cycle, ours_cycle, 3)
        t_own, t_ours = interleaved_sync(own_cycle, ours_cycle, n_rt)
    finally:
        gate.close()
    return {"hook_us": hook, **_runs(tp, th, tg),
            "framework_round_trip_ms": _ms(t_own), "signoff_round_trip_ms": _ms(t_ours),
            "framework_label": "HumanInTheLoopMiddleware interrupt + Command(resume), SqliteSaver",
            "signoff_label": "SignoffMiddleware: interrupt, ticket approved, resume(), SqliteSaver"}


# ---------------------------------------------------------------- OpenAI Agents SDK
async def bench_openai(work: Path, n: int, n_rt: int) -> dict[str, Any]:
    from agents import Agent, Runner, RunState, function_tool, set_tracing_disabled
    from agents.testing import ScriptedModel, assistant_message, function_call
    from agents.tool_context import ToolContext

    import signoff
    from signoff.integrations.openai_agents import SignoffApprovals

    set_tracing_disabled(True)

    @function_tool
    def lookup_order(order: str) -> str:
        """Look up an order."""
        return f"order {order}"

    @function_tool
    def issue_refund(order: str, amount: float) -> str:
        """Refund."""
        return "refunded"

    def model(call: str, args: dict[str, Any]) -> ScriptedModel:
        class Endless(ScriptedModel):
            async def get_response(self, *a: Any, **kw: Any) -> Any:
                if self.remaining_steps == 0:
                    self.extend([[function_call(call, args, call_id=f"c{time.perf_counter_ns()}")],
                                 [assistant_message("done")]])
                return await super().get_response(*a, **kw)
        return Endless()

    async with signoff.Gate.open(policy=POLICY, store=f"sqlite:///{work / 'oa.db'}") as gate:
        gate.add_reviewer("alice")
        approvals = SignoffApprovals(gate, agent="bench")
        wrapped = approvals.tool(lookup_order)
        ctx = ToolContext(context=None, tool_name="lookup_order", tool_call_id="c1", tool_arguments='{"order":"A"}')
        needs = wrapped.needs_approval
        assert callable(needs)

        async def with_hooks() -> None:
            await needs(ctx, {"order": "A"}, "c1")
            await wrapped.on_invoke_tool(ctx, '{"order":"A"}')

        async def without() -> None:
            await lookup_order.on_invoke_tool(ctx, '{"order":"A"}')

        await interleaved_async(with_hooks, without, 200)
        tw, to = await interleaved_async(with_hooks, without, 3000)
        hook = round(_us(tw) - _us(to), 2)

        plain = Agent(name="bench", model=model("lookup_order", {"order": "A"}), tools=[lookup_order])
        gated = Agent(name="bench", model=model("lookup_order", {"order": "A"}), tools=approvals.tools([lookup_order]))
        async def never(ctx: Any, params: Any, call_id: str) -> bool:
            return False

        own_hook = Agent(name="bench", model=model("lookup_order", {"order": "A"}),
                         tools=[_with_approval(lookup_order, never)])
        runs = [lambda a=a: Runner.run(a, "hi") for a in (plain, own_hook, gated)]
        await rounds_async(runs, 10)  # type: ignore[arg-type]
        tp, th, tg = await rounds_async(runs, n)  # type: ignore[arg-type]

        own_agent = Agent(name="bench", model=model("issue_refund", {"order": "A", "amount": 1.0}),
                          tools=[_with_approval(issue_refund)])
        ours_agent = Agent(name="bench", model=model("issue_refund", {"order": "A", "amount": 1.0}),
                           tools=approvals.tools([issue_refund]))

        async def own_cycle() -> None:
            r = await Runner.run(own_agent, "hi")
            state = await RunState.from_string(own_agent, r.to_state().to_string())
            state.approve(state.get_interruptions()[0])
            await Runner.run(own_agent, state)

        async def ours_cycle() -> None:
            r = await Runner.run(ours_agent, "hi")
            [t] = await approvals.submit(r)
            await gate.approve(t.id, reviewer="alice")
            await approvals.resume(ours_agent, t.id)

        await interleaved_async(own_cycle, ours_cycle, 3)
        t_own, t_ours = await interleaved_async(own_cycle, ours_cycle, n_rt)
    return {"hook_us": hook, **_runs(tp, th, tg),
            "framework_round_trip_ms": _ms(t_own), "signoff_round_trip_ms": _ms(t_ours),
            "framework_label": "needs_approval=True, RunState to_string/from_string, approve, Runner.run",
            "signoff_label": "SignoffApprovals: submit (RunState stored), ticket approved, resume()"}


def _with_approval(tool: Any, needs: Any = True) -> Any:
    import dataclasses

    return dataclasses.replace(tool, needs_approval=needs)


# ---------------------------------------------------------------- Pydantic AI
async def bench_pydantic_ai(work: Path, n: int, n_rt: int) -> dict[str, Any]:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel
    from pydantic_ai.tools import DeferredToolRequests
    from pydantic_ai.toolsets import ApprovalRequiredToolset, FunctionToolset

    import signoff
    from signoff.integrations._common import ToolCall
    from signoff.integrations.pydantic_ai import SignoffToolset

    def lookup_order(order: str) -> str:
        """Look up an order."""
        return f"order {order}"

    def issue_refund(order: str, amount: float) -> str:
        """Refund."""
        return "refunded"

    def model(name: str, args: dict[str, Any]) -> FunctionModel:
        def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            last = messages[-1]
            if isinstance(last, ModelRequest) and any(p.part_kind == "user-prompt" for p in last.parts):
                return ModelResponse(parts=[ToolCallPart(name, args, tool_call_id=f"c{time.perf_counter_ns()}")])
            return ModelResponse(parts=[TextPart("done")])
        return FunctionModel(respond)

    async with signoff.Gate.open(policy=POLICY, store=f"sqlite:///{work / 'pa.db'}") as gate:
        gate.add_reviewer("alice")
        gated_tools = SignoffToolset(FunctionToolset([lookup_order]), gate=gate, agent="bench")
        core = gated_tools.shared.core  # type: ignore[union-attr]
        call = ToolCall(id="c1", name="lookup_order", args={"order": "A"})
        time_sync(lambda: core.plan([call]), 200)
        hook = _us(time_sync(lambda: core.plan([call]), 5000))

        plain = Agent(model("lookup_order", {"order": "A"}), toolsets=[FunctionToolset([lookup_order])])
        gated = Agent(model("lookup_order", {"order": "A"}), toolsets=[gated_tools])
        own_hook = Agent(model("lookup_order", {"order": "A"}), toolsets=[ApprovalRequiredToolset(
            FunctionToolset([lookup_order]), approval_required_func=lambda ctx, tool_def, args: False)])
        runs = [lambda a=a: a.run("hi") for a in (plain, own_hook, gated)]
        await rounds_async(runs, 10)  # type: ignore[arg-type]
        tp, th, tg = await rounds_async(runs, n)  # type: ignore[arg-type]

        out = [str, DeferredToolRequests]
        own = Agent(model("issue_refund", {"order": "A", "amount": 1.0}), output_type=out,  # type: ignore[arg-type]
                    toolsets=[ApprovalRequiredToolset(FunctionToolset([issue_refund]))])
        ours_tools = SignoffToolset(FunctionToolset([issue_refund]), gate=gate, agent="bench")
        ours = Agent(model("issue_refund", {"order": "A", "amount": 1.0}), output_type=out,  # type: ignore[arg-type]
                     toolsets=[ours_tools])

        async def own_cycle() -> None:
            r = await own.run("hi")
            await own.run(message_history=r.all_messages(),
                          deferred_tool_results=r.output.build_results(approve_all=True))  # type: ignore[union-attr]

        async def ours_cycle() -> None:
            r = await ours.run("hi")
            [t] = await ours_tools.submit(r)
            await gate.approve(t.id, reviewer="alice")
            history, results = await ours_tools.resume(t.id)
            await ours.run(message_history=history, deferred_tool_results=results)

        await interleaved_async(own_cycle, ours_cycle, 3)
        t_own, t_ours = await interleaved_async(own_cycle, ours_cycle, n_rt)
    return {"hook_us": hook, **_runs(tp, th, tg),
            "framework_round_trip_ms": _ms(t_own), "signoff_round_trip_ms": _ms(t_ours),
            "framework_label": "ApprovalRequiredToolset, DeferredToolRequests.build_results(approve_all), rerun",
            "signoff_label": "SignoffToolset: submit (history stored), ticket approved, resume(), rerun"}


# ---------------------------------------------------------------- MCP
async def bench_mcp(work: Path, n: int, n_rt: int) -> dict[str, Any]:
    import yaml
    from mcp import ClientSession, StdioServerParameters, stdio_client

    import signoff
    from signoff.integrations._common import ToolCall, ToolGate

    policy = work / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    db = f"sqlite:///{work / 'mcp.db'}"
    upstream = [sys.executable, str(ROOT / "examples" / "mcp_proxy.py"), "--serve-upstream"]
    signoff_bin = str(Path(sys.executable).with_name("signoff"))
    args = {"order": "A"}
    async with signoff.Gate.open(policy=str(policy), store=db) as gate:
        gate.add_reviewer("alice")
        core = ToolGate(gate, agent="bench")
        call = ToolCall(id="", name="lookup_order", args=args)
        hook = _us(time_sync(lambda: core.plan([call]), 5000))

        async def median_call(params: StdioServerParameters) -> tuple[list[float], list[float]]:
            async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
                await s.initialize()
                await time_async(lambda: s.call_tool("lookup_order", args), 20)
                auto = await time_async(lambda: s.call_tool("lookup_order", args), n)
                cycles = []
                for i in range(n_rt):
                    refund = {"order": f"R{i}", "amount": 1.0}
                    t = time.perf_counter()
                    await s.call_tool("issue_refund", refund)  # --wait 0: pending at once
                    [pending] = await gate.list_tickets(status="pending", action="issue_refund")
                    await gate.approve(pending.id, reviewer="alice")
                    await s.call_tool("issue_refund", refund)
                    cycles.append(time.perf_counter() - t)
                return auto, cycles

        direct = StdioServerParameters(command=upstream[0], args=upstream[1:])
        proxied = StdioServerParameters(command=signoff_bin, args=[
            "mcp-proxy", "--policy", str(policy), "--db", db, "--agent", "bench", "--wait", "0", "--", *upstream])
        async with stdio_client(direct) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            await time_async(lambda: s.call_tool("lookup_order", args), 20)
            td = await time_async(lambda: s.call_tool("lookup_order", args), n)
        tp, cycles = await median_call(proxied)
    return {"hook_us": hook, **_runs(td, None, tp),
            "framework_round_trip_ms": None, "signoff_round_trip_ms": _ms(cycles),
            "framework_label": "(MCP has no approval step of its own)",
            "signoff_label": "proxy: call -> 'pending' (--wait 0), ticket approved, same call again -> runs"}


# ---------------------------------------------------------------- Claude Code hooks
async def bench_claude_code(work: Path, n: int, n_rt: int) -> dict[str, Any]:
    """The hook's cost on an auto call (translation + evaluate), the whole answer (JSON in, the key's ticket
    looked up, JSON out) next to a hook that only answers allow, and pending -> approve -> retry -> allow."""
    import yaml

    import signoff
    from signoff.integrations.claude_code import action_from_hook, answer_hook

    policy = work / "cc_policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    payload = {"session_id": "bench", "transcript_path": "/t.jsonl", "cwd": "/p", "permission_mode": "default",
               "hook_event_name": "PreToolUse", "tool_name": "lookup_order", "tool_input": {"order": "A"},
               "tool_use_id": "toolu_1"}
    body = json.dumps(payload)
    allow = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}}
    async with signoff.Gate.open(policy=str(policy), store=f"sqlite:///{work / 'cc.db'}") as gate:
        gate.add_reviewer("alice")
        hook = _us(time_sync(lambda: gate.evaluate(action_from_hook(payload, agent="bench")), 5000))

        async def plain() -> None:
            json.loads(body)
            json.dumps(allow)

        async def gated() -> None:
            json.dumps(await answer_hook(gate, json.loads(body), agent="bench", wait=0))

        await time_async(gated, 50)
        without, with_ = await interleaved_async(plain, gated, n)
        cycles = []
        for i in range(n_rt):
            refund = {**payload, "tool_name": "issue_refund", "tool_input": {"order": f"R{i}"}}
            t = time.perf_counter()
            await answer_hook(gate, refund, agent="bench", wait=0)  # pending: "try again later"
            [pending] = await gate.list_tickets(status="pending", action="issue_refund")
            await gate.approve(pending.id, reviewer="alice")
            await answer_hook(gate, refund, agent="bench", wait=0)  # the retry finds it: allow
            cycles.append(time.perf_counter() - t)
    return {"hook_us": hook, **_runs(without, None, with_),
            "framework_round_trip_ms": None, "signoff_round_trip_ms": _ms(cycles),
            "framework_label": "(Claude Code's own prompt has no queue)",
            "signoff_label": "hook: call -> 'try again later' (wait 0), ticket approved, same call again -> allow"}


# ---------------------------------------------------------------- Claude Agent SDK
async def bench_claude_agent_sdk(work: Path, n: int, n_rt: int) -> dict[str, Any]:
    """can_use_tool on an auto call (the SDK's real ToolPermissionContext; the answer includes the session
    key's ticket lookup) next to a callback that only allows, and pending -> approve -> retry -> allow."""
    from claude_agent_sdk import PermissionResultAllow, ToolPermissionContext

    import signoff
    from signoff.integrations.claude_agent_sdk import can_use_tool

    ctx = ToolPermissionContext(tool_use_id="toolu_1")
    async with signoff.Gate.open(policy=POLICY, store=f"sqlite:///{work / 'casdk.db'}") as gate:
        gate.add_reviewer("alice")
        decide = can_use_tool(gate, agent="bench", wait=0)

        async def plain() -> None:
            PermissionResultAllow()

        async def gated() -> None:
            await decide("lookup_order", {"order": "A"}, ctx)

        hook = _us(await time_async(gated, 2000))
        without, with_ = await interleaved_async(plain, gated, n)
        cycles = []
        for i in range(n_rt):
            t = time.perf_counter()
            await decide("issue_refund", {"order": f"R{i}"}, ctx)  # pending: "try again later"
            [pending] = await gate.list_tickets(status="pending", action="issue_refund")
            await gate.approve(pending.id, reviewer="alice")
            await decide("issue_refund", {"order": f"R{i}"}, ctx)  # the retry finds it: allow
            cycles.append(time.perf_counter() - t)
    return {"hook_us": hook, **_runs(without, None, with_),
            "framework_round_trip_ms": None, "signoff_round_trip_ms": _ms(cycles),
            "framework_label": "(the SDK's can_use_tool has no queue of its own)",
            "signoff_label": "can_use_tool: call -> deny 'try again later' (wait 0), approved, same call -> allow"}


# ---------------------------------------------------------------- Google ADK
async def bench_google_adk(work: Path, n: int, n_rt: int) -> dict[str, Any]:
    """SignoffPlugin's before_tool_callback on an auto call (timed directly on a real ToolContext), whole
    scripted Runner runs with and without the plugin, and pause -> approve -> resume next to ADK's own
    require_confirmation=True with a hand-written confirmation answer."""
    from collections.abc import AsyncGenerator

    from google.adk.agents import LlmAgent
    from google.adk.apps import App
    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_request import LlmRequest
    from google.adk.models.llm_response import LlmResponse
    from google.adk.plugins.base_plugin import BasePlugin
    from google.adk.runners import Runner
    from google.adk.sessions.in_memory_session_service import InMemorySessionService
    from google.adk.tools.function_tool import FunctionTool
    from google.genai import types

    import signoff
    from signoff.integrations.google_adk import SignoffPlugin

    def lookup_order(order: str) -> str:
        """Look up an order."""
        return f"order {order}"

    def issue_refund(order: str, amount: float) -> str:
        """Refund."""
        return "refunded"

    class Endless(BaseLlm):
        """A user's text gets the scripted call; anything else gets 'done'."""

        model: str = "scripted"
        call: str = "lookup_order"
        args: dict[str, Any] = {}

        async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False
                                         ) -> AsyncGenerator[LlmResponse, None]:
            last = llm_request.contents[-1].parts or []
            usage = types.GenerateContentResponseUsageMetadata(prompt_token_count=1, candidates_token_count=1,
                                                               total_token_count=2)
            if any(p.text for p in last):
                part = types.Part(function_call=types.FunctionCall(name=self.call, args=self.args,
                                                                   id=f"c{time.perf_counter_ns()}"))
            else:
                part = types.Part(text="done")
            yield LlmResponse(content=types.Content(role="model", parts=[part]), usage_metadata=usage)

    class Capture(BasePlugin):
        ctx: Any = None

        async def before_tool_callback(self, *, tool: Any, tool_args: Any, tool_context: Any) -> None:
            Capture.ctx = tool_context

    def runner(tools: list[Any], plugins: list[Any], call: str, args: dict[str, Any]) -> Runner:
        agent = LlmAgent(name="bench", model=Endless(call=call, args=args), tools=tools)
        return Runner(app=App(name="bench", root_agent=agent, plugins=plugins),
                      session_service=InMemorySessionService())

    ids = itertools.count()
    hi = types.Content(role="user", parts=[types.Part(text="hi")])

    async def run(r: Runner, message: types.Content = hi, sid: str | None = None) -> tuple[str, list[Any]]:
        if sid is None:
            sid = f"s{next(ids)}"
            await r.session_service.create_session(app_name="bench", user_id="u", session_id=sid)
        return sid, [e async for e in r.run_async(user_id="u", session_id=sid, new_message=message)]

    async with signoff.Gate.open(policy=POLICY, store=f"sqlite:///{work / 'adk.db'}") as gate:
        gate.add_reviewer("alice")
        plugin = SignoffPlugin(gate, agent="bench")
        tool = FunctionTool(lookup_order)
        await run(runner([tool], [Capture(name="capture")], "lookup_order", {"order": "A"}))
        ctx = Capture.ctx

        async def hooks() -> None:
            await plugin.before_tool_callback(tool=tool, tool_args={"order": "A"}, tool_context=ctx)

        await time_async(hooks, 200)
        hook = _us(await time_async(hooks, 5000))

        never = FunctionTool(lookup_order, require_confirmation=lambda order: False)
        runs = [lambda r=r: run(r) for r in (runner([lookup_order], [], "lookup_order", {"order": "A"}),
                                             runner([never], [], "lookup_order", {"order": "A"}),
                                             runner([lookup_order], [plugin], "lookup_order", {"order": "A"}))]
        await rounds_async(runs, 10)  # type: ignore[arg-type]
        tp, th, tg = await rounds_async(runs, n)  # type: ignore[arg-type]

        refund = {"order": "A", "amount": 1.0}
        own = runner([FunctionTool(issue_refund, require_confirmation=True)], [], "issue_refund", refund)
        ours = runner([issue_refund], [plugin], "issue_refund", refund)

        async def own_cycle() -> None:
            sid, events = await run(own)
            [fc] = [f for e in events for f in e.get_function_calls() if f.name == "adk_request_confirmation"]
            await run(own, types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                id=fc.id, name="adk_request_confirmation", response={"confirmed": True}))]), sid)

        async def ours_cycle() -> None:
            sid, events = await run(ours)
            [request] = plugin.requests(events)
            await gate.approve(request.ticket_id, reviewer="alice")
            await plugin.resume(ours, user_id="u", session_id=sid)

        await interleaved_async(own_cycle, ours_cycle, 3)
        t_own, t_ours = await interleaved_async(own_cycle, ours_cycle, n_rt)
    return {"hook_us": hook, **_runs(tp, th, tg),
            "framework_round_trip_ms": _ms(t_own), "signoff_round_trip_ms": _ms(t_ours),
            "framework_label": "FunctionTool(require_confirmation=True), adk_request_confirmation answered, InMemory",
            "signoff_label": "SignoffPlugin: ticket + request_confirmation, ticket approved, plugin.resume()"}


async def bench_strands(work: Path, n: int, n_rt: int) -> dict[str, Any]:
    """SignoffIntervention.before_tool_call on an auto call (timed directly on a real BeforeToolCallEvent),
    whole scripted Agent runs with and without it, and pause -> approve -> resume next to Strands' own
    HumanInTheLoop interrupt answered "y"."""
    import json as _json
    from collections.abc import AsyncGenerator

    from strands import Agent, tool
    from strands.hooks import BeforeToolCallEvent
    from strands.models import Model
    from strands.vended_interventions.hitl import HumanInTheLoop

    import signoff
    from signoff.integrations.strands import SignoffIntervention

    @tool
    def lookup_order(order: str) -> str:
        """Look up an order."""
        return f"order {order}"

    @tool
    def issue_refund(order: str, amount: float) -> str:
        """Refund."""
        return "refunded"

    ids = itertools.count()

    class Endless(Model):
        """A user's text gets the scripted call; anything else gets 'done'."""

        def __init__(self, call: str, args: dict[str, Any]) -> None:
            self.call, self.args = call, args

        def update_config(self, **kw: Any) -> None:
            pass

        def get_config(self) -> Any:
            return {}

        async def structured_output(self, *a: Any, **kw: Any) -> AsyncGenerator[Any, None]:
            raise NotImplementedError
            yield

        async def stream(self, messages: Any, *a: Any, **kw: Any) -> AsyncGenerator[Any, None]:
            yield {"messageStart": {"role": "assistant"}}
            if any("text" in b for b in messages[-1]["content"]):
                use = {"name": self.call, "toolUseId": f"c{next(ids)}"}
                yield {"contentBlockStart": {"start": {"toolUse": use}}}
                yield {"contentBlockDelta": {"delta": {"toolUse": {"input": _json.dumps(self.args)}}}}
                yield {"contentBlockStop": {}}
                yield {"messageStop": {"stopReason": "tool_use"}}
                return
            yield {"contentBlockStart": {"start": {}}}
            yield {"contentBlockDelta": {"delta": {"text": "done"}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "end_turn"}}

    def agent(tools: list[Any], interventions: list[Any], call: str, args: dict[str, Any]) -> Agent:
        return Agent(model=Endless(call, args), tools=tools, interventions=interventions, callback_handler=None)

    async def run(a: Agent, prompt: Any = "hi") -> Any:
        if isinstance(prompt, str):
            a.messages.clear()
        return await a.invoke_async(prompt)

    async with signoff.Gate.open(policy=POLICY, store=f"sqlite:///{work / 'strands.db'}") as gate:
        gate.add_reviewer("alice")
        hitl = SignoffIntervention(gate, agent="bench")
        host = agent([lookup_order], [hitl], "lookup_order", {"order": "A"})
        host.messages.append({"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "c", "name": "lookup_order", "input": {"order": "A"}}}]})
        event = BeforeToolCallEvent(agent=host, selected_tool=lookup_order, invocation_state={},
                                    tool_use={"toolUseId": "c", "name": "lookup_order", "input": {"order": "A"}})

        async def hooks() -> None:
            await hitl.before_tool_call(event)

        await time_async(hooks, 200)
        hook = _us(await time_async(hooks, 5000))

        own_pass = HumanInTheLoop(allowed_tools=["lookup_order"])
        runs = [lambda a=a: run(a) for a in (agent([lookup_order], [], "lookup_order", {"order": "A"}),
                                             agent([lookup_order], [own_pass], "lookup_order", {"order": "A"}),
                                             agent([lookup_order], [hitl], "lookup_order", {"order": "A"}))]
        await rounds_async(runs, 10)  # type: ignore[arg-type]
        tp, th, tg = await rounds_async(runs, n)  # type: ignore[arg-type]

        refund = {"order": "A", "amount": 1.0}
        own = agent([issue_refund], [HumanInTheLoop()], "issue_refund", refund)
        ours = agent([issue_refund], [hitl], "issue_refund", refund)

        async def own_cycle() -> None:
            result = await run(own)
            await run(own, [{"interruptResponse": {"interruptId": i.id, "response": "y"}} for i in result.interrupts])

        async def ours_cycle() -> None:
            result = await run(ours)
            [interrupt] = result.interrupts
            await gate.approve(interrupt.reason["ticket_id"], reviewer="alice")
            await run(ours, hitl.responses(result))

        await interleaved_async(own_cycle, ours_cycle, 3)
        t_own, t_ours = await interleaved_async(own_cycle, ours_cycle, n_rt)
    return {"hook_us": hook, **_runs(tp, th, tg),
            "framework_round_trip_ms": _ms(t_own), "signoff_round_trip_ms": _ms(t_ours),
            "framework_label": "HumanInTheLoop() interrupt answered 'y', in memory",
            "signoff_label": "SignoffIntervention: ticket + interrupt, ticket approved, resumed with responses()"}


async def bench_agent_framework(work: Path, n: int, n_rt: int) -> dict[str, Any]:
    """SignoffMiddleware.process on an auto call (timed directly on a real FunctionInvocationContext), whole
    scripted Agent runs with and without it, and pause -> approve -> resume of an always_require tool next to
    the framework's own approval answered True in memory."""
    from collections.abc import Awaitable as _Awaitable
    from collections.abc import Sequence as _Sequence

    from agent_framework import (
        Agent,
        BaseChatClient,
        ChatMiddlewareLayer,
        ChatResponse,
        Content,
        FunctionInvocationContext,
        FunctionInvocationLayer,
        Message,
        tool,
    )

    import signoff
    from signoff.integrations.agent_framework import SignoffMiddleware

    @tool
    def lookup_order(order: str) -> str:
        """Look up an order."""
        return f"order {order}"

    @tool(approval_mode="always_require")
    def issue_refund(order: str, amount: float) -> str:
        """Refund."""
        return "refunded"

    ids = itertools.count()

    class Endless(FunctionInvocationLayer[Any], ChatMiddlewareLayer[Any], BaseChatClient[Any]):
        """A user's text gets the scripted call; anything else gets 'done'."""

        def __init__(self, call: str, args: dict[str, Any]) -> None:
            super().__init__()
            self.call, self.args = call, args

        def _inner_get_response(self, *, messages: _Sequence[Message], stream: bool, options: Any,
                                **kw: Any) -> _Awaitable[ChatResponse]:
            async def answer() -> ChatResponse:
                last = messages[-1]
                if last.role == "user" and any(c.type == "text" for c in last.contents):
                    contents = [Content.from_function_call(call_id=f"c{next(ids)}", name=self.call,
                                                           arguments=self.args)]
                else:
                    contents = [Content.from_text("done")]
                return ChatResponse(messages=[Message(role="assistant", contents=contents)])

            return answer()

    def agent(tools: list[Any], middleware: list[Any], call: str, args: dict[str, Any]) -> Agent:
        return Agent(client=Endless(call, args), tools=tools, middleware=middleware)

    async with signoff.Gate.open(policy=POLICY, store=f"sqlite:///{work / 'agent_framework.db'}") as gate:
        gate.add_reviewer("alice")
        hitl = SignoffMiddleware(gate, agent="bench")
        context = FunctionInvocationContext(function=lookup_order, arguments={"order": "A"},
                                            metadata={"call_id": "c"})

        async def call_next() -> None:
            pass

        async def hooks() -> None:
            await hitl.process(context, call_next)

        await time_async(hooks, 200)
        hook = _us(await time_async(hooks, 5000))

        plain, gated = (agent([lookup_order], mw, "lookup_order", {"order": "A"}) for mw in ([], [hitl]))
        runs = [lambda a=a: a.run("hi") for a in (plain, gated)]
        await rounds_async(runs, 10)  # type: ignore[arg-type]
        tp, tg = await rounds_async(runs, n)  # type: ignore[arg-type]

        refund = {"order": "A", "amount": 1.0}
        own = agent([issue_refund], [], "issue_refund", refund)
        ours = agent([issue_refund], [hitl], "issue_refund", refund)

        async def own_cycle() -> None:
            session = own.create_session()
            response = await own.run("hi", session=session)
            await own.run(Message(role="user", contents=[r.to_function_approval_response(True)
                                                         for r in response.user_input_requests]), session=session)

        async def ours_cycle() -> None:
            session = ours.create_session()
            response = await ours.run("hi", session=session)
            [ticket] = (await hitl.approvals(response.user_input_requests)).pending
            await gate.approve(ticket.id, reviewer="alice")
            answer = await hitl.approvals(response.user_input_requests)
            await ours.run(answer.message(), session=session)

        await interleaved_async(own_cycle, ours_cycle, 3)
        t_own, t_ours = await interleaved_async(own_cycle, ours_cycle, n_rt)
    return {"hook_us": hook, **_runs(tp, None, tg),
            "framework_round_trip_ms": _ms(t_own), "signoff_round_trip_ms": _ms(t_ours),
            "framework_label": "always_require approval answered True, in memory",
            "signoff_label": "SignoffMiddleware.approvals: one ticket, approved, answered, resumed"}


# ---------------------------------------------------------------- main
def main(*, n: int = 150, n_rt: int = 40, write: bool = True) -> dict[str, Any]:
    gc.collect()
    work = Path(tempfile.mkdtemp(prefix="signoff-bench-adapters-"))
    results: dict[str, dict[str, Any]] = {}
    results["langgraph"] = bench_langgraph(work, n, n_rt)
    results["openai-agents"] = asyncio.run(bench_openai(work, n, n_rt))
    results["pydantic-ai"] = asyncio.run(bench_pydantic_ai(work, n, n_rt))
    results["mcp"] = asyncio.run(bench_mcp(work, n, n_rt // 2))
    results["claude-code"] = asyncio.run(bench_claude_code(work, n, n_rt))
    results["google-adk"] = asyncio.run(bench_google_adk(work, n, n_rt))
    try:  # strands-agents pins mcp<2.2: installed --no-deps by scripts/test-setup.sh, absent elsewhere
        results["strands"] = asyncio.run(bench_strands(work, n, n_rt))
    except ImportError:
        pass
    try:
        results["agent-framework"] = asyncio.run(bench_agent_framework(work, n, n_rt))
    except ImportError:
        pass
    try:
        results["claude-agent-sdk"] = asyncio.run(bench_claude_agent_sdk(work, n, n_rt))
    except ImportError:
        pass

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "-"

    rows = []
    for name, r in results.items():
        fw = r["framework_round_trip_ms"]
        rows.append([name, r["hook_us"], r["run_delta_us"], r.get("run_delta_vs_own_hook_us", "-"),
                     "yes" if r["hook_us"] < 100 else "NO", fw if fw is not None else "-",
                     r["signoff_round_trip_ms"]])
    doc = {
        "benchmark": "adapters",
        "title": "Framework adapters: auto-call overhead and pause -> approve -> resume",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("langgraph", "langchain", "langchain-core", "openai-agents",
                                             "pydantic-ai-slim", "mcp", "google-adk",
                                             "strands-agents", "agent-framework-core", "claude-agent-sdk")},
        "runs_per_measure": n, "round_trips": n_rt,
        "frameworks": results,
        "anchors": ANCHORS,
        "table": {"columns": ["framework", "hook µs (auto call)", "run delta µs", "run delta vs own HITL hook µs",
                              "hook < 100 µs",
                              "framework's own pause/resume ms", "signoff pause/approve/resume ms"],
                  "rows": rows},
        "ratios": {f"{k} round trip signoff/framework":
                   round(v["signoff_round_trip_ms"] / v["framework_round_trip_ms"], 2)
                   for k, v in results.items() if v["framework_round_trip_ms"]},
        "notes": ("hook µs: the adapter's own work on one auto call, timed directly (OpenAI: wrapped minus plain "
                  "tool invocation). run delta: median of whole scripted runs with the adapter minus without "
                  "(interleaved; noisy at this scale); 'vs own HITL hook' compares with the framework's own "
                  "approval hook installed and letting the call pass (HumanInTheLoopMiddleware, a needs_approval "
                  "callable, ApprovalRequiredToolset): what signoff adds over the framework's mechanism. MCP's "
                  "delta is the proxy's extra stdio hop. Round trips include the approval write by a reviewer's "
                  "gate and, for signoff, the ticket queue, the decision wait and the at-most-once execution "
                  "record; LangGraph both sides use SqliteSaver on a file. Anchors (separate run): LangGraph "
                  "interrupt+resume 5.59 ms, OpenAI RunState approve+resume 7.59 ms."),
    }
    if write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "adapters.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    for row in rows:
        print("  ".join(str(c) for c in row))
    return doc


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
