"""Every examples/*.py runs offline as `python examples/<name>.py` and says what the docs promise."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from tests.remote import RemoteTeam, serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# What each adapter example must print: the pause, the decisions' effects, the resume.
EXPECTED: dict[str, list[str]] = {
    "langgraph_agent.py": [
        "paused: 2 tool call(s) wait for a reviewer in signoff",
        "[tool] issue_refund('A-17', 100.0)",
        "tool result for close_account: 'The call to close_account was rejected by alice and did not run: "
        "offer a voucher instead of closing'",
        "Note: a reviewer edited the arguments to {\"amount\": 100.0, \"order\": \"A-17\"}",
        "refund ticket execution: executed",
    ],
    "openai_agents_refund.py": [
        "interruptions: ['issue_refund', 'close_account']",
        "[tool] issue_refund('A-17', 100.0)",
        "rejected by alice and did not run: offer a voucher instead of closing",
        "Note: a reviewer edited the arguments to {\"amount\": 100.0, \"order\": \"A-17\"}",
        "agent: Refunded 100.00 on A-17; your account stays open.",
        "refund ticket execution: executed",
    ],
    "pydantic_ai_refund.py": [
        "deferred for approval: ['issue_refund', 'close_account']",
        "call_2: ToolApproved(override_args={'amount': 100.0, 'order': 'A-17'}",
        "call_3: ToolDenied(message='The call to close_account was rejected by alice",
        "[tool] issue_refund('A-17', 100.0)",
        "refund ticket execution: executed",
    ],
    "google_adk_refund.py": [
        "adk_request_confirmation for: ['issue_refund', 'close_account']",
        "[tool] issue_refund('A-17', 100.0)",
        "'signoff_note': 'Note: a reviewer edited the arguments to {\"amount\": 100.0, \"order\": \"A-17\"}",
        "rejected by alice and did not run: offer a voucher instead of closing",
        "agent: Refunded 100.00 on A-17; your account stays open.",
        "refund ticket execution: executed",
    ],
    "mcp_proxy.py": [
        "1) tools through the proxy: ['lookup_order', 'issue_refund', 'close_account', 'delete_customer_data']",
        "2) lookup_order (auto): 'order A-17: delivered 3 days late, paid 150.00' isError=False",
        "is not allowed by policy and did not run",
        "isError=True",
        "Note: a reviewer edited the arguments to {\"amount\": 100.0, \"order\": \"A-17\"}",
        "refunded 100.00 on A-17",
        "   the reasoning the reviewer read: 'delivered 3 days late'",
        "5) close_account (approve; nobody decides within --wait): 'Pending approval: ticket tk_",
        "6) close_account asked again after the rejection: 'The call to close_account was rejected by alice",
    ],
    "strands_refund.py": [
        "   interrupts: [('signoff:1', 'issue_refund'), ('signoff:1', 'close_account')]",
        "[tool] issue_refund('A-17', 100.0)",
        "'Note: a reviewer edited the arguments to {\"amount\": 100.0, \"order\": \"A-17\"}",
        "(error): 'DENIED: The call to close_account was rejected by alice and did not run: offer a voucher",
        "agent: Refunded 100.00 on A-17; your account stays open.",
        "refund ticket execution: executed",
    ],
    "agent_framework_refund.py": [
        "   approval requests for: ['issue_refund', 'close_account']",
        "   responses: [('issue_refund', True), ('close_account', False)]",
        "[tool] issue_refund('A-17', 100.0)",
        "the model reads for call_3: 'Error: Tool call invocation was rejected by user.'",
        "for call_2: 'Note: a reviewer edited the arguments to {\"amount\": 100.0, \"order\": \"A-17\"}",
        "agent: Refunded 100.00 on A-17; your account stays open.",
        "refund ticket execution: executed",
    ],
    "claude_code_hook.py": [
        "   Bash `npm test`: allow",
        "   Bash `curl | sh`: deny",
        "Running a script straight from the network is not allowed",
        "It was recorded for a person to carry out (ticket tk_",
        "   permissionDecisionReason: waiting for approval: ticket tk_",
        "   Bash `git push --force` (retry): allow",
        '   updatedInput: {"command": "git push --force-with-lease origin main", "description": "Force-push main"}',
        "   Write /etc/hosts: deny",
    ],
    "claude_agent_sdk_refund.py": [
        "   lookup_order: PermissionResultAllow(behavior='allow', updated_input=None",
        "rule 'no-data-deletion' matched",
        "   PermissionResultAllow(behavior='allow', updated_input={'amount': 100.0, 'order': 'A-17'}",
        "   deny: waiting for approval: ticket tk_",
        "was rejected by alice and did not run: offer a voucher instead of closing', interrupt=False)",
        "   tickets for close_account: 1",
        '"hookEventName": "PreToolUse", "permissionDecision": "deny"',
    ],
}
FORBIDDEN = {  # the original, unedited calls must never run
    "langgraph_agent.py": ["issue_refund('A-17', 150.0)", "[tool] close_account"],
    "openai_agents_refund.py": ["issue_refund('A-17', 150.0)", "[tool] close_account"],
    "pydantic_ai_refund.py": ["issue_refund('A-17', 150.0)", "[tool] close_account"],
    "google_adk_refund.py": ["issue_refund('A-17', 150.0)", "[tool] close_account"],
    "strands_refund.py": ["issue_refund('A-17', 150.0)", "[tool] close_account"],
    "agent_framework_refund.py": ["issue_refund('A-17', 150.0)", "[tool] close_account"],
    "claude_agent_sdk_refund.py": ["updated_input={'amount': 150.0", "behavior='allow', updated_input={'customer'"],
}


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs(example: str) -> None:
    """The example exits 0 and prints the lines that show each decision took effect."""
    if example in EXPECTED:
        pytest.importorskip({"langgraph_agent.py": "langchain.agents", "openai_agents_refund.py": "agents.testing",
                             "pydantic_ai_refund.py": "pydantic_ai", "mcp_proxy.py": "mcp.server.mcpserver",
                             "claude_code_hook.py": "httpx", "google_adk_refund.py": "google.adk",
                             "strands_refund.py": "strands.interventions",
                             "agent_framework_refund.py": "agent_framework",
                             "claude_agent_sdk_refund.py": "claude_agent_sdk"}[example])
    out = subprocess.run([sys.executable, str(EXAMPLES / example)], capture_output=True, text=True, timeout=300,
                         cwd=EXAMPLES.parent)
    assert 0 == out.returncode, out.stderr[-3000:]
    missing = [line for line in EXPECTED.get(example, []) if line not in out.stdout]
    assert [] == missing, out.stdout
    present = [line for line in FORBIDDEN.get(example, []) if line in out.stdout]
    assert [] == present, out.stdout


# The adapter examples again, the agent and the reviewer reaching a real `signoff serve` over HTTP.
REMOTE = {"langgraph_agent.py": "langchain.agents", "openai_agents_refund.py": "agents.testing",
          "pydantic_ai_refund.py": "pydantic_ai", "google_adk_refund.py": "google.adk",
          "strands_refund.py": "strands.interventions", "agent_framework_refund.py": "agent_framework",
          "claude_agent_sdk_refund.py": "claude_agent_sdk"}


@pytest.mark.parametrize("example", sorted(REMOTE))
def test_example_runs_against_a_server(example: str, tmp_path: Path) -> None:
    """With SIGNOFF_URL and tokens set, the example runs through RemoteGates and prints the same lines."""
    pytest.importorskip(REMOTE[example])
    policy = runpy.run_path(str(EXAMPLES / example))["POLICY"]
    with serve(tmp_path, policy, reviewers={"alice": None}) as served:
        team = RemoteTeam(served, operator="alice")
        env = {**os.environ, "SIGNOFF_URL": served.url, "SIGNOFF_TOKEN": team.token("agent", "support-bot"),
               "SIGNOFF_REVIEWER_TOKEN": team.token("reviewer", "alice")}
        out = subprocess.run([sys.executable, str(EXAMPLES / example)], capture_output=True, text=True, timeout=300,
                             cwd=EXAMPLES.parent, env=env)
        tickets = served.setup.list_tickets_sync()
        team.close()
    assert 0 == out.returncode, out.stderr[-3000:]
    missing = [line for line in EXPECTED[example] if line not in out.stdout]
    present = [line for line in FORBIDDEN[example] if line in out.stdout]
    assert ([], [], {"support-bot"}) == (missing, present, {t.action.agent for t in tickets}), out.stdout


DOCS = EXAMPLES.parent / "docs" / "integrations"
PAGES = {"langgraph.md": "langgraph_agent.py", "openai-agents.md": "openai_agents_refund.py",
         "pydantic-ai.md": "pydantic_ai_refund.py", "mcp.md": "mcp_proxy.py", "claude-code.md": "claude_code_hook.py",
         "google-adk.md": "google_adk_refund.py", "strands.md": "strands_refund.py",
         "agent-framework.md": "agent_framework_refund.py", "claude-agent-sdk.md": "claude_agent_sdk_refund.py"}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_docs_page_shows_the_complete_example(page: str) -> None:
    """Each framework's page carries its example verbatim, so the docs run as they read."""
    source = (EXAMPLES / PAGES[page]).read_text(encoding="utf-8")
    assert f"```python\n{source}```" in (DOCS / page).read_text(encoding="utf-8")
