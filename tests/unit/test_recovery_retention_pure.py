"""The recovery folder's retention, decided without files: which names, which ages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from src.services.recovery_retention import (
    ASIDE,
    EXPORT,
    REPORT,
    RecoveryItem,
    classify,
    select_old,
)

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("name", "is_dir", "kind"),
    [
        ("diagnosis_20260301_030000.json", False, REPORT),
        ("repair_20260301_030000_2.json", False, REPORT),
        ("restore_20260301_030000.json", False, REPORT),
        ("data_export_20260301_030000", True, EXPORT),
        ("data_export_20260301_030000_3", True, EXPORT),
        ("damaged_20260301_030000", True, ASIDE),
        ("damaged_20260301_030000_pmo_recovery.db", False, ASIDE),
        ("damaged_20260301_030000_pmo_recovery.db-wal", False, ASIDE),
        ("files_before_restore_20260301_030000", True, ASIDE),
        ("recovered_20260301_030000.db", False, ASIDE),
        # not ours: a person's files, or ours in the wrong shape
        ("notes.txt", False, None),
        ("diagnosis_latest.json", False, None),
        ("diagnosis_20260301_030000.json.bak", False, None),
        ("diagnosis_20260301_030000.json", True, None),
        ("data_export_20260301_030000", False, None),
        ("data_export_mine", True, None),
        ("my_data_export_20260301_030000", True, None),
        (".restore-123-abc", True, None),
    ],
)
def test_only_names_the_tool_writes_are_recognised(name, is_dir, kind):
    assert classify(name, is_dir) == kind


def item(name: str, kind: str, days_old: float) -> RecoveryItem:
    return RecoveryItem(Path(name), kind, NOW - timedelta(days=days_old))


def test_reports_and_exports_older_than_the_limit_expire():
    items = [
        item("old.json", REPORT, 31),
        item("new.json", REPORT, 29),
        item("old_export", EXPORT, 45),
        item("new_export", EXPORT, 1),
    ]
    plan = select_old(items, 30, NOW)
    assert [i.path.name for i in plan.expired] == ["old.json", "old_export"]
    assert plan.left == []


def test_copies_moved_aside_are_never_chosen_only_named():
    items = [item("damaged_a", ASIDE, 400), item("damaged_b", ASIDE, 2)]
    plan = select_old(items, 30, NOW)
    assert plan.expired == []
    assert [i.path.name for i in plan.left] == ["damaged_a"]


def test_zero_days_keeps_everything():
    plan = select_old([item("ancient.json", REPORT, 10_000)], 0, NOW)
    assert plan.expired == [] and plan.left == []


def test_the_limit_itself_is_not_older():
    plan = select_old([item("edge.json", REPORT, 30)], 30, NOW)
    assert plan.expired == []
