"""The reviewer inbox in headless Chromium against a real `signoff serve` process on 127.0.0.1."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest

from signoff import Action, Ticket
from tests.ui.conftest import PASSWORD, Served, login, start_server

pytestmark = pytest.mark.browser

expect: Any
try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips these tests
    expect = None


def submit(server: Served, agent: str, name: str = "review.deploy", **kw: Any) -> Ticket:
    args = kw.pop("args", {"service": "billing", "version": "1.4.2"})
    kw.setdefault("confidence", 0.9)
    kw.setdefault("reasoning", "tests passed on staging")
    return server.run(server.gate.submit(Action(name=name, args=args, agent=agent, **kw)))


def statuses(server: Served, tickets: list[Ticket]) -> list[str]:
    return [server.run(server.gate.get_ticket(t.id)).status for t in tickets]


def inbox(page: Any, server: Served, agent: str) -> None:
    page.goto(f"{server.url}/?agent={agent}")


def row(page: Any, ticket: Ticket) -> Any:
    return page.locator(f'tr.ticket[data-id="{ticket.id}"]')


class TestLogin:
    def test_pages_need_a_session(self, page: Any, server: Served) -> None:
        """Opening the inbox without a session lands on the login page, which leads back after login."""
        page.goto(server.url + "/audit")
        assert "/login" in page.url
        page.fill("input[name=name]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button.primary")
        page.wait_for_url(re.compile(r"/audit$"))
        assert "Audit log" == page.locator("h1").inner_text()

    def test_wrong_password_is_refused(self, page: Any, server: Served) -> None:
        """A wrong password shows an error and gives no session."""
        page.goto(server.url + "/login")
        page.fill("input[name=name]", "alice")
        page.fill("input[name=password]", "not the password")
        with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as resp:
            page.click("button.primary")
        assert 401 == resp.value.status
        expect(page.locator(".error")).to_contain_text("Wrong name or password")
        page.goto(server.url + "/")
        assert "/login" in page.url

    def test_cookie_flags(self, page: Any, context: Any, server: Served) -> None:
        """The session cookie is HttpOnly and SameSite=Strict."""
        login(page, server.url)
        cookie = next(c for c in context.cookies() if c["name"] == "signoff_session")
        assert (True, "Strict") == (cookie["httpOnly"], cookie["sameSite"])

    def test_logout_ends_the_session(self, page: Any, context: Any, server: Served) -> None:
        """After logout, even a copy of the old cookie is refused."""
        login(page, server.url)
        old = [c for c in context.cookies() if c["name"] == "signoff_session"]
        page.click("header form[action='/logout'] button")
        page.wait_for_url(re.compile(r"/login"))
        context.add_cookies(old)
        page.goto(server.url + "/")
        assert "/login" in page.url


class TestLoginRateLimit:
    def test_too_many_failures_get_429(self, browser: Any, tmp_path: Any) -> None:
        """After 5 failed logins the next attempt, even with the right password, gets 429 and says why."""
        served = start_server(tmp_path)
        try:
            ctx = browser.new_context()
            page = ctx.new_page()
            page.goto(served.url + "/login")
            statuses = []
            for i in range(6):
                page.fill("input[name=name]", "bob")
                page.fill("input[name=password]", PASSWORD if i == 5 else f"wrong-{i}")
                with page.expect_response(lambda r: r.request.method == "POST") as resp:
                    page.click("button.primary")
                statuses.append(resp.value.status)
            assert [401, 401, 401, 401, 401, 429] == statuses
            expect(page.locator(".error")).to_contain_text("Too many failed logins")
            ctx.close()
        finally:
            served.stop()


class TestDecideWithKeys:
    def test_approve_with_one_key(self, page: Any, server: Served, agent: str) -> None:
        """j selects the first ticket and a approves it: the ticket is approved by the logged-in reviewer."""
        t = submit(server, agent)
        login(page, server.url)
        inbox(page, server, agent)
        page.keyboard.press("j")
        expect(row(page, t)).to_have_class(re.compile(r"\bsel\b"))
        page.keyboard.press("a")
        expect(row(page, t)).to_have_class(re.compile(r"\bdecided\b"))
        decided = server.run(server.gate.get_ticket(t.id))
        assert ("approved", ("alice",)) == (decided.status, decided.decided_by)

    def test_a_without_a_selection_only_selects(self, page: Any, server: Served, agent: str) -> None:
        """Right after the page loads, a selects the top ticket and decides nothing; a second a approves it."""
        t = submit(server, agent)
        login(page, server.url)
        inbox(page, server, agent)
        page.keyboard.press("a")
        expect(row(page, t)).to_have_class(re.compile(r"\bsel\b"))
        assert "pending" == server.run(server.gate.get_ticket(t.id)).status
        page.keyboard.press("a")
        expect(row(page, t)).to_have_class(re.compile(r"\bdecided\b"))

    def test_reject_with_feedback(self, page: Any, server: Served, agent: str) -> None:
        """r opens a feedback box; Enter sends it; the agent receives the words."""
        t = submit(server, agent)
        login(page, server.url)
        inbox(page, server, agent)
        page.keyboard.press("j")
        page.keyboard.press("r")
        box = page.locator("tr.reject-row textarea")
        expect(box).to_be_focused()
        page.keyboard.type("use the staging database first")
        page.keyboard.press("Enter")
        expect(row(page, t)).to_have_class(re.compile(r"\bdecided\b"))
        decision = server.run(server.gate.wait(t.id, timeout=10))
        assert ("rejected", "use the staging database first") == (decision.status, decision.feedback)

    def test_j_and_k_move_and_enter_opens(self, page: Any, server: Served, agent: str) -> None:
        """j, j, k lands on the first of two tickets; Enter opens its page."""
        first = submit(server, agent, name="review.first")
        submit(server, agent, name="review.second")
        login(page, server.url)
        inbox(page, server, agent)
        for key in ("j", "j", "k"):
            page.keyboard.press(key)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(rf"/tickets/{first.id}$"))
        assert first.id == page.locator("article.ticket-page").get_attribute("data-id")


class TestEditArguments:
    def test_edit_validates_shows_diff_and_agent_receives_edit(self, page: Any, server: Served, agent: str) -> None:
        """Bad JSON is refused on the spot; a valid edit shows its diff; the agent gets the edited arguments."""
        t = submit(server, agent, name="review.refund", args={"order": "A-17", "amount": 150})
        login(page, server.url)
        page.goto(f"{server.url}/tickets/{t.id}")
        page.keyboard.press("e")
        editor = page.locator("textarea[data-json]")
        expect(editor).to_be_focused()
        editor.fill('{"order": "A-17", "amount": ')
        expect(page.locator(".json-error")).to_contain_text("Not valid JSON")
        editor.fill('{"order": "A-17", "amount": 120}')
        expect(page.locator(".json-error")).to_be_hidden()
        page.click("form[data-edit] button")
        diff = page.locator("#diff-box pre.diff")
        expect(diff.locator(".d-del")).to_contain_text('"amount": 150')
        expect(diff.locator(".d-add")).to_contain_text('"amount": 120')
        page.click("#diff-box button.approve")
        decision = server.run(server.gate.wait(t.id, timeout=10))
        assert (True, True, {"order": "A-17", "amount": 120}) == (decision.approved, decision.edited, decision.args)

    def test_an_edit_the_policy_forbids_is_refused(self, page: Any, server: Served, agent: str) -> None:
        """An edit into a denied range gets the gate's message and leaves the ticket pending."""
        t = submit(server, agent, name="review.refund", args={"order": "A-18", "amount": 150})
        login(page, server.url)
        page.goto(f"{server.url}/tickets/{t.id}#edit")
        page.locator("textarea[data-json]").fill('{"order": "A-18", "amount": 5000}')
        page.click("form[data-edit] button")
        page.click("#diff-box button.approve")
        expect(page.locator("#toast")).to_contain_text("not allowed")
        assert "pending" == server.run(server.gate.get_ticket(t.id)).status


