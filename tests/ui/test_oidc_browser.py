"""Single sign-on end to end: headless Chromium, `signoff serve --oidc-issuer`, and a real OpenID Provider.

The provider is panva's npm ``oidc-provider`` (tests/ui/oidc_provider/provider.mjs, installed by
scripts/test-setup.sh) on ``localhost``, the inbox on ``127.0.0.1``: two sites, so the browser
treats the provider's redirect back as cross-site, as it would in production. A login name's
prefix decides its groups there (``senior-*``, ``junior-*``, anything else: ``contractors``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import pytest

from signoff import Gate
from tests.ui.conftest import PASSWORD, POLICY, Served, _free_port

pytestmark = pytest.mark.browser

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
OIDC_POLICY = POLICY + """\
oidc:
  claim: groups
  scopes: [openid, profile, email, groups]
  tiers:
    senior: [signoff-seniors]
    junior: [signoff-reviewers]
"""


@pytest.fixture(scope="module")
def provider_ready() -> Path:
    """The provider's package, installed (npm ci) when missing; skipped only without node and npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm are not installed: the OIDC tests run a real provider from npm (oidc-provider); "
                    "scripts/test-setup.sh installs it where npm is available")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=PROVIDER_DIR, check=True,
                       timeout=300)
    return Path(node)


@pytest.fixture(scope="module")
def sso(provider_ready: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSO]:
    tmp = tmp_path_factory.mktemp("oidc")
    setup = start_sso(tmp, provider_ready)
    yield setup
    setup.stop()


