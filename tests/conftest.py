"""Shared fixtures. Backend-specific servers (PostgreSQL) are started once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL URL on loopback for a throwaway cluster (started by tests/postgres_server.py)."""
    try:
        from tests.postgres_server import start_postgres
    except ImportError:
        pytest.skip("PostgreSQL test server helper not available yet")
    url = start_postgres()
    if url is None:
        pytest.skip("PostgreSQL could not be started on this machine")
    return url
