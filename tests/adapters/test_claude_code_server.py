"""POST /api/v1/hooks/claude-code on a real ``signoff serve``: the documented hook inputs in, the hook's JSON out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.adapters import _cc_inputs as cc
from tests.remote import RemoteTeam, Served, serve

AGENT = "claude-code"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, RemoteTeam]]:
    with serve(tmp_path_factory.mktemp("cc"), cc.POLICY_PATH.read_text(), reviewers={"alice": None}) as s:
        team = RemoteTeam(s, operator="alice")
        try:
            yield s, team
        finally:
            team.close()


@pytest.fixture
def hook(served: tuple[Served, RemoteTeam]) -> Iterator[Any]:
    """POST a hook input as Claude Code's http hook does, with the agent token."""
    s, team = served
    client = httpx.Client(base_url=s.url, timeout=60)

    def post(payload: Any, *, token: str | None = team.token("agent", AGENT), **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.post("/api/v1/hooks/claude-code", json=payload, headers=headers, params=params)

    yield post
    client.close()


def session(name: str) -> str:
    """A session of its own per test: the module shares one server and its store."""
    return f"{name}-{time.monotonic_ns()}"


def ok(response: httpx.Response) -> dict[str, Any]:
    assert 200 == response.status_code, response.text
    return dict(response.json())


class TestDocumentedInputs:
    def test_bash_tests_are_allowed(self, hook: Any) -> None:
        """PreToolUse for `npm test`: allow, exactly the documented shape."""
        assert {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}} == \
            ok(hook(cc.pre_tool_use("Bash", cc.BASH_TESTS, session_id=session("t"))))

    def test_write_and_edit_in_the_project_are_allowed(self, hook: Any, served: tuple[Served, RemoteTeam]) -> None:
        """Write and Edit inside cwd (notify): allow, each recorded for the token's agent."""
        sid = session("w")
        write = cc.out(ok(hook(cc.pre_tool_use("Write", cc.WRITE_IN_PROJECT, session_id=sid))))
        edit = cc.out(ok(hook(cc.pre_tool_use("Edit", cc.EDIT_IN_PROJECT, session_id=sid))))
        mine = [t for t in served[0].setup.list_tickets_sync(kind="notification")
                if t.action.context.get("session_id") == sid]
        assert ("allow", "allow", [("Write", AGENT), ("Edit", AGENT)]) == \
            (write["permissionDecision"], edit["permissionDecision"], [(t.action.name, t.action.agent) for t in mine])

    def test_pipe_to_shell_is_denied(self, hook: Any) -> None:
        answer = cc.out(ok(hook(cc.pre_tool_use("Bash", cc.BASH_PIPE_TO_SHELL, session_id=session("d")))))
        assert "deny" == answer["permissionDecision"]
        assert "Running a script straight from the network is not allowed" in answer["permissionDecisionReason"]

    def test_mcp_merge_waits_and_the_retry_finds_its_ticket(self, hook: Any) -> None:
        """An MCP tool of the github server needs a person: deny naming the ticket; the retry, the same one."""
        sid = session("m")
        first = cc.out(ok(hook(cc.pre_tool_use("mcp__github__merge_pull_request", cc.MCP_MERGE, session_id=sid),
                               wait=0)))
        again = cc.out(ok(hook(cc.pre_tool_use("mcp__github__merge_pull_request", cc.MCP_MERGE, session_id=sid,
                                               tool_use_id="toolu_02"), wait=0)))
        assert ("deny", cc.ticket_of(first["permissionDecisionReason"])) == \
            (again["permissionDecision"], cc.ticket_of(again["permissionDecisionReason"]))

    def test_ask_when_configured(self, hook: Any) -> None:
        """?on_pending=ask: PreToolUse answers ask; PermissionRequest an empty object (Claude Code's dialog)."""
        sid = session("a")
        pre = cc.out(ok(hook(cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH, session_id=sid), wait=0, on_pending="ask")))
        perm = ok(hook(cc.permission_request("Bash", cc.BASH_FORCE_PUSH, session_id=sid), wait=0, on_pending="ask"))
        assert ("ask", {}) == (pre["permissionDecision"], perm)


