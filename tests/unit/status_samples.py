"""SystemStatus samples covering every branch of the status text (for its language tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from src.services.admin_reach import AdminReach
from src.services.history import Attempt, Statistics
from src.services.offsite.report import OffsiteStatus, TargetStatus
from src.services.replication.positions import ReplicaPositions
from src.services.replication.report import ReplicationStatus
from src.services.scheduler_state import SchedulerView
from src.services.status_service import DatabaseStatus, SystemStatus

AT = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
NEXT = {"daily": AT + timedelta(hours=19), "weekly": AT + timedelta(days=3)}


def _scheduler(**changes: object) -> SchedulerView:
    view = SchedulerView(
        running=True,
        hanging=False,
        heartbeat_at="2026-12-06T07:59:00",
        pid=4242,
        started_at="2026-12-01T03:00:00",
        paused=False,
        successes=12,
        failures=1,
        next_runs=NEXT,
        last_drill={"at": "2026-12-05T04:00:00", "archive": "w.zip", "ok": True},
        last_replica_drill={"at": "2026-12-05T04:10:00", "ok": False, "detail": "rows differ"},
        stale=["No weekly backup has succeeded yet"],
        ever_ran=True,
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def _target(**changes: object) -> TargetStatus:
    newest = SimpleNamespace(archive="daily_1.zip", database_only=True)
    target = TargetStatus(
        name="nas",
        where="folder /mnt/nas",
        encrypted=True,
        last_verified=newest,  # type: ignore[arg-type]
        last_verified_age=timedelta(hours=3),
        last_made_age=timedelta(hours=50),
        copies=4,
        bytes_held=5_000_000,
        pending=1,
        last_error="connection refused",
        last_error_at="2026-12-06T05:00:00",
        stale="daily_0.zip",
    )
    return replace(target, **changes)  # type: ignore[arg-type]


def _replication(**changes: object) -> ReplicationStatus:
    status = ReplicationStatus(
        replica="s3://bucket/bot",
        running=True,
        pid=77,
        restarts=2,
        last_exit="exit code 1",
        local_txid=9,
        positions=ReplicaPositions(8, AT, AT - timedelta(days=1), 3),
        lag=timedelta(minutes=5),
        lag_at_most=False,
        max_lag=timedelta(minutes=2),
        error="timeout",
    )
    return replace(status, **changes)  # type: ignore[arg-type]


def samples() -> list[SystemStatus]:
    """A rich status and its variants, one branch after another."""
    failure = Attempt(
        3,
        "daily",
        "scheduler",
        "2026-12-04T03:00:00",
        None,
        None,
        "failed",
        None,
        None,
        "disk full",
    )
    latest = SimpleNamespace(
        backup_type="pre-restore", created_at="2026-12-06T07:00:00", size_bytes=2048
    )
    rich = SystemStatus(
        database=DatabaseStatus(Path("/srv/bot/bot.db"), True, 123_456, "ok"),
        backups_by_type={"daily": 7, "weekly": 4, "manual": 1, "emergency": 0, "pre-restore": 2},
        storage_bytes=9_999_999,
        free_bytes=None,
        latest=latest,  # type: ignore[arg-type]
        statistics=Statistics(30, 2, 1, None, failure),
        scheduler=_scheduler(),
        offsite=OffsiteStatus(
            [
                _target(),
                _target(
                    name="b2",
                    encrypted=False,
                    last_verified=None,
                    last_made_age=None,
                    stale="none",
                    last_error=None,
                    pending=0,
                ),
            ],
            None,
            False,
            26,
        ),
        replication=_replication(),
        unreachable_admins=[
            AdminReach(1, "blocked", "Forbidden", "2026-12-01T00:00:00"),
            AdminReach(2, "not_started", "chat not found", "2026-12-02T00:00:00"),
            AdminReach(3, "failing", "timeout", "2026-12-03T00:00:00"),
        ],
    )
    quiet = SystemStatus(
        database=DatabaseStatus(Path("/srv/bot/bot.db"), False, 0, "missing"),
        backups_by_type={"daily": 0},
        storage_bytes=0,
        free_bytes=10_000,
        latest=None,
        statistics=Statistics(0, 0, 0, None, None),
        scheduler=_scheduler(
            running=False,
            ever_ran=False,
            paused=True,
            last_drill=None,
            last_replica_drill=None,
            stale=[],
        ),
    )
    return [
        rich,
        quiet,
        replace(
            rich,
            database=DatabaseStatus(Path("x.db"), True, 1, "journal", True),
            scheduler=_scheduler(hanging=True, running=False),
            offsite=OffsiteStatus([_target()], "queued: a copy runs", True, 26),
            replication=_replication(
                running=False, lag=None, error=None, restarts=0, positions=ReplicaPositions()
            ),
        ),
        replace(
            rich,
            scheduler=_scheduler(paused=True),
            replication=_replication(lag=timedelta(hours=3), lag_at_most=True),
        ),
        replace(
            quiet,
            scheduler=_scheduler(running=False),
            database=DatabaseStatus(Path("y.db"), True, 1, "row 3 missing"),
        ),
        replace(rich, replication=_replication(lag=timedelta(seconds=30))),
    ]
