"""The inbox's route table: each path, the page module that serves it, and its wrapper (GET page or POST form)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from signoff.server.ui import _allowances, _audit, _decide, _doubt, _feed, _inbox, _live, _login, _mode, _ticket
from signoff.server.ui._base import InboxUI

__all__ = ["routes"]

Endpoint = Callable[[Request], Awaitable[Response]]


def routes(ui: InboxUI) -> list[tuple[str, Endpoint, list[str]]]:
    page, post = ui.page, ui.action
    return [
        ("/login", partial(_login.login_page, ui), ["GET"]),
        ("/login", partial(_login.login, ui), ["POST"]),
        ("/logout", post(partial(_login.logout, ui)), ["POST"]),
        ("/", page(partial(_inbox.inbox, ui)), ["GET"]),
        ("/ui/rows/{ticket_id}", page(partial(_inbox.row_fragment, ui)), ["GET"]),
        ("/groups/decide", post(partial(_inbox.decide_group, ui)), ["POST"]),
        ("/tickets/{ticket_id}", page(partial(_ticket.ticket_page, ui)), ["GET"]),
        ("/tickets/{ticket_id}/approve", post(partial(_ticket.approve, ui)), ["POST"]),
        ("/tickets/{ticket_id}/reject", post(partial(_ticket.reject, ui)), ["POST"]),
        ("/tickets/{ticket_id}/edit", post(partial(_ticket.preview_edit, ui)), ["POST"]),
        ("/tickets/{ticket_id}/execution", post(partial(_doubt.record, ui)), ["POST"]),
        ("/tickets/{ticket_id}/allow", post(partial(_allowances.allow, ui)), ["POST"]),
        ("/allowances", page(partial(_allowances.allowances_page, ui)), ["GET"]),
        ("/allowances/{allowance_id}/confirm", post(partial(_allowances.confirm, ui)), ["POST"]),
        ("/allowances/{allowance_id}/revoke", post(partial(_allowances.revoke, ui)), ["POST"]),
        ("/feed", page(partial(_feed.feed, ui)), ["GET"]),
        ("/feed/{ticket_id}/flag", post(partial(_feed.flag, ui)), ["POST"]),
        ("/suggestions", page(partial(_feed.suggestions, ui)), ["GET"]),
        ("/suggestions/{ticket_id}/resolve", post(partial(_feed.resolve, ui)), ["POST"]),
        ("/mode", post(partial(_mode.set_mode, ui)), ["POST"]),
        ("/audit", page(partial(_audit.audit, ui)), ["GET"]),
        ("/insights", page(partial(_audit.insights, ui)), ["GET"]),
        ("/ui/events", partial(_live.events, ui), ["GET"]),
        ("/decide/{token}", partial(_decide.confirm, ui), ["GET"]),  # the token authenticates: no session
        ("/decide/{token}", partial(_decide.decide, ui), ["POST"]),
        *_oidc_routes(ui),
    ]


def _oidc_routes(ui: InboxUI) -> list[tuple[str, Endpoint, list[str]]]:
    """Single sign-on's two pages, when the server has an issuer (``signoff serve --oidc-issuer``)."""
    if not getattr(ui.settings, "oidc_issuer", None):
        return []
    from signoff.server.ui._oidc import CALLBACK, OidcLogin

    oidc = OidcLogin(ui)
    return [("/login/oidc", oidc.start, ["GET"]), (CALLBACK, oidc.callback, ["GET"])]
