"""``signoff mcp-proxy``: an MCP server on stdio that fronts an upstream MCP server and gates its tools.

Point any MCP client at ``signoff mcp-proxy --policy policy.yaml --db sqlite:///signoff.db --
python upstream_server.py`` instead of at the upstream server itself, or at ``signoff mcp-proxy
--server URL --token T -- ...`` to gate through a running ``signoff serve`` (the proxy then holds
no database or policy of its own). stdout is the MCP channel: everything the proxy has to say
goes to stderr.
"""

from __future__ import annotations

import asyncio

import click

from signoff.cli._db import fail, signoff_errors

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add ``mcp-proxy`` to ``group``."""
    group.add_command(mcp_proxy)


@click.command("mcp-proxy", context_settings={"allow_interspersed_args": False})
@click.option("--policy", "policy", envvar="SIGNOFF_POLICY", metavar="FILE",
              type=click.Path(dir_okay=False), help="The policy file (env SIGNOFF_POLICY); with --db.")
@click.option("--db", "db", envvar="SIGNOFF_DB", metavar="URL",
              help="Store URL, e.g. sqlite:///signoff.db (env SIGNOFF_DB); with --policy.")
@click.option("--server", "server", envvar="SIGNOFF_SERVER", metavar="URL",
              help="A running `signoff serve` to gate through instead of --policy/--db (env SIGNOFF_SERVER).")
@click.option("--token", "token", envvar="SIGNOFF_TOKEN", metavar="TOKEN",
              help="The agent token for --server (env SIGNOFF_TOKEN; `signoff token create --agent NAME`).")
@click.option("--agent", default=None,
              help="The agent name on tickets (reviewers with this name cannot decide them). Default: "
                   "mcp-client; with --server, the token's agent.")
@click.option("--upstream-url", metavar="URL", help="A streamable HTTP upstream (instead of a command after --).")
@click.option("--wait", "wait", default=50.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a call that needs approval waits for the decision before answering 'pending'. "
                   "Keep it under the client's request timeout (60 s for the common clients).")
@click.option("--session", metavar="NAME",
              help="Scope of 'same call, same ticket' (default: the agent and the client's name). Give each "
                   "conversation its own to keep their identical calls apart.")
@click.option("--proxy-reasoning/--no-proxy-reasoning", default=True, show_default=True,
              help="When the policy requires a reasoning and the model gave no _reasoning argument, write one "
                   "marked as the proxy's (default) or refuse the call.")
@click.option("--progress-interval", default=5.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between progress notifications while a call waits.")
@click.argument("upstream", nargs=-1, type=click.UNPROCESSED, metavar="-- COMMAND [ARGS]...")
def mcp_proxy(policy: str | None, db: str | None, server: str | None, token: str | None, agent: str | None,
              upstream_url: str | None, wait: float, session: str | None,
              progress_interval: float, proxy_reasoning: bool, upstream: tuple[str, ...]) -> None:
    """Serve the tools of an upstream MCP server on stdio, every call gated by signoff.

    The gate is local (--policy and --db) or a running server (--server and --token). The
    upstream is a command after -- (a stdio server), or --upstream-url for streamable HTTP.
    """
    try:
        from signoff.integrations.mcp import ClientRelay, GatingProxy, connect_upstream
    except ImportError as exc:
        fail(str(exc), 2)
    if bool(upstream) == bool(upstream_url):
        fail("give the upstream MCP server either as a command after -- or as --upstream-url (one of them)", 2)
    from signoff._gatelike import GateLike
    from signoff.gate import Gate

    gate: GateLike
    if server:
        if policy or db:
            fail("--server gates through a running signoff serve: leave out --policy and --db", 2)
        if not token:
            fail("--server needs an agent token: --token T or SIGNOFF_TOKEN "
                 "(`signoff token create --db URL --agent NAME` prints one)", 2)
        gate = Gate.remote(server, token=token)
        agent = agent or ""
    else:
        if not policy or not db:
            fail("give --policy FILE and --db URL (a local gate), or --server URL and --token T", 2)
        with signoff_errors():
            gate = Gate.open(policy=policy, store=db)
        agent = agent or "mcp-client"

    async def main() -> None:
        relay = ClientRelay()
        async with connect_upstream(list(upstream) if upstream else None, url=upstream_url, relay=relay) as up:
            proxy = GatingProxy(gate, up, agent=agent, wait=wait, session=session, relay=relay,
                                progress_interval=progress_interval, proxy_reasoning=proxy_reasoning)
            await proxy.serve_stdio()

    try:
        with signoff_errors():
            asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot start the upstream MCP server: {exc}", 1)
    finally:
        gate.close()
