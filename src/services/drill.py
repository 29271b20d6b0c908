"""Restore drill: restore a new archive into a throw-away database and compare it."""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from src.config.settings import Settings
from src.errors import BackupError
from src.services.integrity import count_rows, open_readonly, run_check
from src.services.naming import clean_stale, work_prefix
from src.services.sandbox import guard, open_untrusted
from src.services.validation import validate_archive

logger = logging.getLogger(__name__)


@dataclass
class DrillResult:
    """Whether an archive restored into a working database, and why not."""

    archive: Path
    ok: bool
    detail: str


def restore_drill(settings: Settings, archive: Path) -> DrillResult:
    """Validate the archive, restore it into a temporary database, compare with its metadata.

    The live database is not touched; the temporary one is removed afterwards.
    """
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.recovery_dir, "drill")
    with tempfile.TemporaryDirectory(dir=settings.recovery_dir, prefix=work_prefix("drill")) as tmp:
        try:
            validation = validate_archive(archive, Path(tmp), settings.recovery_dir)
        except BackupError as error:
            return DrillResult(archive, False, f"the archive failed validation: {error}")
        target = Path(tmp) / "drill.db"
        with (
            closing(open_untrusted(validation.candidate)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
        with closing(guard(open_readonly(target))) as conn:
            integrity = run_check(conn, "integrity_check")
            counts = count_rows(conn)
    if integrity != "ok":
        return DrillResult(archive, False, f"the restored copy fails integrity_check: {integrity}")
    if counts != validation.counts:
        expected = validation.counts
        differ = sorted(k for k in {*counts, *expected} if counts.get(k) != expected.get(k))
        return DrillResult(archive, False, f"row counts differ from the metadata in {differ}")
    if validation.source != "database":
        return DrillResult(
            archive, False, f"the archived .db failed; only the {validation.source} copy restored"
        )
    rows = sum(counts.values())
    return DrillResult(archive, True, f"restored {rows} rows in {len(counts)} tables; integrity ok")
