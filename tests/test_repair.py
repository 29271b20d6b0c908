"""repair through the CLI: the damaged database left as it was, or replaced with --apply."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
import zipfile
from contextlib import closing
from pathlib import Path

import pytest

from src.errors import ExitStatus
from src.services import repair_service
from tests.conftest import corrupt, table_rows
from tests.test_recovery_scenarios import kill_mid_write


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recovered_path(stdout: str) -> Path:
    return Path(stdout.split("Recovered database: ")[1].split(" (", maxsplit=1)[0])


def report_of(stdout: str) -> dict:
    return json.loads(Path(stdout.split("Report: ")[1].split(maxsplit=1)[0]).read_text())


def own_rows(rows: dict) -> dict:
    """The tables a repair copies (FTS index data and statistics are made again)."""
    return {k: v for k, v in rows.items() if not k.startswith("journal_fts_")}


def test_repair_recovers_the_rows_into_a_new_database_and_changes_nothing(run_cli, sample_db):
    assert run_cli("backup", db=sample_db).returncode == 0
    with sqlite3.connect(sample_db) as conn:
        original = table_rows(conn)
    corrupt(sample_db)
    damaged = digest(sample_db)
    done = run_cli("repair", db=sample_db)
    assert done.returncode == 0, done.stderr
    assert digest(sample_db) == damaged
    recovered = recovered_path(done.stdout)
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
    for name, table in own_rows(original).items():
        assert set(rows.get(name, [])) <= set(table), name  # nothing invented
        total += len(table)
        recovered_total += len(rows.get(name, []))
    assert recovered_total / total >= 0.95, (recovered_total, total)
    report = report_of(done.stdout)
    assert report["integrity_check"] == "ok"
    assert report["tables"]["users"]["in_newest_backup"] == len(original["users"])
    assert "repair --apply" in done.stdout


def test_repair_reads_committed_rows_still_in_the_wal(run_cli, sample_db):
    writer = sqlite3.connect(sample_db)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        with writer:
            writer.execute(
                "INSERT INTO users (user_id, username, first_name, joined_at) "
                "VALUES (990001, 'wal_only', 'Wal', '2024-06-01T00:00:00+07:00')"
            )
        wal = sample_db.with_name(sample_db.name + "-wal")
        assert wal.stat().st_size > 0
        done = run_cli("repair", db=sample_db)
    finally:
        writer.close()
    assert done.returncode == 0, done.stderr
    assert "committed frames of the -wal" in done.stdout
    with closing(sqlite3.connect(recovered_path(done.stdout))) as conn:
        found = conn.execute("SELECT username FROM users WHERE user_id = 990001").fetchone()
    assert found == ("wal_only",)


def test_repair_rolls_back_a_hot_journal_of_a_killed_writer(run_cli, chinook):
    with sqlite3.connect(chinook) as conn:
        before = table_rows(conn)
    kill_mid_write(chinook, spill=True)  # half an UPDATE already in the file
    done = run_cli("repair", db=chinook)
    assert done.returncode == 0, done.stderr
    assert "rolled back from the hot -journal" in done.stdout
    with closing(sqlite3.connect(recovered_path(done.stdout))) as conn:
        assert table_rows(conn) == before


def test_repair_of_damaged_chinook_keeps_its_rows_and_foreign_keys(run_cli, chinook):
    assert run_cli("backup", db=chinook).returncode == 0
    with sqlite3.connect(chinook) as conn:
        original = table_rows(conn)
    corrupt(chinook)
    done = run_cli("repair", db=chinook)
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(recovered_path(done.stdout))) as conn:
        rows = table_rows(conn)
        schema = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'Track'").fetchone()
    assert "FOREIGN KEY" in schema[0]
    for name, table in original.items():
        assert set(rows[name]) <= set(table), name
    assert sum(map(len, rows.values())) >= 0.95 * sum(map(len, original.values()))


def test_repair_apply_replaces_the_live_database_and_keeps_the_damaged_files(
    run_cli, tmp_path, sample_db
):
    assert run_cli("backup", db=sample_db).returncode == 0
    corrupt(sample_db)
    damaged = digest(sample_db)
    reader = sqlite3.connect(sample_db)  # the bot's connection, open across the repair
    done = run_cli("repair", "--apply", db=sample_db)
    assert done.returncode == 0, done.stderr
    assert "now holds the recovered data" in done.stdout
    report = report_of(done.stdout)
    assert report["applied"] is True
    kept = [Path(p) for p in report["damaged_files_kept"]]
    assert kept[0].name == sample_db.name and digest(kept[0]) == damaged
    assert kept[0].is_relative_to(tmp_path / "recovery")
    # the same safety copy a restore makes first: a pre-restore archive, listed as such
    safety = Path(report["safety_backup"])
    assert safety.parent == tmp_path / "backups" / "pre-restore" and safety.is_file()
    assert str(safety) in done.stdout
    listed = run_cli("list", "--json", db=sample_db)
    assert any(
        entry["type"] == "pre-restore" and entry["path"] == str(safety)
        for entry in json.loads(listed.stdout)
    ), listed.stdout
    with closing(sqlite3.connect(recovered_path(done.stdout))) as conn:
        expected = table_rows(conn)
    assert reader.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert own_rows(table_rows(reader)) == own_rows(expected)
    reader.close()
    assert run_cli("diagnose", db=sample_db).returncode == ExitStatus.OK


def test_repair_apply_over_a_file_with_no_header_moves_it_aside(run_cli, tmp_path, chinook):
    assert run_cli("backup", db=chinook).returncode == 0
    with sqlite3.connect(chinook) as conn:
        original = table_rows(conn)
    with chinook.open("r+b") as handle:
        handle.write(bytes(100))
    done = run_cli("repair", "--apply", db=chinook)
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(chinook)) as conn:
        assert table_rows(conn) == original
    assert list((tmp_path / "recovery").glob("damaged_*"))


def test_repair_apply_refuses_when_the_database_changes_meanwhile(
    settings_for, chinook, monkeypatch
):
    settings = settings_for(chinook)
    corrupt(chinook)
    build = repair_service._build

    def build_while_the_bot_writes(*args: object):
        result = build(*args)
        with sqlite3.connect(chinook) as conn:
            conn.execute("UPDATE Artist SET Name = 'changed' WHERE ArtistId = 1")
        return result

    monkeypatch.setattr(repair_service, "_build", build_while_the_bot_writes)
    with pytest.raises(repair_service.LockBusy, match="changed while"):
        repair_service.repair(settings, apply=True)
    with sqlite3.connect(chinook) as conn:
        assert conn.execute("SELECT Name FROM Artist WHERE ArtistId = 1").fetchone() == ("changed",)


def test_repair_of_a_file_without_a_readable_header_says_what_to_do(run_cli, tmp_path):
    db = tmp_path / "pmo_recovery.db"
    db.write_bytes(b"\x00" * 8192)
    done = run_cli("repair", db=db)
    assert done.returncode == ExitStatus.DATABASE
    assert "not a SQLite database" in done.stderr
    missing = run_cli("repair", db=tmp_path / "nope.db")
    assert missing.returncode == ExitStatus.DATABASE
    assert not (tmp_path / "nope.db").exists()


HOLD_WRITE = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO Genre (Name) VALUES ('written while repairing')")
print("ready", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def test_repair_apply_does_not_wait_for_a_writer_and_overwrite_its_commit(run_cli, chinook):
    assert run_cli("backup", db=chinook).returncode == 0
    corrupt(chinook)
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE, str(chinook)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        started = time.monotonic()
        done = run_cli("repair", "--apply", db=chinook)
        assert time.monotonic() - started < 30
        assert writer.stdin is not None
        writer.stdin.write("\n")
        writer.stdin.close()
        assert writer.wait(timeout=30) == 0
    assert done.returncode == ExitStatus.BUSY, done.stdout + done.stderr
    assert "locked by another process" in done.stderr or "changed while" in done.stderr
    with closing(sqlite3.connect(chinook)) as conn:  # the writer's commit is still there
        found = conn.execute("SELECT count(*) FROM Genre WHERE Name LIKE 'written%'")
        assert found.fetchone()[0] == 1


def test_repair_refuses_a_file_that_is_not_a_database(run_cli, tmp_path, chinook):
    assert run_cli("backup", db=chinook).returncode == 0
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    done = run_cli("repair", "--apply", db=text)
    assert done.returncode == ExitStatus.DATABASE, done.stdout
    assert "not a SQLite database" in done.stderr
    assert text.read_text() == "hello\n"


def test_repair_of_a_healthy_database_says_so_and_apply_leaves_it(run_cli, chinook):
    before = digest(chinook)
    done = run_cli("repair", "--apply", db=chinook)
    assert done.returncode == 0, done.stderr
    assert "passes integrity_check: it needs no repair" in done.stdout
    assert "did not replace it" in done.stdout
    assert digest(chinook) == before


def test_repair_warns_when_the_newest_backup_has_more_rows(run_cli, chinook):
    assert run_cli("backup", db=chinook).returncode == 0
    with closing(sqlite3.connect(chinook)) as conn:  # the backup cannot fill the lost pages
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        for (table,) in tables:
            conn.execute(f'ALTER TABLE "{table}" ADD COLUMN added_later TEXT')
    size = chinook.stat().st_size
    with chinook.open("r+b") as handle:
        handle.truncate(size // 2)
    done = run_cli("repair", db=chinook)
    assert done.returncode == 0, done.stderr
    assert "⚠️ Recovered database" in done.stdout
    assert "Fewer rows than the newest backup in: " in done.stdout
    assert "restore latest --confirm" in done.stdout
    assert "its columns in the backup are not the same" in done.stdout
    report = report_of(done.stdout)
    assert report["fewer_rows_than_newest_backup"]


def test_an_emergency_backup_of_a_damaged_database_holds_what_repair_finds(
    run_cli, tmp_path, chinook
):
    # no backup to borrow from: the archive and the repair read the same file alone
    with sqlite3.connect(chinook) as conn:
        original = table_rows(conn)
    corrupt(chinook)
    done = run_cli("repair", db=chinook)
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(recovered_path(done.stdout))) as conn:
        repaired = table_rows(conn)
    made = run_cli("backup", "--type", "emergency", db=chinook)
    assert made.returncode == 0, made.stderr
    rows = sum(map(len, repaired.values()))
    assert f"Salvaged page by page (as `repair` reads it): {rows} rows" in made.stdout
    (archive,) = (tmp_path / "backups" / "emergency").glob("*.zip")
    with zipfile.ZipFile(archive) as zf:
        meta = json.loads(zf.read("metadata.json"))
        roles = {m["role"]: m["path"] for m in meta["members"]}
        salvaged = Path(zf.extract(roles["salvaged"], tmp_path / "x"))
    assert meta["degraded"] is True and roles["salvaged"] == f"database/{chinook.stem}.salvaged.db"
    with closing(sqlite3.connect(salvaged)) as conn:
        assert table_rows(conn) == repaired  # every row the repair found, as it found it
    assert sum(map(len, repaired.values())) >= 0.9 * sum(map(len, original.values()))
    assert run_cli("verify", str(archive), db=chinook).returncode == ExitStatus.OK
    # restored elsewhere: the damaged .db fails, the salvaged copy is taken
    elsewhere = tmp_path / "restored.db"
    restored = run_cli("restore", str(archive), "--to", str(elsewhere), db=chinook)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "salvaged" in restored.stdout
    with closing(sqlite3.connect(elsewhere)) as conn:
        assert table_rows(conn) == repaired
