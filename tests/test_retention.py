"""Retention: the pure decision, and pruning after real backups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from src.services.backup_service import create_backup
from src.services.catalog import list_backups, verify_backups
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
