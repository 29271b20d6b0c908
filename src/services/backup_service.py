"""Create a verified backup: snapshot, SQL and JSON exports, files, metadata, one ZIP."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from src.config.settings import BACKUP_TYPES, Settings
from src.errors import (
    ArchiveInvalid,
    BackupError,
    FolderNotWritable,
    InsufficientSpace,
    IntegrityFailure,
)
from src.services import catalog, retention
from src.services.archive import ArchiveWriter, check_members
from src.services.contents import add_files, build_metadata
from src.services.exporters import write_json_export, write_sql_dump
from src.services.history import History
from src.services.integrity import (
    DatabaseFacts,
    check_file,
    check_header,
    gather_facts,
    open_readonly,
    run_check,
)
from src.services.locking import exclusive_lock
from src.services.snapshot import take_snapshot

logger = logging.getLogger(__name__)


@dataclass
class BackupResult:
    """What one successful backup made."""

    path: Path
    backup_type: str
    created_at: datetime
    duration_seconds: float
    size_bytes: int
    facts: DatabaseFacts
    integrity_before: str
    integrity_after: str
    degraded: bool
    problems: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)


def create_backup(settings: Settings, backup_type: str, trigger: str = "cli") -> BackupResult:
    """Make one backup of the database, verify it, then apply retention.

    Args:
        settings: the tool's settings.
        backup_type: daily, weekly, manual or emergency.
        trigger: who asked (cli, scheduler, bot), recorded in the history.

    Returns:
        The verified archive and the facts recorded in its metadata.

    Raises:
        DatabaseNotFound, NotADatabase: DATABASE_PATH is wrong.
        IntegrityFailure: quick_check failed (only an emergency backup goes on).
        InsufficientSpace, FolderNotWritable: the backup cannot be written.
        LockBusy: another backup or restore kept the lock too long.
        ArchiveInvalid: the written archive failed verification (it was deleted).
    """
    if backup_type not in BACKUP_TYPES:
        raise BackupError(f"Unknown backup type {backup_type!r}: use {', '.join(BACKUP_TYPES)}.")
    folder = _prepare_folder(settings.type_dir(backup_type))
    history = History(settings.history_path)
    started = settings.now()
    clock = time.monotonic()
    attempt = history.start(backup_type, trigger, started)
    logger.info("%s backup started (%s) of %s", backup_type, trigger, settings.database_path)
    try:
        with exclusive_lock(
            settings.backup_dir / ".lock", f"{backup_type} backup", settings.lock_timeout
        ):
            # named and dated when the lock is ours, not when we began to wait for it
            result = _create_locked(settings, backup_type, folder, settings.now(), clock)
    except BaseException as error:
        reason = str(error) or type(error).__name__
        interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
        if interrupted:
            reason = "interrupted (Ctrl-C or shutdown)"
        history.finish(
            attempt, settings.now(), time.monotonic() - clock, error=reason, interrupted=interrupted
        )
        # an expected failure needs no traceback; anything else does
        logger.error(  # noqa: TRY400
            "%s backup failed: %s", backup_type, reason, exc_info=not isinstance(error, BackupError)
        )
        raise
    history.finish(
        attempt,
        settings.now(),
        result.duration_seconds,
        archive=result.path,
        size_bytes=result.size_bytes,
    )
    history.record_verification(result.path, settings.now(), [])
    result.deleted = apply_retention(settings, backup_type)
    logger.info(
        "%s backup done: %s, %d bytes, %.2f s",
        backup_type,
        result.path.name,
        result.size_bytes,
        result.duration_seconds,
    )
    return result


def apply_retention(settings: Settings, backup_type: str) -> list[Path]:
    """Delete the backups of one type that retention no longer keeps."""
    backups = catalog.list_backups(settings, backup_type)
    expired = retention.select_expired(backups, settings.retention[backup_type])
    return retention.prune(expired)


def _prepare_folder(folder: Path) -> Path:
    """Create a backup folder and make sure we can write to it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise FolderNotWritable(
            f"Cannot write to the backup folder {folder}: {error.strerror or error}. "
            "Fix its permissions or set BACKUP_DIR to a writable folder."
        ) from None
    return folder


