"""A test's gate on the far side of HTTP: ``signoff serve`` on the test's own store, and a GateLike
that reaches it only through ``RemoteGate``s.

Suites written against a local ``Gate`` name their identities in the calls
(``gate.approve(t.id, reviewer="bob")``, ``Action(agent="support-bot")``), whereas over HTTP a
token says who acts. ``RemoteTeam`` keeps those tests unchanged: each call goes to the
``RemoteGate`` holding the token of whoever the call names (the action's agent, the reviewer
given, else the policy's top-tier ``operator``); reads go through that operator's reviewer
token, which sees every ticket. Everything it does is a ``RemoteGate`` method; it only
picks the token. Reviewers and tokens are written by a local Gate on the server's database,
as ``signoff reviewer add`` and ``signoff token create`` would.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signoff import Action, Decision, Gate, RemoteGate
from signoff._decisions import gated
from signoff._model import utcnow
from signoff._tokens import hash_token, new_token
from signoff.store import TokenRecord
from tests.server.conftest import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_AGENT = "agent"  # who an action naming no agent is submitted as (a token always names one)


class Forked:
    """A ``signoff serve`` child of the zygote (``tests/_serve_zygote.py``): alive until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            self.returncode = -1 if self.returncode is None else self.returncode
            return self.returncode
        return None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, and wait until it is gone (the zygote reaps it); SIGKILL if it hangs."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        while self.poll() is None:
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout
            time.sleep(0.01)


_zygote: subprocess.Popen[str] | None = None
_zygote_lock = threading.Lock()


def _spawn(args: list[str], log: Path) -> Forked:
    """Fork a ``signoff <args>`` from the zygote (started once per test session)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or _zygote.poll() is not None:
            _zygote = subprocess.Popen([sys.executable, "-m", "tests._serve_zygote"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ))
            atexit.register(_zygote.stdin.close)  # type: ignore[union-attr]
        assert _zygote.stdin is not None and _zygote.stdout is not None
        _zygote.stdin.write(json.dumps({"args": args, "log": str(log)}) + "\n")
        _zygote.stdin.flush()
        return Forked(int(_zygote.stdout.readline()))


@dataclass
class Served:
    """A running ``signoff serve`` and the local Gate on its database that sets it up."""

    url: str
    db: str
    setup: Gate
    proc: Forked
    log: Path


@contextmanager
def serve(tmp: Path, policy: Mapping[str, Any] | str, *, db: str | None = None,
          reviewers: Mapping[str, str | None] = {}) -> Iterator[Served]:
    """``signoff serve`` on ``db`` (default: a new SQLite file in ``tmp``) with ``policy``; stopped after."""
    path = tmp / "policy.yaml"
    path.write_text(policy if isinstance(policy, str) else json.dumps(policy))  # JSON is YAML
    db = db or f"sqlite:///{tmp}/served.db"
    setup = Gate.open(policy=path, store=db, sweep=False)
    try:
        for name, tier in reviewers.items():
            setup.add_reviewer(name, tier=tier)
        port = free_port()
        url, log = f"http://127.0.0.1:{port}", tmp / "served.log"
        proc = _spawn(["serve", "--policy", str(path), "--db", db, "--host", "127.0.0.1", "--port", str(port),
                       "--log-level", "warning"], log)
        try:
            wait_until_up(url, proc, log)  # type: ignore[arg-type]
            yield Served(url=url, db=db, setup=setup, proc=proc, log=log)
        finally:
            proc.stop()
    finally:
        setup.close()


@contextmanager
def local_or_remote(kind: str, tmp: Path, policy: Mapping[str, Any], *, db: str | None = None,
                    reviewers: Mapping[str, str | None], operator: str) -> Iterator[Any]:
    """A local Gate (``kind="local"``) or a RemoteTeam over ``signoff serve`` on the same kind of store,
    with ``reviewers`` (name -> tier); ``operator`` is the remote side's reader and mode switcher."""
    db = db or f"sqlite:///{tmp / 'gate.db'}"
    if kind == "local":
        with Gate.open(policy=policy, store=db) as g:
            for name, tier in reviewers.items():
                g.add_reviewer(name, tier=tier)
            yield g
        return
    (tmp / "served").mkdir(exist_ok=True)
    with serve(tmp / "served", policy, db=db, reviewers=reviewers) as served:
        team = RemoteTeam(served, operator=operator)
        try:
            yield team
        finally:
            team.close()


