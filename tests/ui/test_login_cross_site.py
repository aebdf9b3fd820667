"""A page on another site cannot log a reviewer out by linking (or redirecting) to /login.

The session cookie is SameSite=Strict, so the navigation from another site arrives without
it; Chromium still stores any cookie the answer sets. The login page must set none that
replaces the session.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.conftest import Served, login

pytestmark = pytest.mark.browser

EVIL = "http://evil.example/"


def test_a_link_from_another_site_to_login_keeps_the_session(page: Any, context: Any, server: Served) -> None:
    """Logged in, the reviewer follows another site's link to /login; back on the inbox they are still in."""
    login(page, server.url)
    before = next(c["value"] for c in context.cookies() if c["name"] == "signoff_session")
    page.route(EVIL, lambda route: route.fulfill(
        content_type="text/html", body=f'<a id="go" href="{server.url}/login">sign in</a>'))
    page.goto(EVIL)
    page.click("#go")
    page.wait_for_url(server.url + "/login")
    after = next(c["value"] for c in context.cookies() if c["name"] == "signoff_session")
    page.goto(server.url + "/")
    assert (before, server.url + "/") == (after, page.url)
