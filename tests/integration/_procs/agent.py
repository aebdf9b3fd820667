"""A small program the integration tests run as separate OS processes (agents and reviewers).

Each subcommand prints JSON lines on stdout so the test can follow it; errors are printed as
``{"error": kind, "message": ...}`` rather than tracebacks, so a test can tell a lost race
(Conflict) from a failure (e.g. "database is locked" leaking out as StoreUnavailable).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

from signoff import Action, Conflict, Gate, SignoffError


def emit(**data: Any) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def decision_json(d: Any) -> dict[str, Any]:
    return {"status": d.status, "args": d.args, "feedback": d.feedback, "reviewers": list(d.reviewers),
            "ticket_id": d.ticket_id}


def state_json(state: Any) -> Any:
    if isinstance(state, bytes):
        return {"bytes_b64": base64.b64encode(state).decode()}
    return state


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["decide", "submit-and-wait", "approve", "resume", "wait"])
    p.add_argument("--db", required=True)
    p.add_argument("--policy", required=True)
    p.add_argument("--reviewer", default="")
    p.add_argument("--tickets", default="", help="comma-separated ticket ids")
    p.add_argument("--ticket", default="")
    p.add_argument("--reject", action="store_true")
    p.add_argument("--go-at", type=float, default=0.0, help="start deciding at this time.time()")
    p.add_argument("--state-file", default="", help="state to submit: a JSON file (or .bin: bytes)")
    p.add_argument("--key", default=None)
    p.add_argument("--args", default=None, help="edited arguments (JSON) for approve")
    a = p.parse_args()
    gate = Gate.open(policy=a.policy, store=a.db)
    try:
        if a.command == "decide":
            ids = a.tickets.split(",")
            wins: list[str] = []
            conflicts = 0
            errors: list[str] = []
            emit(ready=True)
            while time.time() < a.go_at:
                time.sleep(0.001)
            for tid in ids:
                try:
                    if a.reject:
                        gate.reject_sync(tid, reviewer=a.reviewer, feedback=f"no from {a.reviewer}")
                    else:
                        gate.approve_sync(tid, reviewer=a.reviewer)
                    wins.append(tid)
                except Conflict:
                    conflicts += 1
                except SignoffError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
            emit(wins=wins, conflicts=conflicts, errors=errors)
        elif a.command == "submit-and-wait":
            path = Path(a.state_file)
            state: Any = path.read_bytes() if path.suffix == ".bin" else json.loads(path.read_text())
            action = Action(name="deploy_service", args={"service": "billing", "version": "2.4.1"},
                            agent="deploy-bot", reasoning="release train 42")
            t = gate.submit_sync(action, state=state, idempotency_key=a.key)
            emit(ticket=t.id)
            d = gate.wait_sync(t.id)  # the test kills us here
            emit(decision=decision_json(d))
        elif a.command == "approve":
            args = json.loads(a.args) if a.args else None
            t = gate.approve_sync(a.ticket, reviewer=a.reviewer, args=args)
            emit(status=t.status)
        elif a.command == "resume":
            d, state = gate.resume_sync(a.ticket)
            emit(decision=decision_json(d), state=state_json(state))
        elif a.command == "wait":
            import threading

            # Say we wait only once the waiter is registered: the wait runs in a thread, and the
            # notice comes after its first read of the ticket (a pending ticket means it is waiting).
            result: dict[str, Any] = {}

            def run() -> None:
                result["d"] = gate.wait_sync(a.ticket, timeout=120)

            th = threading.Thread(target=run)
            th.start()
            time.sleep(0.2)
            emit(waiting=True)
            th.join()
            emit(decision=decision_json(result["d"]))
    except SignoffError as exc:
        emit(error=type(exc).__name__, message=str(exc))
        sys.exit(2)
    finally:
        gate.close()


if __name__ == "__main__":
    main()
