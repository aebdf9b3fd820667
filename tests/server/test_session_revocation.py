"""Logout holds everywhere: two real `signoff serve` processes on one database (a SQLite file, or
PostgreSQL) with one SIGNOFF_SECRET_KEY; a cookie logged out on one is refused by the other, and by the first after a
restart (the revocation lives in the store, not in a process's memory)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from signoff import Gate
from tests.server.conftest import PASSWORD, POLICY, free_port, signoff_exe, stop_process, wait_until_up

COOKIE = "signoff_session"


class Servers:
    """Servers started on one database with one secret key; all stopped at the end."""

    def __init__(self, tmp: Path, db: str) -> None:
        self.tmp = tmp
        self.policy = tmp / "policy.yaml"
        self.policy.write_text(POLICY)
        self.db = db
        self.env = {**os.environ, "SIGNOFF_SECRET_KEY": secrets.token_hex(32)}
        self.procs: list[subprocess.Popen[bytes]] = []
        with Gate.open(policy=self.policy, store=self.db, sweep=False) as g:
            g.add_reviewer("alice", tier="senior", password=PASSWORD)

    def start(self, name: str) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        log = self.tmp / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([signoff_exe(), "serve", "--policy", str(self.policy), "--db", self.db,
                                     "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                    stdout=out, stderr=subprocess.STDOUT, env=self.env)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, proc, log)
        return url, proc


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def servers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Servers]:
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path}/shared.db"
    else:
        from tests.postgres_server import create_database

        db = create_database(request.getfixturevalue("pg_url"))
    s = Servers(tmp_path, db)
    yield s
    for proc in s.procs:
        stop_process(proc)


def login(url: str) -> str:
    """Log alice in through the form; return the session cookie."""
    with httpx.Client(base_url=url) as c:
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        r = c.post("/login", data={"csrf_token": token.group(1), "name": "alice", "password": PASSWORD, "next": "/"})
        assert 303 == r.status_code, r.text
        return str(c.cookies[COOKIE])


def inbox_status(url: str, cookie: str) -> int:
    """200 when the cookie opens the inbox, 303 (to /login) when it does not."""
    with httpx.Client(base_url=url, cookies={COOKIE: cookie}) as c:
        return c.get("/").status_code


def logout(url: str, cookie: str) -> None:
    with httpx.Client(base_url=url, cookies={COOKIE: cookie}) as c:
        page = c.get("/")
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
        assert token is not None
        assert 303 == c.post("/logout", data={"csrf_token": token.group(1)}).status_code


class TestLogoutAcrossServers:
    def test_logout_on_one_server_holds_on_the_other_and_after_a_restart(self, servers: Servers) -> None:
        """Both servers accept the cookie; after logout on A, B refuses it, and so does A once restarted."""
        a, a_proc = servers.start("a")
        b, _ = servers.start("b")
        cookie = login(a)
        before = (inbox_status(a, cookie), inbox_status(b, cookie))
        logout(a, cookie)
        on_b = inbox_status(b, cookie)
        stop_process(a_proc)
        a_again, _ = servers.start("a")
        after_restart = inbox_status(a_again, cookie)
        other = login(b)  # another session of the same reviewer is unaffected
        assert ((200, 200), 303, 303, 200) == (before, on_b, after_restart, inbox_status(a_again, other))
