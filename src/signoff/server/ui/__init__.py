"""The reviewer inbox in the browser: ``mount_ui(app, gate, settings)`` adds its pages to an ASGI app.

Server-rendered HTML (Jinja2, autoescaped) with plain forms that work without
JavaScript, a small hand-written script for keys and live updates, and every asset
served from ``/ui/static``: the pages load nothing from anywhere else (the
Content-Security-Policy says so too). See docs/inbox.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from signoff.gate import Gate

__all__ = ["mount_ui"]

STATIC = Path(__file__).parent / "static"


def mount_ui(app: Any, gate: Gate, settings: Any = None) -> Any:
    """Add the inbox's routes and static files to ``app`` (FastAPI or Starlette); returns the UI object.

    ``settings`` is a ``ServerSettings`` (None: the defaults, with a random session key).
    The routes stay out of the OpenAPI document: they are pages, not API.
    """
    from starlette.staticfiles import StaticFiles

    from signoff.server._settings import ServerSettings
    from signoff.server.ui._base import InboxUI
    from signoff.server.ui._routes import routes

    ui = InboxUI(gate, settings if settings is not None else ServerSettings())
    for path, endpoint, methods in routes(ui):
        app.add_route(path, endpoint, methods=methods, include_in_schema=False)
    app.mount("/ui/static", StaticFiles(directory=str(STATIC)), name="ui-static")
    return ui
