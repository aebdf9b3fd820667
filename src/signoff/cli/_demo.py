"""``signoff demo`` (what ``make run`` starts): the server, the example policy, reviewers and live agents.

Everything runs in one process on 127.0.0.1: the server (JSON API, inbox, sweeper) on a
SQLite file under ./signoff-demo/, demo reviewers with a fresh random password printed in
the banner, and three demo agents (``signoff._demo_agent``) that talk to the server over
HTTP through ``Gate.remote`` exactly as a real agent elsewhere would. Ctrl-C or SIGTERM
stops the agents, then the server, then closes the store: no traceback, exit 0.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from signoff.cli._db import fail, signoff_errors

__all__ = ["register"]

DEFAULT_DB = "sqlite:///signoff-demo/demo.db"
REVIEWERS = (("demo", "senior"), ("sam", "senior"), ("intern", "junior"))


def register(group: click.Group) -> None:
    """Add ``demo`` to ``group``."""
    group.add_command(demo)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--db", default=DEFAULT_DB, show_default=True, metavar="URL",
              help="Store URL (SIGNOFF_DB is ignored here, so a demo never writes into a real database).")
@click.option("--no-agent", is_flag=True, help="Serve only; start no demo agents.")
@click.option("--pace", default=3.0, show_default=True, type=click.FloatRange(0, 600), metavar="SECONDS",
              help="About how long each agent pauses between two actions.")
def demo(host: str, port: int, db: str, no_agent: bool, pace: float) -> None:
    """Start the server with the example cloud-infrastructure policy, demo reviewers and live agents."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        fail(f"`signoff demo` needs the server extra: pip install 'signoff[server]' ({exc})", 2)
    from signoff._demo_agent import AGENTS, run_agents
    from signoff.examples import example_policy_path
    from signoff.gate import Gate
    from signoff.server import ServerSettings, create_app
    from signoff.server._runner import check_port, run_app

    if db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
        Path(db.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with signoff_errors():
        check_port(host, port)
    policy = example_policy_path()
    with signoff_errors():
        gate = Gate.open(policy=with_real_channels(policy, os.environ), store=db)
    try:
        password = secrets.token_urlsafe(9)
        with signoff_errors():
            for name, tier in REVIEWERS:
                gate.add_reviewer(name, tier=tier, password=password, actor="signoff demo")
            tokens = {name: gate.create_token_sync("agent", name) for name in AGENTS}
            reviewer_token = gate.create_token_sync("reviewer", "demo")

        url = f"http://{host}:{port}"
        settings = ServerSettings(public_url=url)
        app = create_app(gate, settings=settings)

        async def ready() -> None:
            notify = gate.policy.spec.notifications
            _banner(url=url, password=password, policy=policy, db=db, agent_token=tokens["release-bot"],
                    reviewer_token=reviewer_token, agents=not no_agent,
                    channels=list(notify.channels) if notify else [])
            if not no_agent:
                # The agents reveal what came from outside (feedback, edits) and colour only the level.
                await run_agents(url, tokens, log=click.echo, pace=pace)

        run_app(app, host=host, port=port, settings=settings, log_level="warning", on_ready=ready)
    finally:
        gate.close()
    click.echo("signoff demo stopped.")
    sys.exit(0)


# Real channels the demo adds to the example policy's console channel when their variables are set:
# (channel name, variables that must all be set, the channel's spec).
REAL_CHANNELS: tuple[tuple[str, tuple[str, ...], dict[str, Any]], ...] = (
    ("slack", ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"),
     {"kind": "slack", "channel": "#approvals", "token": "env:SLACK_BOT_TOKEN",
      "signing_secret": "env:SLACK_SIGNING_SECRET"}),
    ("email", ("SIGNOFF_SMTP_URL", "SIGNOFF_EMAIL_TO"),
     {"kind": "email", "smtp": "env:SIGNOFF_SMTP_URL", "from": "signoff-demo@localhost"}),
    ("webhook", ("SIGNOFF_WEBHOOK_URL", "SIGNOFF_WEBHOOK_SECRET"),
     {"kind": "webhook", "secret": "env:SIGNOFF_WEBHOOK_SECRET"}),
)


def with_real_channels(policy: Path, env: Mapping[str, str]) -> Path | dict[str, Any]:
    """The example policy, plus Slack / email / webhook channels routed like its console channel for
    each whose environment variables are set (``SLACK_CHANNEL``, ``SLACK_API_URL``, ``SIGNOFF_EMAIL_TO``
    and ``SIGNOFF_WEBHOOK_URL`` fill in the rest); the file itself when none is."""
    import yaml

    wanted = [(name, spec) for name, needs, spec in REAL_CHANNELS if all(env.get(v) for v in needs)]
    if not wanted:
        return policy
    doc = yaml.safe_load(policy.read_text())
    section = doc["notifications"]
    for name, spec in wanted:
        spec = dict(spec)
        if name == "slack":
            spec["channel"] = env.get("SLACK_CHANNEL", spec["channel"])
            if env.get("SLACK_API_URL"):
                spec["api_url"] = env["SLACK_API_URL"]
        elif name == "email":
            spec["to"] = [a.strip() for a in env["SIGNOFF_EMAIL_TO"].split(",") if a.strip()]
        else:
            spec["url"] = env["SIGNOFF_WEBHOOK_URL"]
        section["channels"][name] = spec
        for route in section["routes"]:
            route["to"].append(name)
    return dict(doc)


def _banner(*, url: str, password: str, policy: Path, db: str, agent_token: str, reviewer_token: str,
            agents: bool, channels: list[str]) -> None:
    b = click.style
    lines = [
        "",
        b("signoff demo", bold=True) + f": a human-in-the-loop approval gate, live on {url}",
        "",
        f"  Inbox     {b(url + '/', fg='cyan', underline=True)}",
        f"  Log in    {b('demo', bold=True)} / {b(password, bold=True)}   (senior reviewer)",
        "            also sam (senior, the second approver four-eyes rules need) and intern (junior),"
        " same password",
        f"  API       {url}/api/v1/docs",
        f"  Tokens    agent release-bot: {agent_token}",
        f"            reviewer demo:     {reviewer_token}",
        f"  Policy    {policy}",
        f"  Notify    {', '.join(channels) or 'none'}   (Slack, email, webhook: see docs/notifications.md)",
        f"  Database  {db}",
        "",
        ("The demo agents start now: approve or reject their requests in the inbox and watch them resume."
         if agents else "No demo agents (--no-agent)."),
        "Ctrl-C stops everything.",
        "",
    ]
    for line in lines:
        click.echo(line)