class TestGroups:
    def test_approve_a_group_of_five(self, page: Any, server: Served, agent: str) -> None:
        """Five similar requests sit under one header whose button approves exactly those five."""
        ts = [submit(server, agent, name="review.scale", args={"service": f"svc-{i}", "replicas": 30 + i})
              for i in range(5)]
        login(page, server.url)
        inbox(page, server, agent)
        head = page.locator("tr.group-head")
        expect(head).to_contain_text("5 similar requests")
        head.locator("button[value=approve]").click()
        expect(page.locator("#toast")).to_contain_text("Approved 5 of 5")
        assert ["approved"] * 5 == statuses(server, ts)
        ids = {t.id for t in ts}
        vias = [e.data.get("via") for e in server.run(server.gate.audit_entries()) if e.ticket_id in ids
                and e.kind == "approved"]
        assert ["inbox"] * 5 == vias  # the audit (and the notifications) say which door decided

    def test_a_group_that_changed_is_not_decided(self, page: Any, server: Served, agent: str) -> None:
        """If a sixth similar request arrives after the page showed five, "approve all 5" decides those five."""
        ts = [submit(server, agent, name="review.scale", args={"service": f"svc-{i}", "replicas": 3})
              for i in range(5)]
        login(page, server.url)
        inbox(page, server, agent)
        form = page.locator("form[data-group-decide]")
        expect(form.locator("input[name=tickets]")).to_have_value(",".join(t.id for t in ts))
        group = form.locator("input[name=group]").input_value()
        token = form.locator("input[name=csrf_token]").input_value()
        tickets = form.locator("input[name=tickets]").input_value()
        late = submit(server, agent, name="review.scale", args={"service": "svc-late", "replicas": 3})
        r = page.context.request.post(f"{server.url}/groups/decide", form={
            "csrf_token": token, "group": group, "tickets": tickets, "decision": "approve"})
        assert (200, ["approved"] * 5 + ["pending"]) == (r.status, statuses(server, [*ts, late]))


