"""What a restore reads back: every member of an archive it does not know; of an archive
of ours that passed every check and has not changed since, only its database copy (the
others are read back before a fallback would use them)."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

from src.errors import ExitStatus


def flip_inside(archive: Path, member: str) -> None:
    """Change one byte of a member's compressed data in place, keeping size and time."""
    before = archive.stat()
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(member)
    with archive.open("r+b") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        at = info.header_offset + 30 + name_length + extra_length + info.compress_size // 2
        handle.seek(at)
        byte = handle.read(1)
        handle.seek(at)
        handle.write(bytes([byte[0] ^ 0x55]))
    os.utime(archive, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_an_unchanged_verified_archive_is_restored_from_its_database_copy(
    run_cli, sample_db, tmp_path
):
    assert run_cli("backup", db=sample_db).returncode == 0
    (archive,) = (tmp_path / "backups" / "manual").glob("*.zip")
    flip_inside(archive, "database/pmo_recovery.sql")  # as if nothing had touched the file

    done = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert done.returncode == 0, done.stderr
    assert "(database copy)" in done.stdout

    # `verify` reads every member: it finds the damage and forgets the archive's record
    checked = run_cli("verify", str(archive), db=sample_db)
    assert checked.returncode == ExitStatus.INTEGRITY
    refused = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert refused.returncode == ExitStatus.INTEGRITY, refused.stdout
    assert "pmo_recovery.sql" in refused.stderr


def test_a_changed_archive_is_read_in_full_again(run_cli, sample_db, tmp_path):
    assert run_cli("backup", db=sample_db).returncode == 0
    (archive,) = (tmp_path / "backups" / "manual").glob("*.zip")
    flip_inside(archive, "database/pmo_recovery.json")
    later = archive.stat().st_mtime_ns + 2_000_000_000
    os.utime(archive, ns=(later, later))  # the file changed since it was verified
    for confirm in ((), ("--confirm",)):
        refused = run_cli("restore", str(archive), *confirm, db=sample_db)
        assert refused.returncode == ExitStatus.INTEGRITY, refused.stdout
        assert "pmo_recovery.json" in refused.stderr


def test_an_unchanged_archive_whose_database_copy_was_altered_is_refused(
    run_cli, sample_db, tmp_path
):
    # the integrity_check of a trusted database copy is proven by its SHA-256 (the same
    # bytes passed it when the backup was made): bytes that differ must never pass
    assert run_cli("backup", db=sample_db).returncode == 0
    (archive,) = (tmp_path / "backups" / "manual").glob("*.zip")
    flip_inside(archive, "database/pmo_recovery.db")  # size and time kept
    before = sample_db.read_bytes()
    for confirm in ((), ("--confirm",)):
        refused = run_cli("restore", str(archive), *confirm, db=sample_db)
        assert refused.returncode == ExitStatus.INTEGRITY, refused.stdout
        assert "pmo_recovery.db" in refused.stderr
    assert sample_db.read_bytes() == before


def test_a_moved_backup_folder_keeps_its_verdicts_while_the_files_are_unchanged(
    run_cli, sample_db, tmp_path
):
    assert run_cli("backup", db=sample_db).returncode == 0
    moved = tmp_path / "elsewhere" / "backups"
    moved.parent.mkdir()
    os.rename(tmp_path / "backups", moved)  # history and all, as `mv` does
    (archive,) = (moved / "manual").glob("*.zip")

    listed = run_cli("list", db=sample_db, BACKUP_DIR=str(moved))
    assert "✅ manual" in listed.stdout, listed.stdout
    preview = run_cli("restore", "latest", db=sample_db, BACKUP_DIR=str(moved))
    assert preview.returncode == ExitStatus.NOT_CONFIRMED, preview.stdout + preview.stderr
    assert archive.name in preview.stdout

    # a changed file is not trusted by its old record: it is read in full again
    flip_inside(archive, "database/pmo_recovery.sql")
    done = run_cli("restore", "latest", "--confirm", db=sample_db, BACKUP_DIR=str(moved))
    assert done.returncode == 0, done.stderr
    assert "(database copy)" in done.stdout  # the old record vouched for the same file
    later = archive.stat().st_mtime_ns + 2_000_000_000
    os.utime(archive, ns=(later, later))
    listed = run_cli("list", "--type", "manual", db=sample_db, BACKUP_DIR=str(moved))
    assert "⚠️ manual" in listed.stdout.split("✅ verified")[0], listed.stdout


def test_restore_latest_in_a_copied_backup_folder_says_to_verify_it(run_cli, sample_db, tmp_path):
    assert run_cli("backup", db=sample_db).returncode == 0
    copied = tmp_path / "copied"
    for path in (tmp_path / "backups").rglob("*"):  # a copy that keeps no modification time
        if path.is_file():
            (copied / path.relative_to(tmp_path / "backups")).parent.mkdir(
                parents=True, exist_ok=True
            )
            (copied / path.relative_to(tmp_path / "backups")).write_bytes(path.read_bytes())

    refused = run_cli("restore", "latest", db=sample_db, BACKUP_DIR=str(copied))
    assert refused.returncode == ExitStatus.ERROR, refused.stdout + refused.stderr
    assert f"1 archive(s) in {copied} have not been verified here" in refused.stderr
    assert "verify --all" in refused.stderr and "Unexpected" not in refused.stderr
    assert run_cli("verify", "--all", db=sample_db, BACKUP_DIR=str(copied)).returncode == 0
    again = run_cli("restore", "latest", db=sample_db, BACKUP_DIR=str(copied))
    assert again.returncode == ExitStatus.NOT_CONFIRMED, again.stdout + again.stderr
