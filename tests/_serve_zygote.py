"""Start ``signoff serve`` processes fast: import once, then fork one child per server.

Each test of the remote backends gets its own server on its own store; a fresh interpreter
spends most of its second importing FastAPI, pydantic and signoff. This process imports
them once and forks: each child runs the real ``signoff serve`` command (the CLI's own code,
its own process, its own port and database), only without the import time.

Protocol: one JSON line per server on stdin, ``{"args": [...], "log": PATH}``; answers the
child's pid on stdout. Children are reaped automatically (SIGCHLD ignored). Run with
``python -m tests._serve_zygote``; it ends when stdin closes.
"""

from __future__ import annotations

import json
import os
import signal
import sys

# The imports are the point: children start with them done.
import signoff.server._runner
import signoff.server.api  # noqa: F401
from signoff.cli import main


def child(args: list[str], log: str) -> None:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    code = 1
    try:
        main(args=args, prog_name="signoff", standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(list(request["args"]), str(request["log"]))
        print(pid, flush=True)


if __name__ == "__main__":
    run()