class TestReviewerInBetween:
    def test_an_edit_made_while_the_hook_waits_comes_back_as_updated_input(
            self, hook: Any, served: tuple[Served, RemoteTeam]) -> None:
        """The POST waits; a reviewer (another thread, over HTTP) approves with an edit; the answer allows
        the edited command."""
        team = served[1]
        sid = session("e")
        edited = {"command": "git push --force-with-lease origin main", "description": "Force-push main"}
        result: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: result.update(ok(hook(
            cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH, session_id=sid), wait=20))))
        worker.start()
        reviewer = team.reviewer("alice")
        for _ in range(1000):
            mine = [t for t in reviewer.list_tickets_sync(status="pending")
                    if t.action.context.get("session_id") == sid]
            if mine:
                break
            time.sleep(0.01)
        reviewer.approve_sync(mine[0].id, reviewer="alice", args=edited)
        worker.join(30)
        answer = cc.out(result)
        assert ("allow", edited) == (answer["permissionDecision"], answer["updatedInput"])

    def test_a_rejection_comes_back_as_deny_with_the_feedback(self, hook: Any,
                                                              served: tuple[Served, RemoteTeam]) -> None:
        sid = session("r")
        payload = cc.permission_request("Write", cc.WRITE_OUTSIDE, session_id=sid)
        pending = cc.out(ok(hook(payload, wait=0)))
        served[1].reviewer("alice").reject_sync(cc.ticket_of(pending["decision"]["message"]), reviewer="alice",
                                                feedback="edit the project's own hosts file")
        denied = cc.out(ok(hook(payload, wait=0)))["decision"]
        assert ("deny", False) == (denied["behavior"], denied["interrupt"])
        assert "edit the project's own hosts file" in denied["message"]


class TestRefusals:
    @pytest.mark.parametrize(("change", "field"), [
        ({"tool_name": None}, "tool_name"),
        ({"tool_input": ["rm", "-rf"]}, "tool_input"),
        ({"hook_event_name": "Stop"}, "hook_event_name"),
        ({"session_id": ""}, "session_id"),
    ])
    def test_a_malformed_input_is_a_422_naming_the_field(self, hook: Any, change: dict[str, Any], field: str) -> None:
        response = hook({**cc.pre_tool_use("Bash", cc.BASH_TESTS), **change})
        assert (422, "application/problem+json") == (response.status_code, response.headers["content-type"])
        assert field in response.json()["detail"]

    def test_a_body_that_is_not_json_is_a_422(self, hook: Any, served: tuple[Served, RemoteTeam]) -> None:
        s, team = served
        response = httpx.post(f"{s.url}/api/v1/hooks/claude-code", content=b"{not json",
                              headers={"Authorization": f"Bearer {team.token('agent', AGENT)}",
                                       "Content-Type": "application/json"})
        assert 422 == response.status_code

    def test_no_token_is_a_401_and_a_reviewer_token_a_403(self, hook: Any, served: tuple[Served, RemoteTeam]) -> None:
        payload = cc.pre_tool_use("Bash", cc.BASH_TESTS)
        assert (401, 403) == (hook(payload, token=None).status_code,
                              hook(payload, token=served[1].token("reviewer", "alice")).status_code)

    def test_the_route_is_in_the_openapi_document(self, served: tuple[Served, RemoteTeam]) -> None:
        spec = httpx.get(f"{served[0].url}/api/v1/openapi.json").json()
        assert "post" in spec["paths"]["/api/v1/hooks/claude-code"]


class TestFailsClosed:
    @pytest.mark.parametrize("method", ["find_ticket", "submit_many", "evaluate_async"])
    async def test_a_failing_store_answers_deny(self, tmp_path: Any, method: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        """The store goes away mid-answer: the hook answers 200 deny (never allow, never a 5xx that
        Claude Code would take as "no decision"), in the store's public words."""
        from signoff import Gate
        from signoff._errors import StoreUnavailable
        from signoff.server import ServerSettings, create_app

        gate = Gate.open(policy=cc.POLICY_PATH, store=f"sqlite:///{tmp_path}/down.db", sweep=False)
        token = await gate.create_token("agent", AGENT)

        async def failing(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("postgresql://admin:secret@db/prod: connection refused")

        monkeypatch.setattr(gate, method, failing)
        app = create_app(gate, settings=ServerSettings())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                     headers={"Authorization": f"Bearer {token}"}) as api:
            response = await api.post("/api/v1/hooks/claude-code",
                                      json=cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH), params={"wait": 0})
        await gate.aclose()
        answer = cc.out(ok(response))
        assert "deny" == answer["permissionDecision"]
        assert "the store is unavailable" in answer["permissionDecisionReason"]
        assert "secret" not in answer["permissionDecisionReason"]
