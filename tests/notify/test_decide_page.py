"""GET /decide/{token} confirms and never decides; its POST decides once, as the bound reviewer, through the Gate."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import subprocess
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from signoff import Action, Gate
from signoff._model import utcnow
from signoff.notify._links import GateLinks, sign_decision
from tests.notify.conftest import POLICY, REVIEWERS, Site
from tests.server.conftest import free_port, signoff_exe, stop_process, wait_until_up

CHROMIUM = "/usr/bin/chromium"
T = TypeVar("T")


async def link(site: Site, ids: list[str], email: str = "alice@example.com", verdict: str = "approve") -> str:
    url = await site.links.decide(ids, email, verdict)  # type: ignore[arg-type]
    assert url is not None
    return url.removeprefix("http://testserver")


def forged(site: Site, ids: list[str], reviewer: str, email: str, **kw: object) -> str:
    """A correctly signed link the server would not have handed out (to prove the Gate still checks)."""
    kw.setdefault("expires_at", utcnow() + timedelta(hours=1))
    token = sign_decision(site.settings.secret_key, ticket_ids=ids, reviewer=reviewer, email=email,
                          verdict=kw.pop("verdict", "approve"), **kw)  # type: ignore[arg-type]
    return f"/decide/{token}"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Await from a sync test (Playwright's sync API holds a loop in this thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


def same_site() -> dict[str, str]:
    return {"origin": "http://testserver", "sec-fetch-site": "same-origin"}


class TestConfirmationPage:
    async def test_get_never_decides(self, site: Site) -> None:
        """Opening the link twice (a mail scanner, then the reviewer) shows the page and decides nothing."""
        t = await site.submit(args={"service": "api"}, reasoning="Tests pass.")
        path = await link(site, [t.id])
        first, second = await site.client.get(path), await site.client.get(path)
        assert (200, 200) == (first.status_code, second.status_code)
        assert "pending" == (await site.gate.get_ticket(t.id)).status
        assert f'<form method="post" action="{path}"' in first.text
        assert "Approve 1 ticket as" in first.text and "Tests pass." in first.text
        assert "same-origin" == first.headers["referrer-policy"]  # the token never leaves for another site

    async def test_agent_words_escaped_and_marked(self, site: Site) -> None:
        """The agent's reasoning and arguments arrive escaped and under the agent's-words label."""
        t = await site.submit(args={"x": "<img src=x onerror=alert(1)>"},
                              reasoning='<script>alert(1)</script> <a href="https://evil.example">safe</a>')
        page = (await site.client.get(await link(site, [t.id]))).text
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
        assert '<a href="https://evil.example">' not in page and "<img src=x" not in page
        assert "The agent's words" in page and "unverified" in page


class TestDeciding:
    async def test_post_decides_once(self, site: Site) -> None:
        """The POST approves as the link's reviewer; the same link is refused afterwards, GET and POST."""
        t = await site.submit()
        path = await link(site, [t.id])
        r = await site.client.post(path, headers=same_site())
        after = await site.gate.get_ticket(t.id)
        assert (200, "approved", ("alice",)) == (r.status_code, after.status, after.decided_by)
        entry = [e for e in await site.gate.audit_entries() if e.ticket_id == t.id][-1]
        assert ("approved", "email") == (entry.kind, entry.data.get("via"))
        again, look = await site.client.post(path, headers=same_site()), await site.client.get(path)
        assert (410, 410) == (again.status_code, look.status_code)
        assert "already used" in again.text

    async def test_reject_with_feedback(self, site: Site) -> None:
        """A reject link's POST rejects with the feedback typed on the page."""
        t = await site.submit()
        r = await site.client.post(await link(site, [t.id], verdict="reject"), data={"feedback": "use staging"},
                                   headers=same_site())
        after = await site.gate.get_ticket(t.id)
        assert (200, "rejected", "use staging") == (r.status_code, after.status, after.feedback)

    async def test_several_tickets_exactly(self, site: Site) -> None:
        """A link for two tickets decides those two and no other."""
        a, b, c = await site.submit(), await site.submit(), await site.submit()
        r = await site.client.post(await link(site, [a.id, b.id]), headers=same_site())
        statuses = [(await site.gate.get_ticket(x.id)).status for x in (a, b, c)]
        assert (200, ["approved", "approved", "pending"]) == (r.status_code, statuses)

    async def test_four_eyes_counts_one(self, site: Site) -> None:
        """On a ticket needing two approvers the link records one approval."""
        t = await site.submit("drop_table")
        r = await site.client.post(await link(site, [t.id]), headers=same_site())
        after = await site.gate.get_ticket(t.id)
        assert (200, "pending", ("alice",)) == (r.status_code, after.status, after.approvals)
        assert "1 of 2 approvals so far" in r.text