def _clean_leftovers(folder: Path) -> None:
    """Remove work folders of backups that were killed (we hold the lock, so they are dead)."""
    for leftover in folder.glob(".tmp-*"):
        logger.warning("removing the leftover of an interrupted backup: %s", leftover.name)
        shutil.rmtree(leftover, ignore_errors=True)


def _check_space(settings: Settings, folder: Path) -> None:
    """Refuse to start when the snapshot and archive would not fit on the disk."""
    db = settings.database_path
    wal = db.with_name(db.name + "-wal")
    size = db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    # the snapshot, plus an archive that is at most about as big again (three formats, compressed)
    needed = 2 * size + settings.min_free_mb * 1024 * 1024
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise InsufficientSpace(
            f"Not enough free space in {folder}: {free // 2**20} MB free, about "
            f"{needed // 2**20} MB needed. Free some space or set BACKUP_DIR to another disk."
        )


def _unique_name(folder: Path, backup_type: str, started: datetime) -> str:
    """Return an archive name not used yet, even for two backups in one second."""
    base = f"{catalog.NAME_PREFIX}_{backup_type}_{started:%Y%m%d_%H%M%S}"
    # the next number after every archive of that second, so the newest always sorts last
    # (also when retention has deleted the first ones)
    used = [
        int(match["n"] or 1)
        for path in folder.glob(f"{base}*.zip")
        if (match := catalog.ARCHIVE_NAME.match(path.name))
    ]
    if not used:
        return f"{base}.zip"
    return f"{base}_{max(used) + 1}.zip"


