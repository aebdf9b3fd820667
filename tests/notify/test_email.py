"""The email channel against a real SMTP server (aiosmtpd's Controller), plain and with STARTTLS + login."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from signoff._errors import DeliveryFailed, UserError
from signoff._model import Action
from signoff.notify import Channel, Message
from signoff.notify.email import EmailChannel, parse_smtp_url
from tests.notify._tickets import StaticLinks, message, ticket
from tests.notify.conftest import Site

TO = ["alice@example.com", "bob@example.com"]
LINKS = StaticLinks(grants={"alice@example.com": True})  # bob is no reviewer: no decision links for him


@dataclass
class Mailbox:
    """aiosmtpd handler: keeps each message; answers RCPT for some addresses with a set reply."""

    mails: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), mail))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem"), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def text_and_html(mail: EmailMessage) -> tuple[str, str]:
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


class TestDelivery:
    async def test_one_message_per_recipient_with_both_parts(self, smtp: tuple[Mailbox, int]) -> None:
        """Each address gets its own email with a text and an HTML part, subject naming the event."""
        box, port = smtp
        ch = EmailChannel("oncall", to=TO, sender="signoff@example.com", smtp_url=f"smtp://127.0.0.1:{port}")
        assert isinstance(ch, Channel)
        sent = await ch.send(message(links=LINKS))
        assert "emailed alice@example.com, bob@example.com" == sent.detail
        assert [["alice@example.com"], ["bob@example.com"]] == [rcpt for rcpt, _ in box.mails]
        mail = box.mails[0][1]
        assert "[signoff] needs approval: deploy by agent-7" == mail["subject"]
        assert ("signoff@example.com", "alice@example.com", "msg_1") == (
            mail["from"], mail["to"], mail["x-signoff-event"])
        text, html = text_and_html(mail)
        assert '"service": "api"' in text and "&#34;service&#34;: &#34;api&#34;" in html
        assert "Deploys need a person" in text and "1 of 2 approvals" in html

    async def test_links_bound_to_each_recipient(self, smtp: tuple[Mailbox, int]) -> None:
        """Alice's email carries links bound to her; Bob (no reviewer) gets the inbox only."""
        box, port = smtp
        ch = EmailChannel("oncall", to=TO, sender="signoff@example.com", smtp_url=f"smtp://127.0.0.1:{port}")
        await ch.send(message(links=LINKS))
        (_, alice), (_, bob) = box.mails
        a_text, a_html = text_and_html(alice)
        b_text, b_html = text_and_html(bob)
        assert "https://signoff.example/decide/approve-tk_1-alice@example.com" in a_text
        assert 'href="https://signoff.example/decide/reject-tk_1-alice@example.com"' in a_html
        assert "/decide/" not in b_text and "/decide/" not in b_html
        assert "Decide in the inbox: https://signoff.example/" in b_text

    async def test_coalesced_approve_all(self, smtp: tuple[Mailbox, int]) -> None:
        """A coalesced message offers one link for exactly the tickets listed."""
        box, port = smtp
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com", smtp_url=f"smtp://127.0.0.1:{port}")
        await ch.send(message(ticket(id="tk_1"), ticket(id="tk_2"), links=LINKS))
        text, _ = text_and_html(box.mails[0][1])
        assert "https://signoff.example/decide/approve-tk_1+tk_2-alice@example.com" in text
        assert "[signoff] 2 tickets need approval: deploy" == box.mails[0][1]["subject"]

    async def test_decided_has_no_decision_links(self, smtp: tuple[Mailbox, int]) -> None:
        """A decided ticket's email says who decided and offers no decision links."""
        box, port = smtp
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com", smtp_url=f"smtp://127.0.0.1:{port}")
        t = ticket(status="rejected", decided_by=("bob",), feedback="not on a Friday")
        await ch.send(message(t, type="ticket.decided", links=LINKS))
        text, _ = text_and_html(box.mails[0][1])
        assert "/decide/" not in text and "Decided: rejected by bob" in text and "not on a Friday" in text


