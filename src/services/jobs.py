"""One backup or restore at a time, visibly: what runs, since when, who started it, how it ended.

A job asked for by a person (a button of the bot) is recorded as running before its work
starts, and its outcome is recorded before it is shown; both live in the history database.
So a second request is refused with a sentence that names the running job (never queued
silently), and after a restart the bot finds the jobs the restart cut short and the outcomes
nobody saw. A backup the scheduler is making counts as a running job too.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime

from src.config.settings import Settings
from src.errors import LockBusy
from src.services.history import connect_history, pid_alive, read_only_history

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    what TEXT NOT NULL,
    started_by TEXT NOT NULL,
    chat_id INTEGER,
    run TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'interrupted')),
    outcome TEXT,
    shown INTEGER NOT NULL DEFAULT 0
);
"""
_COLUMNS = "id, what, started_by, chat_id, started_at, pid, host, status, outcome"


@dataclass(frozen=True)
class Job:
    """One job: `what` reads as a noun phrase ("a manual backup", "a restore from X")."""

    id: int
    what: str
    started_by: str
    chat_id: int | None
    started_at: str
    status: str  # running, done, failed, cancelled, or interrupted (running, process gone)
    outcome: str | None = None

    def sentence(self) -> str:
        """Say what runs, since when and who started it."""
        since = datetime.fromisoformat(self.started_at).strftime("%Y-%m-%d %H:%M")
        what = self.what[0].upper() + self.what[1:]
        return f"{what} is running since {since}, started by {self.started_by}."


class JobBusy(LockBusy):
    """Another job runs: this one was refused, not queued."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"{job.sentence()} Wait until it has finished, then ask again.")
        self.job = job


class Jobs:
    """The jobs table of the history database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.history_path

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with closing(connect_history(self.path)) as conn:
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")  # two admins at once: one of them waits here
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def begin(self, what: str, started_by: str, chat_id: int | None = None, run: str = "") -> Job:
        """Record a job as running before its work starts.

        Args:
            run: which start of the bot asks (outcomes of other starts are `unseen`).

        Raises:
            JobBusy: another job (or a scheduled backup) is running; nothing was recorded.
        """
        with self._writing() as conn:
            running = self._running(conn)
            if running is not None:
                raise JobBusy(running)
            started = self.settings.now().isoformat(timespec="seconds")
            cursor = conn.execute(
                "INSERT INTO jobs (what, started_by, chat_id, run, started_at, pid, host, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
                (what, started_by, chat_id, run, started, os.getpid(), socket.gethostname()),
            )
            return Job(int(cursor.lastrowid or 0), what, started_by, chat_id, started, "running")

    def finish(self, job: Job, status: str, outcome: str) -> None:
        """Record how a job ended (done, failed or cancelled) and what is to be shown."""
        with self._writing() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, outcome = ? WHERE id = ?", (status, outcome, job.id)
            )

    def mark_shown(self, job: Job) -> None:
        """The outcome reached the person: nothing to repeat after a restart."""
        with self._writing() as conn:
            conn.execute("UPDATE jobs SET shown = 1 WHERE id = ?", (job.id,))

    def running(self) -> Job | None:
        """The job that runs now (a bot job or a scheduled backup), if any."""
        if not self.path.exists():
            return None
        with read_only_history(self.path) as conn:
            return self._running(conn)

    def unseen(self, run: str) -> list[Job]:
        """Jobs of earlier starts that a restart cut short, or whose outcome nobody saw."""
        if not self.path.exists():
            return []
        with read_only_history(self.path) as conn:
            if not _has_jobs(conn):
                return []
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE shown = 0 AND run != ? ORDER BY id", (run,)
            ).fetchall()
        jobs = [_job(row) for row in rows]
        return [job for job in jobs if job.status != "running"]

    def acknowledge(self, job: Job) -> None:
        """The person was told: an interrupted job stays recorded as interrupted."""
        with self._writing() as conn:
            conn.execute(
                "UPDATE jobs SET shown = 1, status = CASE status WHEN 'running' "
                "THEN 'interrupted' ELSE status END WHERE id = ?",
                (job.id,),
            )

    @staticmethod
    def _running(conn: sqlite3.Connection) -> Job | None:
        if _has_jobs(conn):
            rows = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE status = 'running'")
            for row in rows.fetchall():
                job = _job(row)
                if job.status == "running":
                    return job
        return _scheduled_backup(conn)


def _has_jobs(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'")
    return found.fetchone() is not None


def _alive(pid: int, host: str) -> bool:
    return host != socket.gethostname() or pid_alive(pid)


def _job(row: tuple[object, ...]) -> Job:
    job_id, what, by, chat, started, pid, host, status, outcome = row
    if status == "running" and not _alive(int(str(pid)), str(host)):
        status = "interrupted"
    return Job(
        int(str(job_id)),
        str(what),
        str(by),
        int(str(chat)) if chat is not None else None,
        str(started),
        str(status),
        str(outcome) if outcome is not None else None,
    )


def _scheduled_backup(conn: sqlite3.Connection) -> Job | None:
    """A backup the scheduler (or the CLI) is making now, as a job."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attempts'")
    if found.fetchone() is None:
        return None
    rows = conn.execute(
        "SELECT id, backup_type, trigger, started_at, pid, host FROM attempts "
        "WHERE status = 'running' ORDER BY id DESC"
    ).fetchall()
    for attempt_id, kind, trigger, started, pid, host in rows:
        if trigger != "bot" and _alive(int(pid), str(host)):
            by = "the scheduler" if trigger == "scheduler" else f"the {trigger}"
            return Job(-int(attempt_id), f"a {kind} backup", by, None, str(started), "running")
    return None