class TestRefusals:
    async def test_wrong_tier_refused_by_the_gate(self, site: Site) -> None:
        """A junior's (validly signed) link to a senior-only ticket: the page says so, the POST is refused."""
        t = await site.submit("pay")
        path = forged(site, [t.id], "jim", "jim@example.com")
        page, post = await site.client.get(path), await site.client.post(path, headers=same_site())
        assert (403, 403) == (page.status_code, post.status_code)
        assert "<form method=\"post\"" not in page.text
        assert "pending" == (await site.gate.get_ticket(t.id)).status

    async def test_own_request_refused(self, site: Site) -> None:
        """The agent's own reviewer account cannot approve its request through a link."""
        t = await site.submit()
        post = await site.client.post(forged(site, [t.id], "agent-7", "agent7@example.com"), headers=same_site())
        assert 403 == post.status_code
        assert "pending" == (await site.gate.get_ticket(t.id)).status

    async def test_tampered(self, site: Site) -> None:
        """A changed token shows a clear 400 page, no stack trace, and decides nothing."""
        t = await site.submit()
        path = await link(site, [t.id])
        bad = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
        page, post = await site.client.get(bad), await site.client.post(bad, headers=same_site())
        assert (400, 400) == (page.status_code, post.status_code)
        assert "Invalid link" in page.text and "Traceback" not in page.text
        assert "pending" == (await site.gate.get_ticket(t.id)).status

    async def test_expired(self, site: Site) -> None:
        """An expired link: 410 and a page that says so."""
        t = await site.submit()
        path = forged(site, [t.id], "alice", "alice@example.com", expires_at=utcnow() - timedelta(seconds=1))
        page = await site.client.get(path)
        assert (410, True) == (page.status_code, "expired" in page.text)

    async def test_already_decided(self, site: Site) -> None:
        """A ticket decided elsewhere first: the page says by whom (409) and the POST changes nothing."""
        t = await site.submit()
        path = await link(site, [t.id])
        await site.gate.reject(t.id, reviewer="bob", feedback="no")
        page, post = await site.client.get(path), await site.client.post(path, headers=same_site())
        assert (409, 409) == (page.status_code, post.status_code)
        assert "already rejected by bob" in page.text
        assert ("rejected", ("bob",)) == ((await site.gate.get_ticket(t.id)).status,
                                          (await site.gate.get_ticket(t.id)).decided_by)

    async def test_cross_site_post(self, site: Site) -> None:
        """A POST another site makes the browser send is refused before anything is decided."""
        t = await site.submit()
        path = await link(site, [t.id])
        r1 = await site.client.post(path, headers={"origin": "https://evil.example"})
        r2 = await site.client.post(path, headers={"sec-fetch-site": "cross-site"})
        assert (403, 403) == (r1.status_code, r2.status_code)
        assert "pending" == (await site.gate.get_ticket(t.id)).status
        ok = await site.client.post(path, headers=same_site())  # the link still works from its own page
        assert 200 == ok.status_code

    async def test_address_changed(self, site: Site) -> None:
        """A link to an address the reviewer no longer has is refused."""
        from signoff.store._records import Reviewer

        t = await site.submit()
        path = await link(site, [t.id])
        await site.gate._engine.run(site.gate.store.put_reviewer(
            Reviewer(name="alice", tier="senior", email="alice@new.example")))
        assert 403 == (await site.client.get(path)).status_code



@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Gate, bytes]]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (scripts/test-setup.sh installs it)")
    tmp = tmp_path_factory.mktemp("decide")
    (tmp / "policy.yaml").write_text(POLICY)
    db = f"sqlite:///{tmp}/decide.db"
    gate = Gate.open(policy=tmp / "policy.yaml", store=db, sweep=False)
    for r in REVIEWERS:
        gate._engine.run_sync(gate.store.put_reviewer(r))
    secret = secrets.token_hex(16)
    port = free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([signoff_exe(), "serve", "--policy", str(tmp / "policy.yaml"), "--db", db,
                                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "SIGNOFF_SECRET_KEY": secret})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc, log)
        # The key `signoff serve` derives from SIGNOFF_SECRET_KEY (cli/_serve.py).
        yield url, gate, hashlib.sha256(secret.encode()).digest()
    finally:
        stop_process(proc)
        gate.close()


class TestInABrowser:
    """A real `signoff serve` and headless Chromium: what a reviewer clicking the email's link does."""

    def test_confirm_then_decide(self, served: tuple[str, Gate, bytes]) -> None:
        """Opening and reloading the link decides nothing; the button approves; the link is then used up."""
        from playwright.sync_api import sync_playwright

        url, gate, key = served
        t = gate.submit_sync(Action(name="deploy", agent="agent-7", args={"service": "api"},
                                    reasoning="<b>trust me</b>"))
        links = GateLinks(public_url=url, secret=key, gate=gate)
        link = run(links.decide([t.id], "alice@example.com", "approve"))
        assert link is not None
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page()
                first = page.goto(link)
                page.reload()
                assert first is not None and 200 == first.status
                assert "pending" == run(gate.get_ticket(t.id)).status
                assert "<b>trust me</b>" in page.inner_text(".agent-words")
                page.click("button.approve")
                page.wait_for_selector("text=This link is now used up")
                again = page.goto(link)
                assert again is not None and 410 == again.status
            finally:
                browser.close()
        after = gate.get_ticket_sync(t.id)
        assert ("approved", ("alice",)) == (after.status, after.decided_by)
