"""What each target holds, persisted in the history database so every process sees it.

A copy is `pending` until it was verified on its target, `verified` after, `invalid`
when a later check found it wrong there (it is sent again), `deleted` once retention
removed it, and `dropped` when its local archive was gone before it could be sent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from src.services.history import connect_history, read_only_history
from src.services.offsite.names import is_database_only

PENDING, VERIFIED, INVALID, DELETED, DROPPED = (
    "pending",
    "verified",
    "invalid",
    "deleted",
    "dropped",
)
TO_SEND = (PENDING, INVALID)
FIRST_RETRY = timedelta(minutes=5)
LONGEST_RETRY = timedelta(hours=6)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS offsite_copies (
    target TEXT NOT NULL,
    archive TEXT NOT NULL,
    archive_path TEXT NOT NULL,
    backup_type TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    degraded INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    remote_name TEXT,
    encrypted INTEGER,
    size_bytes INTEGER,
    hash_type TEXT,
    hash_value TEXT,
    sha256 TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_try TEXT,
    queued_at TEXT NOT NULL,
    verified_at TEXT,
    checked_at TEXT,
    PRIMARY KEY (target, archive)
);
CREATE TABLE IF NOT EXISTS offsite_targets (
    target TEXT PRIMARY KEY,
    last_error TEXT,
    last_error_at TEXT,
    last_ok_at TEXT
);
"""
_COLUMNS = (
    "target, archive, archive_path, backup_type, sort_key, degraded, state, remote_name, "
    "encrypted, size_bytes, hash_type, hash_value, sha256, attempts, last_error, next_try, "
    "queued_at, verified_at, checked_at"
)


@dataclass(frozen=True)
class CopyRecord:
    """One archive's copy on one target."""

    target: str
    archive: str
    archive_path: str
    backup_type: str
    sort_key: str
    degraded: bool
    state: str
    remote_name: str | None
    encrypted: bool | None
    size_bytes: int | None
    hash_type: str | None
    hash_value: str | None
    sha256: str | None
    attempts: int
    last_error: str | None
    next_try: str | None
    queued_at: str
    verified_at: str | None
    checked_at: str | None

    # what retention needs (src.services.retention.Ranked)
    @property
    def created_at_key(self) -> str:
        """Sort key, oldest to newest."""
        return self.sort_key

    @property
    def verified(self) -> bool | None:
        """True once verified on the target."""
        return self.state == VERIFIED

    @property
    def database_only(self) -> bool:
        """Tell whether the copy sent is the archive's database-only variant (its name says)."""
        return self.remote_name is not None and is_database_only(self.remote_name)


@dataclass(frozen=True)
class TargetRecord:
    """The last error and the last success of a target."""

    last_error: str | None
    last_error_at: str | None
    last_ok_at: str | None


def retry_delay(attempts: int) -> timedelta:
    """Backoff after `attempts` failures: 5 min, 10, 20, ... at most 6 h."""
    return min(FIRST_RETRY * 2 ** max(0, attempts - 1), LONGEST_RETRY)


