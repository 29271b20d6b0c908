"""Diagnose a database without changing it: checks, a verdict, the next command to run."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from src.config.settings import Settings
from src.database.schema import APPLICATION_ID, EXPECTED_TABLES
from src.errors import BackupError, disk_errors_in
from src.services import catalog, repair_service
from src.services.export_service import export_tables
from src.services.integrity import check_header, open_readonly, run_check
from src.services.live_database import readable_copy
from src.services.naming import clean_stale, unique_path, work_prefix

logger = logging.getLogger(__name__)

HEALTHY, WARNING, CORRUPT, MISSING = "HEALTHY", "WARNING", "CORRUPT", "MISSING"
BACKUP_MAX_AGE_HOURS = 26  # a daily backup plus a grace


@dataclass
class Check:
    """One check and its result."""

    name: str
    ok: bool
    detail: str
    severity: str = WARNING  # the verdict this check forces when it fails


@dataclass
class Diagnosis:
    """Every check, the verdict, what to do next, and where the report went."""

    database: Path
    checks: list[Check] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    report: Path | None = None
    export: Path | None = None

    @property
    def verdict(self) -> str:
        """Return the worst result of all checks."""
        failed = {c.severity for c in self.checks if not c.ok}
        for verdict in (MISSING, CORRUPT, WARNING):
            if verdict in failed:
                return verdict
        return HEALTHY

    def add(self, name: str, ok: bool, detail: str, severity: str = WARNING) -> bool:
        """Record a check; return whether it passed."""
        self.checks.append(Check(name, ok, detail, severity))
        return ok


def diagnose(settings: Settings) -> Diagnosis:
    """Check the database, write a JSON report and, on a problem, export readable rows.

    The database is only opened read-only; nothing is created where it is missing.

    Returns:
        The diagnosis, its verdict (HEALTHY, WARNING, CORRUPT, MISSING) and advice.
    """
    db = settings.database_path
    result = Diagnosis(db)
    _check_surroundings(result, settings)  # before opening: SQLite may add a -wal/-shm
    with disk_errors_in(settings.recovery_dir):  # its copies, exports and report go there
        settings.recovery_dir.mkdir(parents=True, exist_ok=True)
        with readable_copy(db, settings.recovery_dir) as readable:
            if _check_file(result, db):
                _run_checks(result, readable)
            stamp = f"{settings.now():%Y%m%d_%H%M%S}"
            newest = catalog.latest(settings)
            _check_backup_age(result, settings, newest)
            if result.verdict in (WARNING, CORRUPT) and db.is_file():
                result.export = _export_readable(settings, readable, stamp, result)
        result.recommendations = _recommend(result, newest)
        result.report = unique_path(settings.recovery_dir / f"diagnosis_{stamp}.json")
        report = orjson.dumps(_report(result, settings), option=orjson.OPT_INDENT_2)
        try:
            result.report.write_bytes(report)
        except OSError:
            result.report.unlink(missing_ok=True)  # no empty report is left behind
            raise
    logger.info("diagnosis of %s: %s", db, result.verdict)
    return result


def _check_file(result: Diagnosis, db: Path) -> bool:
    """Check that the file exists, has the SQLite header and can be read."""
    if not result.add("file exists", db.exists(), str(db), MISSING):
        return False
    kind = "a file" if db.is_file() else "a folder: DATABASE_PATH must name the .db file"
    if not result.add("is a file", db.is_file(), kind, MISSING):
        return False
    try:
        check_header(db)
    except BackupError as error:
        return result.add("SQLite header", False, str(error), CORRUPT)
    result.add("SQLite header", True, "SQLite format 3")
    readable = os.access(db, os.R_OK) and os.access(db, os.W_OK)
    result.add("permissions", readable, f"mode {db.stat().st_mode & 0o777:o}, readable/writable")
    return True


def _run_checks(result: Diagnosis, db: Path) -> None:
    """Run SQLite's own checks on a database opened read-only."""
    try:
        with closing(open_readonly(db)) as conn:
            for pragma in ("quick_check", "integrity_check"):
                outcome = run_check(conn, pragma)
                result.add(pragma, outcome == "ok", outcome, CORRUPT)
            _check_structure(result, conn)
    except sqlite3.DatabaseError as error:
        result.add("opens", False, f"cannot be opened: {error}", CORRUPT)


def _check_structure(result: Diagnosis, conn: sqlite3.Connection) -> None:
    """Foreign keys, expected tables, pages and free list."""
    try:
        violations = conn.execute("PRAGMA foreign_key_check").fetchall()
        result.add("foreign_key_check", not violations, f"{len(violations)} violation(s)")
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        if app_id == APPLICATION_ID or ("users" in tables and "checkins" in tables):
            missing = [t for t in EXPECTED_TABLES if t not in tables]
            result.add("bot tables", not missing, f"missing: {', '.join(missing) or 'none'}")
        pages = {
            p: int(conn.execute(f"PRAGMA {p}").fetchone()[0])
            for p in ("page_size", "page_count", "freelist_count")
        }
        result.add("pages", True, ", ".join(f"{k} {v}" for k, v in pages.items()))
    except sqlite3.DatabaseError as error:
        result.add("structure", False, f"cannot be read: {error}", CORRUPT)


