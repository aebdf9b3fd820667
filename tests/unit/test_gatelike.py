"""``signoff.GateLike``: a local Gate and a RemoteGate offer the same methods with the same parameters,
and every async method has a ``_sync`` twin. Growing either side takes a deliberate edit here."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import signoff
from signoff import Gate, GateLike, RemoteGate

# Public names only one side has, and why.
LOCAL_ONLY = {
    # opening, and the server's own doors (the server is local to its store)
    "open", "remote", "offload", "subscribe", "ping", "sweep", "replay",
    "submit_together", "submit_together_sync", "claim_execution", "claim_execution_sync",
    "finish_execution", "finish_execution_sync", "get_reviewer", "get_reviewer_sync",
    "find_token", "find_token_sync", "create_token", "create_token_sync", "count_tickets", "pending_by_tier",
    "count_tickets_sync", "audit_entries", "audit_entries_sync", "audit_head",
    "revoke_session", "session_revoked", "find_reviewer", "find_reviewer_sync",
    # claimed runs: their lease (a remote caller may ask its own per claim)
    "execution_lease", "lease_for",
    "put_reviewer",  # reviewers made or updated at single sign-on, where the database is
    # the notification outbox, delivered by the server's deliverer
    "init_outbox", "expand_outbox", "claim_notifications", "finish_notifications", "list_notifications",
    "next_notification", "message_ref", "message_tickets",
}
# On both classes but outside the protocol: ``mode`` is a free in-memory read locally and
# deprecated remotely (it blocked on HTTP); reviewers are added where the database is.
OUTSIDE_PROTOCOL = {"mode", "add_reviewer"}
# The two sync-first names of the 0.1 contract, and their async twins; and the lifetime pair.
SYNC_FIRST = {"evaluate": "evaluate_async", "set_mode": "set_mode_async", "aclose": "close"}


def public(cls: type) -> set[str]:
    """Public names defined on the class or its bases (``Gate`` inherits the server doors)."""
    return {n for n in dir(cls) if not n.startswith("_")}


def protocol_members() -> set[str]:
    return {n for n in vars(GateLike) if not n.startswith("_") and callable(vars(GateLike)[n])}


def shape(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """Parameter names, kinds and defaults (annotations differ only in spelling)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


class TestParity:
    def test_the_protocol_is_everything_both_share(self) -> None:
        """Every method both classes share is in GateLike, but the listed exceptions."""
        assert public(Gate) & public(RemoteGate) - OUTSIDE_PROTOCOL == protocol_members()

    def test_only_the_listed_names_are_local(self) -> None:
        """What only the local Gate has is listed; a RemoteGate has nothing of its own."""
        assert (LOCAL_ONLY, set()) == (public(Gate) - public(RemoteGate), public(RemoteGate) - public(Gate))

    @pytest.mark.parametrize("name", sorted(protocol_members()))
    def test_same_parameters_on_both_sides(self, name: str) -> None:
        """Gate, RemoteGate and GateLike agree on the parameter names, kinds and defaults."""
        assert shape(getattr(GateLike, name)) == shape(getattr(Gate, name)) == shape(getattr(RemoteGate, name))

    @pytest.mark.parametrize("name", sorted(protocol_members()))
    def test_async_on_both_sides_or_sync_on_both(self, name: str) -> None:
        """A method is a coroutine on both classes or on neither."""
        kinds = {inspect.iscoroutinefunction(getattr(c, name)) for c in (GateLike, Gate, RemoteGate)}
        assert 1 == len(kinds)

    def test_every_async_method_has_a_sync_twin(self) -> None:
        """``x`` async has ``x_sync`` with the same parameters (the contract's sync-first names aside)."""
        members = protocol_members()
        missing, differ = [], []
        for name in sorted(members):
            fn = getattr(GateLike, name)
            if not inspect.iscoroutinefunction(fn) or name in SYNC_FIRST or name in SYNC_FIRST.values():
                continue
            twin = SYNC_FIRST.get(name, f"{name}_sync")
            if twin not in members:
                missing.append(twin)
            elif shape(getattr(GateLike, twin)) != shape(fn):
                differ.append(twin)
        assert ([], []) == (missing, differ)

    def test_both_are_gatelike_at_run_time(self, tmp_path: Any) -> None:
        """isinstance(..., GateLike) holds for an open local gate and a RemoteGate."""
        local = Gate.open(policy={"version": 1}, store="memory://parity")
        remote = RemoteGate("http://127.0.0.1:9", token="so_agent_x")
        try:
            assert (True, True) == (isinstance(local, GateLike), isinstance(remote, GateLike))
        finally:
            local.close()
            remote.close()

    def test_remote_mode_property_warns(self) -> None:
        """RemoteGate.mode (a property that blocked on HTTP) is deprecated and says what to use."""
        remote = RemoteGate("http://127.0.0.1:9", token="so_agent_x")
        try:
            with pytest.warns(DeprecationWarning, match="get_mode"), pytest.raises(signoff.StoreUnavailable):
                _ = remote.mode
        finally:
            remote.close()
