"""Decision link tokens: signed, bound, expiring; GateLinks gives them only to who may decide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from signoff._model import utcnow
from signoff.notify._links import InvalidLink, link_expiry, sign_decision, used_key, verify_decision
from tests.notify._tickets import NOW, ticket
from tests.notify.conftest import Site

SECRET = b"s" * 32


def token(**kw: object) -> str:
    args: dict[str, object] = dict(ticket_ids=["tk_1"], reviewer="alice", email="alice@example.com",
                                   verdict="approve", expires_at=utcnow() + timedelta(hours=1))
    args.update(kw)
    return sign_decision(SECRET, **args)  # type: ignore[arg-type]


class TestTokens:
    def test_round_trip(self) -> None:
        """A token carries its tickets, reviewer, address and verdict back."""
        g = verify_decision(SECRET, token(ticket_ids=["tk_1", "tk_2"], verdict="reject"))
        assert (("tk_1", "tk_2"), "alice", "alice@example.com", "reject") == (
            g.ticket_ids, g.reviewer, g.email, g.verdict)

    def test_each_token_is_unique(self) -> None:
        """Two links for the same grant differ, so using one does not use the other."""
        a, b = token(), token()
        assert a != b and used_key(a) != used_key(b)

    @pytest.mark.parametrize("change", [lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),
                                        lambda t: "x" + t[1:], lambda t: t.replace(".", "", 1)])
    def test_tampered(self, change: object) -> None:
        """Any change to a token makes it invalid."""
        with pytest.raises(InvalidLink) as info:
            verify_decision(SECRET, change(token()))  # type: ignore[operator]
        assert "invalid" == info.value.reason

    def test_other_secret(self) -> None:
        """A token of another server (another secret key) is invalid."""
        with pytest.raises(InvalidLink):
            verify_decision(b"o" * 32, token())

    def test_other_salt(self) -> None:
        """A value the server signs for something else (a session, a note) with the same key is not a link."""
        forged = URLSafeTimedSerializer(SECRET, salt="signoff.ui.note").dumps(
            {"t": ["tk_1"], "r": "alice", "e": "alice@example.com", "v": "approve", "x": 2**40, "n": "x"})
        with pytest.raises(InvalidLink):
            verify_decision(SECRET, forged)

    def test_expired(self) -> None:
        """Past its expiry a token is refused as expired."""
        with pytest.raises(InvalidLink) as info:
            verify_decision(SECRET, token(expires_at=utcnow() + timedelta(minutes=5)),
                            now=utcnow() + timedelta(hours=1))
        assert "expired" == info.value.reason

    def test_expiry_is_earliest_deadline_or_ttl(self) -> None:
        """A link expires at the earliest deadline of its tickets, or after the TTL if that is sooner."""
        soon = ticket(deadline=NOW + timedelta(minutes=10))
        later = ticket(id="tk_2", deadline=NOW + timedelta(hours=2))
        assert NOW + timedelta(minutes=10) == link_expiry([later, soon], now=NOW)
        assert NOW + timedelta(hours=1) == link_expiry([later], now=NOW, ttl=timedelta(hours=1))
        assert NOW + timedelta(hours=24) == link_expiry([ticket(deadline=None)], now=NOW)


class TestGateLinks:
    async def test_link_for_a_reviewer_who_may_decide(self, site: Site) -> None:
        """A reviewer found by email who may decide gets a link bound to them and the ticket."""
        t = await site.submit()
        url = await site.links.decide([t.id], "alice@example.com", "approve")
        assert url is not None and url.startswith("http://testserver/decide/")
        g = verify_decision(site.settings.secret_key, url.rsplit("/", 1)[1])
        assert ((t.id,), "alice", "approve") == (g.ticket_ids, g.reviewer, g.verdict)
        assert t.deadline is not None and g.expires_at <= t.deadline

    async def test_no_link_when_not_allowed(self, site: Site) -> None:
        """Unknown address, too low a tier, one's own request, or an approval already given: no link."""
        pay = await site.submit("pay")
        deploy = await site.submit("drop_table")
        await site.gate.approve(deploy.id, reviewer="alice")
        assert [None, None, None, None] == [
            await site.links.decide([pay.id], "nobody@example.com", "approve"),
            await site.links.decide([pay.id], "jim@example.com", "approve"),
            await site.links.decide([pay.id], "agent7@example.com", "approve"),
            await site.links.decide([deploy.id], "alice@example.com", "approve"),
        ]
        assert await site.links.decide([deploy.id], "bob@example.com", "approve") is not None

    async def test_inbox_and_ticket_urls(self, site: Site) -> None:
        """Inbox and ticket links use the public URL."""
        assert ("http://testserver/", "http://testserver/tickets/tk_1") == (
            site.links.inbox(), site.links.ticket("tk_1"))
