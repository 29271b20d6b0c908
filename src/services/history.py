"""Every backup attempt and verification, recorded so any process reports the same figures."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from src.services.integrity import open_readonly

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    backup_type TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_seconds REAL,
    status TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed', 'interrupted')),
    archive TEXT,
    size_bytes INTEGER,
    error TEXT,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verifications (
    archive TEXT PRIMARY KEY,
    verified_at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    problems TEXT
);
-- archives exempt from retention (`backup keep`), by file name: the name holds the type,
-- so it names one archive of BACKUP_DIR/<type>/ and stays right if BACKUP_DIR moves
-- the size and modification time of an archive when it last passed every check: while
-- the file is unchanged, a restore re-reads only its database copy (the others are read
-- back before they are ever used)
CREATE TABLE IF NOT EXISTS verified_files (
    archive TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kept (
    archive TEXT PRIMARY KEY,
    kept_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Attempt:
    """One recorded backup attempt."""

    id: int
    backup_type: str
    trigger: str
    started_at: str
    finished_at: str | None
    duration_seconds: float | None
    status: str  # success, failed, running, or interrupted (running, process gone)
    archive: str | None
    size_bytes: int | None
    error: str | None


@dataclass(frozen=True)
class Statistics:
    """Counts over the whole history."""

    successes: int
    failures: int
    interrupted: int
    last_success: Attempt | None
    last_failure: Attempt | None


def pid_alive(pid: int) -> bool:
    """Tell whether a process of this machine still runs."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # pragma: no cover - Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # type: ignore[attr-defined]
        if handle:
            ctypes.windll.kernel32.CloseHandle(handle)  # type: ignore[attr-defined]
        return bool(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def connect_history(path: Path, timeout: float = 30) -> sqlite3.Connection:
    """Open the history database in WAL mode: a reader (status) never waits for a writer,
    not even for one that was stopped mid-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass  # another process is converting it, or holds it: it stays as it is
    conn.isolation_level = "DEFERRED"  # back to the module's default transactions
    return conn


@contextmanager
def read_only_history(path: Path) -> Iterator[sqlite3.Connection]:
    """Open the history for a look only: it works in a read-only backup folder too.

    With no -wal beside it (no writer is at work: the last one to close removes it) the
    file is complete and is read as immutable, which creates no -wal/-shm; else
    read-only, which sees what the running writer committed. Where SQLite cannot open
    the WAL's index (a folder that refuses writes), as an immutable file after all.
    """
    wal = path.with_name(path.name + "-wal")
    try:
        conn = open_readonly(path, immutable=not wal.exists())
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        conn = open_readonly(path, immutable=True)
    with closing(conn):
        yield conn


def _same_file(conn: sqlite3.Connection, key: str, found: os.stat_result) -> bool:
    """Whether the archive recorded as `key` passed every check with this size and time."""
    row = conn.execute(
        "SELECT size, mtime_ns FROM verified_files WHERE archive = ?", (key,)
    ).fetchone()
    return row is not None and (found.st_size, found.st_mtime_ns) == (row[0], row[1])


def _has_tables(conn: sqlite3.Connection, *names: str) -> bool:
    """Tell whether the history's tables exist (a file made elsewhere, or by an older
    version of the tool, may lack them: its writers add them on their next write)."""
    names = names or ("attempts", "verifications")
    marks = ", ".join("?" * len(names))
    found = conn.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})", names
    ).fetchone()[0]
    return int(found) == len(names)


class History:
    """The history database (a small SQLite file beside the backups)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _recording(self, what: str) -> Iterator[None]:
        """Log (not raise) a failure to record: the backup's own outcome matters more."""
        try:
            yield
        except (sqlite3.Error, OSError):
            logger.exception("cannot record %s in %s", what, self.path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(connect_history(self.path)) as conn:
            conn.executescript(_SCHEMA)
            with conn:
                yield conn

    def _reading(self) -> AbstractContextManager[sqlite3.Connection]:
        return read_only_history(self.path)

    def start(self, backup_type: str, trigger: str, started_at: datetime) -> int:
        """Record an attempt as running; return its id (0 when it could not be recorded)."""
        with self._recording("the start of a backup"), self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO attempts (backup_type, trigger, started_at, status, pid, host) "
                "VALUES (?, ?, ?, 'running', ?, ?)",
                (backup_type, trigger, started_at.isoformat(), os.getpid(), socket.gethostname()),
            )
            return int(cursor.lastrowid or 0)
        return 0

    def finish(
        self,
        attempt_id: int,
        finished_at: datetime,
        duration: float,
        *,
        archive: Path | None = None,
        size_bytes: int | None = None,
        error: str | None = None,
        interrupted: bool = False,
    ) -> None:
        """Record how an attempt ended: with an archive, an error, or interrupted."""
        status = "interrupted" if interrupted else "failed" if error else "success"
        with self._recording(f"the end of attempt {attempt_id}"), self._connect() as conn:
            conn.execute(
                "UPDATE attempts SET finished_at = ?, duration_seconds = ?, status = ?, "
                "archive = ?, size_bytes = ?, error = ? WHERE id = ?",
                (
                    finished_at.isoformat(),
                    round(duration, 3),
                    status,
                    str(archive) if archive else None,
                    size_bytes,
                    error,
                    attempt_id,
                ),
            )

    def record_verification(self, archive: Path, when: datetime, problems: list[str]) -> None:
        """Record the result of verifying an archive."""
        with self._recording(f"the verification of {archive.name}"), self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO verifications VALUES (?, ?, ?, ?)",
                (str(archive), when.isoformat(), int(not problems), "\n".join(problems) or None),
            )
            conn.execute("DELETE FROM verified_files WHERE archive = ?", (str(archive),))
            found = archive.stat() if not problems and archive.is_file() else None
            if found is not None:
                conn.execute(
                    "INSERT INTO verified_files VALUES (?, ?, ?)",
                    (str(archive), found.st_size, found.st_mtime_ns),
                )

    def unchanged_since_verified(self, archive: Path) -> bool:
        """Tell whether the archive passed every check and its file has not changed since
        (the same size and modification time); False when unknown.

        An archive recorded at another path with the same place in the backup folder (the
        folder was moved, history and all) counts only with that same size and time.
        """
        if not self.path.exists() or not archive.is_file():
            return False
        found = archive.stat()
        with self._recording("a look-up"), self._reading() as conn:
            if not _has_tables(conn, "verified_files"):
                return False
            return any(
                _same_file(conn, key, found) for key in [str(archive), *self._moved(conn, archive)]
            )
        return False

    def verification(self, archive: Path) -> tuple[bool, str] | None:
        """Return (ok, verified_at) of the last verification of an archive, if any.

        When this path has none, a verification recorded where the backup folder used to
        be (the same path inside it) counts: a failed one always, a passed one only while
        the file has the size and modification time it had then.
        """
        if not self.path.exists():
            return None
        with self._recording("a look-up"), self._reading() as conn:
            if not _has_tables(conn):
                return None
            query = "SELECT ok, verified_at FROM verifications WHERE archive = ?"
            row = conn.execute(query, (str(archive),)).fetchone()
            if row is not None:
                return bool(row[0]), str(row[1])
            found = archive.stat() if archive.is_file() else None
            found = found if _has_tables(conn, "verified_files") else None
            trusted = []
            for key in self._moved(conn, archive):
                ok, at = conn.execute(query, (key,)).fetchone()
                if not ok or (found is not None and _same_file(conn, key, found)):
                    trusted.append((str(at), bool(ok)))
            if trusted:
                at, ok = max(trusted)
                return ok, at
        return None

    def _moved(self, conn: sqlite3.Connection, archive: Path) -> list[str]:
        """The recorded paths, other than this one, of the archive at the same place in the
        backup folder (where the folder was before it moved with its history)."""
        try:
            inside = archive.relative_to(self.path.parent).parts
        except ValueError:
            return []
        pattern = "%" + archive.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        keys = conn.execute(
            "SELECT archive FROM verifications WHERE archive LIKE ? ESCAPE '\\'", (pattern,)
        )
        return [
            str(key)
            for (key,) in keys
            if str(key) != str(archive) and Path(str(key)).parts[-len(inside) :] == inside
        ]

    def keep(self, archive: str, when: datetime) -> bool:
        """Exempt an archive (its file name) from retention; False when it was already.

        Raises:
            sqlite3.Error, OSError: the mark could not be written (unlike the records
                above, a mark that is not there must not be reported as made).
        """
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO kept (archive, kept_at) VALUES (?, ?)",
                (archive, when.isoformat()),
            )
            return cursor.rowcount == 1

    def unkeep(self, archive: str) -> bool:
        """Give an archive (its file name) back to retention; False when it was not kept.

        Raises:
            sqlite3.Error, OSError: the mark could not be removed.
        """
        with self._connect() as conn:
            return conn.execute("DELETE FROM kept WHERE archive = ?", (archive,)).rowcount == 1

    def kept_names(self) -> frozenset[str] | None:
        """Return the file names of the kept archives; None when the history cannot be read
        (retention then deletes nothing: an unknown mark must count as a mark)."""
        if not self.path.exists():
            return frozenset()
        with self._recording("a look-up of the kept archives"), self._reading() as conn:
            if not _has_tables(conn, "kept"):
                return frozenset()
            return frozenset(str(row[0]) for row in conn.execute("SELECT archive FROM kept"))
        return None  # the look-up failed (logged)

    def statistics(self) -> Statistics:
        """Count successes, failures and interrupted attempts."""
        if not self.path.exists():
            return Statistics(0, 0, 0, None, None)
        with self._reading() as conn:
            if not _has_tables(conn):  # an empty file: nothing recorded yet
                return Statistics(0, 0, 0, None, None)
            counts = dict(conn.execute("SELECT status, count(*) FROM attempts GROUP BY status"))
            columns = (
                "id, backup_type, trigger, started_at, finished_at, duration_seconds, "
                "status, archive, size_bytes, error, pid, host"
            )
            last = {
                status: conn.execute(
                    f"SELECT {columns} FROM attempts WHERE status = ? ORDER BY id DESC LIMIT 1",
                    (status,),
                ).fetchone()
                for status in ("success", "failed")
            }
            running = conn.execute(
                f"SELECT {columns} FROM attempts WHERE status = 'running'"
            ).fetchall()
        interrupted = counts.get("interrupted", 0) + sum(
            1 for row in running if self._attempt(row).status == "interrupted"
        )
        return Statistics(
            successes=counts.get("success", 0),
            failures=counts.get("failed", 0),
            interrupted=interrupted,
            last_success=self._attempt(last["success"]) if last["success"] else None,
            last_failure=self._attempt(last["failed"]) if last["failed"] else None,
        )

    @staticmethod
    def _attempt(row: tuple[Any, ...]) -> Attempt:
        status = row[6]
        if status == "running" and row[11] == socket.gethostname() and not pid_alive(row[10]):
            status = "interrupted"
        return Attempt(
            id=row[0],
            backup_type=row[1],
            trigger=row[2],
            started_at=row[3],
            finished_at=row[4],
            duration_seconds=row[5],
            status=status,
            archive=row[7],
            size_bytes=row[8],
            error=row[9],
        )
