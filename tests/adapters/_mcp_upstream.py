"""The real upstream MCP server the proxy tests front (stdio by default, ``--http PORT`` for streamable HTTP).

``python -m tests.adapters._mcp_upstream LOG [--http PORT]``: every tool call (and
``logging/setLevel``, ``resources/subscribe``) is appended to LOG as a JSON line, so the
tests can tell exactly what ran upstream. Besides tools it has what the proxy must relay
untouched: an identity and instructions, prompts, resources and a template, completion,
logging, subscriptions, list-changed notifications and a tool that asks the client for roots.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import mcp.types as types
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server

LOG = sys.argv[1]
app = MCPServer("shop", version="7.1.0", title="Shop", instructions="The shop's tools: look before you refund.")


def _ran(name: str, **args: object) -> None:
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps([name, args]) + "\n")


@app.tool()
def lookup_order(order: str) -> str:
    """Look up an order."""
    _ran("lookup_order", order=order)
    return f"order {order} is late"


@app.tool()
def issue_refund(order: str, amount: float) -> str:
    """Refund an order."""
    _ran("issue_refund", order=order, amount=amount)
    return f"refunded {amount} on {order}"


@app.tool()
def close_account(customer: str) -> str:
    """Close an account (there is no account for "ghost": the tool fails)."""
    _ran("close_account", customer=customer)
    if customer == "ghost":
        raise ToolError(f"no account for {customer}")
    return f"closed {customer}"


@app.tool()
def delete_customer_data(customer: str) -> str:
    """Delete a customer's data."""
    _ran("delete_customer_data", customer=customer)
    return f"deleted {customer}"


@app.tool()
async def show_roots(ctx: Context) -> str:
    """Ask the client for its roots (roots/list goes upstream -> proxy -> client)."""
    roots = await ctx.session.list_roots()
    return " ".join(str(r.uri) for r in roots.roots)


@app.tool()
async def restock(ctx: Context) -> str:
    """Change the tool list and log about it (notifications the proxy relays)."""
    await ctx.session.send_tool_list_changed()
    await ctx.session.send_log_message("warning", "restocked", logger="shop")
    return "restocked"


@app.prompt()
def apology(customer: str) -> str:
    """An apology to a customer."""
    return f"Dear {customer}, we are sorry."


@app.resource("shop://policy")
def refund_policy() -> str:
    """The refund policy."""
    return "refunds up to 200 without asking"


@app.resource("shop://orders/{order}")
def order_page(order: str) -> str:
    """One order."""
    return f"order {order}: shipped"


@app.completion()
async def complete(ref: Any, argument: types.CompletionArgument, context: Any) -> types.Completion | None:
    return types.Completion(values=[c for c in ("alice", "bob") if c.startswith(argument.value)])


async def _set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
    _ran("logging/setLevel", level=params.level)
    return types.EmptyResult()


async def _subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
    _ran("resources/subscribe", uri=str(params.uri))
    await ctx.session.send_resource_updated(params.uri)
    return types.EmptyResult()


async def _unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    return types.EmptyResult()


low = app._lowlevel_server
low.add_request_handler("logging/setLevel", types.SetLevelRequestParams, _set_level)
low.add_request_handler("resources/subscribe", types.SubscribeRequestParams, _subscribe)
low.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, _unsubscribe)


async def _stdio() -> None:
    async with stdio_server() as (read, write):
        await low.run(read, write, low.create_initialization_options(
            NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)))


if __name__ == "__main__":
    if "--http" in sys.argv:
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[sys.argv.index("--http") + 1]))
    else:
        anyio.run(_stdio)