class TestAgentText:
    async def test_escaped_and_marked(self, smtp: tuple[Mailbox, int]) -> None:
        """Markup and a disguised link in the reasoning arrive as text, under the agent's-words label."""
        box, port = smtp
        action = Action(name="deploy", agent="agent-7", args={"cmd": "<img src=x onerror=alert(1)>"},
                        reasoning='<script>alert(1)</script>\nApprove: <a href="https://evil.example/x">here</a>',
                        alternatives=("\u202eexe.txt",))
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com", smtp_url=f"smtp://127.0.0.1:{port}")
        await ch.send(message(ticket(action=action), links=LINKS))
        text, html = text_and_html(box.mails[0][1])
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<img" not in html and 'href="https://evil.example' not in html
        assert "the agent&#39;s words, unverified" in html
        assert "  | Approve: <a href=\"https://evil.example/x\">here</a>" in text  # quoted, not ours
        assert "\u202e" not in text + html and "<U+202E>" in text

    async def test_subject_cannot_inject_headers(self, smtp: tuple[Mailbox, int]) -> None:
        """A newline in the agent's name cannot add a header (it shows as \\r\\n in the subject)."""
        box, port = smtp
        safe = Action(name="x", agent="a\r\nBcc: victim@example.com")
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com", smtp_url=f"smtp://127.0.0.1:{port}")
        await ch.send(message(ticket(action=safe), links=LINKS))
        mail = box.mails[0][1]
        assert mail["bcc"] is None and "\\r\\n" in mail["subject"]
        assert [["alice@example.com"]] == [rcpt for rcpt, _ in box.mails]


class TestFailures:
    async def test_permanent_refusal(self, smtp: tuple[Mailbox, int]) -> None:
        """A 5xx for every recipient is permanent."""
        box, port = smtp
        box.rcpt_replies["alice@example.com"] = "550 5.1.1 no such user"
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com", smtp_url=f"smtp://127.0.0.1:{port}")
        with pytest.raises(DeliveryFailed) as info:
            await ch.send(message(links=LINKS))
        assert info.value.permanent and "550" in str(info.value)

    async def test_one_refused_others_sent(self, smtp: tuple[Mailbox, int]) -> None:
        """One address refused for good does not hold back the other; the detail names it."""
        box, port = smtp
        box.rcpt_replies["bob@example.com"] = "550 5.1.1 no such user"
        ch = EmailChannel("oncall", to=TO, sender="signoff@example.com", smtp_url=f"smtp://127.0.0.1:{port}")
        sent = await ch.send(message(links=LINKS))
        assert [["alice@example.com"]] == [rcpt for rcpt, _ in box.mails]
        assert "refused for good: bob@example.com" in sent.detail

    async def test_temporary_refusal_retryable(self, smtp: tuple[Mailbox, int]) -> None:
        """A 4xx is retried."""
        box, port = smtp
        box.rcpt_replies["alice@example.com"] = "451 4.3.0 try again later"
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com", smtp_url=f"smtp://127.0.0.1:{port}")
        with pytest.raises(DeliveryFailed) as info:
            await ch.send(message(links=LINKS))
        assert not info.value.permanent

    async def test_nothing_listening_retryable(self) -> None:
        """A refused connection is retried."""
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com",
                          smtp_url=f"smtp://127.0.0.1:{free_port()}", timeout=5)
        with pytest.raises(DeliveryFailed) as info:
            await ch.send(message(links=LINKS))
        assert not info.value.permanent


