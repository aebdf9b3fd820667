"""``signoff hook claude-code`` (a Claude Code ``command`` hook) and ``signoff init claude-code``.

The hook reads one hook input (JSON) on stdin and writes the hook's JSON answer on stdout,
exit 0, as Claude Code's hooks reference documents for command hooks. Whatever goes wrong
(bad input, no store, no server) it exits 2 with the reason on stderr: Claude Code's
"blocking error", which blocks the tool call and shows Claude the reason. It never allows
a call it could not decide. The gate is local (``--policy`` and ``--db``) or a running
``signoff serve`` (``--server``, with the agent token in ``SIGNOFF_TOKEN``).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from typing import Any, NoReturn

import click

__all__ = ["register"]

DEFAULT_WAIT = 50.0
DEFAULT_TIMEOUT = 60


def _group(parent: click.Group, name: str, help_text: str) -> click.Group:
    """The subgroup ``name`` of ``parent``, made once: other agents' commands may join it."""
    existing = parent.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    group = click.Group(name, help=help_text)
    parent.add_command(group)
    return group


def register(group: click.Group) -> None:
    """Add ``hook claude-code`` and ``init claude-code`` to ``group``."""
    _group(group, "hook", "Answer an agent's hook (stdin to stdout), gated by signoff.").add_command(claude_code_hook)
    _group(group, "init", "Print the settings that make an agent ask signoff.").add_command(claude_code_init)


def _block(message: str) -> NoReturn:
    """Exit 2: Claude Code blocks the tool call and shows Claude ``message`` (stderr)."""
    click.echo(f"signoff: {message}", err=True)
    sys.exit(2)


@click.command("claude-code")
@click.option("--policy", "policy", envvar="SIGNOFF_POLICY", metavar="FILE", type=click.Path(dir_okay=False),
              help="The policy file (env SIGNOFF_POLICY); with --db.")
@click.option("--db", "db", envvar="SIGNOFF_DB", metavar="URL",
              help="Store URL, e.g. sqlite:///signoff.db (env SIGNOFF_DB); with --policy.")
@click.option("--server", "server", envvar="SIGNOFF_SERVER", metavar="URL",
              help="A running `signoff serve` to ask instead of --policy/--db (env SIGNOFF_SERVER); the agent "
                   "token comes from SIGNOFF_TOKEN.")
@click.option("--agent", default=None,
              help="The agent name on tickets with a local gate (default: claude-code); with --server, the "
                   "token's agent.")
