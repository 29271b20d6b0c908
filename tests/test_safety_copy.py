"""The safety copy a restore makes first: its own kind (`pre-restore`), its own retention,
never `latest`, restorable to undo a restore; `--safety-dir` and `--no-safety-copy`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import zipfile
from contextlib import closing
from pathlib import Path

import pytest

from src.errors import BackupError, ExitStatus
from tests.conftest import ROOT, cli_env, grow_journal, table_rows


def rows_of(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        return table_rows(conn)


def archives(tmp_path: Path, kind: str) -> list[Path]:
    return sorted((tmp_path / "backups" / kind).glob("*.zip"))


def listed(run_cli, db: Path) -> list[dict]:
    done = run_cli("list", "--json", db=db)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def add_user(db: Path, user_id: int) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "INSERT INTO users (user_id, first_name, joined_at) VALUES (?, 'new', '2026-01-01')",
            (user_id,),
        )
        conn.commit()


def test_three_restores_keep_the_emergency_backup_made_by_hand(run_cli, sample_db, tmp_path):
    assert run_cli("backup", "--type", "emergency", db=sample_db).returncode == 0
    (by_hand,) = archives(tmp_path, "emergency")
    for number in range(3):
        add_user(sample_db, 900_000 + number)
        done = run_cli("restore", str(by_hand), "--confirm", db=sample_db)
        assert done.returncode == 0, done.stderr
    assert archives(tmp_path, "emergency") == [by_hand]
    assert len(archives(tmp_path, "pre-restore")) == 3
    kinds = [entry["type"] for entry in listed(run_cli, sample_db)]
    assert kinds.count("pre-restore") == 3 and kinds.count("emergency") == 1


def test_a_safety_copy_is_never_latest_and_restores_what_was_replaced(run_cli, sample_db, tmp_path):
    assert run_cli("backup", "--type", "daily", db=sample_db).returncode == 0
    (daily,) = archives(tmp_path, "daily")
    add_user(sample_db, 910_001)
    before_restore = rows_of(sample_db)
    done = run_cli("restore", "latest", "--confirm", "--json", db=sample_db)
    assert done.returncode == 0, done.stderr
    (safety,) = archives(tmp_path, "pre-restore")
    assert json.loads(done.stdout)["safety_backup"] == str(safety)

    # latest is the daily backup everywhere, though the safety copy is newer
    status = json.loads(run_cli("status", "--json", db=sample_db).stdout)
    assert status["latest"]["path"] == str(daily)
    preview = run_cli("restore", "latest", db=sample_db)
    assert preview.returncode == ExitStatus.NOT_CONFIRMED
    assert daily.name in preview.stdout and safety.name not in preview.stdout
    text = run_cli("list", db=sample_db).stdout
    assert "pre-restore" in text.lower()

    # the safety copy holds the database as it was: restoring it undoes the restore
    with zipfile.ZipFile(safety) as zf:
        names = zf.namelist()
        metadata = json.loads(zf.read("metadata.json"))
    assert names == ["database/pmo_recovery.db", "metadata.json"]  # no SQL or JSON copies
    assert metadata["backup_type"] == "pre-restore" and metadata["restoring"] == daily.name
    assert metadata["database"]["integrity_after"] == "ok"
    undo = run_cli("restore", str(safety), "--confirm", db=sample_db)
    assert undo.returncode == 0, undo.stderr
    assert rows_of(sample_db) == before_restore


def test_safety_copies_have_their_own_retention(run_cli, sample_db, tmp_path):
    assert run_cli("backup", "--type", "manual", db=sample_db).returncode == 0
    for _ in range(4):
        done = run_cli("restore", "latest", "--confirm", db=sample_db, RETENTION_PRE_RESTORE="2")
        assert done.returncode == 0, done.stderr
    assert len(archives(tmp_path, "pre-restore")) == 2
    assert len(archives(tmp_path, "manual")) == 1
    assert archives(tmp_path, "emergency") == []


def test_safety_dir_puts_the_copy_elsewhere(run_cli, sample_db, tmp_path):
    assert run_cli("backup", db=sample_db).returncode == 0
    other = tmp_path / "other disk"
    done = run_cli("restore", "latest", "--confirm", "--safety-dir", str(other), db=sample_db)
    assert done.returncode == 0, done.stderr
    (copy,) = other.glob("pmo_recovery_backup_pre-restore_*.zip")
    assert str(copy) in done.stdout
    assert archives(tmp_path, "pre-restore") == []
    checked = run_cli("verify", str(copy), db=sample_db)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def restore_without_copy(tmp_path: Path, db: Path, answer: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "backup_manager.py"),
            "restore",
            "latest",
            "--confirm",
            "--no-safety-copy",
        ],
        input=answer,
        capture_output=True,
        text=True,
        env=cli_env(tmp_path, db),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_no_safety_copy_needs_a_second_typed_yes(run_cli, sample_db, tmp_path):
    assert run_cli("backup", db=sample_db).returncode == 0
    add_user(sample_db, 920_001)
    changed = rows_of(sample_db)
    for answer in ("", "yes\n", "y\n"):
        refused = restore_without_copy(tmp_path, sample_db, answer)
        assert refused.returncode == ExitStatus.NOT_CONFIRMED, refused.stderr
        assert "Nothing was changed" in refused.stderr
        assert rows_of(sample_db) == changed
    done = restore_without_copy(tmp_path, sample_db, "no safety copy\n")
    assert done.returncode == 0, done.stderr
    assert "WITHOUT a safety copy" in done.stderr
    assert archives(tmp_path, "pre-restore") == []
    assert rows_of(sample_db) != changed
    both = run_cli(
        "restore", "latest", "--confirm", "--no-safety-copy", "--safety-dir", "x", db=sample_db
    )
    assert both.returncode == ExitStatus.USAGE


# --- the safety copy is finished beside the write, which commits only once it is kept ---


@pytest.mark.parametrize("size", ["one step", "many steps"])
def test_a_safety_copy_that_fails_beside_the_write_leaves_the_database_as_it_was(
    settings_for, sample_db, monkeypatch, size
):
    from src.services import backup_service, progress, restore_service, safety_copy

    if size == "many steps":  # more pages than one step of the write: the gate is inside it
        grow_journal(sample_db, rows=350, blob_bytes=60_000, blob_every=1, seed=5)
    settings = settings_for(sample_db)
    backup_service.create_backup(settings, "manual", trigger="test")
    add_user(sample_db, 777_001)  # a change the restore would undo
    before = rows_of(sample_db)
    written: list[int] = []

    class Recorder:  # the write's progress: pages written into the live file
        def show(self, state: progress.State) -> None:
            if state.phase.startswith("writing into") and state.done:
                written.append(state.done)

        def note(self, text: str) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(safety_copy, "check_members", lambda *a, **k: ["a byte flipped on disk"])
    with (
        progress.listening(Recorder()),
        pytest.raises(BackupError, match="safety copy before the restore failed"),
    ):
        restore_service.restore(settings, "latest")
    monkeypatch.undo()
    assert rows_of(sample_db) == before  # the write, begun or not, was rolled back
    with closing(sqlite3.connect(sample_db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    if size == "many steps":
        assert written, "the write should have begun beside the safety copy"
    assert not list((settings.backup_dir / "pre-restore").glob("*.zip"))


def test_the_write_commits_only_after_the_safety_copy_is_published(
    settings_for, sample_db, monkeypatch
):
    from src.services import backup_service, live_database, restore_service

    grow_journal(sample_db, rows=350, blob_bytes=60_000, blob_every=1, seed=6)
    settings = settings_for(sample_db)
    backup_service.create_backup(settings, "manual", trigger="test")
    add_user(sample_db, 777_002)
    seen: list[list[Path]] = []
    real = live_database.write_live

    def write(settings, candidate, **kwargs):
        gate = kwargs["before_commit"]

        def checked() -> None:
            gate()
            seen.append(sorted((settings.backup_dir / "pre-restore").glob("*.zip")))

        return real(settings, candidate, **{**kwargs, "before_commit": checked})

    monkeypatch.setattr(restore_service, "write_live", write)
    result = restore_service.restore(settings, "latest")
    assert seen == [[result.safety_backup]]  # published and kept before the commit
    assert 777_002 not in {row[0] for row in rows_of(sample_db)["users"]}
    with zipfile.ZipFile(result.safety_backup) as archive:  # the copy holds what was undone
        kept = Path(archive.extract("database/pmo_recovery.db", settings.recovery_dir / "x"))
    assert 777_002 in {row[0] for row in rows_of(kept)["users"]}
