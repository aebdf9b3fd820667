"""The public API is what ``signoff/__init__.py`` exports; growing it takes a deliberate edit here."""

from __future__ import annotations

import signoff

EXPECTED = {
    "Action", "Allowance", "AlreadyExecuted", "BatchResult", "Conflict", "Decision", "Denied", "Expired", "Gate",
    "GateLike", "InvalidAction", "Level", "NotAllowed", "NotAuthorized", "NotFound", "Outcome", "Policy", "PolicyError",
    "Problem", "QuotaExceeded", "Reason", "Rejected", "RemoteGate", "ReviewersRequired", "SignoffError", "StillPending",
    "StoreUnavailable", "Suggested", "Ticket", "UserError", "intent",
}


class TestExportedMembers:
    def test_all_is_pinned(self) -> None:
        """``signoff.__all__`` lists exactly the pinned names."""
        assert EXPECTED == set(signoff.__all__)

    def test_every_name_resolves(self) -> None:
        """Every exported name is importable from the package."""
        missing = [name for name in signoff.__all__ if not hasattr(signoff, name)]
        assert [] == missing

    def test_errors_share_one_root(self) -> None:
        """Every exported exception derives from SignoffError, so one except clause catches them all."""
        errors = [getattr(signoff, n) for n in signoff.__all__
                  if isinstance(getattr(signoff, n), type) and issubclass(getattr(signoff, n), Exception)]
        assert all(issubclass(e, signoff.SignoffError) for e in errors)
        assert 16 == len(errors)

    def test_levels_are_ordered(self) -> None:
        """Levels compare from least to most restrictive, as the design's spectrum table."""
        L = signoff.Level
        assert [L.AUTO, L.NOTIFY, L.APPROVE, L.SUGGEST, L.DENY] == sorted(
            [L.DENY, L.AUTO, L.SUGGEST, L.NOTIFY, L.APPROVE])
