"""One scheduled backup as the scheduler makes it: health-check pings, the outcome kept in the
scheduler's state, the alarm about its off-machine copy, and after a weekly backup the
restore drills. Whether and when to retry a failure is the scheduler's decision, not this one's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from src.config.settings import REPLICA_SOURCE, Settings
from src.errors import BackupError
from src.services.backup_service import create_backup
from src.services.drill import DrillResult, restore_drill
from src.services.notifiers import Notifier
from src.services.notifiers.healthcheck import ping
from src.services.offsite.copying import OffsiteRun
from src.services.offsite.drill import offsite_drills
from src.services.replication.drill import replica_drill
from src.services.scheduler_alarms import alert_offsite
from src.services.scheduler_state import SchedulerState

logger = logging.getLogger(__name__)

TRIGGER = "scheduler"

BackupFunction = Callable[[Settings, str, str], Any]  # (settings, type, trigger) -> result.path
DrillFunction = Callable[[Settings, Path], DrillResult]
OffsiteDrillFunction = Callable[[Settings], dict[str, DrillResult]]
ReplicaDrillFunction = Callable[[Settings], DrillResult | None]


def _create(settings: Settings, backup_type: str, trigger: str) -> Any:
    return create_backup(settings, backup_type, trigger=trigger)


@dataclass(frozen=True)
class Jobs:
    """The work a scheduled run does (a test puts in fakes)."""

    backup: BackupFunction = _create
    drill: DrillFunction = restore_drill
    offsite_drill: OffsiteDrillFunction = offsite_drills
    replica_drill: ReplicaDrillFunction = replica_drill


DEFAULT_JOBS = Jobs()


@dataclass
class ScheduledOutcome:
    """What one scheduled backup did; `ok` is its verdict (the backup was made and verified).

    A failed restore drill does not undo the backup: it is `drill`'s own verdict.
    """

    backup_type: str
    started_at: datetime
    finished_at: datetime
    archive: Path | None = None  # the verified backup (None: it failed)
    reason: str = ""  # why it failed
    error: BackupError | None = None  # the failure as the CLI reports it (with its exit code)
    attempt: int = 1  # failed attempts in a row, this one included
    retry_at: datetime | None = None  # when the scheduler tries again (None: it does not)
    offsite: OffsiteRun | None = None  # the off-machine copies made with it
    drill: DrillResult | None = None  # the restore drill of a weekly archive
    drilled_at: datetime | None = None
    offsite_drills: dict[str, DrillResult] = field(default_factory=dict)
    replica_drill: DrillResult | None = None  # the replica's, when REPLICA_URL is set

    @property
    def ok(self) -> bool:
        """Tell whether the backup was made."""
        return self.archive is not None

    @property
    def drill_summary(self) -> dict[str, Any] | None:
        """The restore drill as the scheduler's state keeps it (None: there was none)."""
        if self.drill is None or self.drilled_at is None:
            return None
        return drill_record(self.drill, self.drilled_at.isoformat())

    @property
    def replica_drill_summary(self) -> dict[str, Any] | None:
        """The replica's drill as the state keeps it (None: REPLICA_URL is not set)."""
        if self.replica_drill is None or self.drilled_at is None:
            return None
        return drill_record(self.replica_drill, self.drilled_at.isoformat())


def make_scheduled_backup(
    settings: Settings,
    backup_type: str,
    *,
    notifier: Notifier,
    clock: Callable[[], datetime],
    jobs: Jobs | None = None,
    attempt: int = 1,
) -> ScheduledOutcome:
    """Make one daily or weekly backup now and keep its outcome in the scheduler's state.

    Pings HEALTHCHECK_URL (start, then success or fail), counts a success or a failure
    (`attempt`: failed attempts in a row, this one included, if it fails), alarms about a
    failing off-machine copy, and drills a weekly archive. A failure is logged (an unexpected
    one with its traceback) and returned, never raised; the caller alarms about it.

    Returns:
        The outcome; its `retry_at` is left for the scheduler to decide.
    """
    jobs = jobs or DEFAULT_JOBS
    started = clock()
    check = settings.healthcheck_url
    ping(check, "start", f"{backup_type} backup started")
    try:
        result = jobs.backup(settings, backup_type, TRIGGER)
    except BackupError as error:  # expected: the message says it all
        logger.error("scheduled %s backup failed: %s", backup_type, error)  # noqa: TRY400
        ping(check, "fail", f"{backup_type} backup failed: {error}")
        return _failed(settings, backup_type, started, clock(), error, str(error), attempt)
    except Exception as error:
        logger.exception("scheduled %s backup failed", backup_type)
        ping(check, "fail", f"{backup_type} backup failed: {error!r}")
        reason = str(error) or type(error).__name__
        wrapped = BackupError(f"The {backup_type} backup failed: {reason}")
        return _failed(settings, backup_type, started, clock(), wrapped, reason, attempt)
    archive = Path(result.path)
    ping(check, "success", f"{backup_type} backup made: {archive.name}")
    logger.info("scheduled %s backup done: %s", backup_type, archive.name)
    _record_success(settings, backup_type, archive, started)
    outcome = ScheduledOutcome(backup_type, started, clock(), archive)
    offsite = getattr(result, "offsite", None)
    if isinstance(offsite, OffsiteRun):
        outcome.offsite = offsite
        alert_offsite(settings, notifier, offsite)
    if backup_type == "weekly":
        _drill(settings, outcome, notifier=notifier, clock=clock, jobs=jobs)
    return outcome


