"""The words every door shares: one mark per verdict, sizes and times, no door's commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from src.presentation.marks import mark
from src.presentation.units import age, size, when
from src.services.catalog import BackupInfo

ROOT = Path(__file__).resolve().parents[2]


def info(verified: bool | None, degraded: bool) -> BackupInfo:
    metadata = {"degraded": degraded} if degraded else {}
    return BackupInfo(
        path=Path("x.zip"),
        backup_type="emergency",
        stamp="20261206_010203",
        sequence=1,
        size_bytes=1,
        verified=verified,
        metadata=metadata,
    )


@pytest.mark.parametrize(
    ("verified", "degraded", "state", "shown"),
    [
        (True, False, "ok", "✅"),
        (None, False, "unverified", "⚠️"),
        (True, True, "degraded", "⚠️"),
        (False, True, "failed", "❌"),  # a failed check outweighs degraded
        (False, False, "failed", "❌"),
    ],
)
def test_each_backup_has_one_verdict_and_one_mark(verified, degraded, state, shown):
    item = info(verified, degraded)
    assert item.state == state
    assert mark(item.state) == shown


def test_units_for_people():
    assert size(None) == "?" and size(512) == "512 B" and size(3 * 2**20) == "3.00 MB"
    assert when("2026-12-06T01:02:03+07:00") == "2026-12-06 01:02:03"
    assert when(None) == "never" and when("garbage") == "garbage"
    assert age(None) == "never"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_bot_does_not_import_the_cli_and_shared_words_import_neither_door():
    for path in (ROOT / "src" / "bot").rglob("*.py"):
        assert not {m for m in _imports(path) if m.startswith("src.cli")}, path
    for path in (ROOT / "src" / "presentation").rglob("*.py"):
        doors = {m for m in _imports(path) if m.split(".")[0] in {"click", "telegram"}}
        doors |= {m for m in _imports(path) if m.startswith(("src.cli", "src.bot"))}
        assert not doors, path
        assert "backup_manager.py" not in path.read_text(encoding="utf-8"), path
