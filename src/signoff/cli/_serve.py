"""``signoff serve``: the JSON API and the reviewer inbox, with the timeout sweeper, under uvicorn.

One process serves everyone: agents long-poll it, reviewers decide in its inbox, and the
gate inside it applies timeouts (escalate, retry, abort) as deadlines pass. Ctrl-C or
SIGTERM ends open waits at once, lets other requests finish for a moment, closes the
store and exits 0.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import TYPE_CHECKING

import click

from signoff.cli._db import db_option, fail, signoff_errors

if TYPE_CHECKING:
    from signoff.server import ServerSettings

__all__ = ["register", "settings_from_env"]


def register(group: click.Group) -> None:
    """Add ``serve`` to ``group``."""
    group.add_command(serve)


def _need_server_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        fail(f"`signoff serve` needs the server extra: pip install 'signoff[server]' ({exc})", 2)


def settings_from_env(*, host: str, port: int, public_url: str | None, cookie_secure: bool,
                      max_wait: float | None = None) -> ServerSettings:
    """ServerSettings for a CLI run: SIGNOFF_SECRET_KEY keeps inbox sessions across restarts."""
    from signoff.server import ServerSettings

    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    settings = ServerSettings(public_url=(public_url or f"http://{shown_host}:{port}").rstrip("/"),
                              cookie_secure=cookie_secure)
    if max_wait is not None:
        settings = settings.evolve(max_wait_seconds=max_wait)
    secret = os.environ.get("SIGNOFF_SECRET_KEY")
    if secret:
        settings = settings.evolve(secret_key=hashlib.sha256(secret.encode()).digest())
    return settings


@click.command("serve")
@click.option("--policy", "policy", envvar="SIGNOFF_POLICY", required=True, metavar="FILE",
              type=click.Path(dir_okay=False), help="The policy file (env SIGNOFF_POLICY).")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--public-url", metavar="URL", help="Where people reach this server, if not http://HOST:PORT.")
@click.option("--cookie-secure/--no-cookie-secure", default=False, show_default=True,
              help="Send inbox session cookies over HTTPS only (turn on behind TLS).")
@click.option("--max-wait", type=click.FloatRange(0.1, 300), metavar="SECONDS",
              help="Longest one long-poll is held open (default 25; clients ask again). Keep it below your "
                   "proxy's idle timeout.")
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(policy: str, db: str, host: str, port: int, public_url: str | None, cookie_secure: bool,
          max_wait: float | None, access_log: bool, log_level: str) -> None:
    """Serve the JSON API (/api/v1) and the reviewer inbox (/) for POLICY on the store at --db."""
    _need_server_extra()
    from signoff.gate import Gate
    from signoff.server import create_app
    from signoff.server._runner import check_port, run_app

    settings = settings_from_env(host=host, port=port, public_url=public_url, cookie_secure=cookie_secure,
                                 max_wait=max_wait)
    with signoff_errors():
        check_port(host, port)
        gate = Gate.open(policy=policy, store=db)
    try:
        app = create_app(gate, settings=settings)

        async def ready() -> None:
            click.echo(f"signoff {_version()} serving {settings.public_url}  (policy {policy}, store {db}); "
                       "Ctrl-C stops", err=True)

        run_app(app, host=host, port=port, settings=settings, log_level=log_level, access_log=access_log,
                on_ready=ready)
    finally:
        gate.close()
    sys.exit(0)


def _version() -> str:
    from signoff import __version__

    return __version__