class Ledger:
    """The copies of every target."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with closing(connect_history(self.path)) as conn:
            conn.executescript(_SCHEMA)
            with conn:
                yield conn

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        with read_only_history(self.path) as conn:
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'offsite_copies'"
            ).fetchone():
                return []
            return conn.execute(sql, args).fetchall()

    def queue(
        self,
        target: str,
        archive: Path,
        backup_type: str,
        sort_key: str,
        degraded: bool,
        now: datetime,
    ) -> None:
        """Note that `archive` is to be sent to `target` (nothing changes for a known one)."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO offsite_copies (target, archive, archive_path, "
                "backup_type, sort_key, degraded, state, queued_at, next_try) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (
                    target,
                    archive.name,
                    str(archive),
                    backup_type,
                    sort_key,
                    int(degraded),
                    now.isoformat(),
                    now.isoformat(),
                ),
            )

    def records(self, target: str | None = None, states: tuple[str, ...] = ()) -> list[CopyRecord]:
        """Return the copies (of one target, in some states), oldest first."""
        where, args = [], []
        if target is not None:
            where.append("target = ?")
            args.append(target)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args.extend(states)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM offsite_copies{clause} ORDER BY sort_key", tuple(args)
        )
        return [_record(row) for row in rows]

    def record(self, target: str, archive: str) -> CopyRecord | None:
        """Return one copy's record."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM offsite_copies WHERE target = ? AND archive = ?",
            (target, archive),
        )
        return _record(rows[0]) if rows else None

    def failed(self, target: str, archive: str, error: str, now: datetime) -> datetime:
        """Count a failed attempt; return when it is tried again."""
        record = self.record(target, archive)
        attempts = (record.attempts if record else 0) + 1
        retry_at = now + retry_delay(attempts)
        with self._write() as conn:
            conn.execute(
                "UPDATE offsite_copies SET attempts = ?, last_error = ?, next_try = ?, "
                "state = CASE WHEN state = 'verified' THEN 'invalid' ELSE state END "
                "WHERE target = ? AND archive = ?",
                (attempts, error, retry_at.isoformat(), target, archive),
            )
        self.target_failed(target, error, now)
        return retry_at

    def target_failed(self, target: str, error: str, now: datetime) -> None:
        """Record a target's last error."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO offsite_targets (target, last_error, last_error_at) VALUES (?, ?, ?)"
                " ON CONFLICT(target) DO UPDATE SET last_error = excluded.last_error, "
                "last_error_at = excluded.last_error_at",
                (target, error, now.isoformat()),
            )

    def verified_copy(
        self,
        target: str,
        archive: str,
        remote_name: str,
        encrypted: bool,
        size: int,
        hash_type: str,
        hash_value: str,
        sha256: str,
        now: datetime,
    ) -> None:
        """Record a copy verified on its target."""
        with self._write() as conn:
            conn.execute(
                "UPDATE offsite_copies SET state = 'verified', remote_name = ?, encrypted = ?, "
                "size_bytes = ?, hash_type = ?, hash_value = ?, sha256 = ?, last_error = NULL, "
                "attempts = 0, "
                "next_try = NULL, verified_at = ?, checked_at = ? "
                "WHERE target = ? AND archive = ?",
                (
                    remote_name,
                    int(encrypted),
                    size,
                    hash_type,
                    hash_value,
                    sha256,
                    now.isoformat(),
                    now.isoformat(),
                    target,
                    archive,
                ),
            )
            conn.execute(
                "INSERT INTO offsite_targets (target, last_ok_at, last_error) VALUES (?, ?, NULL)"
                " ON CONFLICT(target) DO UPDATE SET last_ok_at = excluded.last_ok_at, "
                "last_error = NULL, last_error_at = NULL",
                (target, now.isoformat()),
            )

    def set_state(
        self, target: str, archive: str, state: str, now: datetime, note: str | None = None
    ) -> None:
        """Move a copy to another state (checked, invalid, deleted, dropped)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE offsite_copies SET state = ?, checked_at = ?, "
                "last_error = COALESCE(?, last_error), "
                "next_try = CASE WHEN ? IN ('pending', 'invalid') THEN ? ELSE next_try END "
                "WHERE target = ? AND archive = ?",
                (state, now.isoformat(), note, state, now.isoformat(), target, archive),
            )

    def target_record(self, target: str) -> TargetRecord:
        """Return the target's last error and last success."""
        rows = self._read(
            "SELECT last_error, last_error_at, last_ok_at FROM offsite_targets WHERE target = ?",
            (target,),
        )
        return TargetRecord(*rows[0]) if rows else TargetRecord(None, None, None)


def _record(row: tuple[Any, ...]) -> CopyRecord:
    values = list(row)
    values[5] = bool(values[5])
    values[8] = None if values[8] is None else bool(values[8])
    return CopyRecord(*values)
