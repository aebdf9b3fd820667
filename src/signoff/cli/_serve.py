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
    from signoff.gate import Gate
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
@click.option("--shadow-policy", "shadow_policy", envvar="SIGNOFF_SHADOW_POLICY", metavar="FILE",
              type=click.Path(dir_okay=False),
              help="A candidate policy evaluated beside --policy on every action, with no effect on any "
                   "decision; where it disagrees shows in insights (env SIGNOFF_SHADOW_POLICY).")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--public-url", metavar="URL", help="Where people reach this server, if not http://HOST:PORT.")
@click.option("--cookie-secure/--no-cookie-secure", default=False, show_default=True,
              help="Send inbox session cookies over HTTPS only (turn on behind TLS).")
@click.option("--max-wait", type=click.FloatRange(0.1, 300), metavar="SECONDS",
              help="Longest one long-poll is held open (default 25; clients ask again). Keep it below your "
                   "proxy's idle timeout.")
@click.option("--oidc-issuer", metavar="URL", envvar="SIGNOFF_OIDC_ISSUER",
              help="Single sign-on for the inbox: the OpenID Provider's issuer URL (env SIGNOFF_OIDC_ISSUER). "
                   "Client id and secret come from SIGNOFF_OIDC_CLIENT_ID and SIGNOFF_OIDC_CLIENT_SECRET; the "
                   "policy's oidc: section maps a claim to tiers. Register PUBLIC_URL/login/oidc/callback "
                   "(PUBLIC_URL: --public-url) at the provider.")
@click.option("--password-login/--no-password-login", default=True, show_default=True,
              help="Accept reviewer names and passwords in the inbox (turn off to leave single sign-on only).")
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--log-format", default="text", show_default=True, type=click.Choice(["text", "json"]),
              help="json: one JSON object per line (ticket id where there is one; tokens and secrets redacted).")
@click.option("--metrics-public/--no-metrics-public", default=False, show_default=True,
              help="Serve /metrics without a token (only where its port is reachable from a private network). "
                   "Otherwise Prometheus sends SIGNOFF_METRICS_TOKEN or a reviewer token as a bearer token.")
def serve(policy: str, shadow_policy: str | None, db: str, host: str, port: int, public_url: str | None,
          cookie_secure: bool,
          max_wait: float | None, oidc_issuer: str | None, password_login: bool, access_log: bool,
          log_level: str, log_format: str = "text", metrics_public: bool = False) -> None:
    """Serve the JSON API (/api/v1) and the reviewer inbox (/) for POLICY on the store at --db."""
    _need_server_extra()
    from signoff.gate import Gate
    from signoff.server import create_app
    from signoff.server._runner import check_port, run_app

    settings = settings_from_env(host=host, port=port, public_url=public_url, cookie_secure=cookie_secure,
                                 max_wait=max_wait)
    settings = _with_oidc(settings, oidc_issuer, password_login)
    settings = settings.evolve(metrics_public=metrics_public, log_format=log_format,
                               metrics_token=os.environ.get("SIGNOFF_METRICS_TOKEN", ""))
    with signoff_errors():
        check_port(host, port)
        gate = Gate.open(policy=policy, store=db, shadow_policy=shadow_policy)
    try:
        if oidc_issuer:
            _check_oidc_policy(gate, policy)
        app = create_app(gate, settings=settings)

        async def ready() -> None:
            banner = (f"signoff {_version()} serving {settings.public_url}  (policy {policy}, store {db}"
                      f"{f', shadow policy {shadow_policy}' if shadow_policy else ''}); Ctrl-C stops")
            if log_format == "json":  # every line of a JSON log is JSON
                import logging

                logging.getLogger("signoff.server").warning(banner)
            else:
                click.echo(banner, err=True)
            if oidc_issuer:
                await _announce_oidc(gate, settings)

        run_app(app, host=host, port=port, settings=settings, log_level=log_level, access_log=access_log,
                on_ready=ready, log_format=log_format)
    finally:
        gate.close()
    sys.exit(0)


def _with_oidc(settings: ServerSettings, issuer: str | None, password_login: bool) -> ServerSettings:
    """Single sign-on's settings, or a clear exit 2 naming what is missing (before anything starts)."""
    if not issuer:
        if not password_login:
            fail("--no-password-login leaves the inbox without a way in: give --oidc-issuer URL too", 2)
        return settings
    from urllib.parse import urlsplit

    parts = urlsplit(issuer)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or not parts.hostname or (parts.scheme == "http" and not loopback):
        fail(f"--oidc-issuer {issuer!r}: an issuer is an https:// URL (http:// only on loopback, for tests)", 2)
    try:
        import authlib  # noqa: F401
    except ImportError as exc:
        fail(f"--oidc-issuer needs the oidc extra: pip install 'signoff[oidc]' ({exc})", 2)
    client_id = os.environ.get("SIGNOFF_OIDC_CLIENT_ID", "")
    secret = os.environ.get("SIGNOFF_OIDC_CLIENT_SECRET", "")
    missing = [n for n, v in (("SIGNOFF_OIDC_CLIENT_ID", client_id), ("SIGNOFF_OIDC_CLIENT_SECRET", secret)) if not v]
    if missing:
        fail(f"--oidc-issuer {issuer}: set {' and '.join(missing)} in the environment (the client this server "
             f"is at the provider, with the redirect URI {settings.public_url}/login/oidc/callback)", 2)
    if not os.environ.get("SIGNOFF_SECRET_KEY"):
        click.echo("signoff: note: without SIGNOFF_SECRET_KEY inbox sessions and logins in progress end when this "
                   "server restarts, and several servers cannot share them", err=True)
    return settings.evolve(oidc_issuer=issuer, oidc_client_id=client_id, oidc_client_secret=secret,
                           password_login=password_login)


def _check_oidc_policy(gate: Gate, policy: str) -> None:
    spec = gate.policy.spec.oidc
    if spec is None or not spec.tiers:
        tiers = gate.policy.tiers
        example = f"{{{tiers[-1]}: [your-group]}}" if tiers else "{senior: [your-group]} (and a tiers: list)"
        fail(f"--oidc-issuer: {policy} maps no group to a tier, so nobody could log in with single sign-on; "
             f"add a section like `oidc: {{claim: groups, tiers: {example}}}` (docs/oidc.md)", 2)


async def _announce_oidc(gate: Gate, settings: ServerSettings) -> None:
    """Say at start-up how single sign-on is set up, and whether the provider answers (a warning only:
    agents must not wait for an identity provider)."""
    import httpx

    spec = gate.policy.spec.oidc
    assert spec is not None and settings.oidc_issuer is not None
    tiers = ", ".join(f"{t} <- {'/'.join(v)}" for t, v in spec.tiers.items())
    click.echo(f"single sign-on: issuer {settings.oidc_issuer}, client id {settings.oidc_client_id}, claim "
               f"{spec.claim!r} ({tiers}); password login {'on' if settings.password_login else 'off'}", err=True)
    url = settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            (await client.get(url)).raise_for_status()
    except httpx.HTTPError as exc:
        click.echo(f"signoff: warning: the identity provider's discovery document {url} cannot be read yet "
                   f"({type(exc).__name__}: {exc}); single sign-on fails until it can", err=True)


def _version() -> str:
    from signoff import __version__

    return __version__
