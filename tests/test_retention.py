"""Retention: the pure decision, and pruning after real backups."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from src.errors import ExitStatus
from src.services.backup_service import create_backup, plan_retention
from src.services.catalog import list_backups, verify_backups
from src.services.history import History
from src.services.keep_service import keep_archive, unkeep_archive
from src.services.prune_service import apply_prune, plan_prune
from src.services.retention import select_expired


@dataclass
class Fake:
    path: Path
    created_at_key: str
    verified: bool | None = True
    degraded: bool = False


def backups(*flags: tuple[bool | None, bool]) -> list[Fake]:
    """Make fake backups, oldest first, from (verified, degraded) pairs."""
    return [
        Fake(Path(f"b{i}.zip"), f"2026110{i}_030000", verified, degraded)
        for i, (verified, degraded) in enumerate(flags)
    ]


def names(items: list[Fake]) -> list[str]:
    return [b.path.name for b in items]


def test_keeps_the_newest_n_and_expires_the_rest_oldest_first():
    items = backups(*[(True, False)] * 5)
    assert names(select_expired(items, 3)) == ["b0.zip", "b1.zip"]
    assert select_expired(items, 5) == []
    assert select_expired(items, 9) == []


def test_failed_archives_never_count_toward_n_and_are_never_deleted():
    items = backups((True, False), (True, False), (False, False), (False, False))
    # the two newest failed verification: both good ones stay although N is 2
    assert select_expired(items, 2) == []
    assert names(select_expired(items, 1)) == ["b0.zip"]


def test_the_newest_verified_backup_survives_even_if_newer_ones_failed():
    items = backups((True, False), (False, False), (False, False), (False, False))
    assert select_expired(items, 1) == []


def test_unchecked_archives_neither_count_nor_get_deleted():
    items = backups((None, False), (True, False), (None, False), (True, False))
    assert names(select_expired(items, 1)) == ["b1.zip"]


def test_degraded_emergency_archives_are_counted_apart():
    items = backups((True, False), (True, True), (True, True), (True, False))
    assert names(select_expired(items, 1)) == ["b0.zip", "b1.zip"]


def test_keep_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        select_expired([], 0)


def test_real_backups_are_pruned_to_the_retention_setting(chinook, settings_for):
    settings = settings_for(chinook, RETENTION_MANUAL="2")
    made = [create_backup(settings, "manual") for _ in range(4)]
    left = list_backups(settings, "manual")
    assert [b.path for b in left] == [made[3].path, made[2].path]
    assert made[3].deleted == [made[1].path]
    assert not made[0].path.exists()


def test_a_corrupted_archive_does_not_count_toward_retention(chinook, settings_for):
    settings = settings_for(chinook, RETENTION_MANUAL="1")
    first = create_backup(settings, "manual")
    second = create_backup(settings, "manual")
    assert not first.path.exists()
    data = bytearray(second.path.read_bytes())
    data[200:400] = b"\x00" * 200  # damage the snapshot's compressed data
    second.path.write_bytes(bytes(data))
    (report,) = verify_backups(settings, [second.path])
    assert not report.ok
    third = create_backup(settings, "manual")
    # the damaged one failed verification: it is neither counted nor deleted
    assert {b.path for b in list_backups(settings, "manual")} == {second.path, third.path}
    assert [b.verified for b in list_backups(settings, "manual")] == [True, False]


def test_daily_retention_keeps_the_newest_of_each_of_the_last_n_days():
    day = lambda b: b.created_at_key[:8]  # noqa: E731 - the period: the date part
    afternoon = [Fake(Path(f"d{h}.zip"), f"20261105_{h:02d}0000") for h in range(12, 19)]
    week = [Fake(Path(f"w{d}.zip"), f"2026110{d}_030000") for d in range(1, 5)]
    items = week + afternoon  # seven runs on the 5th, one a day on the 1st to the 4th
    expired = names(select_expired(items, 3, day))
    kept = {b.path.name for b in items} - set(expired)
    assert kept == {"d18.zip", "w4.zip", "w3.zip"}  # the newest of the 5th, 4th and 3rd
    assert "w1.zip" in expired and "d12.zip" in expired
    assert names(select_expired(items, 7, day)) == [f"d{h}.zip" for h in range(12, 18)]


def test_prune_dry_run_shows_and_prune_deletes(run_cli, chinook, tmp_path):
    for _ in range(3):
        assert run_cli("backup", "--type", "manual", db=chinook).returncode == 0
    plan = run_cli("prune", "--dry-run", db=chinook, RETENTION_MANUAL="1")
    assert plan.returncode == 0 and "Would delete 2 backup(s)" in plan.stdout
    assert len(list((tmp_path / "backups" / "manual").glob("*.zip"))) == 3
    done = run_cli("prune", db=chinook, RETENTION_MANUAL="1")
    assert done.returncode == 0 and "Deleted 2" in done.stdout
    assert len(list((tmp_path / "backups" / "manual").glob("*.zip"))) == 1
    again = run_cli("prune", db=chinook, RETENTION_MANUAL="1")
    assert "keeps every backup" in again.stdout


def listed(run_cli, db: Path) -> dict[str, dict]:
    done = run_cli("list", "--json", db=db)
    assert done.returncode == 0, done.stderr
    return {entry["name"]: entry for entry in json.loads(done.stdout)}


def test_backup_keep_and_unkeep_by_name_through_the_cli(run_cli, chinook, tmp_path):
    assert run_cli("backup", db=chinook).returncode == 0
    (name,) = listed(run_cli, chinook)
    done = run_cli("backup", "keep", name, db=chinook)
    assert done.returncode == ExitStatus.OK, done.stderr
    assert f"Kept {name}" in done.stdout
    again = run_cli("backup", "--json", "keep", name, db=chinook)
    assert json.loads(again.stdout) | {"archive": None} == {
        "archive": None,
        "name": name,
        "backup_type": "manual",
        "kept": True,
        "changed": False,
    }
    for _ in range(3):  # RETENTION_MANUAL=1: each backup deletes the one before it
        assert run_cli("backup", db=chinook, RETENTION_MANUAL="1").returncode == 0
    entries = listed(run_cli, chinook)
    assert len(entries) == 2 and entries[name]["kept"] is True
    (newest,) = set(entries) - {name}
    assert entries[newest]["kept"] is False
    text = run_cli("list", db=chinook).stdout
    (line,) = [row for row in text.splitlines() if name in row]
    assert "📌 kept" in line and "📌 kept" not in next(r for r in text.splitlines() if newest in r)

    path = tmp_path / "backups" / "manual" / name  # a path works as well as a name
    undone = run_cli("backup", "unkeep", str(path), "--json", db=chinook)
    assert (
        json.loads(undone.stdout)["changed"] is True and json.loads(undone.stdout)["kept"] is False
    )
    assert listed(run_cli, chinook)[name]["kept"] is False
    assert run_cli("prune", db=chinook, RETENTION_MANUAL="1").returncode == 0
    assert set(listed(run_cli, chinook)) == {newest}


def test_prune_dry_run_lists_kept_archives_and_prune_never_deletes_them(run_cli, chinook, tmp_path):
    for _ in range(3):
        assert run_cli("backup", db=chinook).returncode == 0
    oldest = sorted(listed(run_cli, chinook))[0]
    assert run_cli("backup", "keep", oldest, db=chinook).returncode == 0
    plan = run_cli("prune", "--dry-run", db=chinook, RETENTION_MANUAL="1")
    assert plan.returncode == 0, plan.stderr
    would, kept = plan.stdout.split("📌 Kept with `backup keep`")
    assert "Would delete 1 backup(s)" in would and oldest not in would
    assert oldest in kept
    assert len(listed(run_cli, chinook)) == 3  # a dry run deletes nothing
    done = run_cli("prune", db=chinook, RETENTION_MANUAL="1")
    assert done.returncode == 0 and "Deleted 1 backup(s)" in done.stdout
    assert oldest in listed(run_cli, chinook) and len(listed(run_cli, chinook)) == 2


def test_a_kept_archive_survives_many_backups(chinook, settings_for):
    settings = settings_for(chinook, RETENTION_MANUAL="1")
    first = create_backup(settings, "manual")
    keep_archive(settings, first.path.name)
    made = [create_backup(settings, "manual") for _ in range(6)]
    assert first.path.exists()
    assert [b.path for b in list_backups(settings, "manual")] == [made[-1].path, first.path]
    assert all(first.path not in m.deleted for m in made)


def test_a_kept_archive_takes_no_place_of_the_count(chinook, settings_for):
    settings = settings_for(chinook, RETENTION_MANUAL="2")
    a, b = create_backup(settings, "manual"), create_backup(settings, "manual")
    keep_archive(settings, str(b.path))  # the newest is kept: it must not push `a` out
    c = create_backup(settings, "manual")
    assert c.deleted == [] and a.path.exists()
    d = create_backup(settings, "manual")
    assert d.deleted == [a.path]  # the two newest of those not kept: c and d
    assert {x.path for x in list_backups(settings, "manual")} == {b.path, c.path, d.path}


def test_a_kept_daily_backup_takes_no_day(chinook, settings_for):
    settings = settings_for(chinook, RETENTION_DAILY="1")
    a = create_backup(settings, "daily")
    b = create_backup(settings, "daily", protect=a.path)  # both today: one day's slot
    keep_archive(settings, b.path.name)
    # counted, b (today's newest) would take today's place and `a` would go
    assert plan_retention(settings, "daily") == []
    unkeep_archive(settings, b.path.name)
    assert [x.path for x in plan_retention(settings, "daily")] == [a.path]


def test_prune_skips_an_archive_kept_after_the_plan_was_made(chinook, settings_for):
    settings = settings_for(chinook, RETENTION_MANUAL="1")
    old = create_backup(settings, "manual")
    create_backup(settings, "manual", protect=old.path)
    plan = plan_prune(settings)
    assert [b.path for b in plan.expired] == [old.path]
    keep_archive(settings, old.path.name)  # between the decision and the deletion
    assert apply_prune(settings, plan).deleted == []
    assert old.path.exists()


def test_unkeep_works_for_a_kept_archive_deleted_by_hand(chinook, settings_for):
    settings = settings_for(chinook)
    made = create_backup(settings, "manual")
    keep_archive(settings, made.path.name)
    made.path.unlink()
    result = unkeep_archive(settings, made.path.name)
    assert result.changed and History(settings.history_path).kept_names() == frozenset()


def test_an_older_history_file_gets_the_kept_table(run_cli, chinook, tmp_path):
    assert run_cli("backup", db=chinook).returncode == 0
    history = tmp_path / "backups" / "history.sqlite3"
    with closing(sqlite3.connect(history)) as conn:
        conn.execute("DROP TABLE kept")  # as a history file of the version before
    (name,) = listed(run_cli, chinook)
    assert listed(run_cli, chinook)[name]["kept"] is False
    assert run_cli("backup", "keep", name, db=chinook).returncode == 0
    assert listed(run_cli, chinook)[name]["kept"] is True
    with closing(sqlite3.connect(history)) as conn:
        assert conn.execute("SELECT archive FROM kept").fetchall() == [(name,)]
        assert conn.execute("SELECT count(*) FROM attempts").fetchone() == (1,)


def test_keep_refuses_what_is_not_one_of_our_backups(run_cli, chinook, tmp_path):
    assert run_cli("backup", db=chinook).returncode == 0
    (name,) = listed(run_cli, chinook)
    archive = tmp_path / "backups" / "manual" / name
    outside = tmp_path / name
    outside.write_bytes(archive.read_bytes())
    fake = tmp_path / "backups" / "manual" / "pmo_recovery_backup_manual_20200101_000000.zip"
    fake.write_text("not a zip")
    (tmp_path / "notes.txt").write_text("mine")
    cases = [
        (str(outside), ExitStatus.ERROR, "is not in the backup folder"),
        ("notes.txt", ExitStatus.ERROR, "is not in the backup folder"),
        (str(tmp_path / "missing.zip"), ExitStatus.ERROR, "No archive at"),
        ("pmo_recovery_backup_daily_20200101_000000.zip", ExitStatus.ERROR, "No backup archive"),
        (
            str(tmp_path / "backups" / "history.sqlite3"),
            ExitStatus.ERROR,
            "is not a backup archive",
        ),
        (str(tmp_path / "backups" / "manual"), ExitStatus.ERROR, "is not a backup archive"),
        ("../" + name, ExitStatus.ERROR, "No archive at"),
        (fake.name, ExitStatus.INTEGRITY, "is not a ZIP archive"),
    ]
    for argument, code, words in cases:
        done = run_cli("backup", "keep", argument, db=chinook)
        assert done.returncode == code, (argument, done.stderr)
        assert words in done.stderr, (argument, done.stderr)
        assert "Traceback" not in done.stderr
    unknown = run_cli(
        "backup", "unkeep", "pmo_recovery_backup_daily_20200101_000000.zip", db=chinook
    )
    assert unknown.returncode == ExitStatus.ERROR and "none of that name is kept" in unknown.stderr
    assert run_cli("backup", "keep", db=chinook).returncode == ExitStatus.USAGE
    typed = run_cli("backup", "--type", "daily", "keep", name, db=chinook)
    assert typed.returncode == ExitStatus.USAGE and "--type" in typed.stderr
    assert all(entry["kept"] is False for entry in listed(run_cli, chinook).values())
    assert outside.exists() and fake.exists()  # nothing was touched


def test_backup_keeps_its_options_beside_the_new_subcommands(run_cli, chinook):
    made = run_cli("backup", "--type", "daily", "--json", db=chinook)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["backup_type"] == "daily"
    assert run_cli("backup", "daily", db=chinook).returncode == ExitStatus.USAGE
    shown = run_cli("backup", "--help", db=chinook)
    assert "--type" in shown.stdout and "keep" in shown.stdout and "unkeep" in shown.stdout


def test_verify_and_restore_take_a_name_that_list_shows(run_cli, chinook):
    assert run_cli("backup", db=chinook).returncode == 0
    (name,) = listed(run_cli, chinook)
    assert run_cli("verify", name, db=chinook).returncode == ExitStatus.OK
    preview = run_cli("restore", name, db=chinook)
    assert preview.returncode == ExitStatus.NOT_CONFIRMED, preview.stderr
    assert name in preview.stdout


def test_a_kept_archive_keeps_its_copy_on_a_target(chinook, settings_for, tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    settings = settings_for(
        chinook,
        OFFSITE_TARGETS=f"usb={usb}",
        OFFSITE_PLAINTEXT="true",
        OFFSITE_RETENTION_MANUAL="1",
        RETENTION_MANUAL="5",
        RCLONE_CONFIG=os.devnull,
    )
    first = create_backup(settings, "manual")
    assert first.offsite.ok and (usb / first.path.name).exists()
    keep_archive(settings, first.path.name)
    made = [create_backup(settings, "manual") for _ in range(2)]
    assert sorted(p.name for p in usb.iterdir()) == sorted([first.path.name, made[-1].path.name])
    unkeep_archive(settings, first.path.name)
    newest = create_backup(settings, "manual")
    assert [p.name for p in usb.iterdir()] == [newest.path.name]


def test_the_bots_backup_list_pins_a_kept_archive(chinook, settings_for):
    from src.bot import views

    settings = settings_for(chinook)
    kept, other = create_backup(settings, "manual"), create_backup(settings, "manual")
    keep_archive(settings, kept.path.name)
    backups = list_backups(settings)
    _text, keyboard = views.backup_page(views.Menu("1"), backups, "manual", 0)
    labels = [row[0].text for row in keyboard.inline_keyboard[:2]]
    assert ["📌" in label for label in labels] == [False, True]  # newest first: `other`
    details, _ = views.backup_details(views.Menu("1"), backups[1], 50)
    assert backups[1].path == kept.path and "📌 kept" in details
    assert "📌" not in views.backup_details(views.Menu("1"), backups[0], 50)[0]
    assert backups[0].path == other.path
