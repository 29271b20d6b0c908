"""Restore the live database from a validated backup, safely under a running bot."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from src.config.settings import Settings
from src.errors import BackupError, LockBusy, NotADatabase, RestoreAborted
from src.services import catalog
from src.services.backup_service import create_backup
from src.services.integrity import check_header, count_rows, open_readonly, run_check
from src.services.locking import exclusive_lock
from src.services.naming import clean_stale, unique_path, work_prefix
from src.services.validation import Validation, validate_archive

logger = logging.getLogger(__name__)

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


@dataclass
class RestorePlan:
    """What a restore would do: the validated archive and the row counts now and then."""

    validation: Validation
    live_counts: dict[str, int] | None  # None: the live database is missing or unreadable
    live_problem: str | None


@dataclass
class RestoreResult:
    """What a restore did."""

    archive: Path
    source: str
    safety_backup: Path | None
    moved_aside: list[Path]
    integrity: str
    counts: dict[str, int]
    expected: dict[str, int]
    files_restored: list[str] = field(default_factory=list)
    files_kept_aside: Path | None = None
    report: Path | None = None
    notes: list[str] = field(default_factory=list)


def resolve_archive(settings: Settings, reference: str) -> Path:
    """Turn `latest` into the newest verified backup; anything else is a path."""
    if reference != "latest":
        return Path(reference).expanduser().resolve()
    for backup in catalog.list_backups(settings):
        # a restore's own safety backup is no candidate: `restore latest` twice would undo
        if backup.verified and not backup.degraded and backup.trigger != "restore":
            return backup.path
    raise RestoreAborted("No verified backup to restore. `list` shows the backups there are.")


def plan_restore(settings: Settings, reference: str, work: Path) -> RestorePlan:
    """Validate the archive and compare it with the live database; change nothing.

    Raises:
        ArchiveInvalid: the archive failed a check.
        RestoreAborted: no archive, or one of another application's database.
    """
    archive = resolve_archive(settings, reference)
    validation = validate_archive(archive, work)
    live_counts, live_problem = _live_counts(settings.database_path)
    _refuse_foreign(settings.database_path, validation)
    return RestorePlan(validation, live_counts, live_problem)


def check_only(settings: Settings, reference: str) -> RestorePlan:
    """Validate an archive in a work folder that is removed again; change nothing."""
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.recovery_dir, "check")
    with tempfile.TemporaryDirectory(dir=settings.recovery_dir, prefix=work_prefix("check")) as tmp:
        return plan_restore(settings, reference, Path(tmp))


def _live_counts(db: Path) -> tuple[dict[str, int] | None, str | None]:
    """Count the live database's rows, or say why that is not possible."""
    try:
        check_header(db)
        with closing(open_readonly(db)) as conn:
            return count_rows(conn), None
    except (BackupError, sqlite3.DatabaseError) as error:
        return None, str(error)


def _refuse_foreign(db: Path, validation: Validation) -> None:
    """Refuse an archive of another application's database over this one."""
    try:
        with closing(open_readonly(db)) as conn:
            live_app = int(conn.execute("PRAGMA application_id").fetchone()[0])
            live_tables = set(count_rows(conn))
    except sqlite3.DatabaseError:
        return  # missing or unreadable: nothing to compare with
    archived = validation.metadata["database"]
    archived_app = int(archived.get("application_id") or 0)
    if live_tables and (
        live_app != archived_app or not live_tables & set(archived.get("tables", {}))
    ):
        raise RestoreAborted(
            f"{validation.archive.name} holds a database of another application "
            f"(application_id {archived_app}, tables {sorted(archived.get('tables', {}))[:5]}) "
            f"than {db} (application_id {live_app}). Nothing was restored. To restore it "
            "elsewhere, set DATABASE_PATH to a new file."
        )


