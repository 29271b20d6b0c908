"""The backup scheduler: daily and weekly backups that never stop silently.

One scheduler runs at a time across processes (a lock file held for its life). Its
thread is driven by a private `schedule.Scheduler` that beats every 30 seconds and by
the due times of the backups, which are computed here in BACKUP_TIMEZONE (daylight
saving included; schedule 1.2 compares with the machine's own clock and needs pytz for
other zones). Every outcome is persisted for `status` and the bot to read.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import schedule

from src.config.settings import Settings
from src.errors import BackupError, LockBusy
from src.services import catalog
from src.services.backup_service import create_backup
from src.services.drill import DrillResult, restore_drill
from src.services.locking import HeldLock, holder, try_hold
from src.services.notifiers import Notifier, notifier_for
from src.services.notifiers.healthcheck import ping
from src.services.offsite import copying
from src.services.offsite.copying import OffsiteRun
from src.services.offsite.drill import offsite_drills
from src.services.offsite.report import stale_targets
from src.services.schedule_times import PERIODS, next_run, stale_after
from src.services.scheduler_state import (
    HEARTBEAT_SECONDS,
    SCHEDULED,
    SchedulerState,
    backup_age,
    mark_running,
)

logger = logging.getLogger(__name__)

TRIGGER = "scheduler"


BackupFunction = Callable[[Settings, str, str], Any]  # (settings, type, trigger) -> result.path
DrillFunction = Callable[[Settings, Path], DrillResult]
OffsiteDrillFunction = Callable[[Settings], dict[str, DrillResult]]


def _create(settings: Settings, backup_type: str, trigger: str) -> Any:
    return create_backup(settings, backup_type, trigger=trigger)


class BackupScheduler:
    """Runs the daily and weekly backups in a thread (or beat by beat under a test's clock)."""

    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] | None = None,
        backup: BackupFunction = _create,
        drill: DrillFunction = restore_drill,
        offsite_drill: OffsiteDrillFunction = offsite_drills,
        catch_up: bool = True,
        beat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.settings = settings
        self.notifier = notifier or notifier_for(settings)
        self.clock = clock or settings.now
        self._backup = backup
        self._drill = drill
        self._offsite_drill = offsite_drill
        self._offsite_synced = False  # the first beat sends everything pending or missing
        self._catch_up = catch_up
        self.beat_seconds = beat_seconds
        self._state = SchedulerState(settings)
        self._schedule = schedule.Scheduler()
        self._stop = threading.Event()
        self._job_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._role: HeldLock | None = None
        self.next_runs: dict[str, datetime] = {}
        self.retries: dict[str, tuple[int, datetime]] = {}  # type: (failed attempts, retry at)
        self.pending: list[str] = []  # catch-up runs not made yet
        self.last_error: Exception | None = None

    @property
    def lock_path(self) -> Path:
        """The lock file that makes one scheduler at a time."""
        return self.settings.backup_dir / ".scheduler.lock"

    # --- life cycle -------------------------------------------------------------------

    def start(self, *, thread: bool = True) -> None:
        """Take the scheduler role, plan the runs and the catch-up, start the thread.

        Raises:
            LockBusy: another scheduler runs (it is named).
        """
        self._role = try_hold(self.lock_path, "backup scheduler")
        if self._role is None:
            raise LockBusy(
                f"A scheduler is already running: {holder(self.lock_path)}. Only one may run "
                "at a time; `python backup_manager.py status` shows it."
            )
        now = self.clock()
        self.next_runs = {kind: next_run(self.settings, kind, now) for kind in SCHEDULED}
        if self._catch_up:
            self.pending = [kind for kind in SCHEDULED if self._overdue(kind, now)]

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
        self._schedule.every(max(1, round(self.beat_seconds))).seconds.do(self.tick)
        if thread:
            self._thread = threading.Thread(target=self._loop, name="backup-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the backup in progress (if any); return False if it is still running."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        if self._role is not None:
            now = self.clock().isoformat()
            self._state.update(lambda state: state.update(stopped_at=now))
            self._role.release()
            self._role = None
            logger.info("scheduler stopped")
        return True

    @property
    def stopping(self) -> threading.Event:
        """Set when the scheduler has been asked to stop."""
        return self._stop

    def _loop(self) -> None:
        """The thread: a beat at once (catch-up), then beats and due runs until stopped."""
        while not self._stop.is_set():
            wait = self.beat_seconds
            try:
                if self._due_now() or self._schedule.idle_seconds is None:
                    self.tick()
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
        now = self.clock()
        # copies: the bot's "run now" may change the retries from another thread
        retries = tuple(self.retries.values())
        for moment in (*tuple(self.next_runs.values()), *(at for _, at in retries)):
            wait = min(wait, max(0.0, (moment - now).total_seconds()))
        return max(0.05, wait)

    def _due_now(self) -> bool:
        now = self.clock()
        moments = (*tuple(self.next_runs.values()), *(at for _, at in tuple(self.retries.values())))
        return bool(self.pending) or any(now >= moment for moment in moments)

    # --- one beat ---------------------------------------------------------------------

    def tick(self) -> list[str]:
        """Beat once: heartbeat, due runs, retries, requests, staleness. Return what ran."""
        now = self.clock()
        requested: list[str] = []

        def beat(state: dict[str, Any]) -> None:
            state.update(heartbeat_at=now.isoformat(), pid=os.getpid(), stopped_at=None)
            requested.extend(state.pop("requests", []))

        state = self._state.update(beat)
        paused = bool(state.get("paused"))
        due: list[str] = []
        for kind in SCHEDULED:
            if now >= self.next_runs[kind]:
                self.next_runs[kind] = next_run(self.settings, kind, now)
                if paused:
                    logger.info("scheduled %s backup skipped: the scheduler is paused", kind)
                    continue
                due.append(kind)
        if not paused:
            due += [kind for kind, (_, at) in tuple(self.retries.items()) if now >= at]
            due += self.pending
            self.pending = []
        due += requested
        ran = []
        for kind in dict.fromkeys(due):  # once each, in order
            if self._stop.is_set():
                break
            self.run(kind)
            ran.append(kind)
        self._state.update(self._save_plan)
        if not paused and not self._stop.is_set():
            self.sync_offsite()
        self.check_stale()
        return ran

    def run(self, backup_type: str, *, retry: bool = True) -> bool:
        """Make one backup of a scheduled type now; True if it worked.

        Args:
            retry: plan retries after a failure (the running scheduler); a one-off run
                (`scheduler run-now`, the bot's button) reports the failure and stops.
        """
        with self._job_lock:
            started = self.clock()
            self.last_error = None
            check = self.settings.healthcheck_url
            ping(check, "start", f"{backup_type} backup started")
            try:
                result = self._backup(self.settings, backup_type, TRIGGER)
            except BackupError as error:  # expected: the message says it all
                logger.error("scheduled %s backup failed: %s", backup_type, error)  # noqa: TRY400
                self.last_error = error
                ping(check, "fail", f"{backup_type} backup failed: {error}")
                self._failed(backup_type, str(error), started, retry=retry)
                return False
            except Exception as error:
                logger.exception("scheduled %s backup failed", backup_type)
                self.last_error = error
                ping(check, "fail", f"{backup_type} backup failed: {error!r}")
                self._failed(backup_type, str(error) or type(error).__name__, started, retry=retry)
                return False
            ping(check, "success", f"{backup_type} backup made: {Path(result.path).name}")
            self._succeeded(backup_type, Path(result.path), started)
            offsite = getattr(result, "offsite", None)
            if isinstance(offsite, OffsiteRun):
                self._offsite_outcome(offsite)
            if backup_type == "weekly":
                self._drill_after(Path(result.path))
            return True

    def _succeeded(self, backup_type: str, archive: Path, when: datetime) -> None:
        logger.info("scheduled %s backup done: %s", backup_type, archive.name)
        self.retries.pop(backup_type, None)

        def change(state: dict[str, Any]) -> None:
            state["successes"] = int(state.get("successes", 0)) + 1
            state.setdefault("last_success", {})[backup_type] = {
                "at": when.isoformat(),
                "archive": archive.name,
            }

        self._state.update(change)

    def _failed(self, backup_type: str, reason: str, when: datetime, *, retry: bool) -> None:
        attempt = self.retries.get(backup_type, (0, when))[0] + 1

        def change(state: dict[str, Any]) -> None:
            state["failures"] = int(state.get("failures", 0)) + 1
            state.setdefault("last_failure", {})[backup_type] = {
                "at": when.isoformat(),
                "reason": reason,
                "attempt": attempt,
            }

        self._state.update(change)
        if not retry:
            self.notifier.notify(
                "backup_failed", f"The {backup_type} backup failed: {reason.rstrip('.')}."
            )
            return
        allowed = self.settings.scheduler_retries
        if attempt <= allowed:
            delay = timedelta(minutes=self.settings.scheduler_retry_minutes * 2 ** (attempt - 1))
            retry_at = self.clock() + delay
            self.retries[backup_type] = (attempt, retry_at)
            self.notifier.notify(
                "backup_failed",
                f"The {backup_type} backup failed: {reason.rstrip('.')}. "
                f"Retry {attempt} of {allowed} at {retry_at:%Y-%m-%d %H:%M}.",
            )
            return
        self.retries.pop(backup_type, None)
        times = "once" if attempt == 1 else f"{attempt} times"
        self.notifier.notify(
            "backup_gave_up",
            f"The {backup_type} backup failed {times}, last: {reason.rstrip('.')}. No more retries "
            f"until the next scheduled run ({self.next_runs.get(backup_type)}). "
            "See logs/errors.log; `python backup_manager.py diagnose` checks the database.",
        )

    def _drill_after(self, archive: Path) -> None:
        """Restore the new weekly archive into a throw-away database and record the result."""
        try:
            result = self._drill(self.settings, archive)
        except Exception as error:
            logger.exception("restore drill of %s failed", archive.name)
            result = DrillResult(archive, False, f"the drill itself failed: {error}")
        when = self.clock().isoformat()

        def change(state: dict[str, Any]) -> None:
            state["last_drill"] = {
                "at": when,
                "archive": archive.name,
                "ok": result.ok,
                "detail": result.detail,
            }
            if not result.ok:
                state["failures"] = int(state.get("failures", 0)) + 1
                failure = {"at": when, "reason": result.detail}
                state.setdefault("last_failure", {})["drill"] = failure

        self._state.update(change)
        self._drill_offsite()
        if result.ok:
            logger.info("restore drill of %s: %s", archive.name, result.detail)
        else:
            logger.error("restore drill of %s failed: %s", archive.name, result.detail)
            self.notifier.notify(
                "drill_failed",
                f"The restore drill of {archive.name} failed: {result.detail}. The backup may "
                "not restore; check them all: python backup_manager.py verify --all",
            )

    # --- off-machine copies -----------------------------------------------------------

    def sync_offsite(self) -> None:
        """Send pending copies whose retry time has come (at the first beat: all, and what
        a target lacks); a target's new failure is reported once, until a copy succeeds."""
        if not self.settings.offsite.enabled:
            return
        first = not self._offsite_synced
        if not first and not copying.pending_due(self.settings, self.clock()):
            return
        try:
            run = copying.sync(self.settings, due_only=not first, now=self.clock())
        except Exception:  # a beat never dies of it; the copies stay pending
            logger.exception("off-machine sync failed")
            return
        self._offsite_synced = True
        self._offsite_outcome(run)

    def _offsite_outcome(self, run: OffsiteRun) -> None:
        """Alert once per failing target (an incident ends with a verified copy there)."""
        failing = {o.target: o.detail for o in run.outcomes if not o.ok and not o.busy}
        healed = {o.target for o in run.outcomes if o.ok} - set(failing)
        known = dict(self._state.read().get("offsite_failing", {}))
        for target, detail in failing.items():
            if target not in known:
                self.notifier.notify(
                    "offsite_failed",
                    f"The copy to off-machine target {target} failed: {detail.rstrip('.')}. "
                    "The local backup is fine; the copy stays pending and is retried.",
                )
        new = {t: d for t, d in {**known, **failing}.items() if t not in healed}
        if new != known:
            self._state.update(lambda state: state.update(offsite_failing=new))

    def _drill_offsite(self) -> None:
        """Restore the newest copy of every target too (when AGE_IDENTITY_FILE is set)."""
        try:
            results = self._offsite_drill(self.settings)
        except Exception as error:
            logger.exception("off-machine drill failed")
            results = {"?": DrillResult(Path("?"), False, f"the drill itself failed: {error}")}
        if not results:
            return
        when = self.clock().isoformat()
        summary = {
            target: {"at": when, "archive": r.archive.name, "ok": r.ok, "detail": r.detail}
            for target, r in results.items()
        }
        self._state.update(lambda state: state.update(last_offsite_drill=summary))
        for target, result in results.items():
            if not result.ok:
                self.notifier.notify(
                    "offsite_drill_failed",
                    f"The drill of the newest copy on off-machine target {target} failed: "
                    f"{result.detail}. `python backup_manager.py offsite verify --target "
                    f"{target}` checks its copies.",
                )

    def check_stale(self) -> None:
        """Raise the staleness alarm, once per incident (an incident ends with a new backup)."""
        now = self.clock()
        incidents: dict[str, str] = {}  # type: the newest backup's name (or "none")
        notified = self._state.read().get("stale_notified", {})
        for kind in SCHEDULED:
            age = backup_age(self.settings, kind, now)
            limit = stale_after(self.settings, kind)
            if age is not None and age <= limit:
                continue
            newest = catalog.newest_verified(self.settings, kind)
            incidents[kind] = newest.name if newest else "none"
            if notified.get(kind) != incidents[kind]:
                since = f"for {age.total_seconds() / 3600:.0f} h" if age else "yet"
                self.notifier.notify(
                    "stale",
                    f"No {kind} backup has succeeded {since} (the alarm is at "
                    f"{limit.total_seconds() / 3600:.0f} h). Is the scheduler running? "
                    "`python backup_manager.py status` shows it.",
                )
        self._state.update(lambda state: state.update(stale_notified=incidents))
        self._check_offsite_stale(now)

    def _check_offsite_stale(self, now: datetime) -> None:
        """No verified daily copy on a target for OFFSITE_STALE_HOURS: alarm once per incident."""
        incidents = stale_targets(self.settings, now)
        notified = self._state.read().get("offsite_stale_notified", {})
        for target, newest in incidents.items():
            if notified.get(target) != newest:
                since = "yet" if newest == "none" else f"since {newest}"
                self.notifier.notify(
                    "offsite_stale",
                    f"No daily backup has been verified on off-machine target {target} {since} "
                    f"(the alarm is at {self.settings.offsite.stale_hours} h). If the server "
                    "is lost now, these backups are lost with it. `python backup_manager.py "
                    "status` shows the last error; `offsite sync` retries.",
                )
        if incidents != notified:
            self._state.update(lambda state: state.update(offsite_stale_notified=incidents))

    # --- helpers ----------------------------------------------------------------------

    def _overdue(self, backup_type: str, now: datetime) -> bool:
        """Tell whether the newest backup of a type is older than its period (or missing)."""
        age = backup_age(self.settings, backup_type, now)
        return age is None or age > PERIODS[backup_type]

    def _save_plan(self, state: dict[str, Any]) -> None:
        state["next_run"] = {kind: moment.isoformat() for kind, moment in self.next_runs.items()}
        state["retries"] = {
            kind: {"attempt": attempt, "at": at.isoformat()}
            for kind, (attempt, at) in self.retries.items()
        }
