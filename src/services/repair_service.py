"""Repair: a new database in recovery/ from every row the damaged file still holds."""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

from src.config.settings import Settings
from src.errors import (
    BackupError,
    DatabaseNotFound,
    IntegrityFailure,
    LockBusy,
    NotADatabase,
    disk_error,
    disk_errors_in,
)
from src.services import catalog, live_database, safety_copy
from src.services.archive import READ_ERRORS, extract_member
from src.services.integrity import open_readonly, run_check
from src.services.locking import exclusive_lock
from src.services.naming import clean_stale, unique_path, work_prefix
from src.services.replication import litestream
from src.services.salvage import Backup, SalvageResult, read_backup, salvage

logger = logging.getLogger(__name__)


@dataclass
class RepairResult(SalvageResult):
    """What a repair built and how it compares with the newest backup."""

    report: Path = Path()
    expected: dict[str, int] | None = None  # rows per table in the newest verified backup
    kept_damaged: list[Path] = field(default_factory=list)  # with --apply
    safety_backup: Path | None = None  # with --apply: the pre-restore archive made first
    applied: bool = False
    healthy: bool = False  # the live database passed integrity_check

    def fewer_than_backup(self) -> dict[str, tuple[int, int]]:
        """Tables with fewer rows than the newest backup: (recovered, in the backup)."""
        return {
            name: (rows, (self.expected or {})[name])
            for name, rows in self.rows.items()
            if (self.expected or {}).get(name, 0) > rows
        }


