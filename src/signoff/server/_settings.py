"""Server settings: the knobs of one ``signoff serve`` process, in one frozen dataclass.

The JSON API and the reviewer inbox read the same object, so a limit (a long-poll cap,
the login rate limit, the cookie flags) is set in one place and documented here.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ServerSettings"]


def _secret() -> bytes:
    return secrets.token_bytes(32)


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """How one server behaves. Every field has a default a single-machine install can keep."""

    public_url: str = "http://127.0.0.1:8080"
    """Where people reach the server (links in logs, the demo banner, notifications)."""

    max_wait_seconds: float = 25.0
    """Longest a single long-poll (``GET /api/v1/tickets/{id}/wait``) holds the request open.
    Clients loop until their own timeout, so this only bounds one HTTP request (and how long a
    shutdown waits for it). Below common proxy idle timeouts (30-60 s)."""

    quota_retry_after_seconds: int = 30
    """The ``Retry-After`` sent with a 429 when an agent is over its pending-ticket quota."""

    token_cache_seconds: float = 2.0
    """How long a looked-up API token is trusted before the store is asked again. Saves a
    database read per request; a revoked token stops working within this many seconds.
    0 disables the cache."""

    token_outage_seconds: float = 600.0
    """While the store cannot be reached, a token the store verified within this many seconds is
    still honoured (so ``auto`` actions keep their answer through an outage); a token not seen
    in that time gets 503. A revocation takes effect once the store answers again. 0 turns it off."""

    max_request_bytes: int = 8 * 1024 * 1024
    """Largest request body accepted (agent state included); larger gets 413."""

    max_header_bytes: int = 64 * 1024
    """Largest request head (request line and headers together) accepted; larger gets 431 and
    the connection is closed. Applies under ``signoff serve`` (other ASGI servers have their own)."""

    ready_timeout_seconds: float = 2.0
    """How long ``/api/v1/health`` and ``/readyz`` wait for the store's round trip before answering 503."""

    max_page_size: int = 1000
    """Largest ``limit`` a ticket listing accepts."""

    sse_heartbeat_seconds: float = 15.0
    """A comment line is sent on idle event streams this often, so proxies keep them open."""

    shutdown_grace_seconds: float = 3.0
    """On SIGINT/SIGTERM, open long-polls and event streams end at once; other requests get
    this long to finish before they are cut."""

    # -- the reviewer inbox (server/ui) ---------------------------------------------------
    secret_key: bytes = field(default_factory=_secret, repr=False)
    """Signs session cookies and CSRF tokens. Random per process unless given (sessions then
    end with a restart); set ``SIGNOFF_SECRET_KEY`` to keep them across restarts."""

    cookie_secure: bool = False
    """Mark session cookies ``Secure`` (HTTPS only). Turn on whenever the server is behind TLS."""

    session_max_age_seconds: int = 8 * 3600
    """How long a reviewer stays logged in."""

    login_max_attempts: int = 5
    """Failed logins allowed per user name and per client address within ``login_window_seconds``."""

    login_window_seconds: float = 300.0
    """The window of the login rate limit."""

    # -- single sign-on (server/ui/_oidc.py; the policy's ``oidc:`` maps the claim to tiers) ---
    oidc_issuer: str | None = None
    """The OpenID Provider's issuer URL (``--oidc-issuer``); its discovery document is read from
    ``ISSUER/.well-known/openid-configuration``. None: no single sign-on."""

    oidc_client_id: str = ""
    """This server's client id at the provider (``SIGNOFF_OIDC_CLIENT_ID``)."""

    oidc_client_secret: str = field(default="", repr=False)
    """Its client secret (``SIGNOFF_OIDC_CLIENT_SECRET``)."""

    oidc_leeway_seconds: int = 60
    """Clock skew allowed when checking an ID token's ``exp``/``iat`` against this server's clock."""

    password_login: bool = True
    """Whether the inbox accepts names and passwords (``--no-password-login`` leaves only single sign-on)."""

    # -- operations (server/_metrics.py, signoff/_logs.py) --------------------------------
    metrics_token: str = field(default="", repr=False)
    """A bearer token for Prometheus alone (``SIGNOFF_METRICS_TOKEN``); reviewer tokens work too."""

    metrics_public: bool = False
    """Serve ``/metrics`` without a token (``--metrics-public``): only where the port is reachable
    from a private network alone."""

    log_format: str = "text"
    """``json`` (``--log-format json``): one JSON object per log line, console notifications included
    (as ``signoff.notify.console`` lines at info)."""

    def evolve(self, **changes: Any) -> ServerSettings:
        return dataclasses.replace(self, **changes)
