"""Token checks through a store outage: a token the store verified recently keeps ``auto`` answers
coming; an unknown one gets 503; nothing needing a human gets through; a revocation holds as soon
as the store answers again.

In-process app on a ``memory://`` store (``database.down`` is the outage) with the short token
cache off, so every request asks the store. ``tests/integration/test_postgres_outage.py`` does the
same against a real server and a stopped PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from signoff import Gate
from signoff._tokens import hash_token
from signoff.server import ServerSettings, create_app
from signoff.store.memory import MemoryDatabase, database

POLICY = {"version": 1, "tiers": ["senior"], "defaults": {"level": "auto"},
          "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}]}
LOOKUP = {"action": {"name": "lookup", "args": {"q": "order"}, "reasoning": "r"}}
DEPLOY = {"action": {"name": "deploy", "args": {}, "reasoning": "r"}}
BOUND = 10.0  # "does not hang": far above anything the outage path waits for


@dataclass
class App:
    gate: Gate
    db: MemoryDatabase
    client: httpx.AsyncClient
    token: str

    async def post(self, path: str, body: object, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return await asyncio.wait_for(self.client.post(f"/api/v1{path}", json=body, headers=headers), BOUND)

    def revoke(self, token: str) -> None:
        """As an operator would, in the database: the token's row marked revoked."""
        row = self.db.tokens[hash_token(token)]
        self.db.tokens[hash_token(token)] = (*row[:4], True)


async def _app(outage_seconds: float) -> AsyncIterator[App]:
    name = "outage-" + secrets.token_hex(4)
    gate = Gate.open(policy=POLICY, store=f"memory://{name}", sweep=False)
    try:
        token = await gate.create_token("agent", "bot")
        app = create_app(gate, settings=ServerSettings(token_cache_seconds=0, token_outage_seconds=outage_seconds))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield App(gate, database(name), client, token)
    finally:
        database(name).down = False
        await gate.aclose()


@pytest.fixture
async def app() -> AsyncIterator[App]:
    async for a in _app(600.0):
        yield a


@pytest.fixture
async def app_without_memory() -> AsyncIterator[App]:
    async for a in _app(0.0):
        yield a


async def test_a_recently_verified_token_keeps_auto_answers_through_an_outage(app: App) -> None:
    """Seen once while the store was up: during the outage evaluate still answers (twice, the second
    from memory without waiting for the store), and an auto action is still auto."""
    assert 200 == (await app.post("/evaluate", LOOKUP)).status_code
    app.db.down = True
    answers = [await app.post("/evaluate", LOOKUP) for _ in range(3)]
    assert [(200, "auto")] * 3 == [(r.status_code, r.json()["level"]) for r in answers]


async def test_nothing_needing_a_human_gets_through(app: App) -> None:
    """The same known token cannot submit during the outage: 503, and nothing was queued."""
    assert 200 == (await app.post("/evaluate", DEPLOY)).status_code
    app.db.down = True
    evaluated = await app.post("/evaluate", DEPLOY)
    submitted = await app.post("/tickets", DEPLOY)
    app.db.down = False
    assert ((200, "approve"), 503) == ((evaluated.status_code, evaluated.json()["level"]), submitted.status_code)
    assert [] == await app.gate.list_tickets()


async def test_a_token_never_seen_is_refused_with_503(app: App) -> None:
    """A token the store never verified (here: a real one, first used during the outage) gets 503."""
    other = await app.gate.create_token("agent", "other-bot")
    app.db.down = True
    r = await app.post("/evaluate", LOOKUP, token=other)
    assert 503 == r.status_code, r.text


async def test_without_the_memory_an_outage_is_503(app_without_memory: App) -> None:
    """``token_outage_seconds=0``: the token check needs the store, as before."""
    app = app_without_memory
    assert 200 == (await app.post("/evaluate", LOOKUP)).status_code
    app.db.down = True
    assert 503 == (await app.post("/evaluate", LOOKUP)).status_code


async def test_a_revocation_holds_once_the_store_answers_again(app: App) -> None:
    """Revoked in the database, then the outage: honoured from memory meanwhile (the server cannot
    know), refused with 401 once the store answers again, and not honoured by a later outage."""
    assert 200 == (await app.post("/evaluate", LOOKUP)).status_code
    app.revoke(app.token)
    app.db.down = True
    during = await app.post("/evaluate", LOOKUP)
    app.db.down = False
    after = await _until_not_200(app)
    app.db.down = True
    later = await app.post("/evaluate", LOOKUP)
    assert (200, 401, 503) == (during.status_code, after.status_code, later.status_code)


async def test_a_stale_memory_is_not_used(app: App) -> None:
    """A token verified longer ago than ``token_outage_seconds`` gets 503 during an outage."""
    auth = app.client._transport.app.state.signoff.auth  # type: ignore[attr-defined]
    assert 200 == (await app.post("/evaluate", LOOKUP)).status_code
    auth._verified = OrderedDict((h, (when - 601.0, who)) for h, (when, who) in auth._verified.items())
    app.db.down = True
    assert 503 == (await app.post("/evaluate", LOOKUP)).status_code


async def _until_not_200(app: App) -> httpx.Response:
    """The first answer that is not 200: the store is asked again within ``recheck`` (1 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while True:
        r = await app.post("/evaluate", LOOKUP)
        if r.status_code != 200 or loop.time() > deadline:
            return r
        await asyncio.sleep(0.05)
