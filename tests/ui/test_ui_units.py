"""The inbox's pure parts: hidden characters, safe rendering, sessions, CSRF, rate limit, permissions, chart."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from signoff import Action, NotAuthorized, Ticket
from signoff._model import Level, utcnow
from signoff.review._transitions import may_decide, reject
from signoff.server.ui._chart import rate_chart
from signoff.server.ui._csrf import origin_ok, token_ok
from signoff.server.ui._hidden import find_hidden
from signoff.server.ui._ratelimit import LoginLimiter
from signoff.server.ui._render import args_diff, args_preview, count_hidden, duration, json_html, text_html
from signoff.server.ui._session import COOKIE, SessionManager, password_fingerprint
from signoff.server.ui._views import group_rows, history_of, make_row, permission
from signoff.store._records import Reviewer


def ticket(tid: str = "tk_1", *, name: str = "deploy", agent: str = "bot", tier: str | None = None,
           status: str = "pending", group: str = "g1", args: dict[str, Any] | None = None, **kw: Any) -> Ticket:
    return Ticket(id=tid, kind="approval", action=Action(name=name, args=args or {"x": 1}, agent=agent),
                  status=status, level=Level.APPROVE, tier=tier, group_key=group, **kw)  # type: ignore[arg-type]


def shown(markup: Any) -> str:
    """The text a browser would show for ``markup`` (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", str(markup)))


def request(cookie: str = "", headers: dict[str, str] | None = None) -> Request:
    raw = [(b"host", b"127.0.0.1:8080")]
    if cookie:
        raw.append((b"cookie", f"{COOKIE}={cookie}".encode()))
    for k, v in (headers or {}).items():
        raw.append((k.lower().encode(), v.encode()))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


class TestFindHidden:
    @pytest.mark.parametrize(("text", "codes"), [
        ("plain ascii", []),
        ("naïve café 日本", []),
        ("report\u202etxt.exe", [("U+202E", "bidi")]),
        ("\u2066x\u2069", [("U+2066", "bidi"), ("U+2069", "bidi")]),
        ("zero\u200bwidth\u200d\ufeff", [("U+200B", "zero-width"), ("U+200D", "zero-width"), ("U+FEFF", "zero-width")]),
        ("tag\U000e0041", [("U+E0041", "tag")]),
        ("bell\x07 del\x7f", [("U+0007", "control"), ("U+007F", "control")]),
        ("soft\u00adhyphen", [("U+00AD", "invisible")]),
    ])
    def test_finds_and_names(self, text: str, codes: list[tuple[str, str]]) -> None:
        """Each hidden character is found with its code point and kind; ordinary text is left alone."""
        assert codes == [(h.code, h.kind) for h in find_hidden(text)]

    def test_newlines_only_allowed_in_free_text(self) -> None:
        """Line feeds and tabs count in one-line values but not in a reasoning; CR always counts."""
        assert (3, 1) == (len(find_hidden("a\nb\tc\r")), len(find_hidden("a\nb\tc\r", allow_newlines=True)))


class TestRenderJSON:
    def test_everything_escaped(self) -> None:
        """Keys and values with markup come out as text."""
        html = str(json_html({"<b>": "<script>alert(1)</script>"}))
        assert ("<script>" not in html, "&lt;script&gt;" in html, "&lt;b&gt;" in html) == (True, True, True)

    def test_hidden_character_becomes_a_visible_marker(self) -> None:
        """A bidi override in a value is replaced by a red <U+202E> marker, not passed through."""
        html = str(json_html({"path": "a\u202eb"}))
        assert ("\u202e" in html, bool(re.search(r'<mark class="hidden-char"[^>]*>&lt;U\+202E&gt;</mark>', html))) \
            == (False, True)

    def test_hidden_in_a_key_too(self) -> None:
        """A zero-width space in a key is marked and counted."""
        value = {"ad\u200bmin": True}
        assert (True, 1) == ("&lt;U+200B&gt;" in str(json_html(value)), count_hidden(value))

    def test_long_string_folded_with_count_never_cut(self) -> None:
        """A long string keeps every character: the head, a marker with the exact rest, and the rest."""
        text = shown(json_html({"v": "q" * 300 + "z" * 1234}))
        assert ("… 1,234 more characters [show]" in text, text.count("q"), text.count("z")) == (True, 300, 1234)

    def test_hidden_inside_fold_is_announced_on_the_marker(self) -> None:
        """A hidden character in the folded part is announced next to the [show] marker."""
        html = str(json_html({"v": "x" * 500 + "\u202e"}))
        assert "⚠ 1 hidden character inside" in html

    def test_long_list_folded(self) -> None:
        """A list of 150 items shows 50 and folds 100 more, all present."""
        html = str(json_html({"ids": list(range(150))}))
        assert ("… 100 more items [show]" in html, '<span class="n">149</span>' in html) == (True, True)

    def test_newline_in_value_cannot_fake_a_key(self) -> None:
        """A value with a newline and quotes stays one JSON string: it cannot pose as another line of arguments."""
        assert '{\n  "note": "ok\\",\\n  \\"amount\\": 1"\n}' == shown(json_html({"note": 'ok",\n  "amount": 1'}))

    def test_control_characters_shown_as_json_escapes(self) -> None:
        """A control character in a value is shown as its JSON escape and not counted as hidden."""
        assert ("\\u0007" in str(json_html({"v": "\x07"})), 0) == (True, count_hidden({"v": "\x07"}))


class TestRenderText:
    def test_reasoning_keeps_lines_and_marks_hidden(self) -> None:
        """Free text keeps its line breaks, escapes markup and marks a bidi override."""
        html = str(text_html("line 1\n<b>line 2</b>\u202e"))
        assert ("line 1\n&lt;b&gt;" in html, "&lt;U+202E&gt;" in html) == (True, True)

    def test_long_reasoning_folded(self) -> None:
        """A 10,000-character reasoning shows a fold marker with the exact count left."""
        assert "… 8,500 more characters [show]" in str(text_html("x" * 10_000))


class TestPreviewAndDiff:
    def test_preview_marks_shortening(self) -> None:
        """Shortened values in the one-line preview end with a visible ellipsis."""
        assert '"long"="' + "x" * 34 + "…" == shown(args_preview({"long": "x" * 100}))

    def test_diff_lists_removed_and_added_lines(self) -> None:
        """Changing one value gives one removed and one added line."""
        html, changed = args_diff({"amount": 150, "order": "A"}, {"amount": 120, "order": "A"})
        lines = shown(html).splitlines()
        assert (2, ['−   "amount": 150,', '+   "amount": 120,']) == (changed, [x for x in lines if x[0] in "−+"])

    def test_duration(self) -> None:
        """Durations are short and exact to the unit below the largest."""
        assert ["5s", "2m 05s", "1h 01m", "2d 03h"] == [duration(s) for s in (5, 125, 3660, 2 * 86400 + 3 * 3600)]


class TestSessions:
    def test_round_trip(self) -> None:
        """A written session reads back with its name, CSRF token and password fingerprint."""
        mgr = SessionManager(b"k" * 32, max_age=60, secure=False)
        s = mgr.new(name="alice", pw=password_fingerprint("$argon2$x"))
        resp = Response()
        mgr.write(resp, s)
        cookie = resp.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        assert s == mgr.read(request(cookie))

    def test_cookie_flags(self) -> None:
        """The cookie is HttpOnly, SameSite=Strict, and Secure when asked."""
        resp = Response()
        SessionManager(b"k" * 32, max_age=60, secure=True).write(resp, SessionManager(b"k", max_age=1, secure=False)
                                                                  .new(name="a"))
        flags = resp.headers["set-cookie"].lower()
        assert ("httponly" in flags, "samesite=strict" in flags, "secure" in flags) == (True, True, True)

    def test_forged_or_foreign_cookie_refused(self) -> None:
        """A cookie signed with another key, or edited, reads as no session."""
        mine, other = SessionManager(b"a" * 32, max_age=60, secure=False), SessionManager(b"b" * 32, max_age=60,
                                                                                          secure=False)
        resp = Response()
        other.write(resp, other.new(name="alice"))
        cookie = resp.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        assert (None, None) == (mine.read(request(cookie)), mine.read(request(cookie[:-2] + "xx")))

    def test_revoked_session_refused(self) -> None:
        """After logout the same cookie no longer reads as a session."""
        mgr = SessionManager(b"k" * 32, max_age=60, secure=False)
        s = mgr.new(name="alice")
        resp = Response()
        mgr.write(resp, s)
        cookie = resp.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        mgr.revoke(Response(), s)
        assert mgr.read(request(cookie)) is None


class TestCSRF:
    def test_token_comparison(self) -> None:
        """Only the exact token passes; missing tokens fail."""
        assert [True, False, False, False] == [token_ok("abc", "abc"), token_ok("abc", "abd"), token_ok("abc", None),
                                               token_ok(None, None)]

    def test_origin(self) -> None:
        """No Origin or this origin passes; another site or 'null' fails."""
        assert [True, True, False, False] == [
            origin_ok(request()), origin_ok(request(headers={"origin": "http://127.0.0.1:8080"})),
            origin_ok(request(headers={"origin": "https://evil.example"})),
            origin_ok(request(headers={"origin": "null"}))]


class TestLoginLimiter:
    def test_per_name_and_per_address(self) -> None:
        """Five failures for a name block that name from anywhere; five from an address block every name there."""
        lim = LoginLimiter(5, 60)
        for i in range(5):
            lim.failure("10.0.0.1", f"user{i}", now=100.0)
        for _ in range(5):
            lim.failure(f"10.0.1.{_}", "bob", now=100.0)
        assert [60.0, 60.0, None] == [lim.retry_after("10.0.0.1", "carol", now=100.0),
                                      lim.retry_after("10.9.9.9", "bob", now=100.0),
                                      lim.retry_after("10.9.9.9", "carol", now=100.0)]

    def test_window_passes_and_success_clears_name(self) -> None:
        """Failures older than the window no longer count; a success clears the name's count."""
        lim = LoginLimiter(2, 60)
        lim.failure("a", "bob", now=0.0)
        lim.failure("b", "bob", now=0.0)
        blocked = lim.retry_after("c", "bob", now=30.0)
        later = lim.retry_after("c", "bob", now=61.0)
        lim.failure("d", "eve", now=0.0)
        lim.failure("e", "eve", now=0.0)
        lim.success("eve")
        assert (30.0, None, None) == (blocked, later, lim.retry_after("f", "eve", now=1.0))


class TestPermission:
    tiers = ["junior", "senior"]

    @pytest.mark.parametrize(("t", "who", "why"), [
        (ticket(tier="senior"), Reviewer(name="jim", tier="junior"), "needs a senior reviewer; you are junior"),
        (ticket(agent="alice"), Reviewer(name="alice", tier="senior"), "you requested this action"),
        (ticket(status="approved", decided_by=("bob",)), Reviewer(name="alice", tier="senior"),
         "already approved by bob"),
        (ticket(required_approvals=2, approvals=("alice",)), Reviewer(name="alice", tier="senior"),
         "you approved it; waiting for 1 more distinct approver"),
        (ticket(), Reviewer(name="alice", tier="senior", disabled=True), "your account is disabled"),
    ])
    def test_refusals_say_why(self, t: Ticket, who: Reviewer, why: str) -> None:
        """Each reason the gate would refuse is found early and put in words."""
        p = permission(t, who, self.tiers)
        assert (False, True) == (p.can, p.why_not.startswith(why))

    def test_senior_may_decide_junior_ticket(self) -> None:
        """A higher tier may decide a ticket that asks for a lower one."""
        assert permission(ticket(tier="junior"), Reviewer(name="a", tier="senior"), self.tiers).can

    @pytest.mark.parametrize("tier", [None, "junior", "senior", "retired"])
    @pytest.mark.parametrize("who", [Reviewer(name="a", tier="senior"), Reviewer(name="a", tier="junior"),
                                     Reviewer(name="a"), Reviewer(name="a", tier="gone"),
                                     Reviewer(name="bot", tier="senior"), Reviewer(name="a", tier="senior",
                                                                                   disabled=True)])
    def test_the_page_asks_the_gates_rule(self, tier: str | None, who: Reviewer) -> None:
        """The page offers a decision exactly when the gate's transition accepts it (one rule, may_decide)."""
        t = ticket(tier=tier)
        try:
            reject(t, who, tiers=self.tiers, now=utcnow())
            gate_says = True
        except NotAuthorized:
            gate_says = False
        assert (gate_says, gate_says) == (permission(t, who, self.tiers).can, may_decide(t, who, self.tiers) is None)


class TestGroupingAndHistory:
    def test_rows_grouped_in_order_of_oldest(self) -> None:
        """Rows with one group key form one block; blocks keep the order of their first row."""
        rv = Reviewer(name="a", tier="senior")
        rows = [make_row(ticket(f"t{i}", group=g), rv, []) for i, g in enumerate(["g1", "g2", "g1"])]
        assert [("g1", ["t0", "t2"]), ("g2", ["t1"])] == [(b.key, [r.ticket.id for r in b.rows])
                                                          for b in group_rows(rows)]

    def test_history_summary(self) -> None:
        """Earlier decisions are counted by outcome, leaving out the ticket itself."""
        now = utcnow()
        earlier = [ticket(f"t{i}", status="approved", decided_at=now - timedelta(days=i)) for i in range(3)]
        earlier.append(ticket("t9", status="rejected"))
        earlier.append(ticket("me", status="pending"))
        h = history_of(ticket("me"), earlier, cap=1000)
        assert "approved 3 of 4 before; rejected 1" == h.summary


class TestChart:
    def test_points_and_titles(self) -> None:
        """One circle per day with decisions, each titled with its figures."""
        svg = str(rate_chart("r", [("2026-11-01", 9, 10), ("2026-11-02", 0, 0), ("2026-11-03", 1, 4)]))
        assert (2, True, True) == (svg.count("<circle"), "2026-11-01: 9 of 10 approved (90%)" in svg,
                                   "2026-11-03: 1 of 4 approved (25%)" in svg)

    def test_rule_name_escaped(self) -> None:
        """A rule name with markup is escaped in the chart's label."""
        assert "<script>" not in str(rate_chart("<script>", []))


class TestMountedApp:
    """mount_ui on a bare FastAPI app, driven in-process through httpx's ASGI transport."""

    @pytest.fixture
    async def client(self, tmp_path: Any) -> Any:
        import httpx
        from fastapi import FastAPI

        from signoff import Gate
        from signoff.server.ui import mount_ui

        gate = Gate.open(policy={"version": 1, "tiers": ["junior", "senior"], "rules": []},
                         store=f"sqlite:///{tmp_path}/ui.db", sweep=False)
        gate.add_reviewer("alice", tier="senior", password="correct horse battery")
        app = FastAPI()
        mount_ui(app, gate)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            c.gate = gate  # type: ignore[attr-defined]
            yield c
        await gate.aclose()

    @staticmethod
    async def login(client: Any, next_path: str = "/") -> Any:
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        return await client.post("/login", data={"csrf_token": token.group(1), "name": "alice",
                                                 "password": "correct horse battery", "next": next_path})

    async def test_pages_redirect_to_login_and_carry_security_headers(self, client: Any) -> None:
        """Without a session a page redirects to /login; pages carry a CSP that allows only this server."""
        r = await client.get("/audit")
        login_page = await client.get("/login")
        csp = login_page.headers["content-security-policy"]
        assert (303, "/login?next=%2Faudit", "script-src 'self'" in csp, "DENY") == (
            r.status_code, r.headers["location"], True, login_page.headers["x-frame-options"])

    async def test_login_redirects_only_to_local_paths(self, client: Any) -> None:
        """A next= pointing at another site is replaced by the inbox (no open redirect)."""
        r = await self.login(client, next_path="//evil.example/x")
        assert (303, "/") == (r.status_code, r.headers["location"])

    async def test_password_change_ends_the_session(self, client: Any) -> None:
        """After the reviewer's password changes, the old session cookie no longer opens pages."""
        await self.login(client)
        before = await client.get("/")
        await asyncio.to_thread(client.gate.add_reviewer, "alice", tier="senior", password="a new password!")
        after = await client.get("/")
        assert (200, 303) == (before.status_code, after.status_code)

    async def test_static_assets_served_by_the_app(self, client: Any) -> None:
        """The stylesheet and the script come from /ui/static."""
        css, js = await client.get("/ui/static/app.css"), await client.get("/ui/static/app.js")
        assert (200, 200, "text/css") == (css.status_code, js.status_code, css.headers["content-type"].split(";")[0])