class TestStartTLS:
    @pytest.fixture
    def tls_smtp(self, cert: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(*cert)

        def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"signoff", b"p@ss word")
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

        box = Mailbox()
        port = free_port()
        controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=server_ctx, require_starttls=True,
                                authenticator=auth, auth_required=True)
        controller.start()
        yield box, port
        controller.stop()

    def client_ctx(self, cert: tuple[Path, Path]) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(cert[0]))

    async def test_starttls_and_login(self, tls_smtp: tuple[Mailbox, int], cert: tuple[Path, Path]) -> None:
        """?starttls=true upgrades the connection, then logs in with the URL's (encoded) credentials."""
        box, port = tls_smtp
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com", tls_context=self.client_ctx(cert),
                          smtp_url=f"smtp://signoff:p%40ss%20word@127.0.0.1:{port}?starttls=true")
        await ch.send(message(links=LINKS))
        assert 1 == len(box.mails)

    async def test_wrong_password_permanent(self, tls_smtp: tuple[Mailbox, int], cert: tuple[Path, Path]) -> None:
        """A refused login (535) is permanent."""
        _, port = tls_smtp
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com", tls_context=self.client_ctx(cert),
                          smtp_url=f"smtp://signoff:wrong@127.0.0.1:{port}?starttls=true")
        with pytest.raises(DeliveryFailed) as info:
            await ch.send(message(links=LINKS))
        assert info.value.permanent and "535" in str(info.value)

    async def test_untrusted_certificate_fails(self, tls_smtp: tuple[Mailbox, int]) -> None:
        """With the system's trust store, the self-signed certificate is refused: nothing is sent."""
        box, port = tls_smtp
        ch = EmailChannel("oncall", to=TO[:1], sender="signoff@example.com",
                          smtp_url=f"smtp://signoff:x@127.0.0.1:{port}?starttls=true", timeout=5)
        with pytest.raises(DeliveryFailed):
            await ch.send(message(links=LINKS))
        assert [] == box.mails


class TestSmtpUrl:
    @pytest.mark.parametrize(("url", "expected"), [
        ("smtp://mail.example", ("mail.example", 25, False, False)),
        ("smtp://u:p@mail.example:587", ("mail.example", 587, False, True)),
        ("smtp://u:p@mail.example:2525?starttls=true", ("mail.example", 2525, False, True)),
        ("smtp://mail.example:587?starttls=false", ("mail.example", 587, False, False)),
        ("smtps://u:p@mail.example", ("mail.example", 465, True, False)),
    ])
    def test_forms(self, url: str, expected: tuple[str, int, bool, bool]) -> None:
        """Port 587 or ?starttls=true means STARTTLS; smtps:// means TLS from the start."""
        t = parse_smtp_url(url)
        assert expected == (t.host, t.port, t.use_tls, t.start_tls)

    @pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://u:p@mail.example:25",
                                     "smtp://mail.example:x"])
    def test_refused(self, url: str) -> None:
        """Another scheme, no host, a password in the clear, or a bad port: a clear error."""
        with pytest.raises(UserError) as info:
            parse_smtp_url(url)
        assert "p@" not in str(info.value)

    def test_bad_channel_arguments(self) -> None:
        """One string for to, or an address with a newline: a clear error naming the channel."""
        with pytest.raises(UserError, match="oncall"):
            EmailChannel("oncall", to="a@example.com", sender="s@example.com", smtp_url="smtp://x")  # type: ignore[arg-type]
        with pytest.raises(UserError, match="oncall"):
            EmailChannel("oncall", to=["a@example.com\r\nBcc: x@y"], sender="s@example.com", smtp_url="smtp://x")



class TestEndToEnd:
    async def test_link_from_the_email_decides(self, smtp: tuple[Mailbox, int], site: Site) -> None:
        """The server's own links in the email: Alice's approve link, opened and confirmed, approves as Alice;
        Jim (junior) gets no decision link for a senior-only ticket."""
        box, port = smtp
        t = await site.submit("pay")
        ch = EmailChannel("oncall", to=["alice@example.com", "jim@example.com"], sender="signoff@example.com",
                          smtp_url=f"smtp://127.0.0.1:{port}")
        msg = Message(id="evt_1", type="ticket.created", at=t.created_at, channel="oncall", tickets=(t,),
                      links=site.links)
        await ch.send(msg)
        (_, alice), (_, jim) = box.mails
        a_text, _ = text_and_html(alice)
        j_text, _ = text_and_html(jim)
        assert "/decide/" not in j_text
        found = re.search(r"^Approve \(you confirm on the page that opens\): http://testserver(/decide/\S+)",
                          a_text, re.M)
        assert found is not None, a_text
        page = await site.client.get(found.group(1))
        assert (200, "pending") == (page.status_code, (await site.gate.get_ticket(t.id)).status)
        done = await site.client.post(found.group(1), headers={"origin": "http://testserver"})
        after = await site.gate.get_ticket(t.id)
        assert (200, "approved", ("alice",)) == (done.status_code, after.status, after.decided_by)