@click.option("--wait", "wait", default=DEFAULT_WAIT, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a call that needs approval waits for the decision; keep it below the hook's timeout.")
@click.option("--on-pending", type=click.Choice(["deny", "ask"]), default="deny", show_default=True,
              help="Still pending after --wait: deny (Claude is told to try again later) or ask (Claude Code's "
                   "own prompt decides).")
def claude_code_hook(policy: str | None, db: str | None, server: str | None, agent: str | None, wait: float,
                     on_pending: str) -> None:
    """A Claude Code command hook: a PreToolUse or PermissionRequest input on stdin, its answer on stdout."""
    import os

    from signoff._gatelike import GateLike
    from signoff.gate import Gate
    from signoff.integrations.claude_code import answer_hook

    try:
        payload: Any = json.loads(sys.stdin.read())
    except ValueError as exc:
        _block(f"the hook input on stdin is not JSON ({exc}); the call was not allowed")
    gate: GateLike
    try:
        if server:
            if policy or db:
                _block("--server asks a running signoff serve: leave out --policy and --db")
            token = os.environ.get("SIGNOFF_TOKEN", "")
            if not token:
                _block("--server needs an agent token in SIGNOFF_TOKEN (`signoff token create --agent NAME`)")
            gate = Gate.remote(server, token=token)
            agent = ""
        else:
            if not policy or not db:
                _block("give --policy FILE and --db URL (a local gate), or --server URL")
            gate = Gate.open(policy=policy, store=db, sweep=False)
            agent = agent or "claude-code"
    except SystemExit:
        raise
    except Exception as exc:
        _block(f"cannot open the gate, so the call was not allowed: {exc}")
    try:
        out = asyncio.run(answer_hook(gate, payload, agent=agent, wait=wait,
                                      on_pending="ask" if on_pending == "ask" else "deny"))
    except Exception as exc:  # fail closed: the call does not run
        _block(f"could not decide on this call, so it did not run: {exc}")
    finally:
        gate.close()
    click.echo(json.dumps(out, ensure_ascii=False))


@click.command("claude-code")
@click.option("--server", "server", metavar="URL",
              help="Answer through this `signoff serve` (an http hook, agent token in $SIGNOFF_TOKEN).")
@click.option("--policy", "policy", metavar="FILE", help="The policy file of a local gate (a command hook).")
@click.option("--db", "db", metavar="URL", help="The store URL of a local gate (a command hook).")
@click.option("--command", "as_command", is_flag=True,
              help="With --server: a command hook running `signoff hook claude-code --server URL` instead of "
                   "an http hook.")
@click.option("--wait", "wait", default=DEFAULT_WAIT, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a call that needs approval waits for a reviewer.")
@click.option("--timeout", "timeout", default=DEFAULT_TIMEOUT, show_default=True, type=click.IntRange(min=1),
              help="The hook's timeout in Claude Code (seconds); must exceed --wait.")
@click.option("--on-pending", type=click.Choice(["deny", "ask"]), default="deny", show_default=True,
              help="Still pending after --wait: deny, or ask (Claude Code's own prompt).")
@click.option("--matcher", default="*", show_default=True, help="Which tools the hook sees (a Claude Code matcher).")
def claude_code_init(server: str | None, policy: str | None, db: str | None, as_command: bool, wait: float,
                     timeout: int, on_pending: str, matcher: str) -> None:
    """Print the `.claude/settings.json` hooks that make Claude Code ask signoff before each tool call."""
    if wait >= timeout:
        raise click.UsageError(f"--wait ({wait:g} s) must be below --timeout ({timeout} s): Claude Code cancels "
                               "the hook at its timeout")
    click.echo(json.dumps(settings_snippet(server=server, policy=policy, db=db, as_command=as_command, wait=wait,
                                           timeout=timeout, on_pending=on_pending, matcher=matcher), indent=2))
    if server and not as_command:
        click.echo("# Set SIGNOFF_TOKEN to an agent token (`signoff token create --agent claude-code`) in the "
                   "environment Claude Code starts in.", err=True)


def settings_snippet(*, server: str | None, policy: str | None = None, db: str | None = None,
                     as_command: bool = False, wait: float = DEFAULT_WAIT, timeout: int = DEFAULT_TIMEOUT,
                     on_pending: str = "deny", matcher: str = "*") -> dict[str, Any]:
    """The ``hooks`` settings for Claude Code: an http hook on ``server``, else a command hook.

    ``onFailure: "block"`` makes Claude Code block the call when the hook cannot answer (a
    timeout, a refused connection), from Claude Code 2.1.295 on; without it such a failure
    is "no decision" and Claude Code's own permission rules decide.
    """
    hook: dict[str, Any]
    if server and not as_command:
        query = f"wait={wait:g}" + ("&on_pending=ask" if on_pending == "ask" else "")
        hook = {"type": "http", "url": f"{server.rstrip('/')}/api/v1/hooks/claude-code?{query}",
                "headers": {"Authorization": "Bearer $SIGNOFF_TOKEN"}, "allowedEnvVars": ["SIGNOFF_TOKEN"]}
    else:
        args = ["signoff", "hook", "claude-code"]
        if server:
            args += ["--server", server]
        else:
            args += ["--policy", policy or ".claude/signoff-policy.yaml", "--db", db or "sqlite:///.claude/signoff.db"]
        args += ["--wait", f"{wait:g}"] + (["--on-pending", "ask"] if on_pending == "ask" else [])
        hook = {"type": "command", "command": shlex.join(args)}
    hook.update(timeout=timeout, onFailure="block")
    return {"hooks": {"PreToolUse": [{"matcher": matcher, "hooks": [hook]}]}}
