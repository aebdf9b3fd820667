"""The inbox's login door against a real `signoff serve` process: the rate limit under guesses sent
at once, and GET /login leaving an existing session alone (only a successful POST sets it).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import httpx

from signoff.server.ui._ratelimit import LoginLimiter
from tests.server.conftest import PASSWORD, Server, start_server, stop_process

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login_form(client: httpx.Client) -> str:
    """GET /login and return the form's CSRF token (the client keeps whatever cookie came with it)."""
    r = client.get("/login")
    assert 200 == r.status_code, r.text
    found = CSRF.search(r.text)
    assert found, r.text
    return found.group(1)


def log_in(client: httpx.Client, name: str = "alice", password: str = PASSWORD) -> httpx.Response:
    token = login_form(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token, "next": "/"})


def session_cookies(response: httpx.Response) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith("signoff_session=")]


class TestLoginRateLimit:
    def test_forty_parallel_guesses_get_five_password_checks(self, tmp_path: Path) -> None:
        """40 wrong passwords sent at once: 5 are checked (401), 35 refused unchecked (429), and then
        even the right password is refused (429): the limit holds however the guesses are timed."""
        srv = start_server(tmp_path)  # its own server: this test locks 127.0.0.1 out for the window
        try:
            with httpx.Client(base_url=srv.url) as client:
                token = login_form(client)
                cookies = dict(client.cookies)

            async def guess_all() -> list[int]:
                limits = httpx.Limits(max_connections=40)
                async with httpx.AsyncClient(base_url=srv.url, cookies=cookies, limits=limits, timeout=60) as ac:
                    answers = await asyncio.gather(*[
                        ac.post("/login", data={"name": "bob", "password": f"wrong-{i}", "csrf_token": token})
                        for i in range(40)])
                return [r.status_code for r in answers]

            statuses = Counter(asyncio.run(guess_all()))
            with httpx.Client(base_url=srv.url, cookies=cookies) as client:
                right = client.post("/login", data={"name": "bob", "password": PASSWORD, "csrf_token": token})
            assert ({401: 5, 429: 35}, 429) == (dict(statuses), right.status_code)
            assert "signoff_session=" not in right.headers.get("set-cookie", "")
        finally:
            stop_process(srv.proc)
            srv.gate.close()


    def test_reserve_counts_before_the_check_and_success_gives_the_slot_back(self) -> None:
        """Reserving takes a slot at once (a sixth reservation waits); a success returns its slot."""
        lim = LoginLimiter(5, 60)
        taken = [lim.reserve("10.0.0.1", f"user{i}", now=0.0) for i in range(5)]
        sixth = lim.reserve("10.0.0.1", "carol", now=1.0)
        lim.success("user4", "10.0.0.1")
        seventh = lim.reserve("10.0.0.1", "dave", now=2.0)
        assert ([None] * 5, 59.0, None) == (taken, sixth, seventh)


class TestLoginPageKeepsTheSession:
    def test_a_cross_site_get_login_does_not_log_the_reviewer_out(self, server: Server) -> None:
        """A link from another site to /login arrives without the SameSite=Strict cookie; whatever the
        answer sets is stored by the browser. It must not replace the session: the reviewer stays in."""
        with httpx.Client(base_url=server.url) as browser:
            assert 303 == log_in(browser).status_code
            assert 200 == browser.get("/", follow_redirects=False).status_code
            cross_site = httpx.get(server.url + "/login", follow_redirects=False)  # no cookie sent
            assert 200 == cross_site.status_code
            browser.cookies.extract_cookies(cross_site)  # what the browser would keep
            inbox = browser.get("/", follow_redirects=False)
            assert (200, []) == (inbox.status_code, session_cookies(cross_site))

    def test_a_logged_in_reviewer_opening_login_goes_to_the_inbox(self, server: Server) -> None:
        """Same site, with the cookie: a redirect to the inbox, and the cookie is not touched."""
        with httpx.Client(base_url=server.url) as browser:
            log_in(browser, "bob")
            r = browser.get("/login", follow_redirects=False)
            assert (303, "/", []) == (r.status_code, r.headers.get("location"), session_cookies(r))
            assert 200 == browser.get("/", follow_redirects=False).status_code

    def test_only_a_successful_post_sets_the_session(self, server: Server) -> None:
        """The login form works without any session cookie: the POST with the form's token logs in."""
        with httpx.Client(base_url=server.url) as browser:
            token = login_form(browser)
            assert "signoff_session" not in browser.cookies
            bad = browser.post("/login", data={"name": "bob", "password": "nope", "csrf_token": token})
            good = browser.post("/login", data={"name": "bob", "password": PASSWORD, "csrf_token": token})
            assert (401, [], 303) == (bad.status_code, session_cookies(bad), good.status_code)
            assert 1 == len(session_cookies(good))

    def test_a_login_post_without_the_form_token_is_refused(self, server: Server) -> None:
        """Login CSRF: a POST whose token does not match the login form's cookie sets nothing."""
        with httpx.Client(base_url=server.url) as browser:
            login_form(browser)
            r = browser.post("/login", data={"name": "bob", "password": PASSWORD, "csrf_token": "forged"})
            assert (403, []) == (r.status_code, session_cookies(r))
