"""Edge cases of restore, diagnose and export found in review, as real processes."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import zipfile
from pathlib import Path

from src.errors import ExitStatus
from tests.conftest import corrupt, table_rows


def backup(run_cli, db: Path, kind: str = "manual") -> Path:
    done = run_cli("backup", "--type", kind, db=db)
    assert done.returncode == 0, done.stderr
    return Path(json.loads(run_cli("list", "--json", db=db).stdout)[0]["path"])


def test_the_safety_backup_never_deletes_the_archive_being_restored(run_cli, chinook):
    oldest = backup(run_cli, chinook, "emergency")
    time.sleep(1.1)
    backup(run_cli, chinook, "emergency")
    done = run_cli("restore", str(oldest), "--confirm", db=chinook, RETENTION_EMERGENCY="1")
    assert done.returncode == 0, done.stderr
    assert oldest.exists()


def test_wal_database_of_another_page_size_is_restored_and_keeps_its_mode(run_cli, tmp_path):
    db = tmp_path / "bot.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "PRAGMA page_size=1024; CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);"
        "INSERT INTO notes(body) VALUES ('satu'), ('dua');"
    )
    conn.close()
    archive = backup(run_cli, db)  # page size 1024, rollback journal
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DELETE FROM notes")
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    conn.close()
    done = run_cli("restore", str(archive), "--confirm", db=db)
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT body FROM notes ORDER BY id").fetchall() == [
            ("satu",),
            ("dua",),
        ]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_malformed_metadata_is_refused_not_a_crash(run_cli, chinook, tmp_path):
    archive = backup(run_cli, chinook)
    for name, change in (
        ("members-as-text", lambda m: m.update(members="nope")),
        ("no-path", lambda m: m["members"][0].pop("path")),
        ("tables-as-list", lambda m: m["database"].update(tables=[])),
        ("ghost-database", lambda m: m["members"][0].update(path="database/ghost.db")),
    ):
        bad = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(archive) as src, zipfile.ZipFile(bad, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "metadata.json":
                    meta = json.loads(data)
                    change(meta)
                    data = json.dumps(meta).encode()
                dst.writestr(info, data)
        done = run_cli("restore", str(bad), db=chinook)
        assert done.returncode == ExitStatus.INTEGRITY, (name, done.stderr)
        assert "Unexpected error" not in done.stderr


def test_include_files_restores_no_code_from_an_archive_made_elsewhere(run_cli, chinook, tmp_path):
    archive = backup(run_cli, chinook)
    elsewhere = tmp_path / "downloaded.zip"
    shutil.copy(archive, elsewhere)
    settings_py = Path(__file__).parents[1] / "src" / "config" / "settings.py"
    before = settings_py.read_bytes()
    done = run_cli("restore", str(elsewhere), "--confirm", "--include-files", db=chinook)
    assert done.returncode == 0, done.stderr
    assert "only from this installation's backups" in done.stdout
    assert settings_py.read_bytes() == before


def test_long_table_names_and_a_folder_as_database(run_cli, tmp_path):
    db = tmp_path / "long.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f'CREATE TABLE "{"x" * 300}"(a)')
        conn.execute(f'INSERT INTO "{"x" * 300}" VALUES (1)')
    done = run_cli("export", db=db)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "data"
    folder.mkdir()
    diagnosis = run_cli("diagnose", db=folder)
    assert diagnosis.returncode == ExitStatus.CONFIG, diagnosis.stderr
    assert "DATABASE_PATH" in diagnosis.stderr and "is a folder" in diagnosis.stderr
    restore = run_cli("restore", "latest", "--confirm", db=folder)
    assert restore.returncode == ExitStatus.CONFIG, restore.stderr
    assert folder.is_dir()


def test_export_of_an_unreadable_database_is_exit_5_and_leaves_no_folder(run_cli, tmp_path):
    db = tmp_path / "broken.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    done = run_cli("export", db=db)
    assert done.returncode == ExitStatus.INTEGRITY, done.stderr
    assert "diagnose" in done.stderr
    assert not list((tmp_path / "recovery").glob("data_export_*"))


def test_corrupt_page_restore_round_trip_still_exact(run_cli, sample_db):
    archive = backup(run_cli, sample_db)
    with sqlite3.connect(sample_db) as conn:
        expected = table_rows(conn)
    corrupt(sample_db)
    done = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(sample_db) as conn:
        assert table_rows(conn) == expected