class TestLive:
    def test_a_new_ticket_appears_without_reload(self, page: Any, server: Served, agent: str) -> None:
        """A ticket submitted after the page loaded shows up in the list by itself."""
        login(page, server.url)
        inbox(page, server, agent)
        expect(page.locator("body[data-live='1']")).to_have_count(1)
        t = submit(server, agent, name="review.live")
        expect(row(page, t)).to_contain_text("review.live")

    def test_a_decision_by_someone_else_shows(self, page: Any, server: Served, agent: str) -> None:
        """When another reviewer decides a ticket, its row says so and the ticket page disables its controls."""
        t = submit(server, agent)
        login(page, server.url)
        page.goto(f"{server.url}/tickets/{t.id}")
        expect(page.locator("body[data-live='1']")).to_have_count(1)
        server.run(server.gate.approve(t.id, reviewer="bob"))
        expect(page.locator("#live-status")).to_contain_text("approved by bob")
        expect(page.locator(".decide-bar")).to_be_hidden()


class TestUntrustedText:
    def test_script_in_reasoning_is_text(self, page: Any, server: Served, agent: str) -> None:
        """A <script> tag in the reasoning is shown as text and never runs."""
        payload = "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned = 2'>"
        t = submit(server, agent, reasoning=payload, alternatives=[payload])
        login(page, server.url)
        response = page.goto(f"{server.url}/tickets/{t.id}")
        html = response.text()
        expect(page.locator("#reasoning")).to_have_text(payload)
        assert (None, True, False) == (page.evaluate("window.__pwned"), "&lt;script&gt;" in html,
                                       "<script>window.__pwned" in html)

    def test_bidi_override_in_args_is_flagged(self, page: Any, server: Served, agent: str) -> None:
        """A right-to-left override in an argument is shown as <U+202E> with a warning."""
        t = submit(server, agent, args={"path": "/srv/report\u202etxt.exe"}, reasoning="just a text file")
        login(page, server.url)
        page.goto(f"{server.url}/tickets/{t.id}")
        expect(page.locator("#args mark.hidden-char")).to_have_text("<U+202E>")
        expect(page.locator("div.alert")).to_contain_text("1 hidden character")
        inbox(page, server, agent)
        expect(row(page, t).locator(".warn-badge")).to_contain_text("1 hidden")

    def test_long_values_are_folded_visibly_not_cut(self, page: Any, server: Served, agent: str) -> None:
        """A 5,000-character argument shows a '… N more characters [show]' marker that opens the rest."""
        t = submit(server, agent, args={"sql": "SELECT 1; " * 499 + "DROP TABLE users;"})
        login(page, server.url)
        page.goto(f"{server.url}/tickets/{t.id}")
        label = page.locator("#args .fold-label")
        expect(label).to_contain_text("4,707 more characters [show]")
        expect(page.locator("#args")).not_to_contain_text("DROP TABLE users", use_inner_text=True)
        label.click()
        expect(page.locator("#args")).to_contain_text("DROP TABLE users", use_inner_text=True)