class SSO:
    """A provider on localhost and `signoff serve --oidc-issuer` on 127.0.0.1 using it."""

    def __init__(self, server: Served, issuer: str, provider: subprocess.Popen[bytes], provider_log: Path) -> None:
        self.server = server
        self.url = server.url
        self.issuer = issuer
        self.provider = provider
        self.provider_log = provider_log
        self.command: list[str] = []
        """How the server was started (less its --port), to start another like it on the same store."""
        self.env: dict[str, str] = {}

    def next_id_token(self, **override: Any) -> None:
        """Make the provider's next ID token carry ``aud=...`` or ``expired=True`` (signed with its real key)."""
        req = urllib.request.Request(self.issuer + "/__test__/next-id-token", data=json.dumps(override).encode(),
                                     headers={"content-type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200

    def userinfo_calls(self) -> int:
        with urllib.request.urlopen(self.issuer + "/__test__/counts", timeout=30) as r:
            return int(json.loads(r.read())["userinfo"])

    def reviewer(self, name: str) -> Any:
        return self.server.run(self.server.gate.get_reviewer(name))

    def stop(self) -> None:
        self.server.stop()
        self.provider.terminate()
        try:
            self.provider.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.provider.kill()
            self.provider.wait(timeout=5)


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer within 60 s:\n{log.read_text()}")
        time.sleep(0.1)


def start_sso(tmp: Path, node: Path, *, extra: tuple[str, ...] = (), claims_in_id_token: bool = False) -> SSO:
    port, provider_port = _free_port(), _free_port()
    issuer = f"http://localhost:{provider_port}"
    plog = tmp / "provider.log"
    with plog.open("wb") as out:
        provider = subprocess.Popen([str(node), str(PROVIDER_DIR / "provider.mjs"), issuer,
                                     f"http://127.0.0.1:{port}/login/oidc/callback"],
                                    stdout=out, stderr=subprocess.STDOUT, cwd=PROVIDER_DIR,
                                    env={**os.environ, "CLAIMS_IN_ID_TOKEN": "1" if claims_in_id_token else "0"})
    try:
        _wait_for(issuer + "/.well-known/openid-configuration", provider, plog, "the OIDC provider")
        policy = tmp / "policy.yaml"
        policy.write_text(OIDC_POLICY)
        db = f"sqlite:///{tmp}/inbox.db"
        gate = Gate.open(policy=policy, store=db, sweep=False)
        gate.add_reviewer("senior-local", tier="senior", password=PASSWORD)
        log = tmp / "server.log"
        env = {**os.environ, "SIGNOFF_SECRET_KEY": secrets.token_hex(16), "SIGNOFF_OIDC_CLIENT_ID": "signoff",
               "SIGNOFF_OIDC_CLIENT_SECRET": "signoff-test-secret"}
        command = [str(Path(sys.executable).parent / "signoff"), "serve", "--policy", str(policy), "--db", db,
                   "--host", "127.0.0.1", "--oidc-issuer", issuer, *extra]
        with log.open("wb") as out:
            proc = subprocess.Popen([*command, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
        server = Served(url=f"http://127.0.0.1:{port}", gate=gate, proc=proc, log=log)
        try:
            _wait_for(server.url + "/login", proc, log, "signoff serve")
        except BaseException:
            server.stop()
            raise
    except BaseException:
        provider.kill()
        provider.wait(timeout=5)
        raise
    setup = SSO(server, issuer, provider, plog)
    setup.command, setup.env = command, env
    return setup


def at_provider(page: Any, sso: SSO, name: str, *, consent: bool = True) -> None:
    """From the inbox's login page through the provider's login and consent forms."""
    page.goto(sso.url + "/login")
    page.click("a.sso")
    page.wait_for_url(lambda u: u.startswith(sso.issuer))
    page.fill("input[name=login]", name)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.wait_for_selector("input[name=prompt][value=consent]", state="attached")
    if consent:
        page.click("button[type=submit]")


def refused(page: Any, sso: SSO) -> str:
    page.wait_for_url(lambda u: u.startswith(sso.url + "/login/oidc/callback"))
    return str(page.inner_text("main"))


def session_cookie(context: Any) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == "signoff_session"), None)


class TestSingleSignOn:
    def test_login_page_offers_single_sign_on_beside_passwords(self, page: Any, sso: SSO, tmp_path: Path) -> None:
        """The login page has the single sign-on button (naming the provider) and the password form."""
        page.goto(sso.url + "/login")
        page.screenshot(path=str(tmp_path / "login-sso.png"))
        assert (True, sso.issuer, True) == (page.is_visible("a.sso"), page.inner_text(".sso-where"),
                                             page.is_visible("input[name=password]"))

    def test_first_login_creates_the_reviewer_with_the_mapped_tier(self, page: Any, context: Any, sso: SSO) -> None:
        """A senior-group member lands in the inbox as a senior reviewer, created at that first login."""
        name = f"senior-{secrets.token_hex(3)}"
        assert sso.reviewer(name) is None
        calls = sso.userinfo_calls()
        at_provider(page, sso, name)
        page.wait_for_url(sso.url + "/")
        who = page.inner_text("header .who")
        reviewer = sso.reviewer(name)
        assert (f"{name} · senior", "senior", None) == (who, reviewer.tier, reviewer.password_hash)
        assert calls + 1 == sso.userinfo_calls()  # this provider gives the claims at userinfo only

    def test_a_changed_mapping_updates_the_tier_and_logout_ends_the_session(
            self, page: Any, context: Any, sso: SSO) -> None:
        """A reviewer stored as junior whose groups now earn senior is senior after login; logging out
        revokes the session like a password login's (the old cookie, sent again, is refused)."""
        name = f"senior-{secrets.token_hex(3)}"
        sso.server.gate.add_reviewer(name, tier="junior")
        at_provider(page, sso, name)
        page.wait_for_url(sso.url + "/")
        tier = sso.reviewer(name).tier
        cookie = session_cookie(context)
        page.click("form[action='/logout'] button")
        page.wait_for_url(lambda u: "/login" in u)
        replayed = httpx.get(sso.url + "/", cookies={"signoff_session": str(cookie)}, follow_redirects=False)
        assert ("senior", 303, True) == (tier, replayed.status_code, "/login" in replayed.headers["location"])

    def test_junior_group_gets_the_junior_tier(self, page: Any, sso: SSO) -> None:
        """Another group maps to another tier."""
        name = f"junior-{secrets.token_hex(3)}"
        at_provider(page, sso, name)
        page.wait_for_url(sso.url + "/")
        assert f"{name} · junior" == page.inner_text("header .who")

    def test_a_group_that_maps_to_no_tier_is_refused(self, page: Any, context: Any, sso: SSO) -> None:
        """Someone whose groups earn no tier sees why, and no reviewer or session is created."""
        name = f"outsider-{secrets.token_hex(3)}"
        at_provider(page, sso, name)
        text = refused(page, sso)
        assert "No reviewer tier for your groups" in text and "contractors" in text
        assert (None, None) == (sso.reviewer(name), session_cookie(context))

    def test_an_id_token_for_another_audience_is_refused(self, page: Any, context: Any, sso: SSO) -> None:
        """An ID token whose aud is another client's is refused, naming the audience."""
        name = f"senior-{secrets.token_hex(3)}"
        sso.next_id_token(aud="another-app")
        at_provider(page, sso, name)
        text = refused(page, sso)
        assert "not valid" in text and "audience" in text
        assert (None, None) == (sso.reviewer(name), session_cookie(context))

    def test_an_expired_id_token_is_refused(self, page: Any, context: Any, sso: SSO) -> None:
        """An ID token whose exp is an hour past is refused as expired."""
        name = f"senior-{secrets.token_hex(3)}"
        sso.next_id_token(expired=True)
        at_provider(page, sso, name)
        text = refused(page, sso)
        assert "expired" in text
        assert (None, None) == (sso.reviewer(name), session_cookie(context))

    def test_an_id_token_signed_by_a_key_not_in_the_jwks_is_refused(self, page: Any, context: Any,
                                                                      sso: SSO) -> None:
        """A token signed by another key under the provider's kid fails the signature check against the JWKS."""
        name = f"senior-{secrets.token_hex(3)}"
        sso.next_id_token(foreign_key=True)
        at_provider(page, sso, name)
        text = refused(page, sso)
        assert "signature does not verify" in text
        assert (None, None) == (sso.reviewer(name), session_cookie(context))

    def test_cancelling_at_the_provider_says_the_provider_refused(self, page: Any, context: Any, sso: SSO) -> None:
        """The person presses Cancel at the provider: its error comes back and is shown as the provider's words."""
        page.goto(sso.url + "/login")
        page.click("a.sso")
        page.wait_for_url(lambda u: u.startswith(sso.issuer))
        page.click("text=[ Cancel ]")
        text = refused(page, sso)
        assert "Login refused by the identity provider" in text and "access_denied" in text
        assert session_cookie(context) is None

    def test_a_crafted_error_link_shows_none_of_its_words(self, page: Any, sso: SSO) -> None:
        """An error answer that no login in this browser asked for is a state mismatch: a link made elsewhere
        cannot put its text on this site's page."""
        page.goto(sso.url + "/login/oidc/callback?error=access_denied&state=forged"
                  "&error_description=Call+0800+123+to+unlock+your+account")
        text = str(page.inner_text("main"))
        assert ("state mismatch" in text, "0800" in text) == (True, False)

    def test_an_answer_for_another_browsers_login_is_refused(self, browser: Any, sso: SSO) -> None:
        """The provider's answer to a login started in one browser, opened in another that started its
        own login, fails the state check: login CSRF and stolen codes get nowhere."""
        victim_ctx, attacker_ctx = browser.new_context(), browser.new_context()
        try:
            attacker = attacker_ctx.new_page()
            name = f"senior-{secrets.token_hex(3)}"
            at_provider(attacker, sso, name, consent=False)
            # The consent form is sent outside the page, so the provider's answer (a redirect to the inbox
            # with a real code and the attacker's state) is kept, never followed: its code is not redeemed.
            action = urljoin(attacker.url, attacker.get_attribute("form:has(input[value=consent])", "action"))
            sent = attacker_ctx.request.post(action, form={"prompt": "consent"}, max_redirects=0)
            resumed = attacker_ctx.request.get(urljoin(action, sent.headers["location"]), max_redirects=0)
            answer = urljoin(sso.issuer, resumed.headers["location"])
            assert answer.startswith(sso.url + "/login/oidc/callback?code=")
            victim = victim_ctx.new_page()
            victim.goto(sso.url + "/login")
            victim.click("a.sso")  # the victim's own login in progress: a flow cookie of its own
            victim.wait_for_url(lambda u: u.startswith(sso.issuer))
            victim.goto(answer)
            text = str(victim.inner_text("main"))
            assert "state mismatch" in text
            assert (None, None) == (sso.reviewer(name), session_cookie(victim_ctx))
        finally:
            victim_ctx.close()
            attacker_ctx.close()

    def test_an_answer_naming_another_issuer_is_refused(self, page: Any, context: Any, sso: SSO) -> None:
        """The provider's real answer to this browser's login, its iss parameter changed (RFC 9207 mix-up),
        is refused before its code is redeemed."""
        name = f"senior-{secrets.token_hex(3)}"
        at_provider(page, sso, name, consent=False)
        action = urljoin(page.url, page.get_attribute("form:has(input[value=consent])", "action"))
        sent = context.request.post(action, form={"prompt": "consent"}, max_redirects=0)
        resumed = context.request.get(urljoin(action, sent.headers["location"]), max_redirects=0)
        answer = urljoin(sso.issuer, resumed.headers["location"])
        assert f"iss={quote(sso.issuer, safe='')}" in answer
        page.goto(answer.replace(f"iss={quote(sso.issuer, safe='')}", "iss=https%3A%2F%2Fevil.example"))
        text = str(page.inner_text("main"))
        assert "answer from another issuer" in text and "evil.example" in text
        assert (None, None) == (sso.reviewer(name), session_cookie(context))

    def test_a_login_started_on_one_server_finishes_on_another(self, page: Any, context: Any, sso: SSO,
                                                                tmp_path: Path) -> None:
        """Two servers behind one public URL, one secret key, one store: the provider's answer to a login
        started on the first is finished by the second (the state is in the browser, not in a server)."""
        port = _free_port()
        log = tmp_path / "second.log"
        with log.open("wb") as out:
            second = subprocess.Popen([*sso.command, "--port", str(port), "--public-url", sso.url],
                                      stdout=out, stderr=subprocess.STDOUT, env=sso.env)
        try:
            _wait_for(f"http://127.0.0.1:{port}/login", second, log, "the second signoff serve")
            name = f"senior-{secrets.token_hex(3)}"
            at_provider(page, sso, name, consent=False)
            action = urljoin(page.url, page.get_attribute("form:has(input[value=consent])", "action"))
            sent = context.request.post(action, form={"prompt": "consent"}, max_redirects=0)
            resumed = context.request.get(urljoin(action, sent.headers["location"]), max_redirects=0)
            answer = urljoin(sso.issuer, resumed.headers["location"])
            page.goto(answer.replace(sso.url, f"http://127.0.0.1:{port}"))
            page.wait_for_url(f"http://127.0.0.1:{port}/")
            on_second = page.inner_text("header .who")
            page.goto(sso.url + "/")  # the session is good on the first server too
            assert (f"{name} · senior",) * 2 == (on_second, page.inner_text("header .who"))
        finally:
            second.terminate()
            second.wait(timeout=15)

    def test_a_password_account_is_not_taken_over(self, page: Any, context: Any, sso: SSO) -> None:
        """A provider user with the name of a local password account is refused; the account is unchanged."""
        at_provider(page, sso, "senior-local")
        text = refused(page, sso)
        assert "logs in with a password" in text
        assert session_cookie(context) is None


def test_password_login_can_be_switched_off(browser: Any, provider_ready: Path,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    """With --no-password-login the page offers single sign-on only, a posted password is refused, and
    single sign-on still works."""
    setup = start_sso(tmp_path_factory.mktemp("oidc-only"), provider_ready, extra=("--no-password-login",))
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(setup.url + "/login")
        shown = (page.is_visible("a.sso"), page.locator("input[name=password]").count())
        req = urllib.request.Request(setup.url + "/login", data=b"name=senior-local&password=x", method="POST",
                                     headers={"content-type": "application/x-www-form-urlencoded"})
        with pytest.raises(urllib.error.HTTPError) as posted:
            urllib.request.urlopen(req, timeout=30)
        name = f"senior-{secrets.token_hex(3)}"
        at_provider(page, setup, name)
        page.wait_for_url(setup.url + "/")
        assert ((True, 0), 403, f"{name} · senior") == (shown, posted.value.code, page.inner_text("header .who"))
    finally:
        ctx.close()
        setup.stop()


def _inbox_app(tmp_path: Path, issuer: str) -> Any:
    """The server's app in this process, pointed at ``issuer`` (the provider is only asked at login)."""
    from signoff.server import ServerSettings, create_app

    policy = tmp_path / "policy.yaml"
    policy.write_text(OIDC_POLICY)
    gate = Gate.open(policy=policy, store=f"sqlite:///{tmp_path}/app.db", sweep=False)
    settings = ServerSettings(public_url="http://127.0.0.1:9", oidc_issuer=issuer, oidc_client_id="signoff",
                              oidc_client_secret="signoff-test-secret")
    return gate, create_app(gate, settings=settings)


async def _start_login(app: Any) -> Any:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9") as client:
        return await client.get("/login/oidc")


class TestProviderTrouble:
    def test_a_discovery_document_naming_another_issuer_is_refused(self, sso: SSO, tmp_path: Path) -> None:
        """The provider calls itself http://localhost:P; configured as http://127.0.0.1:P, signoff refuses to
        send anyone there (OIDC Discovery: the issuer must match exactly)."""
        gate, app = _inbox_app(tmp_path, sso.issuer.replace("localhost", "127.0.0.1"))
        try:
            r = sso.server.run(_start_login(app))
        finally:
            gate.close()
        assert (502, True) == (r.status_code, "calls itself" in r.text and "must match" in r.text)

    def test_an_unreachable_provider_gets_a_page_not_a_crash(self, sso: SSO, tmp_path: Path) -> None:
        """Nothing listens at the issuer: the login page says the provider could not be used."""
        gate, app = _inbox_app(tmp_path, f"http://127.0.0.1:{_free_port()}")
        try:
            r = sso.server.run(_start_login(app))
        finally:
            gate.close()
        assert (502, True) == (r.status_code, "Identity provider unavailable" in r.text)


def test_claims_in_the_id_token_need_no_userinfo_call(browser: Any, provider_ready: Path,
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    """A provider that puts the name and groups in the ID token: the login uses them and never asks the
    userinfo endpoint (the default provider above only answers there, which the other tests use)."""
    setup = start_sso(tmp_path_factory.mktemp("oidc-id-token"), provider_ready, claims_in_id_token=True)
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        name = f"junior-{secrets.token_hex(3)}"
        at_provider(page, setup, name)
        page.wait_for_url(setup.url + "/")
        assert (f"{name} · junior", 0) == (page.inner_text("header .who"), setup.userinfo_calls())
    finally:
        ctx.close()
        setup.stop()