def _record_success(settings: Settings, backup_type: str, archive: Path, when: datetime) -> None:
    def change(state: dict[str, Any]) -> None:
        state["successes"] = int(state.get("successes", 0)) + 1
        state.setdefault("last_success", {})[backup_type] = {
            "at": when.isoformat(),
            "archive": archive.name,
        }

    SchedulerState(settings).update(change)


def _failed(
    settings: Settings,
    backup_type: str,
    started: datetime,
    finished: datetime,
    error: BackupError,
    reason: str,
    attempt: int,
) -> ScheduledOutcome:
    """Count the failure in the state and describe it."""

    def change(state: dict[str, Any]) -> None:
        state["failures"] = int(state.get("failures", 0)) + 1
        state.setdefault("last_failure", {})[backup_type] = {
            "at": started.isoformat(),
            "reason": reason,
            "attempt": attempt,
        }

    SchedulerState(settings).update(change)
    return ScheduledOutcome(
        backup_type, started, finished, reason=reason, error=error, attempt=attempt
    )


def _drill(
    settings: Settings,
    outcome: ScheduledOutcome,
    *,
    notifier: Notifier,
    clock: Callable[[], datetime],
    jobs: Jobs,
) -> None:
    """Restore the new weekly archive into a throw-away database (and the newest copy of
    every off-machine target, and the replica); keep and report the results."""
    archive = outcome.archive
    assert archive is not None
    try:
        result = jobs.drill(settings, archive)
    except Exception as error:
        logger.exception("restore drill of %s failed", archive.name)
        result = DrillResult(archive, False, f"the drill itself failed: {error}")
    outcome.drill, outcome.drilled_at = result, clock()
    when = outcome.drilled_at.isoformat()

    def change(state: dict[str, Any]) -> None:
        state["last_drill"] = drill_record(result, when)
        if not result.ok:
            state["failures"] = int(state.get("failures", 0)) + 1
            failure = {"at": when, "reason": result.detail}
            state.setdefault("last_failure", {})["drill"] = failure

    SchedulerState(settings).update(change)
    outcome.offsite_drills = _drill_offsite(settings, notifier=notifier, clock=clock, jobs=jobs)
    outcome.replica_drill = _drill_replica(settings, notifier=notifier, clock=clock, jobs=jobs)
    if result.ok:
        logger.info("restore drill of %s: %s", archive.name, result.detail)
    else:
        logger.error("restore drill of %s failed: %s", archive.name, result.detail)
        notifier.notify(
            "drill_failed",
            f"The restore drill of {archive.name} failed: {result.detail}. The backup may "
            "not restore; check them all: python backup_manager.py verify --all",
        )


def drill_record(result: DrillResult, when: str) -> dict[str, Any]:
    """A drill as the state (and `scheduler run-now --json`) keeps it."""
    return {"at": when, "archive": result.archive.name, "ok": result.ok, "detail": result.detail}


def _drill_offsite(
    settings: Settings, *, notifier: Notifier, clock: Callable[[], datetime], jobs: Jobs
) -> dict[str, DrillResult]:
    """Restore the newest copy of every target too (when AGE_IDENTITY_FILE is set)."""
    try:
        results = jobs.offsite_drill(settings)
    except Exception as error:
        logger.exception("off-machine drill failed")
        results = {"?": DrillResult(Path("?"), False, f"the drill itself failed: {error}")}
    if not results:
        return results
    when = clock().isoformat()
    summary = {target: drill_record(r, when) for target, r in results.items()}
    SchedulerState(settings).update(lambda state: state.update(last_offsite_drill=summary))
    for target, result in results.items():
        if not result.ok:
            notifier.notify(
                "offsite_drill_failed",
                f"The drill of the newest copy on off-machine target {target} failed: "
                f"{result.detail}. `python backup_manager.py offsite verify --target "
                f"{target}` checks its copies.",
            )
    return results


def _drill_replica(
    settings: Settings, *, notifier: Notifier, clock: Callable[[], datetime], jobs: Jobs
) -> DrillResult | None:
    """Restore the replica too (when REPLICA_URL is set) and compare it with the live database."""
    try:
        result = jobs.replica_drill(settings)
    except Exception as error:
        logger.exception("replica drill failed")
        result = DrillResult(Path(REPLICA_SOURCE), False, f"the drill itself failed: {error}")
    if result is None:
        return None
    record = drill_record(result, clock().isoformat())
    SchedulerState(settings).update(lambda state: state.update(last_replica_drill=record))
    if result.ok:
        logger.info("replica drill: %s", result.detail)
    else:
        logger.error("replica drill failed: %s", result.detail)
        notifier.notify(
            "replica_drill_failed",
            f"The restore drill of the replica {settings.replica.describe()} failed: "
            f"{result.detail}. `python backup_manager.py status` shows the replication.",
        )
    return result
