"""The heartbeat: a thread that beats the scheduler's core.

A private `schedule.Scheduler` beats every 30 seconds (the heartbeat `status` checks); the
thread also beats at once when the core says a run or a retry has fallen due. The due times
themselves are the core's (src/services/schedule_times.py), computed in BACKUP_TIMEZONE:
schedule 1.2 compares with the machine's own clock and needs pytz for other zones. The CLI's
`scheduler` command and the bot each start one.
"""

from __future__ import annotations

import logging
import threading

import schedule

from src.driver.replication import ReplicationRunner
from src.errors import BackupError
from src.services.backup_scheduler import BackupScheduler
from src.services.replication.supervisor import Supervisor
from src.services.scheduler_state import HEARTBEAT_SECONDS

logger = logging.getLogger(__name__)


class Heartbeat:
    """Beats a `BackupScheduler` in a thread until stopped."""

    def __init__(
        self, scheduler: BackupScheduler, *, beat_seconds: float = HEARTBEAT_SECONDS
    ) -> None:
        self.scheduler = scheduler
        self.beat_seconds = beat_seconds
        self._schedule = schedule.Scheduler()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.replication: ReplicationRunner | None = None

    @property
    def stopping(self) -> threading.Event:
        """Set when the scheduler has been asked to stop (no further backup starts)."""
        return self._stop

    def start(self) -> None:
        """Take the scheduler role, plan the runs and the catch-up, start the thread.

        Raises:
            LockBusy: another scheduler runs (it is named).
        """
        self.scheduler.start(self.scheduler.clock())
        self._schedule.every(max(1, round(self.beat_seconds))).seconds.do(self.beat)
        self._thread = threading.Thread(target=self._loop, name="backup-scheduler", daemon=True)
        self._thread.start()
        self._start_replication()

    def _start_replication(self) -> None:
        """Start Litestream where REPLICA_URL is set; a failure is alarmed, backups go on."""
        settings = self.scheduler.settings
        if not settings.replica.enabled:
            return
        runner = ReplicationRunner(Supervisor(settings, self.scheduler.notifier))
        try:
            runner.start()
        except BackupError as error:
            logger.exception("replication could not start")
            self.scheduler.notifier.notify(
                "replication_down", f"Continuous replication could not start: {error}"
            )
            return
        self.replication = runner

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the backup in progress (if any); return False if it is still running."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        if self.replication is not None:  # last: what the backup in progress did is sent
            self.replication.stop()
            self.replication = None
        self.scheduler.stop()
        return True

    def beat(self) -> list[str]:
        """Beat the scheduler once, now; return the backups made."""
        return self.scheduler.tick(self.scheduler.clock(), stopping=self._stop.is_set)

    def _loop(self) -> None:
        """The thread: beats, and due runs at once, until stopped."""
        while not self._stop.is_set():
            wait = self.beat_seconds
            try:
                if self.scheduler.has_due(self.scheduler.clock()):
                    self.beat()
                else:
                    self._schedule.run_pending()
                wait = self._sleep_seconds()
            except Exception:  # a beat never kills the thread
                logger.exception("scheduler beat failed")
            self._stop.wait(wait)

    def _sleep_seconds(self) -> float:
        """Until the next beat or the next due run, whichever is sooner."""
        idle = self._schedule.idle_seconds
        wait = self.beat_seconds if idle is None else max(0.0, idle)
        due = self.scheduler.next_due()
        if due is not None:
            wait = min(wait, max(0.0, (due - self.scheduler.clock()).total_seconds()))
        return max(0.05, wait)
