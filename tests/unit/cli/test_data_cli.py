"""``signoff db backup|restore|archive`` and ``signoff audit verify --archive``, as an operator runs them."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from signoff import Action, Gate
from signoff.cli import main

POLICY = {"version": 1, "rules": [{"name": "refunds", "match": {"action": "refund"}, "level": "approve"}]}


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def history(db: str, decided: int, pending: int = 0) -> None:
    with Gate.open(policy=POLICY, store=db, sweep=False) as gate:
        gate.add_reviewer("olga")
        for i in range(decided + pending):
            t = gate.submit_sync(Action(agent="bot", name="refund", args={"i": i}))
            if i < decided:
                gate.approve_sync(t.id, reviewer="olga")


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/live.db"
    history(url, decided=3, pending=1)
    return url


def test_backup_while_written_then_restore_and_verify(db: str, tmp_path: Path) -> None:
    """A backup taken while another gate keeps submitting is a consistent, verified copy; restored
    into a new store it verifies with ``signoff audit verify``."""
    stop = threading.Event()

    def writer() -> None:
        with Gate.open(policy=POLICY, store=db, sweep=False) as gate:
            while not stop.is_set():
                gate.submit_sync(Action(agent="busy", name="refund", args={}))

    th = threading.Thread(target=writer)
    th.start()
    try:
        backup = cli("db", "backup", "--db", db, str(tmp_path / "b.db"))
    finally:
        stop.set()
        th.join()
    assert backup.exit_code == 0, backup.output
    assert "backup written" in backup.output and "hash chain verified" in backup.output
    assert not (tmp_path / "b.db-wal").exists()  # one self-contained file

    target = f"sqlite:///{tmp_path}/restored.db"
    restored = cli("db", "restore", "--db", target, str(tmp_path / "b.db"))
    assert restored.exit_code == 0, restored.output
    verified = cli("audit", "verify", "--db", target)
    assert verified.exit_code == 0 and "hash chain verified" in verified.output
    with sqlite3.connect(tmp_path / "b.db") as b, sqlite3.connect(tmp_path / "restored.db") as r:
        count = "SELECT COUNT(*) FROM tickets"
        assert b.execute(count).fetchone() == r.execute(count).fetchone()


def test_backup_never_overwrites_and_restore_needs_force(db: str, tmp_path: Path) -> None:
    """An existing backup file is kept; a store holding tickets is replaced only with --force."""
    (tmp_path / "taken.db").write_text("keep me")
    refused = cli("db", "backup", "--db", db, str(tmp_path / "taken.db"))
    assert refused.exit_code == 2 and "never written over" in refused.output
    assert (tmp_path / "taken.db").read_text() == "keep me"

    assert cli("db", "backup", "--db", db, str(tmp_path / "b.db")).exit_code == 0
    history(db, decided=1)  # the live store moves on
    no_force = cli("db", "restore", "--db", db, str(tmp_path / "b.db"))
    assert no_force.exit_code == 2 and "holds 5 tickets" in no_force.output and "--force" in no_force.output
    forced = cli("db", "restore", "--db", db, str(tmp_path / "b.db"), "--force")
    assert forced.exit_code == 0 and "4 tickets" in forced.output


def test_restore_refuses_what_is_not_a_signoff_backup(tmp_path: Path) -> None:
    """A file that is not a signoff database is named and refused; nothing is created."""
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    result = cli("db", "restore", "--db", f"sqlite:///{tmp_path}/new.db", str(junk))
    assert result.exit_code == 2 and "junk.db" in result.output and "not a SQLite database" in result.output
    assert not (tmp_path / "new.db").exists()


def test_postgres_backups_point_to_pg_dump() -> None:
    """signoff does not wrap PostgreSQL's tools; it says which to use."""
    result = cli("db", "backup", "--db", "postgresql://localhost/signoff", "out.dump")
    assert result.exit_code == 2 and "pg_dump" in result.output


def test_archive_then_verify_with_the_archive(db: str, tmp_path: Path) -> None:
    """``db archive`` takes the decided tickets; ``audit verify`` says what is archived and verifies the
    archive and the store as one chain when given the file."""
    dry = cli("db", "archive", "--db", db, "--older-than", "1ms", "--dry-run")
    assert dry.exit_code == 0 and dry.output.startswith("would archive 3 tickets")
    assert not list(tmp_path.glob("*.jsonl*"))

    done = cli("db", "archive", "--db", db, "--older-than", "1ms", "--to", str(tmp_path / "a.jsonl.gz"))
    assert done.exit_code == 0 and done.output.startswith("archived 3 tickets"), done.output
    listed = cli("tickets", "list", "--db", db, "--status", "all")
    assert listed.output.count("tk_") == 1, listed.output

    alone = cli("audit", "verify", "--db", db)
    assert alone.exit_code == 0 and "are archived" in alone.output
    whole = cli("audit", "verify", "--db", db, "--archive", str(tmp_path / "a.jsonl.gz"))
    assert whole.exit_code == 0 and "are archived" not in whole.output


def test_archive_usage_errors(db: str) -> None:
    """A bad age or a missing file name is bad usage (exit 2), named."""
    assert "--older-than" in cli("db", "archive", "--db", db, "--older-than", "soon", "--to", "x").output
    missing = cli("db", "archive", "--db", db, "--older-than", "90d")
    assert missing.exit_code == 2 and "--to FILE" in missing.output


def test_tickets_list_names_a_surging_agent(tmp_path: Path) -> None:
    """``signoff tickets list`` names an agent the flood guard flags (the default guard: 20 tickets)."""
    db = f"sqlite:///{tmp_path}/flood.db"
    history(db, decided=0, pending=20)
    result = CliRunner().invoke(main, ["tickets", "list", "--db", db, "--limit", "1"])
    assert result.exit_code == 0
    assert "flood guard: agent 'bot' is submitting far above its usual rate (20 tickets in the last 10m" \
        in result.output
