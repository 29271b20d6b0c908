"""Unit tests of the integrity helpers (src/services/integrity.py) on files SQLite itself
refuses: their words come back as text, whatever bytes the damaged schema holds."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from src.services.integrity import check_file, open_readonly, run_check


def test_a_schema_error_that_quotes_bytes_not_utf8_is_reported_not_raised(tmp_path):
    db = tmp_path / "bad.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA writable_schema=ON")
        conn.execute(
            "INSERT INTO sqlite_master VALUES "
            "('table', CAST(X'41B0' AS TEXT), CAST(X'41B0' AS TEXT), 0, 'CREATE TABLE x(')"
        )
        conn.commit()
    with closing(open_readonly(db)) as conn:
        assert run_check(conn, "integrity_check") == (
            "integrity_check could not run: malformed database schema (A\ufffd)"
        )
    assert check_file(db) == "quick_check could not run: malformed database schema (A\ufffd)"
