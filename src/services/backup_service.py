"""Create a verified backup: snapshot, SQL and JSON exports, files, metadata, one ZIP."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from src.config.settings import BACKUP_TYPES, Settings
from src.errors import (
    ArchiveInvalid,
    BackupError,
    FolderNotWritable,
    InsufficientSpace,
    IntegrityFailure,
    disk_error,
)
from src.services import catalog, progress, recovery_retention, retention, table_kinds
from src.services.archive import ArchiveWriter, DeflatedFile, check_members
from src.services.contents import add_files, build_metadata
from src.services.exporters import write_json_export, write_sql_dump
from src.services.history import History
from src.services.integrity import (
    DatabaseFacts,
    check_file,
    check_header,
    count_rows,
    gather_facts,
    open_readonly,
    run_check,
)
from src.services.live_database import clean_after_killed_restore, copy_with_sidecars
from src.services.locking import exclusive_lock
from src.services.member_names import safe_part
from src.services.naming import publish_new
from src.services.offsite import copying
from src.services.offsite.copying import OffsiteRun
from src.services.salvage import SalvageResult, salvage
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
    recovery_deleted: list[Path] = field(default_factory=list)  # old reports and exports
    offsite: OffsiteRun = field(default_factory=OffsiteRun)
    # an emergency backup of a damaged database: the rows per table its page-level reader
    # found, archived as database/<name>.salvaged.db
    salvaged: dict[str, int] | None = None

    @property
    def state(self) -> str:
        """The verdict, decided here: ok, or degraded (an emergency archive of a damaged
        database: kept, but not a backup to trust)."""
        return "degraded" if self.degraded else "ok"


def create_backup(
    settings: Settings,
    backup_type: str,
    trigger: str = "cli",
    protect: Path | None = None,
    *,
    send_offsite: bool = True,
) -> BackupResult:
    """Make one backup of the database, verify it, then apply retention (of its type's
    backups, and of the recovery folder's old reports and exports).

    Args:
        settings: the tool's settings.
        backup_type: daily, weekly, manual or emergency.
        trigger: who asked (cli, scheduler, bot), recorded in the history.
        protect: an archive retention must keep this time (one a restore is reading).
        send_offsite: copy the archive to the off-machine targets now; else it is only
            queued there, for the scheduler or `offsite sync` (a restore's safety backup:
            the restore must not wait for an upload).

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
    folder = prepare_folder(settings.type_dir(backup_type))
    history = History(settings.history_path)
    started = settings.now()
    clock = time.monotonic()
    attempt = history.start(backup_type, trigger, started)
    logger.info("%s backup started (%s) of %s", backup_type, trigger, settings.database_path)
    try:
        with exclusive_lock(
            settings.backup_dir / ".lock", f"{backup_type} backup", settings.lock_timeout
        ):
            # named, dated and timed from when the lock is ours, not from the wait for it
            result = _create_locked(
                settings, backup_type, folder, settings.now(), time.monotonic(), trigger
            )
            history.record_verification(result.path, settings.now(), [])
            # inside the lock, so no restore or other backup sees half of it
            kept = {result.path} | ({protect} if protect else set())
            result.deleted = apply_retention(settings, backup_type, protect=kept)
    except BaseException as caught:
        # a full disk or a folder that refuses writes, wherever it struck: exit 7, named
        error: BaseException = disk_error(caught, folder) or caught
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
        if error is caught:
            raise
        raise error from caught
    history.finish(
        attempt,
        settings.now(),
        time.monotonic() - clock,
        archive=result.path,
        size_bytes=result.size_bytes,
    )
    logger.info(
        "%s backup done: %s, %d bytes, %.2f s",
        backup_type,
        result.path.name,
        result.size_bytes,
        result.duration_seconds,
    )
    # reports and exports are no backups: they need not hold up the others
    result.recovery_deleted = recovery_retention.prune_recovery(settings)
    # after the lock: an upload must not hold up restores and other backups
    result.offsite = copying.after_backup(settings, result.path, backup_type, send=send_offsite)
    return result


def plan_retention(
    settings: Settings, backup_type: str, protect: set[Path] | None = None
) -> list[catalog.BackupInfo]:
    """Return the backups of one type that retention no longer keeps (never `protect`).

    Daily backups are kept per day and weekly ones per week (in BACKUP_TIMEZONE), as the
    specification's "7 days" and "4 weeks" say; manual and emergency ones by count. An
    archive kept with `backup keep` is left out altogether: never deleted, and it takes
    no day, week or place of the count, so keeping an old one never evicts a newer one.
    """
    backups = [b for b in catalog.list_backups(settings, backup_type) if b.kept is False]
    period = {"daily": _day, "weekly": _week}.get(backup_type)
    zone = settings.timezone
    expired = retention.select_expired(
        backups,
        settings.retention[backup_type],
        (lambda b: period(b.created_at, zone)) if period else None,
    )
    return [b for b in expired if b.path not in (protect or set())]


def apply_retention(
    settings: Settings, backup_type: str, protect: set[Path] | None = None
) -> list[Path]:
    """Delete the backups of one type that retention no longer keeps (never `protect`)."""
    return retention.prune(plan_retention(settings, backup_type, protect))


def delete_expired(settings: Settings, expired: list[catalog.BackupInfo]) -> list[Path]:
    """Delete what `plan_retention` chose, under the backup lock (no backup or restore runs);
    an archive kept since it was chosen stays."""
    with exclusive_lock(settings.backup_dir / ".lock", "retention", settings.lock_timeout):
        kept = History(settings.history_path).kept_names()
        if kept is None:  # the marks cannot be read: delete nothing rather than guess
            return []
        return retention.prune([b for b in expired if b.path.name not in kept])


def _moment(created_at: str, zone: tzinfo) -> datetime:
    moment = datetime.fromisoformat(created_at)
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(zone)


def _day(created_at: str, zone: tzinfo) -> Hashable:
    return _moment(created_at, zone).date()


def _week(created_at: str, zone: tzinfo) -> Hashable:
    return _moment(created_at, zone).isocalendar()[:2]


def prepare_folder(folder: Path) -> Path:
    """Create a backup folder and make sure we can write to it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # unique per thread too: the bot's menu and its scheduler thread share a pid
        probe = folder / f".write-test-{os.getpid()}-{threading.get_ident()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise FolderNotWritable(
            f"Cannot write to the backup folder {folder}: {error.strerror or error}. "
            "Fix its permissions or set BACKUP_DIR to a writable folder."
        ) from None
    return folder


def clean_leftovers(folder: Path) -> None:
    """Remove work folders of backups that were killed (we hold the lock, so they are dead)."""
    for leftover in folder.glob(".tmp-*"):
        logger.warning("removing the leftover of an interrupted backup: %s", leftover.name)
        shutil.rmtree(leftover, ignore_errors=True)


def check_space(settings: Settings, folder: Path) -> None:
    """Refuse to start when the snapshot and archive would not fit on the disk."""
    db = settings.database_path
    wal = db.with_name(db.name + "-wal")
    size = db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    # the snapshot, the compressed exports, and the archive (about as big again as those)
    needed = 3 * size + settings.min_free_mb * 1024 * 1024
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise InsufficientSpace(
            f"Not enough free space in {folder}: {free // 2**20} MB free, about "
            f"{needed // 2**20} MB needed. Free some space or set BACKUP_DIR to another disk."
        )


def unique_name(folder: Path, backup_type: str, started: datetime) -> str:
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
    settings: Settings,
    backup_type: str,
    folder: Path,
    started: datetime,
    clock: float,
    trigger: str,
) -> BackupResult:
    """Make the backup while holding the lock."""
    db = settings.database_path
    check_header(db)
    clean_after_killed_restore(db)  # its journal (read-only opens cannot roll it back)
    clean_leftovers(folder)
    check_space(settings, folder)
    name = unique_name(folder, backup_type, started)
    work = folder / f".tmp-{name[:-4]}"
    work.mkdir(mode=0o700)
    try:
        result = _build(settings, backup_type, folder / name, work, started, clock, trigger)
    except (OSError, sqlite3.OperationalError) as error:
        if not _is_disk_full(error):
            raise
        raise InsufficientSpace(
            f"The disk holding {folder} ran full while the backup was written "
            f"({getattr(error, 'strerror', None) or error}). The unfinished archive was "
            "removed; free some space or set BACKUP_DIR to another disk, then run the "
            "backup again."
        ) from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _is_disk_full(error: OSError | sqlite3.OperationalError) -> bool:
    """Tell whether a write failed because the disk (or a size limit) is full."""
    if isinstance(error, sqlite3.OperationalError):
        return getattr(error, "sqlite_errorcode", None) == 13 or "disk is full" in str(error)
    return error.errno in {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@dataclass
class _Parts:
    """What the parallel half of a backup produced."""

    writer: ArchiveWriter
    before: str
    after: str
    facts: DatabaseFacts
    exported: dict[str, dict[str, int]]
    files: dict[str, list[str]]
    problems: list[str]
    salvaged: dict[str, Any] | None = None  # an emergency backup of a damaged database


def _build(
    settings: Settings,
    backup_type: str,
    final: Path,
    work: Path,
    started: datetime,
    clock: float,
    trigger: str,
) -> BackupResult:
    """Snapshot, write and verify the archive in `work`; move it to `final`."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        parts = _write_parts(pool, settings, backup_type, work / (final.name + ".partial"))
    degraded = _judge(settings.database_path, backup_type, parts)
    parts.facts.journal_mode = _journal_mode(settings.database_path)
    duration = time.monotonic() - clock  # until the archive is complete, before read-back
    metadata = build_metadata(
        settings, backup_type, started, duration, parts.facts, parts.before, parts.after
    )
    metadata.update(degraded=degraded, problems=parts.problems, files=parts.files, trigger=trigger)
    if parts.salvaged is not None:
        metadata["salvaged"] = parts.salvaged
    _close_and_verify(parts.writer, metadata)
    publish_new(parts.writer.path, final)
    return BackupResult(
        path=final,
        backup_type=backup_type,
        created_at=started,
        duration_seconds=time.monotonic() - clock,
        size_bytes=final.stat().st_size,
        facts=parts.facts,
        integrity_before=parts.before,
        integrity_after=parts.after,
        degraded=degraded,
        problems=parts.problems,
        missing_files=parts.files["missing"],
        salvaged=dict(parts.salvaged["tables"]) if parts.salvaged else None,
    )


def _write_parts(
    pool: ThreadPoolExecutor, settings: Settings, backup_type: str, partial: Path
) -> _Parts:
    """Write every member but the metadata, on both cores.

    In threads: the live quick_check, the snapshot's integrity_check and row counts, and
    the SQL and JSON exports (each compressed into a file of its own); this thread
    compresses the snapshot into the archive meanwhile.
    """
    db, level = settings.database_path, settings.compression_level
    cancel = threading.Event()
    problems: list[str] = []
    writer: ArchiveWriter | None = None
    checking_live = pool.submit(progress.carried(check_file), db, "quick_check")
    salvaged: SalvageResult | None = None
    try:
        snapshot = _snapshot(db, partial.parent, backup_type, checking_live, problems)
        checked = pool.submit(progress.carried(check_snapshot), snapshot)
        source = snapshot
        if backup_type == "emergency" and (problems or checking_live.result() != "ok"):
            # a damaged database: its rows as the page-level reader of `repair` finds
            # them, archived beside the file, and the SQL and JSON copies made from them
            salvaged = _salvage(snapshot, partial.parent, problems)
            source = salvaged.recovered if salvaged else snapshot
        export = progress.carried(_export)
        exports = {
            role: pool.submit(export, write, source, partial.parent / f"{role}.part", level, cancel)
            for _label, role, write in _EXPORTS
        }
        writer = ArchiveWriter(partial, level)
        writer.add_file(f"database/{safe_part(db.name)}", snapshot, "database", str(db))
        for suffix in ("-wal", "-journal"):  # only a raw copy (emergency) has these
            sidecar = snapshot.with_name(snapshot.name + suffix)
            if sidecar.exists():
                writer.add_file(f"database/{safe_part(sidecar.name)}", sidecar, "database-sidecar")
        if salvaged is not None:
            writer.add_file(
                f"database/{safe_part(db.stem)}.salvaged.db", salvaged.recovered, "salvaged"
            )
        progress.phase("checking the live database")
        before = checking_live.result()
        _refuse_damaged(db, backup_type, before)
        progress.phase("finishing the SQL and JSON exports")
        exported = {}
        for label, role, _write in _EXPORTS:
            deflated, counts, error = exports[role].result()
            writer.add_deflated(f"database/{safe_part(db.stem)}.{role}", role, deflated)
            exported[label] = counts
            if error:  # only an emergency backup of a damaged database gets here
                problems.append(f"{label} incomplete: {error}")
        files = add_files(settings, writer)
        after, facts = checked.result()
    except BaseException:
        cancel.set()
        if writer is not None:
            writer.abort()
        raise
    found = _salvaged_facts(salvaged) if salvaged else None
    return _Parts(writer, before, after, facts, exported, files, problems, found)


def _salvage(snapshot: Path, work: Path, problems: list[str]) -> SalvageResult | None:
    """Read every row the damaged snapshot (or raw copy) holds, page by page, into a new
    database in `work`; None when nothing can be read (the raw files are archived anyway).

    Only the file is read: no backup completes it (a repair can; this archive keeps what
    the file itself still holds).
    """
    progress.phase("reading the damaged database page by page")
    try:
        result = salvage(snapshot, None, work / f"{snapshot.stem}.salvaged.db")
    except BackupError as error:  # NotADatabase: no page of it can be read
        problems.append(f"the page-level reader found nothing to salvage ({error})")
        return None
    if result.integrity != "ok":
        problems.append(f"the salvaged copy fails integrity_check ({result.integrity[:200]})")
        return None
    logger.info("emergency backup: %d rows salvaged page by page", sum(result.rows.values()))
    return result


def _salvaged_facts(result: SalvageResult) -> dict[str, Any]:
    """What metadata.json says of the salvaged copy: its rows per table, counted as a
    restore counts them (its SQL and JSON copies were made from it, and a restore of any
    of the three is checked against these)."""
    with closing(open_readonly(result.recovered, immutable=True)) as conn:
        tables = count_rows(conn)
    return {
        "tables": tables,
        "lost_and_found": result.lost_and_found,
        "integrity": result.integrity,
        "notes": list(result.notes)[:50],
    }


def _judge(db: Path, backup_type: str, parts: _Parts) -> bool:
    """Refuse a damaged snapshot or incomplete exports; return whether it is degraded."""
    if parts.after != "ok" and backup_type != "emergency":
        parts.writer.abort()
        raise IntegrityFailure(
            f"The snapshot of {db} fails its checks ({parts.after[:300]}); no {backup_type} "
            "backup was kept. Run `python backup_manager.py diagnose`, or make an emergency "
            "backup."
        )
    degraded = parts.before != "ok" or parts.after != "ok"
    if not degraded:
        parts.problems.extend(_compare_counts(parts.facts.tables, parts.exported))
        if parts.problems:
            parts.writer.abort()
            raise ArchiveInvalid(
                "The exports do not match the snapshot: " + "; ".join(parts.problems)
            )
    return degraded


def _close_and_verify(writer: ArchiveWriter, metadata: dict[str, Any]) -> None:
    """Add the metadata, close the archive, read every member back."""
    metadata["members"] = [m.to_json() for m in writer.members]
    writer.add_metadata(metadata)
    writer.close()
    database = metadata["database"]
    logger.info(
        "archive written (%d members); quick_check before: %s; integrity_check of the copy: %s",
        len(writer.members),
        database["integrity_before"][:200],
        database["integrity_after"][:200],
    )
    bad = check_members(writer.path, metadata)
    if bad:
        raise ArchiveInvalid(
            f"The new archive failed verification and was discarded: {'; '.join(bad)}"
        )
    logger.info("archive read back: CRC and SHA-256 of every member match")
    writer.path.chmod(0o600)


_EXPORTS = (("SQL dump", "sql", write_sql_dump), ("JSON export", "json", write_json_export))


def _refuse_damaged(db: Path, backup_type: str, before: str) -> None:
    """Stop a scheduled or manual backup of a database that fails quick_check."""
    if before != "ok" and backup_type != "emergency":
        raise IntegrityFailure(
            f"The database {db} fails quick_check ({before}). No {backup_type} backup was made. "
            "Run `python backup_manager.py diagnose`, or make an emergency backup, "
            "which archives what it can."
        )


def _snapshot(
    db: Path, work: Path, backup_type: str, checking_live: Future[str], problems: list[str]
) -> Path:
    """Take the snapshot; an emergency backup falls back to a raw copy of a damaged file."""
    snapshot = work / db.name
    try:
        take_snapshot(db, snapshot)
        logger.info("snapshot taken: %d bytes", snapshot.stat().st_size)
    except sqlite3.DatabaseError as error:
        _refuse_damaged(db, backup_type, checking_live.result())
        if backup_type != "emergency":
            raise
        snapshot.unlink(missing_ok=True)
        copy_with_sidecars(db, work)  # rows may live only in the -wal or -journal
        problems.append(f"SQLite could not copy the database ({error}); archived the raw files")
    return snapshot


def _export(
    write: Callable[[sqlite3.Connection, DeflatedFile], dict[str, int]],
    snapshot: Path,
    target: Path,
    level: int,
    cancel: threading.Event,
) -> tuple[DeflatedFile, dict[str, int], str | None]:
    """Write one export of the snapshot, compressed, to `target`."""
    out = DeflatedFile(target, level, cancel)
    counts: dict[str, int] = {}
    error = None
    try:
        with closing(open_readonly(snapshot, immutable=True)) as conn:
            try:
                counts = write(conn, out)
            except sqlite3.DatabaseError as problem:
                error = str(problem)
        out.finish()
    except BaseException:
        out.close()
        raise
    return out, counts, error


def _journal_mode(db: Path) -> str:
    """Return the live database's journal mode (the snapshot's own reads differently)."""
    try:
        with closing(open_readonly(db)) as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    except sqlite3.DatabaseError:
        return "unknown"


def check_snapshot(snapshot: Path) -> tuple[str, DatabaseFacts]:
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


def _compare_counts(tables: dict[str, int], exported: dict[str, dict[str, int]]) -> list[str]:
    """Return how the exported row counts differ from the snapshot's (Litestream's bookkeeping
    is not counted in the snapshot: it changes on its own while replicating)."""
    problems = []
    for label, counts in exported.items():
        for name, rows in counts.items():
            if table_kinds.is_replication_bookkeeping(name):
                continue
            if tables.get(name) != rows:
                problems.append(
                    f"{label} has {rows} rows of {name}, the snapshot {tables.get(name)}"
                )
    return problems
