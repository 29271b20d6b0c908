"""The one module that writes into the database the bot holds open
(src/services/live_database.py), tested on its own with real files and real connections."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest

from src.errors import LockBusy, RestoreAborted
from src.services import live_database


def make_db(path: Path, rows: int = 50, *, mode: str = "delete", page_size: int = 4096) -> Path:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA page_size={page_size}")
        conn.execute(f"PRAGMA journal_mode={mode}")
        conn.execute("CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER, body TEXT)")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO users VALUES (?, ?)", [(i, f"user {i}") for i in range(1, rows + 1)]
        )
        conn.executemany(
            "INSERT INTO notes VALUES (?, ?, ?)",
            [(i, 1 + i % rows, "x" * 200) for i in range(1, 2 * rows + 1)],
        )
        conn.execute("COMMIT")
    return path


def rows_of(path: Path, table: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def with_hot_journal(folder: Path) -> tuple[Path, list[tuple[object, ...]]]:
    """A database whose write was cut: copied (with its -journal) while a transaction had
    already spilled changed pages into the file. Returns it and its committed rows."""
    live = make_db(folder / "writer.db", rows=400)
    committed = rows_of(live, "users")
    with closing(sqlite3.connect(live, isolation_level=None)) as conn:
        conn.execute("PRAGMA cache_size=1")  # changed pages reach the file before commit
        conn.execute("BEGIN")
        conn.execute("UPDATE users SET name = 'half-written'")
        conn.execute("UPDATE notes SET body = 'half-written'")
        cut = folder / "cut.db"
        shutil.copyfile(live, cut)
        shutil.copyfile(f"{live}-journal", f"{cut}-journal")
        conn.execute("ROLLBACK")
    return cut, committed


def test_a_hot_journal_is_found_and_rolled_back_to_the_committed_rows(tmp_path):
    cut, committed = with_hot_journal(tmp_path)
    assert live_database.has_hot_journal(cut)
    assert live_database.roll_back_hot_journal(cut) is True
    assert not live_database.has_hot_journal(cut)
    assert rows_of(cut, "users") == committed
    assert live_database.roll_back_hot_journal(cut) is False  # nothing left to roll back


def test_a_readable_copy_rolls_back_in_the_work_folder_and_leaves_the_file(tmp_path):
    cut, committed = with_hot_journal(tmp_path)
    before = (cut.read_bytes(), Path(f"{cut}-journal").read_bytes())
    work = tmp_path / "work"
    work.mkdir()
    with live_database.readable_copy(cut, work) as copy:
        assert copy != cut and copy.is_relative_to(work)
        assert rows_of(copy, "users") == committed
    assert (cut.read_bytes(), Path(f"{cut}-journal").read_bytes()) == before
    assert list(work.iterdir()) == []  # its scratch folder is gone
    with live_database.readable_copy(make_db(tmp_path / "clean.db"), work) as same:
        assert same == tmp_path / "clean.db"  # no journal: the file itself


@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_write_live_replaces_the_rows_under_an_open_connection_and_keeps_the_mode(
    tmp_path, settings_for, mode
):
    live = make_db(tmp_path / "pmo_recovery.db", rows=30, mode=mode)
    candidate = make_db(tmp_path / "candidate.db", rows=70, page_size=1024)
    expected = rows_of(candidate, "users")
    settings = settings_for(live)
    bot = sqlite3.connect(live)  # the bot's connection, open across the write
    try:
        kept_mode = live_database.match_live(live, candidate)
        assert kept_mode == mode
        assert live_database.write_live(settings, candidate) == []  # nothing moved aside
        live_database.set_journal_mode(live, kept_mode)
        assert bot.execute("SELECT * FROM users ORDER BY 1").fetchall() == expected
    finally:
        bot.close()
    with closing(sqlite3.connect(live)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == mode
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_write_live_gives_up_on_a_database_another_process_keeps_locked(tmp_path, settings_for):
    live = make_db(tmp_path / "pmo_recovery.db")
    candidate = make_db(tmp_path / "candidate.db", rows=80)
    before = rows_of(live, "users")
    holder = sqlite3.connect(live, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer mid-transaction: readers go on, no writer
    holder.execute("INSERT INTO users VALUES (9999, 'not committed yet')")
    try:
        with pytest.raises(LockBusy, match="nothing was written"):
            live_database.write_live(settings_for(live), candidate, busy_seconds=0.5)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert rows_of(live, "users") == before


def test_an_unopenable_file_is_kept_aside_then_replaced_keeping_its_mode(tmp_path, settings_for):
    live = tmp_path / "pmo_recovery.db"
    live.write_bytes(b"not a database at all" * 100)
    live.chmod(0o640)
    original = live.read_bytes()
    candidate = make_db(tmp_path / "candidate.db", rows=10)
    settings = settings_for(live)
    assert live_database.opens(live) is False
    kept = live_database.write_live(settings, candidate)
    assert [p.read_bytes() for p in kept[:1]] == [original]
    assert kept[0].is_relative_to(settings.recovery_dir)
    assert rows_of(live, "users") == rows_of(candidate, "users")
    assert stat.S_IMODE(live.stat().st_mode) == 0o640
    assert not list(tmp_path.glob(".*.restoring"))  # no staging file left


def test_a_missing_database_is_created_owner_only(tmp_path, settings_for):
    live = tmp_path / "data" / "pmo_recovery.db"
    candidate = make_db(tmp_path / "candidate.db", rows=5)
    assert live_database.write_live(settings_for(live), candidate) == []
    assert rows_of(live, "users") == rows_of(candidate, "users")
    assert stat.S_IMODE(live.stat().st_mode) == 0o600


def test_write_tables_replaces_only_those_tables_in_one_transaction(tmp_path):
    live = make_db(tmp_path / "pmo_recovery.db", rows=20)
    candidate = make_db(tmp_path / "candidate.db", rows=60)
    with closing(sqlite3.connect(live)) as conn, conn:
        conn.execute("UPDATE notes SET body = 'kept'")
    written = live_database.write_tables(live, candidate, ["users"])
    assert written == {"users": 60}
    assert rows_of(live, "users") == rows_of(candidate, "users")
    assert {r[2] for r in rows_of(live, "notes")} == {"kept"}


def test_write_tables_changes_nothing_when_one_table_fails(tmp_path):
    live = make_db(tmp_path / "pmo_recovery.db", rows=20)
    candidate = make_db(tmp_path / "candidate.db", rows=60)
    with closing(sqlite3.connect(live)) as conn, conn:  # the live side refuses the rows
        conn.execute(
            "CREATE TRIGGER no_notes BEFORE INSERT ON notes BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    before = {t: rows_of(live, t) for t in ("users", "notes")}
    with pytest.raises(RestoreAborted, match="Nothing was changed"):
        live_database.write_tables(live, candidate, ["users", "notes"])
    assert {t: rows_of(live, t) for t in ("users", "notes")} == before


def test_fingerprint_tells_a_changed_file_and_copies_keep_the_sidecars(tmp_path):
    live = make_db(tmp_path / "pmo_recovery.db", mode="wal")
    reader = sqlite3.connect(live)  # keeps the -wal from being removed at close
    reader.execute("SELECT count(*) FROM users").fetchone()
    try:
        with closing(sqlite3.connect(live)) as conn, conn:
            conn.execute("INSERT INTO users VALUES (1000, 'in the wal')")
        first = live_database.fingerprint(live)
        assert first[1] != (-1, -1)  # the -wal is part of it
        folder = tmp_path / "kept"
        folder.mkdir()
        copies = live_database.copy_with_sidecars(live, folder)
        assert [p.name for p in copies] == ["pmo_recovery.db", "pmo_recovery.db-wal"]
        assert rows_of(copies[0], "users")[-1] == (1000, "in the wal")
        with closing(sqlite3.connect(live)) as conn, conn:
            conn.execute("INSERT INTO users VALUES (1001, 'later')")
        assert live_database.fingerprint(live) != first
    finally:
        reader.close()


def test_opens_tells_a_folder_a_locked_file_and_a_good_one(tmp_path):
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(Exception, match="is not a file"):
        live_database.opens(folder)
    good = make_db(tmp_path / "good.db")
    assert live_database.opens(good) is True
    assert live_database.opens(tmp_path / "missing.db") is False
    if os.name != "nt":
        assert live_database.is_busy(sqlite3.OperationalError("x")) is False