def _create_locked(
    settings: Settings, backup_type: str, folder: Path, started: datetime, clock: float
) -> BackupResult:
    """Make the backup while holding the lock."""
    db = settings.database_path
    check_header(db)
    _clean_leftovers(folder)
    before = check_file(db, "quick_check")
    degraded = before != "ok"
    if degraded and backup_type != "emergency":
        raise IntegrityFailure(
            f"The database {db} fails quick_check ({before}). No {backup_type} backup was made. "
            "Run `python backup_manager.py diagnose`, or make an emergency backup, "
            "which archives what it can."
        )
    _check_space(settings, folder)
    name = _unique_name(folder, backup_type, started)
    work = folder / f".tmp-{name[:-4]}"
    work.mkdir(mode=0o700)
    try:
        result = _build(settings, backup_type, folder / name, work, started, clock, before)
    except (OSError, sqlite3.OperationalError) as error:
        if not _is_disk_full(error):
            raise
        raise InsufficientSpace(
            f"The disk holding {folder} ran full while the backup was written ({error}). "
            "The unfinished archive was removed; free some space or set BACKUP_DIR "
            "to another disk, then run the backup again."
        ) from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _is_disk_full(error: OSError | sqlite3.OperationalError) -> bool:
    """Tell whether a write failed because the disk (or a size limit) is full."""
    if isinstance(error, sqlite3.OperationalError):
        return getattr(error, "sqlite_errorcode", None) == 13 or "disk is full" in str(error)
    return error.errno in {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _build(
    settings: Settings,
    backup_type: str,
    final: Path,
    work: Path,
    started: datetime,
    clock: float,
    before: str,
) -> BackupResult:
    """Snapshot, write and verify the archive in `work`; move it to `final`."""
    db = settings.database_path
    snapshot = work / db.name
    take_snapshot(db, snapshot)
    partial = work / (final.name + ".partial")
    large = snapshot.stat().st_size > 512 * 2**20
    writer = ArchiveWriter(partial, settings.compression_level, large=large)
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        # integrity_check and row counts run on the other core while we compress
        checked: Future[tuple[str, DatabaseFacts]] = pool.submit(_check_snapshot, snapshot)
        try:
            writer.add_file(f"database/{db.name}", snapshot, "database", str(db))
            exported = _write_exports(writer, snapshot, db.stem, problems)
            files = add_files(settings, writer)
            after, facts = checked.result()
        except BaseException:
            writer.abort()
            raise
    degraded = before != "ok" or after != "ok"
    if not degraded:
        problems.extend(_compare_counts(facts.tables, exported))
        if problems:
            writer.abort()
            raise ArchiveInvalid("The exports do not match the snapshot: " + "; ".join(problems))
    duration = time.monotonic() - clock
    facts.journal_mode = _journal_mode(db)
    metadata = build_metadata(settings, backup_type, started, duration, facts, before, after)
    metadata.update(degraded=degraded, problems=problems, files=files)
    metadata["members"] = [m.to_json() for m in writer.members]
    writer.add_metadata(metadata)
    writer.close()
    bad = check_members(partial, metadata)
    if bad:
        raise ArchiveInvalid(
            f"The new archive failed verification and was discarded: {'; '.join(bad)}"
        )
    partial.chmod(0o600)
    _publish(partial, final)
    return BackupResult(
        path=final,
        backup_type=backup_type,
        created_at=started,
        duration_seconds=time.monotonic() - clock,
        size_bytes=final.stat().st_size,
        facts=facts,
        integrity_before=before,
        integrity_after=after,
        degraded=degraded,
        problems=problems,
        missing_files=files["missing"],
    )


def _journal_mode(db: Path) -> str:
    """Return the live database's journal mode (the snapshot's own reads differently)."""
    try:
        with closing(open_readonly(db)) as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    except sqlite3.DatabaseError:
        return "unknown"


def _check_snapshot(snapshot: Path) -> tuple[str, DatabaseFacts]:
    """Run integrity_check on the snapshot and gather its facts."""
    with closing(open_readonly(snapshot, immutable=True)) as conn:
        result = run_check(conn, "integrity_check")
        try:
            facts = gather_facts(conn, snapshot.stat().st_size)
        except sqlite3.DatabaseError as error:
            facts = DatabaseFacts(
                snapshot.stat().st_size, sqlite3.sqlite_version, "?", 0, 0, 0, 0, 0
            )
            result = f"{result}; counting rows failed: {error}"
    return result, facts


def _write_exports(
    writer: ArchiveWriter, snapshot: Path, stem: str, problems: list[str]
) -> dict[str, dict[str, int]]:
    """Stream the SQL dump and the JSON export into the archive; return rows per table."""
    exported: dict[str, dict[str, int]] = {}
    with closing(open_readonly(snapshot, immutable=True)) as conn:
        for label, member, write in (
            ("SQL dump", f"database/{stem}.sql", write_sql_dump),
            ("JSON export", f"database/{stem}.json", write_json_export),
        ):
            with writer.stream(member, label.split()[0].lower()) as out:
                try:
                    exported[label] = write(conn, out)
                except sqlite3.DatabaseError as error:
                    # only an emergency backup of a damaged database gets here
                    problems.append(f"{label} incomplete: {error}")
    return exported


def _compare_counts(tables: dict[str, int], exported: dict[str, dict[str, int]]) -> list[str]:
    """Return how the exported row counts differ from the snapshot's."""
    problems = []
    for label, counts in exported.items():
        for name, rows in counts.items():
            if tables.get(name) != rows:
                problems.append(
                    f"{label} has {rows} rows of {name}, the snapshot {tables.get(name)}"
                )
    return problems


def _publish(partial: Path, final: Path) -> None:
    """Move the verified archive to its name, never over an existing file."""
    if os.name == "nt":  # pragma: no cover - rename refuses an existing target on Windows
        partial.rename(final)
        return
    try:
        os.link(partial, final)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links (FAT, some shares); we hold the lock
        if final.exists():
            raise FileExistsError(final) from None
        partial.rename(final)
    else:
        partial.unlink()
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
