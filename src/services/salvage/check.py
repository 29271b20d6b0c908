"""The recovered database read back: its integrity_check, rows per table, and the rows
that refer to a row that was lost."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from src.services.integrity import (
    count_rows,
    list_tables,
    open_readonly,
    quote_identifier,
    run_check,
)
from src.services.salvage.unexpected import Unexpected

CACHE_KIB = -65536  # SQLite's page cache (negative: KiB) for checking and writing


@dataclass
class Checked:
    """What the recovered file holds, read back from it."""

    integrity: str
    foreign_key_violations: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    virtual: list[str] = field(default_factory=list)


def inspect(recovered: Path, lost_table: str, unexpected: Unexpected, notes: list[str]) -> Checked:
    """Check the recovered file and count its rows per table."""
    # immutable: nobody writes it, and no -wal/-shm is left beside it
    with closing(open_readonly(recovered, immutable=True)) as conn:
        # integrity_check looks every row up in every index: a cache bounded at 64 MiB
        # halves its time on a 200 MB database
        conn.execute(f"PRAGMA cache_size={CACHE_KIB}")
        checked = Checked(run_check(conn, "integrity_check"))
        with unexpected.step("reading the recovered database back"):
            checked.foreign_key_violations = _foreign_key_violations(conn, notes)
            tables = list_tables(conn)
            checked.virtual = [t.name for t in tables if t.virtual]
            shadow = {t.name for t in tables if t.shadow}
            # a rebuilt FTS index has other segments than the original: not comparable rows
            checked.rows = {
                k: v for k, v in count_rows(conn).items() if k != lost_table and k not in shadow
            }
    return checked


def _foreign_key_violations(conn: sqlite3.Connection, notes: list[str]) -> int:
    """Count the rows that refer to a row that is not there, table by table."""
    count = 0
    tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    for (table,) in tables:
        try:
            check = conn.execute(f"PRAGMA foreign_key_check({quote_identifier(table)})")
            count += len(check.fetchall())
        except sqlite3.DatabaseError as error:  # a damaged schema: its parent has no such key
            notes.append(f"the foreign keys of {table} could not be checked: {error}")
    return count
