"""RECOVERY_RETENTION_DAYS: old reports and exports leave the recovery folder, nothing else."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from src.errors import ExitStatus
from src.services import diagnose_service, export_service, repair_service, restore_service
from src.services.backup_service import create_backup
from src.services.recovery_retention import classify, plan_recovery, scan
from tests.conftest import corrupt

DAY = 86_400


def age(path: Path, days: float) -> Path:
    """Set a file's or folder's modification time `days` into the past (the clock we control)."""
    moment = time.time() - days * DAY
    os.utime(path, (moment, moment), follow_symlinks=False)
    return path


def fill(recovery: Path, outside: Path) -> dict[str, Path]:
    """A recovery folder as weeks of use leave it, with a person's own files among ours."""
    recovery.mkdir()
    made = {}

    def file(name: str, days: float) -> None:
        (recovery / name).write_text("{}")
        made[name] = age(recovery / name, days)

    def folder(name: str, days: float) -> None:
        (recovery / name).mkdir()
        (recovery / name / "users.json").write_text("[]")
        made[name] = age(recovery / name, days)

    file("diagnosis_20260101_030000.json", 40)
    file("repair_20260101_030000_2.json", 40)
    file("restore_20260101_030000.json", 31)
    file("restore_20260220_030000.json", 5)  # recent: stays
    folder("data_export_20260101_030000", 40)
    folder("data_export_20260220_030000", 2)  # recent: stays
    # copies of data a restore or repair moved aside: old, but never deleted here
    folder("damaged_20260101_030000", 90)
    file("damaged_20260101_030000_pmo_recovery.db", 90)
    folder("files_before_restore_20260101_030000", 90)
    file("recovered_20260101_030000.db", 90)
    # a person's files, old as well
    file("notes.txt", 400)
    file("diagnosis_for_the_lawyer.json", 400)
    folder("data_export_mine", 400)
    outside.write_text("keep me")
    os.symlink(outside, recovery / "diagnosis_20250101_030000.json")  # named like ours
    made["diagnosis_20250101_030000.json"] = age(recovery / "diagnosis_20250101_030000.json", 400)
    return made


EXPIRED = {
    "diagnosis_20260101_030000.json",
    "repair_20260101_030000_2.json",
    "restore_20260101_030000.json",
    "data_export_20260101_030000",
}


def test_prune_dry_run_shows_old_reports_and_exports_and_prune_deletes_only_them(
    run_cli, chinook, tmp_path
):
    recovery = tmp_path / "recovery"
    made = fill(recovery, tmp_path / "outside.txt")
    plan = run_cli("prune", "--dry-run", db=chinook)
    assert plan.returncode == 0, plan.stderr
    would, left = plan.stdout.split("⚠️ Left in the recovery folder")
    assert "Would delete 4 report(s) and export(s) older than 30 days" in would
    assert {name for name in made if name in would} == EXPIRED
    assert {name for name in made if name in left} == {
        "damaged_20260101_030000",
        "damaged_20260101_030000_pmo_recovery.db",
        "files_before_restore_20260101_030000",
        "recovered_20260101_030000.db",
    }
    assert {p.name for p in recovery.iterdir()} == set(made)  # a dry run deletes nothing

    done = run_cli("prune", db=chinook)
    assert done.returncode == 0, done.stderr
    assert "4 old report(s) and export(s)" in done.stdout
    assert {p.name for p in recovery.iterdir()} == set(made) - EXPIRED
    assert (tmp_path / "outside.txt").read_text() == "keep me"
    assert (recovery / "data_export_mine" / "users.json").exists()


def test_prune_of_one_type_leaves_the_recovery_folder_alone(run_cli, chinook, tmp_path):
    made = fill(tmp_path / "recovery", tmp_path / "outside.txt")
    done = run_cli("prune", "--type", "daily", db=chinook)
    assert done.returncode == 0 and "report" not in done.stdout
    assert {p.name for p in (tmp_path / "recovery").iterdir()} == set(made)


def test_each_backup_prunes_the_recovery_folder(run_cli, chinook, tmp_path):
    made = fill(tmp_path / "recovery", tmp_path / "outside.txt")
    done = run_cli("backup", "--json", db=chinook, RECOVERY_RETENTION_DAYS="35")
    assert done.returncode == 0, done.stderr
    deleted = {Path(p).name for p in json.loads(done.stdout)["recovery_deleted"]}
    assert deleted == EXPIRED - {"restore_20260101_030000.json"}  # 31 days: within 35
    assert {p.name for p in (tmp_path / "recovery").iterdir()} == set(made) - deleted


def test_zero_days_keeps_the_recovery_folder_forever(run_cli, chinook, tmp_path):
    made = fill(tmp_path / "recovery", tmp_path / "outside.txt")
    assert run_cli("backup", db=chinook, RECOVERY_RETENTION_DAYS="0").returncode == 0
    assert run_cli("prune", db=chinook, RECOVERY_RETENTION_DAYS="0").returncode == 0
    assert {p.name for p in (tmp_path / "recovery").iterdir()} == set(made)


def test_an_invalid_recovery_retention_is_a_clear_setting_error(run_cli, chinook):
    for value in ("thirty", "-1", "99999999"):
        done = run_cli("prune", db=chinook, RECOVERY_RETENTION_DAYS=value)
        assert done.returncode == ExitStatus.CONFIG, value
        assert "RECOVERY_RETENTION_DAYS" in done.stderr


def test_a_missing_recovery_folder_is_not_created(chinook, settings_for):
    settings = settings_for(chinook)
    create_backup(settings, "manual")
    assert not settings.recovery_dir.exists()
    assert plan_recovery(settings).expired == []


def test_every_name_the_tool_writes_into_the_recovery_folder_is_recognised(chinook, settings_for):
    settings = settings_for(chinook)
    made = create_backup(settings, "manual")
    export_service.export_database(settings, None)
    diagnose_service.diagnose(settings)
    restore_service.restore(settings, str(made.path))
    corrupt(chinook)
    diagnose_service.diagnose(settings)  # a report, and every readable row exported
    with chinook.open("r+b") as handle:
        handle.write(bytes(100))  # no header: repair --apply moves the file aside
    repair_service.repair(settings, apply=True)  # a report, the recovered and damaged copies
    entries = [p for p in settings.recovery_dir.iterdir() if not p.name.startswith(".")]
    unknown = [p.name for p in entries if classify(p.name, p.is_dir()) is None]
    assert unknown == []
    kinds = {item.kind for item in scan(settings.recovery_dir)}
    assert kinds == {"report", "export", "moved aside"}
    assert len(scan(settings.recovery_dir)) == len(entries)


def test_archives_sent_to_the_bot_expire_like_exports(chinook, settings_for):
    # an admin's upload is kept in RECOVERY_DIR/received/<id>/: a copy of a backup, it goes
    # with the reports; anything else under received/ is not the tool's and stays
    settings = settings_for(chinook)
    received = settings.recovery_dir / "received"
    old, new, mine = received / "0123456789ab", received / "ba9876543210", received / "mine"
    for folder in (old, new, mine):
        folder.mkdir(parents=True)
        (folder / "pmo_recovery_backup_manual_20260101_030000.zip").write_bytes(b"PK")
    age(old, 40), age(mine, 400)
    plan = plan_recovery(settings)
    assert [item.path for item in plan.expired] == [old]
    create_backup(settings, "manual", trigger="test")  # each backup prunes the folder
    assert not old.exists() and new.exists() and mine.exists()
