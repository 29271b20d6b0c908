"""Restore where you choose: `--to FILE` (a new file, the live one untouched) and
`--table NAME` (only those tables, in one transaction, with preview and safety backup)."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

from src.errors import ExitStatus
from tests.conftest import table_rows


def rows_of(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        return table_rows(conn)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def only_zip(tmp_path: Path, kind: str) -> list[Path]:
    return sorted((tmp_path / "backups" / kind).glob("*.zip"))


def fts_finds(db: Path, word: str) -> list[int]:
    with closing(sqlite3.connect(db)) as conn:
        found = conn.execute(
            "SELECT rowid FROM journal_fts WHERE journal_fts MATCH ? ORDER BY rowid", (word,)
        )
        return [row[0] for row in found]


def fts_consistent(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn:  # raises on an index out of step
        conn.execute("INSERT INTO journal_fts(journal_fts, rank) VALUES ('integrity-check', 1)")


# --------------------------------------------------------------------------
# --to


def test_to_writes_a_new_exact_file_and_leaves_the_live_one_alone(run_cli, sample_db, tmp_path):
    assert run_cli("backup", db=sample_db).returncode == 0
    before = rows_of(sample_db)
    with closing(sqlite3.connect(sample_db)) as conn:
        conn.execute("DELETE FROM checkins")
        conn.commit()
    live_digest = digest(sample_db)
    out = tmp_path / "inspect" / "old.db"
    out.parent.mkdir()
    done = run_cli("restore", "latest", "--to", str(out), db=sample_db)
    assert done.returncode == 0, done.stderr
    assert f"to {out}" in done.stdout and "not touched" in done.stdout
    assert rows_of(out) == before
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert digest(sample_db) == live_digest  # not even a checkpoint
    assert only_zip(tmp_path, "pre-restore") == []  # no safety copy: nothing was replaced
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_to_restores_chinook_exactly(run_cli, chinook, tmp_path):
    assert run_cli("backup", db=chinook).returncode == 0
    out = tmp_path / "chinook_again.db"
    done = run_cli("restore", "latest", "--to", str(out), "--json", db=chinook)
    assert done.returncode == 0, done.stderr
    assert '"ok": true' in done.stdout
    assert rows_of(out) == rows_of(chinook)


def test_to_never_replaces_anything(run_cli, sample_db, tmp_path):
    assert run_cli("backup", db=sample_db).returncode == 0
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"mine")
    for target, words in (
        (taken, "exists already"),
        (sample_db, "is the live database"),
        (tmp_path / "no" / "such" / "x.db", "does not exist; create it first"),
    ):
        refused = run_cli("restore", "latest", "--to", str(target), db=sample_db)
        assert refused.returncode == ExitStatus.ERROR, refused.stderr
        assert words in refused.stderr
    assert taken.read_bytes() == b"mine"
    both = run_cli("restore", "latest", "--to", "x.db", "--table", "users", db=sample_db)
    assert both.returncode == ExitStatus.USAGE


# --------------------------------------------------------------------------
# --table


def test_table_restores_only_that_table_after_a_preview_and_a_safety_backup(
    run_cli, sample_db, tmp_path
):
    assert run_cli("backup", db=sample_db).returncode == 0
    archived = rows_of(sample_db)
    with closing(sqlite3.connect(sample_db)) as conn:
        conn.execute("DELETE FROM checkins WHERE id % 3 = 0")
        conn.execute("UPDATE users SET first_name = 'changed since'")
        conn.commit()
    changed_users = rows_of(sample_db)["users"]

    preview = run_cli("restore", "latest", "--table", "checkins", db=sample_db)
    assert preview.returncode == ExitStatus.NOT_CONFIRMED, preview.stderr
    assert "Restores only the tables checkins" in preview.stdout
    assert "users" not in preview.stdout.split("in backup", 1)[1]  # only that table's counts
    assert rows_of(sample_db)["users"] == changed_users

    done = run_cli("restore", "latest", "--table", "checkins", "--confirm", db=sample_db)
    assert done.returncode == 0, done.stderr
    assert "✅ Restored tables checkins" in done.stdout
    after = rows_of(sample_db)
    assert after["checkins"] == archived["checkins"]
    assert [u[:2] for u in after["users"]] == [u[:2] for u in changed_users]
    assert {u[after["users"][0].index("changed since")] for u in after["users"]} == {
        "changed since"
    }
    assert len(only_zip(tmp_path, "pre-restore")) == 1  # the safety copy


def test_a_journal_table_restored_alone_keeps_its_full_text_index_in_step(
    run_cli, sample_db, tmp_path
):
    assert run_cli("backup", db=sample_db).returncode == 0
    word = "urge"
    found_then = fts_finds(sample_db, word)
    assert found_then
    with closing(sqlite3.connect(sample_db)) as conn:
        conn.execute("DELETE FROM journal_entries")  # the triggers empty the index too
        conn.commit()
    assert fts_finds(sample_db, word) == []
    done = run_cli("restore", "latest", "--table", "journal_entries", "--confirm", db=sample_db)
    assert done.returncode == 0, done.stderr
    assert fts_finds(sample_db, word) == found_then
    fts_consistent(sample_db)
    done = run_cli("restore", "latest", "--table", "journal_fts", "--confirm", db=sample_db)
    assert done.returncode == 0, done.stderr  # an external-content index: rebuilt
    fts_consistent(sample_db)


def test_tables_are_restored_all_or_none(run_cli, sample_db):
    assert run_cli("backup", db=sample_db).returncode == 0
    with closing(sqlite3.connect(sample_db)) as conn:
        conn.execute("DELETE FROM users WHERE user_id % 2 = 0")
        conn.execute("DELETE FROM reminders")
        # the live database refuses the second table's rows half-way
        conn.execute(
            "CREATE TRIGGER refuse AFTER INSERT ON reminders "
            "WHEN (SELECT count(*) FROM reminders) > 3 "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
        conn.commit()
    before = rows_of(sample_db)
    failed = run_cli(
        "restore", "latest", "--table", "users", "--table", "reminders", "--confirm", db=sample_db
    )
    assert failed.returncode == ExitStatus.ERROR, failed.stdout
    assert "refused by the test" in failed.stderr and "Nothing was changed" in failed.stderr
    assert rows_of(sample_db) == before  # users too: one transaction


def test_table_names_that_cannot_be_restored_alone_are_refused_by_name(run_cli, sample_db):
    assert run_cli("backup", db=sample_db).returncode == 0
    for table, words in (
        ("nope", "is not there"),
        ("journal_fts_data", "is part of a virtual table"),
        ("sqlite_sequence", "is not there"),
        ("users; DROP TABLE users", "is not there"),
    ):
        refused = run_cli("restore", "latest", "--table", table, "--confirm", db=sample_db)
        assert refused.returncode == ExitStatus.ERROR, (table, refused.stderr)
        assert words in refused.stderr and "Tables you can restore: checkins" in refused.stderr
    with closing(sqlite3.connect(sample_db)) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN added_later TEXT")
        conn.commit()
    changed = run_cli("restore", "latest", "--table", "users", "--confirm", db=sample_db)
    assert changed.returncode == ExitStatus.ERROR
    assert "has other columns" in changed.stderr and "added_later" in changed.stderr
    assert "users" in rows_of(sample_db)