class TestCSRF:
    def test_post_without_or_with_wrong_token_is_refused(self, page: Any, context: Any, server: Served,
                                                          agent: str) -> None:
        """A logged-in POST without the CSRF token, or with another, gets 403 and the ticket stays pending."""
        t = submit(server, agent)
        login(page, server.url)
        bare = context.request.post(f"{server.url}/tickets/{t.id}/approve", form={"comment": "x"})
        wrong = context.request.post(f"{server.url}/tickets/{t.id}/approve",
                                     form={"csrf_token": secrets.token_urlsafe(32)})
        assert (403, 403, "pending") == (bare.status, wrong.status, server.run(server.gate.get_ticket(t.id)).status)

    def test_post_from_another_origin_is_refused(self, page: Any, context: Any, server: Served, agent: str) -> None:
        """Even with the right token, a POST whose Origin is another site is refused."""
        t = submit(server, agent)
        login(page, server.url)
        token = page.locator("meta[name=csrf-token]").get_attribute("content")
        r = context.request.post(f"{server.url}/tickets/{t.id}/approve", form={"csrf_token": token},
                                 headers={"Origin": "https://evil.example"})
        assert (403, "pending") == (r.status, server.run(server.gate.get_ticket(t.id)).status)

    def test_mode_switch_needs_the_token_too(self, page: Any, context: Any, server: Served) -> None:
        """Switching the incident mode on without the token is refused and changes nothing."""
        login(page, server.url)
        r = context.request.post(f"{server.url}/mode", form={"mode": "incident"})
        assert (403, None) == (r.status, server.run(server.gate._engine.run(server.gate.store.get_mode())))


class TestTiers:
    def test_junior_cannot_approve_senior_ticket(self, page: Any, server: Served, agent: str) -> None:
        """A junior sees no approve control on a senior ticket, and a forged POST gets 403 with the reason."""
        t = submit(server, agent, name="senior.drop_table", args={"table": "sessions"})
        login(page, server.url, name="jim")
        page.goto(f"{server.url}/tickets/{t.id}")
        expect(page.locator(".locked")).to_contain_text("needs a senior reviewer; you are junior")
        assert 0 == page.locator(".decide-bar").count()
        token = page.locator("meta[name=csrf-token]").get_attribute("content")
        r = page.context.request.post(f"{server.url}/tickets/{t.id}/approve", form={"csrf_token": token},
                                      headers={"Accept": "application/json"})
        assert (403, "pending") == (r.status, server.run(server.gate.get_ticket(t.id)).status)
        assert "needs a senior reviewer" in r.json()["message"]

    def test_already_decided_says_by_whom(self, page: Any, server: Served, agent: str) -> None:
        """Approving a ticket someone approved meanwhile says who did."""
        t = submit(server, agent)
        login(page, server.url)
        page.goto(f"{server.url}/tickets/{t.id}")
        server.run(server.gate.approve(t.id, reviewer="bob"))
        token = page.locator("meta[name=csrf-token]").get_attribute("content")
        r = page.context.request.post(f"{server.url}/tickets/{t.id}/approve", form={"csrf_token": token},
                                      headers={"Accept": "application/json"})
        assert 409 == r.status
        assert "already approved (by bob)" in r.json()["message"]


