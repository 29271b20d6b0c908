"""Run `litestream replicate` beside the scheduler: start, watch, restart, alarm, stop.

The supervisor has no thread of its own: whoever runs the scheduler calls `poll()` about
once a second (src/driver/replication.py). Litestream runs in the tool's process group, so
a kill of the group (or Ctrl-C in a terminal) ends both.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from src.config.settings import Settings, go_duration
from src.errors import ReplicationError
from src.services.notifiers import Notifier
from src.services.replication import litestream
from src.services.replication.positions import LagTracker
from src.services.replication.report import (
    Observation,
    observe,
    save_supervisor_state,
)

logger = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0  # seconds before the first restart; doubled each time, up to MAX_BACKOFF
MAX_BACKOFF = 60.0
STABLE_AFTER = 60.0  # a run this long resets the backoff
STOP_WAIT = 10.0  # seconds Litestream gets for its last sync after SIGTERM
LOG_NAME = "litestream.log"
LOG_KEEP_BYTES = 5 * 2**20


def ensure_wal(db: Path) -> bool:
    """Switch the database to WAL mode (Litestream replicates the WAL); True if it was not.

    Said once: once switched, the database stays in WAL mode.
    """
    if not db.is_file():
        return False
    with closing(sqlite3.connect(db, timeout=10, isolation_level=None)) as conn:
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode == "wal":
            return False
        now = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
    if now != "wal":
        raise ReplicationError(
            f"{db} could not be switched to WAL mode (it stays {now}); Litestream replicates "
            "only WAL databases. Is it on a network drive?"
        )
    logger.warning(
        "%s was switched from %s to WAL journal mode for continuous replication (Litestream "
        "needs it; the bot and the backups work the same)",
        db,
        mode,
    )
    return True


class Supervisor:
    """One `litestream replicate` process for the live database, kept running."""

    def __init__(
        self,
        settings: Settings,
        notifier: Notifier,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.notifier = notifier
        self.clock = clock or settings.now
        self.monotonic = monotonic
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.last_exit: str | None = None
        self.tracker = LagTracker()
        self.incidents: set[str] = set()  # "down", "lag": announced, not yet over
        self.last: Observation | None = None
        self._backoff = FIRST_BACKOFF
        self._restart_at: float | None = None
        self._started_at = 0.0
        self._next_check = 0.0
        self._stopping = False
        self._log: IO[bytes] | None = None
        replica = settings.replica
        self.check_every = max(1.0, min(5.0, replica.max_lag.total_seconds() / 5))

    @property
    def pid(self) -> int | None:
        """Litestream's process id while it runs."""
        return self.process.pid if self.process and self.process.poll() is None else None

    def start(self) -> None:
        """Switch the database to WAL where needed and start Litestream.

        Raises:
            ReplicationError: Litestream is not installed, or the database cannot use WAL.
        """
        ensure_wal(self.settings.database_path)
        self._spawn()
        logger.info(
            "replication to %s started (litestream pid %s, every %s)",
            self.settings.replica.describe(),
            self.pid,
            go_duration(self.settings.replica.sync_interval),
        )

    def poll(self) -> None:
        """Restart a Litestream that ended (after the backoff); check the lag now and then."""
        if self._stopping:
            return
        now = self.monotonic()
        if self.process is not None and self.process.poll() is not None:
            self._ended(self.process.returncode, now)
        if self.process is None and self._restart_at is not None and now >= self._restart_at:
            self._restart()
        if self.process is not None and now - self._started_at >= STABLE_AFTER:
            self._backoff = FIRST_BACKOFF
        if now >= self._next_check:
            self._next_check = now + self.check_every
            self.check()

    def check(self) -> Observation:
        """Read the positions, work out the lag, alarm about a new incident, save the state."""
        seen = observe(self.settings, self.tracker, self.clock())
        self.last = seen
        lag = seen.lag
        if lag is not None and lag > self.settings.replica.max_lag:
            self._alarm("lag", self._lag_message(seen))
        elif lag is not None and seen.error is None:
            self.incidents.discard("lag")
        if self.pid is not None and seen.error is None and "lag" not in self.incidents:
            self.incidents.discard("down")  # it runs and keeps up: the incident is over
        self._save(seen)
        return seen

    def stop(self, timeout: float = STOP_WAIT) -> None:
        """Stop Litestream: SIGTERM (it syncs a last time), then a kill after `timeout`."""
        self._stopping = True
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("litestream did not stop within %.0f s: killed", timeout)
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._save(self.last, stopped=True)
        logger.info("replication stopped")

    def _spawn(self) -> None:
        """Start `litestream replicate` on a freshly written configuration."""
        config = litestream.write_config(self.settings)
        self._open_log()
        self.process = subprocess.Popen(
            litestream.command(self.settings, config, "replicate"),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=litestream.child_env(self.settings),
        )
        self._started_at = self.monotonic()
        self._restart_at = None
        self._save(self.last)

    def _restart(self) -> None:
        """Start it again; a failure to start waits for the next backoff."""
        self.restarts += 1
        try:
            self._spawn()
        except (OSError, ReplicationError):
            logger.exception("litestream could not be started again")
            self._restart_at = self.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            return
        logger.warning("litestream started again (pid %s, restart %s)", self.pid, self.restarts)

    def _ended(self, code: int, now: float) -> None:
        """Litestream ended on its own: plan the restart, alarm once per incident."""
        self.process = None
        self.last_exit = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        wait = self._backoff
        self._restart_at = now + wait
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        logger.error("litestream ended (%s); restarting in %.0f s", self.last_exit, wait)
        self._alarm(
            "down",
            f"Litestream (continuous replication to {self.settings.replica.describe()}) ended "
            f"({self.last_exit}); it is restarted in {wait:.0f} s, and again with a growing "
            f"wait while it keeps ending. Writes meanwhile reach the replica once it runs. "
            f"{self.settings.log_dir / LOG_NAME} has its own words.",
        )
        self._save(self.last)

    def _alarm(self, incident: str, message: str) -> None:
        """Notify once per incident."""
        if incident in self.incidents:
            return
        self.incidents.add(incident)
        self.notifier.notify(f"replication_{incident}", message)

    def _lag_message(self, seen: Observation) -> str:
        """Say how far behind the replica is, and what is known of why."""
        limit = self.settings.replica.max_lag
        why = f" The last error: {seen.error}" if seen.error else ""
        return (
            f"The replica {self.settings.replica.describe()} is {_minutes(seen.lag)} behind "
            f"the live database (the alarm is at {_minutes(limit)}): writes of that time "
            f"would be lost with this server.{why} `python backup_manager.py status` shows "
            "the replication."
        )

    def _open_log(self) -> None:
        """Litestream's own log in LOG_DIR (kept to one old file of 5 MB)."""
        if self._log is not None:
            self._log.close()
        folder = self.settings.log_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LOG_NAME
        if path.exists() and path.stat().st_size > LOG_KEEP_BYTES:
            path.replace(path.with_suffix(".log.1"))
        self._log = path.open("ab")

    def _save(self, seen: Observation | None, *, stopped: bool = False) -> None:
        """Write what `status` reads in other processes (best effort)."""
        try:
            save_supervisor_state(
                self.settings,
                {
                    "supervisor_pid": None if stopped else os.getpid(),
                    "litestream_pid": None if stopped else self.pid,
                    "restarts": self.restarts,
                    "last_exit": self.last_exit,
                    "checked_at": self.clock().isoformat(),
                    "waiting_since": _iso(self.tracker.oldest_waiting_since()),
                    "incidents": sorted(self.incidents),
                    "last_error": seen.error if seen else None,
                },
            )
        except OSError as error:
            logger.warning("could not save the replication state: %s", error)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _minutes(lag: timedelta | None) -> str:
    """A lag in words: seconds under two minutes, else minutes."""
    if lag is None:
        return "an unknown time"
    seconds = lag.total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
