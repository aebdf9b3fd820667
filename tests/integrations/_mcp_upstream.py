"""The real upstream MCP server the proxy tests front (stdio by default, ``--http PORT`` for streamable HTTP).

``python -m tests.integrations._mcp_upstream LOG [--http PORT]``: every tool call is appended
to LOG as a JSON line, so the tests can tell exactly what ran upstream.
"""

from __future__ import annotations

import json
import sys

from mcp.server.mcpserver import MCPServer

LOG = sys.argv[1]
app = MCPServer("shop")


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
    """Close an account."""
    _ran("close_account", customer=customer)
    return f"closed {customer}"


@app.tool()
def delete_customer_data(customer: str) -> str:
    """Delete a customer's data."""
    _ran("delete_customer_data", customer=customer)
    return f"deleted {customer}"


if __name__ == "__main__":
    if "--http" in sys.argv:
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[sys.argv.index("--http") + 1]))
    else:
        app.run()