def restore(settings: Settings, reference: str, *, include_files: bool = False) -> RestoreResult:
    """Replace the live database's content with a validated backup's.

    An emergency backup of the current database comes first. The data is written
    through SQLite's backup API into the live file, in one transaction: open
    connections (the bot's) see the old or the new data, never a mix, and a kill
    leaves one or the other. A database too damaged to open is moved aside instead.

    Raises:
        ArchiveInvalid, RestoreAborted: refused before anything changed.
        LockBusy: a backup or another restore is running.
    """
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.recovery_dir, "restore")
    with tempfile.TemporaryDirectory(
        dir=settings.recovery_dir, prefix=work_prefix("restore")
    ) as tmp:
        plan = plan_restore(settings, reference, Path(tmp))
        journal_mode = match_live(settings.database_path, plan.validation.candidate)
        safety = _safety_backup(settings, plan.validation.archive)
        with exclusive_lock(settings.backup_dir / ".lock", "restore", settings.lock_timeout):
            moved = write_live(settings, plan.validation.candidate)
            set_journal_mode(settings.database_path, journal_mode)
        result = _after(settings, plan, safety, moved)
        if include_files:
            _restore_files(settings, plan.validation, result)
    result.report = _write_report(settings, result)
    return result


def _safety_backup(settings: Settings, restoring: Path) -> Path | None:
    """Make an emergency backup of the current database, when it can be read."""
    try:
        check_header(settings.database_path)
    except BackupError as error:
        logger.warning("restore: no safety backup (%s)", error)
        return None
    try:
        # retention must not delete the archive this restore is reading from
        return create_backup(settings, "emergency", trigger="restore", protect=restoring).path
    except BackupError as error:
        error.args = (
            f"The safety backup before the restore failed, so nothing was restored: {error}",
        )
        raise


def match_live(db: Path, candidate: Path) -> str | None:
    """Give the candidate the live database's page size; return the live journal mode.

    SQLite's backup API cannot write into a WAL database of another page size, and the
    copied header would switch a rollback-journal database to WAL.
    """
    try:
        with closing(open_readonly(db)) as conn:
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    except sqlite3.DatabaseError:
        return None  # missing or unreadable: it is replaced as a file
    with closing(sqlite3.connect(candidate, isolation_level=None)) as conn:
        if int(conn.execute("PRAGMA page_size").fetchone()[0]) != page_size:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute(f"PRAGMA page_size={page_size}")
            conn.execute("VACUUM")
        conn.execute(f"PRAGMA journal_mode={'WAL' if mode == 'wal' else 'DELETE'}")
    return mode


def set_journal_mode(db: Path, mode: str | None) -> None:
    """Put the live database's journal mode back (best effort: the bot may hold it open)."""
    if mode is None:
        return
    try:
        with closing(sqlite3.connect(db, timeout=5)) as conn:
            now = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
            if now != mode:
                conn.execute(f"PRAGMA journal_mode={mode}")
    except sqlite3.DatabaseError as error:
        logger.warning("restore: could not set the journal mode back to %s: %s", mode, error)


def write_live(settings: Settings, candidate: Path, *, busy_seconds: float = 60) -> list[Path]:
    """Write the candidate into the live database; return what was moved aside.

    Args:
        busy_seconds: how long to wait while another process holds the database locked
            before giving up with LockBusy (nothing written).
    """
    db = settings.database_path
    if not _opens(db):
        # a missing file's stale -wal would be replayed into the new one, and opening a
        # damaged one read-write would checkpoint into it: move them all aside untouched
        moved = _move_aside(settings, db)
        _place_file(candidate, db)
        return moved
    started = time.monotonic()

    def give_up_when_busy(status: int, _remaining: int, _total: int) -> None:
        # sqlite3's backup() retries a locked destination for ever: bound the wait
        if status in (_SQLITE_BUSY, _SQLITE_LOCKED) and time.monotonic() - started > busy_seconds:
            raise LockBusy(
                f"{db} stayed locked by another process for {busy_seconds:.0f} s (is the bot "
                "writing?); nothing was written. Stop the bot and try again."
            )

    try:
        with (
            closing(open_readonly(candidate, immutable=True)) as src,
            closing(sqlite3.connect(db, timeout=min(busy_seconds, 60))) as dst,
        ):
            src.backup(dst, pages=4096, sleep=0.05, progress=give_up_when_busy)
    except sqlite3.DatabaseError as error:
        raise RestoreAborted(
            f"Could not write into {db}: {error}. The database was left as it was "
            "(SQLite rolled the unfinished write back)."
        ) from error
    return []


