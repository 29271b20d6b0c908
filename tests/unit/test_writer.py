"""Unit tests of the database a repair writes (src/services/salvage/writer.py): a batch that
SQLite refuses is rolled back for real, so every good row lands once and only the refused
ones reach lost_and_found."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from src.services.salvage.layouts import SchemaRow, build_layouts
from src.services.salvage.writer import BATCH, RecoveredDatabase


def made(tmp_path: Path, sql: str) -> tuple[RecoveredDatabase, object]:
    (layout,) = build_layouts([SchemaRow("table", "t", "t", 2, sql)], [])
    db = RecoveredDatabase(tmp_path / "recovered.db", 4096)
    db.create_tables([layout])
    return db, layout


def contents(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT * FROM t ORDER BY 1").fetchall()
        lost = conn.execute("SELECT row_id, reason, c0, c1 FROM lost_and_found").fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return rows, lost


def test_a_refused_row_in_a_batch_costs_only_itself(tmp_path):
    db, layout = made(tmp_path, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    rows = [(1, [None, "a"]), (2, [None, "b"]), (3, [None, "a"]), (4, [None, "c"])]
    assert db.insert(layout, rows, page=7) == 3
    db.finish(0, 0)
    kept, lost = contents(db.path)
    assert kept == [(1, "a"), (2, "b"), (4, "c")]
    assert len(lost) == 1 and lost[0][0] == 3 and "UNIQUE" in lost[0][1]
    assert lost[0][2:] == (None, "a")  # the record as stored: its rowid is row_id


def test_a_refused_row_in_a_full_batch_among_many(tmp_path):
    db, layout = made(tmp_path, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    rows = [(n, [None, None if n == BATCH + 7 else f"v{n}"]) for n in range(1, 3 * BATCH)]
    assert db.insert(layout, rows) == len(rows) - 1
    db.finish(0, 0)
    kept, lost = contents(db.path)
    assert [r[0] for r in kept] == [n for n in range(1, 3 * BATCH) if n != BATCH + 7]
    assert [r[0] for r in lost] == [BATCH + 7]
