"""The backup scheduler's core: daily and weekly backups that never stop silently.

It holds the plan (next runs, retries, the catch-up) and decides at each `now` it is given
what to do; it has no thread and no timer of its own. A driver (src/driver/heartbeat.py)
beats it every 30 seconds and when a run falls due; a test beats it under its own clock.
One scheduler runs at a time across processes (a lock file held from `start` to `stop`).
Every outcome is kept in the scheduler's state for `status` and the bot to read.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from src.config.settings import Settings
from src.errors import LockBusy
from src.services.locking import HeldLock, holder, try_hold
from src.services.notifiers import Notifier, notifier_for
from src.services.offsite import copying
from src.services.schedule_times import Retry, next_due, next_run, overdue, plan_beat, retry_at
from src.services.scheduled_run import (
    DEFAULT_JOBS,
    BackupFunction,
    DrillFunction,
    Jobs,
    OffsiteDrillFunction,
    ScheduledOutcome,
    make_scheduled_backup,
)
from src.services.scheduler_alarms import alert_offsite, check_stale
from src.services.scheduler_state import SCHEDULED, SchedulerState, backup_age, mark_running

logger = logging.getLogger(__name__)


def _never() -> bool:
    return False


class BackupScheduler:
    """Plans the daily and weekly backups and makes what is due at the `now` it is given."""

    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] | None = None,
        backup: BackupFunction = DEFAULT_JOBS.backup,
        drill: DrillFunction = DEFAULT_JOBS.drill,
        offsite_drill: OffsiteDrillFunction = DEFAULT_JOBS.offsite_drill,
        catch_up: bool = True,
    ) -> None:
        self.settings = settings
        self.notifier = notifier or notifier_for(settings)
        self.clock = clock or settings.now  # when a backup starts and ends
        self.jobs = Jobs(backup, drill, offsite_drill)
        self._catch_up = catch_up
        self._offsite_synced = False  # the first beat sends everything pending or missing
        self._state = SchedulerState(settings)
        # the bot's "run now" and the beat may ask at once: one backup at a time, in turn
        self._job_lock = threading.Lock()
        self._role: HeldLock | None = None
        self.next_runs: dict[str, datetime] = {}
        self.retries: dict[str, Retry] = {}
        self.pending: list[str] = []  # catch-up runs not made yet

    @property
    def lock_path(self) -> Path:
        """The lock file that makes one scheduler at a time."""
        return self.settings.backup_dir / ".scheduler.lock"

    # --- life cycle -------------------------------------------------------------------

    def start(self, now: datetime) -> None:
        """Take the scheduler role and plan the runs after `now` and the catch-up.

        Raises:
            LockBusy: another scheduler runs (it is named).
        """
        self._role = try_hold(self.lock_path, "backup scheduler")
        if self._role is None:
            raise LockBusy(
                f"A scheduler is already running: {holder(self.lock_path)}. Only one may run "
                "at a time; `python backup_manager.py status` shows it."
            )
        self.next_runs = {kind: next_run(self.settings, kind, now) for kind in SCHEDULED}
        if self._catch_up:
            self.pending = [
                kind for kind in SCHEDULED if overdue(kind, backup_age(self.settings, kind, now))
            ]

        def begin(state: dict[str, Any]) -> None:
            mark_running(state, now)
            self._save_plan(state)

        self._state.update(begin)
        logger.info(
            "scheduler started (pid %s): next daily %s, next weekly %s, catch-up %s",
            os.getpid(),
            self.next_runs["daily"],
            self.next_runs["weekly"],
            self.pending or "none",
        )

    def stop(self) -> None:
        """Give up the scheduler role (the driver has let the backup in progress finish)."""
        if self._role is None:
            return
        stopped = self.clock().isoformat()
        self._state.update(lambda state: state.update(stopped_at=stopped))
        self._role.release()
        self._role = None
        logger.info("scheduler stopped")

    def next_due(self) -> datetime | None:
        """The earliest moment a run or a retry falls due (the driver wakes up then)."""
        # copies: the bot's "run now" may change the retries from another thread
        return next_due(dict(self.next_runs), dict(self.retries))

    def has_due(self, now: datetime) -> bool:
        """Tell whether a beat at `now` has a backup to make (the catch-up, a run, a retry)."""
        due = self.next_due()
        return bool(self.pending) or (due is not None and now >= due)

    # --- one beat ---------------------------------------------------------------------

    def tick(self, now: datetime, stopping: Callable[[], bool] = _never) -> list[str]:
        """Beat at `now`: heartbeat, due runs, retries, requests, off-machine copies,
        staleness. Return what ran.

        Args:
            stopping: asked before each backup; once true, no further backup starts.
        """
        requested: list[str] = []

        def beat(state: dict[str, Any]) -> None:
            state.update(heartbeat_at=now.isoformat(), pid=os.getpid(), stopped_at=None)
            requested.extend(state.pop("requests", []))

        paused = bool(self._state.update(beat).get("paused"))
        plan = plan_beat(
            self.settings,
            now,
            self.next_runs,
            dict(self.retries),
            pending=self.pending,
            requested=requested,
            paused=paused,
        )
        self.next_runs = plan.next_runs
        for kind in plan.skipped:
            logger.info("scheduled %s backup skipped: the scheduler is paused", kind)
        if not paused:
            self.pending = []
        ran = []
        for kind in plan.run:
            if stopping():
                break
            self.run(kind)
            ran.append(kind)
        self._state.update(self._save_plan)
        later = self.clock() if ran else now  # the backups took their time
        if not paused and not stopping():
            self.sync_offsite(later)
        self.check_stale(later)
        return ran

    def run(self, backup_type: str, *, retry: bool = True) -> ScheduledOutcome:
        """Make one backup of a scheduled type now (after the one in progress, if any).

        Args:
            retry: plan retries after a failure (the running scheduler); a one-off run
                (`scheduler run-now` without a scheduler in this process) reports the
                failure and stops.

        Returns:
            The outcome; after a failure its `retry_at` says when the retry is planned.
        """
        with self._job_lock:
            previous = self.retries.get(backup_type)
            outcome = make_scheduled_backup(
                self.settings,
                backup_type,
                notifier=self.notifier,
                clock=self.clock,
                jobs=self.jobs,
                attempt=previous.attempt + 1 if previous else 1,
            )
            if outcome.ok:
                self.retries.pop(backup_type, None)
                return outcome
            if retry:
                outcome.retry_at = retry_at(self.settings, outcome.attempt, outcome.finished_at)
                if outcome.retry_at is None:
                    self.retries.pop(backup_type, None)
                else:
                    self.retries[backup_type] = Retry(outcome.attempt, outcome.retry_at)
            self.notifier.notify(
                *failure_notice(
                    outcome,
                    retries=self.settings.scheduler_retries if retry else None,
                    next_scheduled=self.next_runs.get(backup_type),
                )
            )
            return outcome

    # --- off-machine copies and alarms -------------------------------------------------

    def sync_offsite(self, now: datetime) -> None:
        """Send pending copies whose retry time has come by `now` (at the first beat: all,
        and what a target lacks); a target's new failure is reported once, until a copy
        succeeds."""
        if not self.settings.offsite.enabled:
            return
        first = not self._offsite_synced
        if not first and not copying.pending_due(self.settings, now):
            return
        try:
            run = copying.sync(self.settings, due_only=not first, now=now)
        except Exception:  # a beat never dies of it; the copies stay pending
            logger.exception("off-machine sync failed")
            return
        self._offsite_synced = True
        alert_offsite(self.settings, self.notifier, run)

    def check_stale(self, now: datetime) -> None:
        """Raise the staleness alarms due at `now`, once per incident (an incident ends with
        a new backup, or a new verified copy off the machine)."""
        check_stale(self.settings, self.notifier, now)

    def _save_plan(self, state: dict[str, Any]) -> None:
        state["next_run"] = {kind: moment.isoformat() for kind, moment in self.next_runs.items()}
        state["retries"] = {
            kind: {"attempt": retry.attempt, "at": retry.at.isoformat()}
            for kind, retry in self.retries.items()
        }


def failure_notice(
    outcome: ScheduledOutcome, *, retries: int | None, next_scheduled: datetime | None
) -> tuple[str, str]:
    """The alarm (event, message) about a failed scheduled backup.

    Args:
        retries: the retries the scheduler makes (SCHEDULER_RETRIES); None for a one-off
            run, which is not retried.
        next_scheduled: the next scheduled run of that type, after the retries give up.
    """
    kind, reason = outcome.backup_type, outcome.reason.rstrip(".")
    if retries is None:
        return "backup_failed", f"The {kind} backup failed: {reason}."
    if outcome.retry_at is not None:
        return (
            "backup_failed",
            f"The {kind} backup failed: {reason}. "
            f"Retry {outcome.attempt} of {retries} at {outcome.retry_at:%Y-%m-%d %H:%M}.",
        )
    times = "once" if outcome.attempt == 1 else f"{outcome.attempt} times"
    until = f" at {next_scheduled:%Y-%m-%d %H:%M}" if next_scheduled else ""
    return (
        "backup_gave_up",
        f"The {kind} backup failed {times}, last: {reason}. No more retries until the next "
        f"scheduled run{until}. See logs/errors.log; `python backup_manager.py diagnose` "
        "checks the database.",
    )


def run_scheduled_backup(
    settings: Settings,
    backup_type: str,
    *,
    scheduler: BackupScheduler | None = None,
    notifier: Notifier | None = None,
) -> ScheduledOutcome:
    """Make a daily or weekly backup now, as the scheduler would (`scheduler run-now`, the
    bot's button): health-check pings, history, alarms, and a weekly one's restore drills.

    Args:
        scheduler: the scheduler running in this process, if any: the backup is made by it,
            after its backup in progress, and a failure is retried by it.
        notifier: where a one-off run's failure is reported (default: the log and
            NOTIFY_URLS); a one-off run's failure is reported once and not retried.

    Returns:
        The outcome: `ok`, the archive or the reason and error, the drills, the copies.
    """
    if scheduler is not None:
        return scheduler.run(backup_type)
    return BackupScheduler(settings, notifier=notifier).run(backup_type, retry=False)
