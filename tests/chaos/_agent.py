"""A chaos-suite agent: a separate OS process the test SIGKILLs and restarts at random.

It works through its keys in order (``<name>-0``, ``<name>-1``, ...): submits each through
``Gate.remote`` with the key as idempotency key (to any of the servers, moving on when one does
not answer), waits for the decision, and runs an approved action through the at-most-once
execution. The "action" appends one line to a shared executions file (O_APPEND, fsync): the
ground truth of what ran, which the test checks. Its journal (one JSON line per event) is how
a restarted agent knows where it was, and what the test reads to check that a key always got
the same ticket. It never gives up on a key: a server that does not answer is retried, a
decision waited for again; it stops between keys once the stop file exists.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from signoff import Action, AlreadyExecuted, Gate, SignoffError, StillPending, StoreUnavailable

RETRY_PAUSE = 0.2


class Agent:
    def __init__(self, args: argparse.Namespace) -> None:
        self.name: str = args.name
        self.gates = [Gate.remote(u, token=args.token, timeout=5.0) for u in args.urls.split(",")]
        self.journal = Path(args.journal)
        self.executions = Path(args.executions)
        self.stop = Path(args.stop)
        self.keys: int = args.keys
        self.done: set[str] = set()
        if self.journal.exists():
            for line in self.journal.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut short by SIGKILL
                if rec.get("event") == "done":
                    self.done.add(rec["key"])

    def log(self, **rec: Any) -> None:
        with self.journal.open("a") as f:
            f.write(json.dumps({"pid": os.getpid(), **rec}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def retrying(self, what: str, call: Any) -> Any:
        """``call(gate)`` until a server answers (any of them); signoff's refusals propagate."""
        while True:
            gate = random.choice(self.gates)
            try:
                return call(gate)
            except StoreUnavailable as exc:
                self.log(event="retry", what=what, error=str(exc)[:200])
                time.sleep(RETRY_PAUSE)

    def run_tool(self, key: str, ticket_id: str) -> str:
        fd = os.open(self.executions, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps({"key": key, "ticket": ticket_id, "pid": os.getpid()}) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return "refunded"

    def one(self, key: str) -> None:
        action = Action(agent=self.name, name="issue_refund", args={"key": key, "amount": 10.0})
        ticket = self.retrying("submit", lambda g: g.submit_sync(action, idempotency_key=key))
        self.log(event="submitted", key=key, ticket=ticket.id)
        while True:
            try:
                decision = self.retrying("wait", lambda g: g.wait_sync(ticket.id, timeout=5.0))
                break
            except StillPending:
                continue
        self.log(event="decided", key=key, ticket=ticket.id, status=decision.status)
        if decision.status == "approved":
            try:
                self.retrying("execute", lambda g: g.execute_sync(decision, lambda **kw: self.run_tool(key, ticket.id)))
                self.log(event="executed", key=key, ticket=ticket.id)
            except AlreadyExecuted as exc:  # claimed by a run that died, or another process
                self.log(event="already_executed", key=key, ticket=ticket.id, error=str(exc)[:200])
        self.log(event="done", key=key, ticket=ticket.id)

    def main(self) -> int:
        for i in range(self.keys):
            key = f"{self.name}-{i}"
            if key in self.done:
                continue
            if self.stop.exists():
                break
            try:
                self.one(key)
            except SignoffError as exc:
                self.log(event="error", key=key, error=f"{type(exc).__name__}: {exc}"[:300])
                return 1
        self.log(event="finished")
        return 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--urls", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--journal", required=True)
    p.add_argument("--executions", required=True)
    p.add_argument("--stop", required=True)
    return Agent(p.parse_args()).main()


if __name__ == "__main__":
    sys.exit(main())
