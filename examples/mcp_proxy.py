"""`signoff mcp-proxy` in front of a real MCP server, driven by a real MCP client session.

Offline, all local. Run: python examples/mcp_proxy.py

The upstream server is this file itself (``--serve-upstream``: an ``MCPServer`` with three
tools). The example starts ``signoff mcp-proxy ... -- python examples/mcp_proxy.py
--serve-upstream`` as a subprocess and talks MCP to it over stdio, as any MCP client would;
a reviewer decides through a second Gate on the same SQLite file.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

POLICY = """\
version: 1
defaults: {level: auto}
rules:
  - name: refunds-over-50
    match: {action: issue_refund}
    when: "args.amount > 50.0"
    level: approve
    reason: high_risk_action
  - name: account-closure
    match: {action: close_account}
    level: approve
    reason: high_risk_action
  - name: no-data-deletion
    match: {action: delete_customer_data}
    level: deny
    reason: policy_boundary
"""


def serve_upstream() -> None:
    """The upstream MCP server (stdio): what the proxy fronts."""
    from mcp.server.mcpserver import MCPServer

    app = MCPServer("shop")

    @app.tool()
    def lookup_order(order: str) -> str:
        """Look up an order."""
        return f"order {order}: delivered 3 days late, paid 150.00"

    @app.tool()
    def issue_refund(order: str, amount: float) -> str:
        """Refund an order."""
        return f"refunded {amount:.2f} on {order}"

    @app.tool()
    def close_account(customer: str) -> str:
        """Close a customer's account."""
        return f"closed the account of {customer}"

    @app.tool()
    def delete_customer_data(customer: str) -> str:
        """Delete everything about a customer."""
        return f"deleted {customer}"

    app.run()


def signoff_command() -> list[str]:
    """The `signoff` console script of this Python, else the one on PATH."""
    here = Path(sys.executable).with_name("signoff")
    found = str(here) if here.exists() else shutil.which("signoff")
    if found is None:
        sys.exit("the `signoff` command was not found: pip install 'signoff[mcp]'")
    return [found]


def text(result: object) -> str:
    return " | ".join(getattr(c, "text", "") for c in getattr(result, "content", []))


async def main() -> None:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    import signoff

    work = Path(tempfile.mkdtemp(prefix="signoff-mcp-"))
    policy = work / "policy.yaml"
    policy.write_text(POLICY)
    db = f"sqlite:///{work / 'signoff.db'}"
    cmd = [*signoff_command(), "mcp-proxy", "--policy", str(policy), "--db", db, "--agent", "shop-assistant",
           "--wait", "2", "--progress-interval", "0.5", "--", sys.executable, str(Path(__file__).resolve()),
           "--serve-upstream"]
    params = StdioServerParameters(command=cmd[0], args=cmd[1:])
    reviewer = signoff.Gate.open(policy=str(policy), store=db)  # a reviewer's gate on the same SQLite file
    reviewer.add_reviewer("alice")
    try:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            print(f"1) tools through the proxy: {[t.name for t in tools.tools]}")

            result = await session.call_tool("lookup_order", {"order": "A-17"})
            print(f"2) lookup_order (auto): {text(result)!r} isError={result.is_error}")

            result = await session.call_tool("delete_customer_data", {"customer": "bob"})
            print(f"3) delete_customer_data (deny): {text(result)!r} isError={result.is_error}")

            progress: list[str] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append(message or "")

            async def approve_when_queued() -> str:
                while not (pending := await reviewer.list_tickets(status="pending", action="issue_refund")):
                    await asyncio.sleep(0.05)
                await reviewer.approve(pending[0].id, reviewer="alice", args={"order": "A-17", "amount": 100.0})
                return pending[0].action.reasoning

            approver = asyncio.create_task(approve_when_queued())
            # `_reasoning` is the optional argument the proxy adds to every tool: the reviewer reads it,
            # the tool never sees it.
            result = await session.call_tool("issue_refund", {"order": "A-17", "amount": 150.0,
                                                              "_reasoning": "delivered 3 days late"},
                                             progress_callback=on_progress)
            reasoning = await approver
            print(f"4) issue_refund (approve; the reviewer edits it while the call waits): {text(result)!r}")
            print(f"   the reasoning the reviewer read: {reasoning!r}")
            print(f"   progress notifications received while waiting: {len(progress)}")

            result = await session.call_tool("close_account", {"customer": "bob"})
            print(f"5) close_account (approve; nobody decides within --wait): {text(result)!r}")
            [ticket] = await reviewer.list_tickets(status="pending", action="close_account")
            await reviewer.reject(ticket.id, reviewer="alice", feedback="offer a voucher instead of closing")
            result = await session.call_tool("close_account", {"customer": "bob"})
            print(f"6) close_account asked again after the rejection: {text(result)!r}")
    finally:
        await reviewer.aclose()


if __name__ == "__main__":
    if "--serve-upstream" in sys.argv:
        serve_upstream()
    else:
        asyncio.run(main())