def _opens(db: Path) -> bool:
    """Tell whether the live database exists and can be read (probed read-only).

    Raises:
        LockBusy: another process holds it locked (it is busy, not damaged).
        NotADatabase: DATABASE_PATH is a folder.
    """
    if db.exists() and not db.is_file():
        raise NotADatabase(f"{db} is not a file. Point DATABASE_PATH at the bot's .db file.")
    try:
        check_header(db)
        with closing(open_readonly(db)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as error:
        if getattr(error, "sqlite_errorcode", None) in (_SQLITE_BUSY, _SQLITE_LOCKED):
            raise LockBusy(
                f"{db} is locked by another process ({error}); nothing was restored. "
                "Stop the bot, or try again when its write has finished."
            ) from error
        logger.warning("restore: %s cannot be used (%s); it is replaced", db, error)
        return False
    except (BackupError, sqlite3.DatabaseError) as error:
        logger.warning(
            "restore: %s cannot be used (%s); it is replaced, not written into", db, error
        )
        return False
    return True


def _move_aside(settings: Settings, db: Path) -> list[Path]:
    """Move a damaged database and its -wal/-shm/-journal into the recovery folder."""
    stamp = settings.now().strftime("%Y%m%d_%H%M%S")
    moved = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = db.with_name(db.name + suffix)
        if path.exists():
            target = unique_path(settings.recovery_dir / f"damaged_{stamp}_{path.name}")
            shutil.move(path, target)
            moved.append(target)
    return moved


def _place_file(candidate: Path, db: Path) -> None:
    """Copy the candidate next to the database, sync it, then rename it into place."""
    db.parent.mkdir(parents=True, exist_ok=True)
    staging = db.with_name(f".{db.name}.restoring")
    shutil.copyfile(candidate, staging)
    with staging.open("rb+") as handle:
        os.fsync(handle.fileno())
    staging.replace(db)


def _after(
    settings: Settings, plan: RestorePlan, safety: Path | None, moved: list[Path]
) -> RestoreResult:
    """Check the restored database against the archive's metadata."""
    with closing(open_readonly(settings.database_path)) as conn:
        integrity = run_check(conn, "integrity_check")
        counts = count_rows(conn)
    validation = plan.validation
    return RestoreResult(
        archive=validation.archive,
        source=validation.source,
        safety_backup=safety,
        moved_aside=moved,
        integrity=integrity,
        counts=counts,
        expected=validation.counts,
        notes=list(validation.notes),
    )


def _restore_files(settings: Settings, validation: Validation, result: RestoreResult) -> None:
    """Put back the archived config and data files, keeping the current ones aside."""
    import zipfile

    stamp = settings.now().strftime("%Y%m%d_%H%M%S")
    aside = unique_path(settings.recovery_dir / f"files_before_restore_{stamp}")
    root = settings.project_root.resolve()
    # only the files this installation archives (CONFIG_FILES, DATA_FILES), never .env:
    # an archive from elsewhere must not plant code or secrets
    # config files (code, such as settings.py) only from archives of this installation
    made_here = validation.archive.resolve().is_relative_to(settings.backup_dir)
    names = (*settings.config_files, *settings.data_files) if made_here else settings.data_files
    if not made_here:
        result.notes.append("config files are restored only from this installation's backups")
    allowed = {(root / name).resolve() for name in names if Path(name).name != ".env"}
    with zipfile.ZipFile(validation.archive) as zf:
        for member in validation.metadata["members"]:
            name = member["path"]
            if member.get("role") not in ("config", "data") or not name.startswith("files/"):
                continue
            relative = name.removeprefix("files/")
            target = (root / relative).resolve()
            if target not in allowed:
                result.notes.append(f"{relative}: not a configured config or data file, skipped")
                continue
            if target.exists():
                keep = aside / relative
                keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target, keep)
                result.files_kept_aside = aside
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            result.files_restored.append(relative)


def _write_report(settings: Settings, result: RestoreResult) -> Path:
    """Write the restore's JSON report into the recovery folder."""
    report: dict[str, Any] = {
        "restored_at": settings.now().isoformat(),
        "archive": str(result.archive),
        "source_used": result.source,
        "safety_backup": str(result.safety_backup) if result.safety_backup else None,
        "moved_aside": [str(p) for p in result.moved_aside],
        "integrity_check": result.integrity,
        "row_counts": result.counts,
        "row_counts_in_backup": result.expected,
        "counts_match": result.counts == result.expected,
        "files_restored": result.files_restored,
        "files_kept_aside": str(result.files_kept_aside) if result.files_kept_aside else None,
        "notes": result.notes,
    }
    path = unique_path(settings.recovery_dir / f"restore_{settings.now():%Y%m%d_%H%M%S}.json")
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    logger.info("restore from %s (%s copy) done: %s", result.archive.name, result.source, report)
    return path