class TestWithoutJavaScript:
    def test_plain_forms_decide(self, browser: Any, server: Served, agent: str) -> None:
        """With scripts off, the approve button is a plain form POST that decides and comes back with a note."""
        ctx = browser.new_context(java_script_enabled=False)
        try:
            page = ctx.new_page()
            t = submit(server, agent)
            login(page, server.url)
            page.goto(f"{server.url}/tickets/{t.id}")
            page.click(".decide-bar button.approve")
            expect(page.locator(".note")).to_contain_text(f"Approved review.deploy ({t.id})")
            assert "approved" == server.run(server.gate.get_ticket(t.id)).status
        finally:
            ctx.close()


class TestSelfContained:
    def test_pages_load_nothing_from_elsewhere(self, page: Any, server: Served, agent: str) -> None:
        """Every request the pages make goes to the server itself."""
        submit(server, agent)
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url))
        login(page, server.url)
        for path in ("/", "/feed", "/suggestions", "/audit", "/insights"):
            page.goto(server.url + path)
        assert [] == [u for u in urls if not u.startswith(server.url)]


class TestModeFeedSuggestions:
    def test_senior_switches_incident_mode_and_it_is_audited(self, page: Any, server: Served) -> None:
        """The top tier switches the incident mode on and off from the header; both switches are audited."""
        login(page, server.url)
        page.click("header button[name=mode][value=incident]")
        expect(page.locator(".mode-label")).to_contain_text("incident mode")
        on = server.run(server.gate._engine.run(server.gate.store.get_mode()))
        page.click("header button[name=mode][value=off]")
        expect(page.locator("header button[name=mode][value=incident]")).to_be_visible()
        entries = server.run(server.gate._engine.run(server.gate.store.audit_entries()))
        modes = [(e.actor, e.data.get("mode")) for e in entries if e.kind == "mode"][-2:]
        assert ("incident", [("alice", "incident"), ("alice", None)]) == (on, modes)

    def test_junior_cannot_switch_modes(self, page: Any, server: Served) -> None:
        """A junior sees no mode switch, and a forged POST gets 403."""
        login(page, server.url, name="jim")
        token = page.locator("meta[name=csrf-token]").get_attribute("content")
        r = page.context.request.post(f"{server.url}/mode", form={"csrf_token": token, "mode": "incident"})
        assert (0, 403, None) == (page.locator("header button[name=mode]").count(), r.status,
                                  server.run(server.gate._engine.run(server.gate.store.get_mode())))

    def test_flag_a_notified_action(self, page: Any, server: Served, agent: str) -> None:
        """A notified action can be flagged with a note from the feed."""
        t = submit(server, agent, name="feed.scale", args={"replicas": 40})
        login(page, server.url)
        page.goto(server.url + "/feed")
        page.locator(f"form[action='/feed/{t.id}/flag'] input[name=note]").fill("too many replicas")
        page.locator(f"form[action='/feed/{t.id}/flag'] button").click()
        expect(page.locator(".note")).to_contain_text(f"Flagged feed.scale ({t.id})")
        flagged = server.run(server.gate.get_ticket(t.id))
        assert ("flagged", "too many replicas") == (flagged.status, flagged.feedback)

    def test_mark_a_suggestion_done(self, page: Any, server: Served, agent: str) -> None:
        """A suggestion is marked done (executed by hand) from the suggestions page."""
        t = submit(server, agent, name="idea.grant_role", args={"user": "dev", "role": "viewer"})
        login(page, server.url)
        page.goto(server.url + "/suggestions")
        page.locator(f"form[action='/suggestions/{t.id}/resolve'] button[value='1']").click()
        expect(page.locator(".note")).to_contain_text("Marked done")
        done = server.run(server.gate.get_ticket(t.id))
        assert ("done", ("alice",)) == (done.status, done.decided_by)