class RemoteTeam:
    """A GateLike over a served gate: each call uses the token of whoever it names (see the module)."""

    def __init__(self, served: Served, *, operator: str) -> None:
        self.served = served
        self.operator = operator
        self.url = served.url
        self.policy = served.setup.policy
        self._gates: dict[tuple[str, str], RemoteGate] = {}
        self._tokens: dict[tuple[str, str], str] = {}
        self.reviewer()  # its token now: writing one later is an audit entry in the middle of the test

    # -- tokens --------------------------------------------------------------------------------
    def token(self, kind: str, name: str) -> str:
        """The secret of ``kind`` (agent/reviewer) ``name``'s token, made once as `signoff token create` does."""
        key = (kind, name)
        if key not in self._tokens:
            secret = new_token(kind)  # type: ignore[arg-type]
            self.served.setup._engine.run_sync(self.served.setup.store.put_token(TokenRecord(
                token_hash=hash_token(secret), kind=kind, name=name, created_at=utcnow())))  # type: ignore[arg-type]
            self._tokens[key] = secret
        return self._tokens[key]

    def _as(self, kind: str, name: str) -> RemoteGate:
        key = (kind, name)
        if key not in self._gates:
            self._gates[key] = Gate.remote(self.url, token=self.token(kind, name))
        return self._gates[key]

    def agent(self, name: str = "") -> RemoteGate:
        return self._as("agent", name or DEFAULT_AGENT)

    def reviewer(self, name: str | None = None) -> RemoteGate:
        return self._as("reviewer", name or self.operator)

    def _of(self, actions: Sequence[Action]) -> RemoteGate:
        return self.agent(actions[0].agent if actions else "")

    # -- what a test may add, as an operator would where the database is -------------------------
    def add_reviewer(self, name: str, *, tier: str | None = None, password: str | None = None,
                     actor: str = "admin") -> None:
        self.served.setup.add_reviewer(name, tier=tier, password=password, actor=actor)

    @property
    def mode(self) -> str | None:
        return self.reviewer().get_mode_sync()

    # -- routing: everything else is a RemoteGate method ----------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        route = _ROUTES.get(name.removesuffix("_sync").removesuffix("_async"))
        if route is None:
            raise AttributeError(f"{name!r} is not part of GateLike")
        return route(self, name)

    def gated(self, name: str | None = None, *, agent: str = "", tags: Iterable[str] = (), external: bool = False,
              timeout: float | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return gated(self, name, agent=agent, tags=tags, external=external, timeout=timeout)

    def close(self) -> None:
        for g in self._gates.values():
            g.close()

    async def aclose(self) -> None:
        for g in self._gates.values():
            await g.aclose()

    def __repr__(self) -> str:
        return f"<RemoteTeam {self.url}>"


def _by_action(team: RemoteTeam, name: str) -> Any:
    def call(action: Action, *a: Any, **kw: Any) -> Any:
        return getattr(team.agent(action.agent), name)(action, *a, **kw)
    return call


def _by_actions(team: RemoteTeam, name: str) -> Any:
    def call(actions: Sequence[Action], *a: Any, **kw: Any) -> Any:
        return getattr(team._of(list(actions)), name)(actions, *a, **kw)
    return call


def _by_decision(team: RemoteTeam, name: str) -> Any:
    def call(decision: Decision, *a: Any, **kw: Any) -> Any:
        return getattr(team.agent(decision.action.agent), name)(decision, *a, **kw)
    return call


def _by_reviewer(team: RemoteTeam, name: str) -> Any:
    def call(*a: Any, reviewer: str | None = None, **kw: Any) -> Any:
        return getattr(team.reviewer(reviewer), name)(*a, reviewer=reviewer, **kw)
    return call


def _by_ticket_agent(team: RemoteTeam, name: str) -> Any:
    """An agent's own call on a ticket (cancel): made with the token of the ticket's agent."""
    viewer = team.reviewer()
    if name.endswith("_sync"):
        def call(ticket_id: str, *a: Any, **kw: Any) -> Any:
            owner = viewer.get_ticket_sync(ticket_id).action.agent
            return getattr(team.agent(owner), name)(ticket_id, *a, **kw)
        return call

    async def acall(ticket_id: str, *a: Any, **kw: Any) -> Any:
        owner = (await viewer.get_ticket(ticket_id)).action.agent
        return await getattr(team.agent(owner), name)(ticket_id, *a, **kw)
    return acall


def _by_viewer(team: RemoteTeam, name: str) -> Any:
    return getattr(team.reviewer(), name)


_ROUTES: dict[str, Callable[[RemoteTeam, str], Any]] = {
    "guard": _by_action, "submit": _by_action, "evaluate": _by_action,
    "submit_many": _by_actions,
    "execute": _by_decision,
    "cancel": _by_ticket_agent,
    **{n: _by_reviewer for n in ("approve", "reject", "decide_many", "decide_group", "decide_batch", "flag",
                                 "resolve_suggestion", "record_execution", "set_mode",
                                 "allow", "confirm_allowance", "revoke_allowance")},
    **{n: _by_viewer for n in ("wait", "resume", "get_ticket", "list_tickets", "find_ticket", "insights",
                               "verify_audit", "get_mode", "runs_in_doubt", "list_allowances", "surges")},
}


