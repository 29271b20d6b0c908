"""repair: row-level salvage into recovery/, the damaged database left as it was."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from src.errors import ExitStatus
from tests.conftest import corrupt, table_rows


def test_repair_recovers_most_rows_into_a_new_database_and_changes_nothing(run_cli, sample_db):
    assert run_cli("backup", db=sample_db).returncode == 0
    with sqlite3.connect(sample_db) as conn:
        original = table_rows(conn)
    corrupt(sample_db)
    damaged = hashlib.sha256(sample_db.read_bytes()).hexdigest()
    done = run_cli("repair", db=sample_db)
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(sample_db.read_bytes()).hexdigest() == damaged
    recovered = Path(done.stdout.split("Recovered database: ")[1].split(" (")[0])
    assert recovered.parent.name == "recovery" and recovered.name.startswith("recovered_")
    with sqlite3.connect(recovered) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = table_rows(conn)
        assert (
            conn.execute(
                "SELECT count(*) FROM journal_fts WHERE journal_fts MATCH 'semangat OR hari'"
            ).fetchone()[0]
            > 0
        )
    total = recovered_total = 0
    for name, table in original.items():
        if name.startswith("journal_fts_") or name == "sqlite_stat1":
            continue
        assert set(rows.get(name, [])) <= set(table), name  # nothing invented
        total += len(table)
        recovered_total += len(rows.get(name, []))
    assert recovered_total / total >= 0.9, (recovered_total, total)
    report = json.loads(Path(done.stdout.split("Report: ")[1].split()[0]).read_text())
    assert report["integrity_check"] == "ok"
    assert report["tables"]["users"]["in_newest_backup"] == len(original["users"])


def test_repair_of_a_file_without_a_readable_header_says_what_to_do(run_cli, tmp_path):
    db = tmp_path / "pmo_recovery.db"
    db.write_bytes(b"\x00" * 8192)
    done = run_cli("repair", db=db)
    assert done.returncode == ExitStatus.DATABASE
    assert "not a SQLite database" in done.stderr
    missing = run_cli("repair", db=tmp_path / "nope.db")
    assert missing.returncode == ExitStatus.DATABASE
    assert not (tmp_path / "nope.db").exists()
