"""Write into the database the bot holds open: restore and repair share this one module.

- A hot `-journal` that a killed writer left is rolled back before anything reads the
  file (a read-only connection cannot do it and fails "attempt to write a readonly
  database").
- A database that opens is written through SQLite's backup API in one transaction.
- One that does not open is replaced as a file, in an order that never leaves the live
  path empty: the new file is staged and synced beside it first, the old files are kept
  in the recovery folder, and only then is the staged file renamed into place. It keeps
  the old file's mode and owner (owner-only for a new one).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from src.config.settings import Settings
from src.errors import BackupError, LockBusy, NotADatabase, RestoreAborted, disk_error
from src.services import progress, table_kinds
from src.services.integrity import (
    TableInfo,
    check_header,
    list_tables,
    open_readonly,
    quote_identifier,
    rowid_name,
)
from src.services.naming import clean_stale, sync_folder, unique_path, work_prefix
from src.services.sandbox import open_untrusted

logger = logging.getLogger(__name__)

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def is_busy(error: BaseException) -> bool:
    """Tell an SQLite error that says another connection holds the database locked."""
    return getattr(error, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


SIDECARS = ("-wal", "-shm", "-journal")


def has_hot_journal(db: Path) -> bool:
    """Tell whether a non-empty `-journal` lies beside the database (a write was cut)."""
    journal = db.with_name(db.name + "-journal")
    try:
        return db.is_file() and journal.is_file() and journal.stat().st_size > 0
    except OSError:
        return False


def roll_back_hot_journal(db: Path) -> bool:
    """Let SQLite roll back an interrupted write (a read-write open does); say if it did.

    Call it holding the backup lock. A journal that a live writer still holds is no hot
    journal: SQLite leaves it alone and this returns False.
    """
    if not has_hot_journal(db):
        return False
    try:
        check_header(db)
        with closing(sqlite3.connect(db, timeout=5)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (BackupError, sqlite3.DatabaseError) as error:
        logger.warning("could not roll back the journal beside %s: %s", db, error)
        return False
    logger.warning("rolled back the write that an interrupted process left in %s", db)
    return True


def staging_path(db: Path) -> Path:
    """Where a restore that replaces the database as a file writes the new one first."""
    return db.with_name(f".{db.name}.restoring")


def clean_after_killed_restore(db: Path) -> bool:
    """Undo what a killed restore left beside the live database; say if there was any.

    Call it holding the backup lock (no restore is then at work): the hot journal of a
    write into the database is rolled back, and a half-written (or never used) staging
    file of a replacement is removed. The live file itself is always the old or the new.
    """
    staging = staging_path(db)
    found = staging.exists()
    if found:
        logger.warning("removing %s, the leftover of a restore that was stopped", staging)
        staging.unlink(missing_ok=True)
    return roll_back_hot_journal(db) or found


@contextmanager
def readable_copy(db: Path, work_dir: Path) -> Iterator[Path]:
    """Yield the database to read: a rolled-back copy when a hot journal is beside it.

    A read-only connection cannot roll back an interrupted write, and a read-only look
    must not change the live file, so SQLite rolls the write back in a copy in `work_dir`.
    """
    if not has_hot_journal(db):
        yield db
        return
    clean_stale(work_dir, "journal")
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=work_prefix("journal")) as tmp:
        copy = Path(tmp) / db.name
        shutil.copyfile(db, copy)
        shutil.copyfile(db.with_name(db.name + "-journal"), copy.with_name(copy.name + "-journal"))
        try:
            with closing(sqlite3.connect(copy)) as conn:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError:
            logger.warning("the copy of %s could not be rolled back", db)
        yield copy


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
        logger.warning("could not set the journal mode of %s back to %s: %s", db, mode, error)


def write_live(
    settings: Settings,
    candidate: Path,
    *,
    busy_seconds: float = 60,
    before_commit: Callable[[], None] | None = None,
) -> list[Path]:
    """Write the candidate into the live database; return the old files kept aside.

    Args:
        busy_seconds: how long to wait while another process holds the database locked
            before giving up with LockBusy (nothing written).
        before_commit: called once before the write can take effect (before the last step
            of the backup API, which commits, or before a file is replaced); what it
            raises aborts the write, which SQLite rolls back (a restore's safety copy
            is finished beside the write, and must be whole before the commit).

    Raises:
        LockBusy: another process kept the database locked.
        RestoreAborted: SQLite refused the write (it rolled it back).
        InsufficientSpace, FolderNotWritable: the new file could not be written; the
            live path still holds what it held.
    """
    db = settings.database_path
    gate = _Once(before_commit)
    if not opens(db):
        # a missing file's stale -wal would be replayed into the new one, and opening a
        # damaged one read-write would checkpoint into it: replace them all as files
        gate()
        return _replace_file(settings, candidate, db)
    started = time.monotonic()
    progress.phase(f"writing into {db.name}")

    def give_up_when_busy(status: int, remaining: int, total: int) -> None:
        progress.update(total - remaining, total)
        # sqlite3's backup() retries a locked destination for ever: bound the wait
        if status in (_SQLITE_BUSY, _SQLITE_LOCKED) and time.monotonic() - started > busy_seconds:
            raise LockBusy(
                f"{db} stayed locked by another process for {busy_seconds:.0f} s (is the bot "
                "writing?); nothing was written. Stop the bot and try again."
            )
        if 0 < remaining <= _PAGES_PER_STEP:  # the next step is the last: it commits
            gate()

    try:
        with (
            closing(open_readonly(candidate, immutable=True)) as src,
            closing(sqlite3.connect(db, timeout=min(busy_seconds, 60))) as dst,
        ):
            if int(src.execute("PRAGMA page_count").fetchone()[0]) <= _PAGES_PER_STEP:
                gate()  # one step, which commits: nothing is written before the gate
            # with more pages than a step, a step always ends with 1 to _PAGES_PER_STEP
            # pages left: the callback above calls the gate before the committing step
            src.backup(dst, pages=_PAGES_PER_STEP, sleep=0.05, progress=give_up_when_busy)
    except sqlite3.DatabaseError as error:
        raise _write_failed(
            db,
            error,
            f"Could not write into {db}: {error}. The database was left as it was "
            "(SQLite rolled the unfinished write back).",
        ) from error
    return []


_PAGES_PER_STEP = 4096  # pages the backup API copies into the live file per step


class _Once:
    """Call a function at most once (the gate before a write commits)."""

    def __init__(self, function: Callable[[], None] | None) -> None:
        self._function = function

    def __call__(self) -> None:
        function, self._function = self._function, None
        if function is not None:
            function()


def _write_failed(db: Path, error: sqlite3.DatabaseError, message: str) -> BackupError:
    """The error a refused write into the live database becomes: a full or read-only disk
    names its folder (exit 7); anything else is RestoreAborted with `message`."""
    return disk_error(error, db.parent) or RestoreAborted(message)


def write_tables(
    db: Path, candidate: Path, tables: list[str], *, busy_seconds: float = 60
) -> dict[str, int]:
    """Replace the rows of `tables` in the live database with the candidate's, at once.

    One IMMEDIATE transaction on the live file: every table is emptied and refilled, or
    (on any error, a kill included) none is. The candidate is read through its own
    sandboxed connection and never attached to the live one. The live tables' triggers
    fire as for any write (a full-text index kept in step by triggers stays in step).
    Both sides must have the same columns (`restore_service` checks that first).

    Returns:
        The rows written per table.

    Raises:
        LockBusy: another process kept the database locked for `busy_seconds`.
        RestoreAborted: SQLite refused the write (it was rolled back).
    """
    written: dict[str, int] = {}
    try:
        with (
            closing(open_untrusted(candidate)) as source,
            closing(sqlite3.connect(db, timeout=busy_seconds, isolation_level=None)) as live,
        ):
            live.execute("BEGIN IMMEDIATE")
            try:
                infos = {t.name: t for t in list_tables(source)}
                progress.phase("writing the tables", len(tables))
                for name in tables:
                    written[name] = _refill(live, source, infos[name])
                    progress.advance(1)
                live.execute("COMMIT")
            except BaseException:
                live.execute("ROLLBACK")
                raise
    except sqlite3.DatabaseError as error:
        if is_busy(error):
            raise LockBusy(
                f"{db} stayed locked by another process for {busy_seconds:.0f} s (is the bot "
                "writing?); nothing was written. Stop the bot and try again."
            ) from error
        raise _write_failed(
            db,
            error,
            f"Could not write the tables into {db}: {error}. Nothing was changed (SQLite "
            "rolled the write back).",
        ) from error
    return written


def _refill(live: sqlite3.Connection, source: sqlite3.Connection, table: TableInfo) -> int:
    """Empty one live table and copy the candidate's rows into it; return how many.

    A full-text index over another table (FTS `content=`) holds no rows of its own: it
    is rebuilt from that table as the live database has it.
    """
    quoted = quote_identifier(table.name)
    if table_kinds.external_content(table.sql):
        live.execute(f"INSERT INTO main.{quoted}({quoted}) VALUES ('rebuild')")
        return int(live.execute(f"SELECT count(*) FROM main.{quoted}").fetchone()[0])
    columns = [quote_identifier(c) for c in table.columns]
    # the rowid travels with the row (other rows may refer to it), unless a column is it
    keep_rowid = (
        table.has_rowid
        and table.rowid_alias is None
        and table_kinds.virtual_module(table.sql) not in table_kinds.RTREE_MODULES
    )
    if keep_rowid:
        columns.insert(0, rowid_name(table))
    names = ", ".join(columns)
    live.execute(f"DELETE FROM main.{quoted}")
    rows = source.execute(f"SELECT {names} FROM {quoted}")
    insert = f"INSERT INTO main.{quoted} ({names}) VALUES ({', '.join('?' * len(columns))})"
    count = 0
    while batch := rows.fetchmany(1000):
        live.executemany(insert, batch)
        count += len(batch)
    return count


def fingerprint(db: Path) -> tuple[tuple[int, int], ...]:
    """Size and modification time of the database and its -wal/-journal (-1: none)."""
    parts = []
    for suffix in ("", "-wal", "-journal"):
        path = db.with_name(db.name + suffix)
        found = path.stat() if path.exists() else None
        parts.append((found.st_size, found.st_mtime_ns) if found else (-1, -1))
    return tuple(parts)


def copy_with_sidecars(db: Path, folder: Path) -> list[Path]:
    """Copy the database file and its -wal/-journal (rows may live only there) as files.

    For a file SQLite cannot read; a readable one is copied through the backup API.
    Returns the copies, the database's first.
    """
    kept = []
    for suffix in ("", "-wal", "-journal"):
        path = db.with_name(db.name + suffix)
        if path.exists():
            target = folder / path.name
            shutil.copyfile(path, target)
            kept.append(target)
    return kept


def opens(db: Path) -> bool:
    """Tell whether the live database exists and can be read (probed read-only).

    One that does not is replaced as a file by a restore; one that does is written into.

    Raises:
        LockBusy: another process holds it locked (it is busy, not damaged).
        NotADatabase: DATABASE_PATH is a folder.
    """
    if db.exists() and not db.is_file():
        raise NotADatabase(f"{db} is not a file. Point DATABASE_PATH at the bot's .db file.")
    if not db.exists():  # a brand-new machine: nothing to warn about
        logger.info("there is no database at %s yet: the restore creates it", db)
        return False
    try:
        check_header(db)
        with closing(open_readonly(db)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as error:
        if is_busy(error):
            raise LockBusy(
                f"{db} is locked: the bot or another program holds it ({error}); nothing "
                "was restored. Try again when its write has finished, or stop the bot first."
            ) from error
        logger.warning("%s cannot be used (%s); it is replaced", db, error)
        return False
    except (BackupError, sqlite3.DatabaseError) as error:
        logger.warning("%s cannot be used (%s); it is replaced, not written into", db, error)
        return False
    return True


def _replace_file(settings: Settings, candidate: Path, db: Path) -> list[Path]:
    """Put the candidate in place of an unopenable (or missing) database file."""
    db.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(db)
    kept: list[Path] = []
    try:
        _stage(candidate, staging, db)
        kept = _keep_aside(settings, db)
    except OSError as error:
        staging.unlink(missing_ok=True)
        for path in kept:
            path.unlink(missing_ok=True)
        where = f"{db} is as it was" if db.exists() else f"nothing was written at {db}"
        known = disk_error(error, Path(error.filename).parent if error.filename else db.parent)
        if known is not None:
            known.args = (f"{known} The restore was not done: {where}.",)
            raise known from error
        raise RestoreAborted(f"Could not replace {db}: {error}. {where}.") from error
    for suffix in SIDECARS:  # kept aside above; a stale -wal must not meet the new file
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    staging.replace(db)
    sync_folder(db.parent)
    if kept:
        logger.warning("the unusable database files were kept in %s", kept[0].parent)
    return kept


def _stage(candidate: Path, staging: Path, db: Path) -> None:
    """Copy the candidate to `staging` with the old file's mode and owner, and sync it."""
    staging.unlink(missing_ok=True)
    old = db.stat() if db.is_file() else None
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as out, candidate.open("rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    if old is not None:
        staging.chmod(stat.S_IMODE(old.st_mode))
        if hasattr(os, "chown"):
            try:
                os.chown(staging, old.st_uid, old.st_gid)
            except PermissionError:
                logger.warning("%s: could not give the new file the old owner", db)


def _keep_aside(settings: Settings, db: Path) -> list[Path]:
    """Keep the old database and its sidecars in the recovery folder; return the copies.

    A hard link where both are on one disk (it needs no space), a synced copy otherwise;
    the originals stay where they are until the new file replaces them.
    """
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    stamp = settings.now().strftime("%Y%m%d_%H%M%S")
    kept: list[Path] = []
    try:
        for suffix in ("", *SIDECARS):
            path = db.with_name(db.name + suffix)
            if not path.is_file():
                continue
            target = unique_path(settings.recovery_dir / f"damaged_{stamp}_{path.name}")
            kept.append(target)
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
                with target.open("rb+") as handle:
                    os.fsync(handle.fileno())
    except OSError:
        for path in kept:
            path.unlink(missing_ok=True)
        raise
    return kept