class _NewestBackup:
    """The newest verified backup: its database is extracted once, when first needed, into
    a work folder that lives as long as the repair and is deleted after it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._read = False
        self._backup: Backup | None = None

    def extracted(self, notes: list[str]) -> Backup | None:
        """The newest verified backup that could be read, with its database extracted (one
        that cannot be read is noted in `notes` and passed over)."""
        if not self._read:
            self._read = True
            clean_stale(self.settings.recovery_dir, "repair")
            self._folder = tempfile.TemporaryDirectory(
                dir=self.settings.recovery_dir, prefix=work_prefix("repair")
            )
            self._backup = _newest_backup(self.settings, Path(self._folder.name), notes)
        return self._backup

    def described(self) -> Backup | None:
        """The newest verified backup, as its metadata describes it (nothing extracted)."""
        return self._backup if self._read else _newest_backup(self.settings)

    def __enter__(self) -> _NewestBackup:
        return self

    def __exit__(self, *_: object) -> None:
        if self._folder is not None:
            self._folder.cleanup()


def repair(settings: Settings, *, apply: bool = False) -> RepairResult:
    """Build recovery/recovered_<time>.db from every row the database file still holds.

    With `apply`, the damaged file (and its -wal/-journal) is first copied into
    recovery/, the repair is made from that copy, and the result is written into the
    live database the way a restore is.

    Raises:
        DatabaseNotFound, NotADatabase: nothing to repair at DATABASE_PATH.
        IntegrityFailure: with `apply`, the recovered database failed integrity_check.
        LockBusy: with `apply`, a backup or restore is running.
        InsufficientSpace, FolderNotWritable: the recovery folder is full or read-only.
    """
    db = settings.database_path
    if not db.exists():
        raise DatabaseNotFound(
            f"{db} does not exist; there is nothing to repair. To bring the newest verified "
            "backup back: python backup_manager.py restore latest --confirm"
        )
    if not db.is_file():
        raise NotADatabase(f"{db} is not a file. Point DATABASE_PATH at the bot's .db file.")
    with disk_errors_in(settings.recovery_dir):  # what it writes, it writes there
        settings.recovery_dir.mkdir(parents=True, exist_ok=True)
        stamp = f"{settings.now():%Y%m%d_%H%M%S}"
        healthy = _healthy(db)
        if not apply or healthy:
            result = _build(settings, db, stamp)
        else:
            with exclusive_lock(settings.backup_dir / ".lock", "repair", settings.lock_timeout):
                result = _repair_and_apply(settings, stamp)
        result.healthy = healthy
        if apply and healthy:
            result.notes.append(
                "the live database passes integrity_check, so --apply did not replace it"
            )
        result.report = _write_report(settings, stamp, result)
    logger.info("repair of %s: %s, integrity %s", db, result.recovered, result.integrity)
    return result


def _healthy(db: Path) -> bool:
    """Tell whether the database opens and passes integrity_check (then nothing needs repair)."""
    try:
        with closing(open_readonly(db)) as conn:
            return run_check(conn, "integrity_check") == "ok"
    except (sqlite3.DatabaseError, OSError):
        return False


def _repair_and_apply(settings: Settings, stamp: str) -> RepairResult:
    """Keep the damaged files, repair from the kept copy, write the result into the live file."""
    db = settings.database_path
    before = live_database.fingerprint(db)
    kept = _keep_damaged(settings, db, stamp)
    result = _build(settings, kept[0], stamp)
    result.kept_damaged = kept
    if result.integrity != "ok":
        raise IntegrityFailure(
            f"The recovered database fails integrity_check ({result.integrity}); the live "
            "database was not changed. Restore the newest backup instead."
        )
    if live_database.fingerprint(db) != before:
        raise LockBusy(
            f"{db} changed while it was being repaired (is the bot running?); it was not "
            "replaced. Stop the bot and run `repair --apply` again."
        )
    # the same safety copy a restore makes first: a pre-restore archive that restores
    # like any backup (of a file SQLite cannot copy, the raw files, marked degraded)
    try:
        made = safety_copy.make_safety_copy(settings, result.recovered, trigger="repair")
    except BackupError as error:
        error.args = (
            f"The safety copy before the repair failed, so nothing was replaced: {error}",
        )
        raise
    if made is not None:
        safety_copy.keep(settings, made, set())
        result.safety_backup = made.path
    mode = live_database.match_live(db, result.recovered)
    # no waiting for a lock: a writer that holds it would commit just before we overwrite
    result.kept_damaged += live_database.write_live(settings, result.recovered, busy_seconds=0)
    live_database.set_journal_mode(db, mode)
    if settings.replica.enabled:  # a running Litestream writes to its own tables
        litestream.keep_bookkeeping(db)
    with closing(open_readonly(db)) as conn:
        live = run_check(conn, "integrity_check")
    if live != "ok":
        raise IntegrityFailure(f"After the repair {db} fails integrity_check: {live}")
    result.applied = True
    return result


def _keep_damaged(settings: Settings, db: Path, stamp: str) -> list[Path]:
    """Copy the damaged database with its -wal/-journal into recovery/damaged_<time>/."""
    folder = unique_path(settings.recovery_dir / f"damaged_{stamp}")
    folder.mkdir()
    return live_database.copy_with_sidecars(db, folder)


def salvage_copy(settings: Settings, source: Path, target: Path) -> RepairResult:
    """Salvage `source` page by page into `target` (a new file), e.g. for diagnose's export.

    Only what the file holds: no row of a lost page is taken from a backup.

    Raises:
        NotADatabase: no SQLite page in the file.
    """
    return _build(settings, source, "", into=target)


def _build(settings: Settings, source: Path, stamp: str, into: Path | None = None) -> RepairResult:
    """Salvage `source` (with its -wal/-journal) into a new recovered database; a repair
    (not `into`) takes the rows of the pages the file lost from the newest backup."""
    recovered = into or unique_path(settings.recovery_dir / f"recovered_{stamp}.db")
    with _NewestBackup(settings) as backups:
        salvaged = salvage(source, backups, recovered, rows_from_backup=into is None)
        newest = backups.described()
    found = {f.name: getattr(salvaged, f.name) for f in fields(salvaged)}
    return RepairResult(**found, expected=newest.tables if newest else None)


# an archive or its database that cannot be read, or metadata without what it should say
_BACKUP_ERRORS: tuple[type[Exception], ...] = (
    *READ_ERRORS,
    sqlite3.DatabaseError,
    ValueError,
    TypeError,
)


def _newest_backup(
    settings: Settings, into: Path | None = None, notes: list[str] | None = None
) -> Backup | None:
    """The newest verified backup: its metadata; with `into`, its database too, extracted
    there and read (schema, page size). One that cannot be read is noted and passed over."""
    for backup in catalog.list_backups(settings):
        if not backup.verified or backup.degraded or not backup.metadata:
            continue
        try:
            found = _read_backup(backup, into)
        except _BACKUP_ERRORS as error:
            if disk_error(error) is not None:
                raise
            logger.warning("repair: backup %s cannot be read: %s", backup.name, error)
            if notes is not None:
                notes.append(f"backup {backup.name} could not be read ({error}); not used")
            continue
        if found is not None:
            return found
    return None


def _read_backup(backup: catalog.BackupInfo, into: Path | None) -> Backup | None:
    """What one backup knows of the database; with `into`, its database extracted there
    (None when the archive has no database member, or it fails its checksum)."""
    metadata = backup.metadata or {}
    database = metadata["database"]
    tables = {str(k): int(v) for k, v in dict(database.get("tables", {})).items()}
    if into is None:
        page_size = int(database.get("page_size") or 0)
        return Backup(backup.name, [], page_size, "utf-8", 0, 0, tables)
    member = next((m for m in metadata["members"] if m.get("role") == "database"), None)
    if member is None:
        return None
    copy = into / f"{backup.name}.db"
    if extract_member(backup.path, member["path"], copy, member):
        copy.unlink(missing_ok=True)
        return None
    wal = str(database.get("journal_mode", "")).lower() == "wal"
    return read_backup(backup.name, copy, tables, wal=wal, created_at=backup.created_at)


def _write_report(settings: Settings, stamp: str, result: RepairResult) -> Path:
    """Write the repair report: rows per table against the newest backup."""
    tables: dict[str, Any] = {
        name: {
            "recovered": rows,
            "from_table_pages": result.counts[name].from_tree if name in result.counts else None,
            "from_unlinked_pages": (
                result.counts[name].from_unlinked_pages if name in result.counts else None
            ),
            "from_backup": result.counts[name].from_backup if name in result.counts else None,
            "in_newest_backup": (result.expected or {}).get(name),
        }
        for name, rows in result.rows.items()
    }
    report = {
        "database": str(settings.database_path),
        "recovered": str(result.recovered),
        "method": "page-level salvage: b-tree pages read from the file itself",
        "page_size": result.page_size,
        "integrity_check": result.integrity,
        "unreadable_tree_pages": result.damaged_pages,
        "unreadable_pages_first_200": result.unreadable,
        "live_database_healthy": result.healthy,
        "fewer_rows_than_newest_backup": {
            name: {"recovered": got, "in_backup": had}
            for name, (got, had) in result.fewer_than_backup().items()
        },
        "virtual_tables_rebuilt": result.rebuilt,
        "foreign_key_violations": result.foreign_key_violations,
        "lost_and_found_rows": result.lost_and_found,
        "tables": tables,
        "notes": result.notes,
        "unexpected_errors": result.unexpected_errors,
        "not_recreated": result.failed_objects,
        "applied": result.applied,
        "damaged_files_kept": [str(p) for p in result.kept_damaged],
        "safety_backup": str(result.safety_backup) if result.safety_backup else None,
        "seconds": round(result.seconds, 2),
    }
    path = unique_path(settings.recovery_dir / f"repair_{stamp}.json")
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return path