def _check_surroundings(result: Diagnosis, settings: Settings) -> None:
    """Leftover journal files and free disk space."""
    db = settings.database_path
    for suffix, meaning in (
        ("-journal", "a hot journal: a write was interrupted"),
        ("-wal", "a write-ahead log (normal while the bot runs)"),
    ):
        leftover = db.with_name(db.name + suffix)
        if leftover.exists():
            size = leftover.stat().st_size
            ok = suffix == "-wal" or size == 0
            result.add(f"{suffix} file", ok, f"{leftover.name}, {size} bytes: {meaning}")
    folder = db.parent if db.parent.exists() else settings.project_root
    free = shutil.disk_usage(folder).free
    need = max(3 * (db.stat().st_size if db.is_file() else 0), settings.min_free_mb * 2**20)
    result.add("free disk space", free >= need, f"{free // 2**20} MB free in {folder}")


def _check_backup_age(
    result: Diagnosis, settings: Settings, newest: catalog.BackupInfo | None
) -> None:
    """Warn when no verified backup is younger than a day (plus a grace)."""
    if newest is None:
        result.add("newest verified backup", False, "none")
        return
    made = datetime.fromisoformat(newest.created_at)
    if made.tzinfo is None:
        made = made.replace(tzinfo=settings.timezone)
    hours = (settings.now() - made).total_seconds() / 3600
    result.add(
        "newest verified backup",
        hours <= BACKUP_MAX_AGE_HOURS,
        f"{newest.name}, {hours:.1f} hours old",
    )


def _recommend(result: Diagnosis, newest: catalog.BackupInfo | None) -> list[str]:
    """Name the exact next commands for the problems found."""
    restore = (
        f"python backup_manager.py restore {newest.path} --confirm"
        if newest
        else "no verified backup exists to restore from"
    )
    verdict = result.verdict
    failed = {c.name for c in result.checks if not c.ok}
    if "is a file" in failed:
        return [
            "DATABASE_PATH names a folder. Point it at the bot's .db file (README: Configuration)."
        ]
    if verdict == MISSING:
        return [f"The database is missing. Restore it: {restore}"]
    if verdict == CORRUPT:
        advice = []
        if "SQLite header" not in failed:  # an emergency backup needs a file SQLite can open
            advice.append(
                "Archive what can still be read: python backup_manager.py backup --type emergency"
            )
        if result.export:
            advice.append(f"The readable rows were exported to {result.export}")
        advice.append(
            "Build a repaired copy from every row the file still holds, also without a header "
            "(the database is not changed): python backup_manager.py repair"
        )
        return [*advice, f"Restore the newest verified backup: {restore}"]
    advice = []
    if "newest verified backup" in failed:
        advice.append("Make a backup now: python backup_manager.py backup --type manual")
    if "free disk space" in failed:
        advice.append("Free disk space, or set BACKUP_DIR to a larger disk.")
    if "foreign_key_check" in failed or "bot tables" in failed:
        advice.append(f"Check the data against a backup; to go back to it: {restore}")
    if "-journal file" in failed:
        advice.append("Start the bot once so SQLite rolls back the interrupted write.")
    if "permissions" in failed:
        advice.append("Give the bot's user read and write access to the database file.")
    return advice


def _export_readable(settings: Settings, db: Path, stamp: str, result: Diagnosis) -> Path | None:
    """Export every readable row (the spec's scenario 3); None when nothing could be read."""
    folder = unique_path(settings.recovery_dir / f"data_export_{stamp}")
    try:
        export_tables(db, folder, settings.now().isoformat())
    except (sqlite3.DatabaseError, OSError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        if _export_salvaged(settings, db, folder):
            result.add(
                "export of readable rows",
                True,
                f"SQLite cannot read it ({error}); the rows were read page by page, as "
                "`repair` does",
                CORRUPT,
            )
            return folder
        result.add("export of readable rows", False, f"nothing exported: {error}", CORRUPT)
        return None
    return folder


def _export_salvaged(settings: Settings, db: Path, folder: Path) -> bool:
    """Export what the page-level salvage finds when SQLite cannot read the file at all."""
    clean_stale(settings.recovery_dir, "diagnose")
    with tempfile.TemporaryDirectory(
        dir=settings.recovery_dir, prefix=work_prefix("diagnose")
    ) as tmp:
        try:
            copy = repair_service.salvage_copy(settings, db, Path(tmp) / "salvaged.db")
            export_tables(copy.recovered, folder, settings.now().isoformat())
        except (BackupError, sqlite3.DatabaseError, OSError) as error:
            logger.warning("diagnose: page-level salvage found nothing to export: %s", error)
            shutil.rmtree(folder, ignore_errors=True)
            return False
    return True


def _report(result: Diagnosis, settings: Settings) -> dict[str, Any]:
    """Build the JSON report."""
    return {
        "database": str(result.database),
        "diagnosed_at": settings.now().isoformat(),
        "verdict": result.verdict,
        "checks": [asdict(check) for check in result.checks],
        "recommendations": result.recommendations,
        "export": str(result.export) if result.export else None,
    }
