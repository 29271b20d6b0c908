"""The scheduler's state, kept beside the backups so every process (status, the bot) can read it."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from src.config.settings import Settings
from src.services import catalog
from src.services.history import connect_history, pid_alive, read_only_history
from src.services.schedule_times import next_run, stale_after

SCHEDULED = ("daily", "weekly")
HEARTBEAT_SECONDS = 30
# a heartbeat older than this means the scheduler hangs or is gone, whatever its pid says
HEARTBEAT_STALE = timedelta(seconds=4 * HEARTBEAT_SECONDS)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS scheduler_state (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT)"
)


class SchedulerState:
    """Read and change the persisted state (one JSON document in the history database)."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.history_path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(connect_history(self.path)) as conn:
            conn.isolation_level = None
            conn.execute(_SCHEMA)
            yield conn

    def read(self) -> dict[str, Any]:
        """Return the state ({} before any scheduler ran)."""
        if not self.path.exists():
            return {}
        with read_only_history(self.path) as conn:
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'scheduler_state'"
            ).fetchone():
                return {}
            row = conn.execute("SELECT state FROM scheduler_state WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else {}

    def update(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Change the state in one transaction (safe against other processes); return it."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT state FROM scheduler_state WHERE id = 1").fetchone()
                state = json.loads(row[0]) if row else {}
                change(state)
                conn.execute(
                    "INSERT OR REPLACE INTO scheduler_state (id, state) VALUES (1, ?)",
                    (json.dumps(state, sort_keys=True),),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return state


def set_paused(settings: Settings, paused: bool) -> None:
    """Pause or resume the scheduler (it stays so across restarts)."""
    now = settings.now().isoformat()

    def change(state: dict[str, Any]) -> None:
        state["paused"] = paused
        state["paused_changed_at"] = now

    SchedulerState(settings).update(change)


def request_run(settings: Settings, backup_type: str) -> None:
    """Ask the running scheduler to make a backup of `backup_type` at its next beat."""

    def change(state: dict[str, Any]) -> None:
        requests = state.setdefault("requests", [])
        if backup_type not in requests:
            requests.append(backup_type)

    SchedulerState(settings).update(change)


def mark_running(state: dict[str, Any], now: datetime) -> None:
    """Note this process as the running scheduler."""
    state.update(
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=now.isoformat(),
        heartbeat_at=now.isoformat(),
        stopped_at=None,
    )


@dataclass
class SchedulerView:
    """The scheduler as `status` and the bot show it."""

    running: bool
    hanging: bool  # its process lives but has not beaten for minutes (stopped, stuck)
    heartbeat_at: str | None
    pid: int | None
    started_at: str | None
    paused: bool
    successes: int
    failures: int
    next_runs: dict[str, datetime]
    last_success: dict[str, Any] = field(default_factory=dict)
    last_failure: dict[str, Any] = field(default_factory=dict)
    last_drill: dict[str, Any] | None = None
    last_replica_drill: dict[str, Any] | None = None  # with REPLICA_URL: the replica's
    stale: list[str] = field(default_factory=list)
    ever_ran: bool = False


def scheduler_view(settings: Settings, now: datetime | None = None) -> SchedulerView:
    """Read the persisted state and judge it: a dead or silent process is not running."""
    now = now or settings.now()
    problem = None
    try:
        state = SchedulerState(settings).read()
    except sqlite3.Error as error:  # shown, not raised: status must still answer
        state, problem = {}, f"the scheduler's state cannot be read: {error}"
    pid = state.get("pid")
    beat = state.get("heartbeat_at")
    alive = bool(
        pid
        and not state.get("stopped_at")
        and state.get("host") == socket.gethostname()
        and pid_alive(int(pid))
    )
    responding = bool(beat and now - datetime.fromisoformat(beat) <= HEARTBEAT_STALE)
    running = alive and responding
    saved = state.get("next_run", {})
    next_runs = {
        kind: datetime.fromisoformat(saved[kind])
        if running and kind in saved
        else next_run(settings, kind, now)
        for kind in SCHEDULED
    }
    return SchedulerView(
        running=running,
        hanging=alive and not responding,
        heartbeat_at=beat,
        pid=int(pid) if pid else None,
        started_at=state.get("started_at"),
        paused=bool(state.get("paused")),
        successes=int(state.get("successes", 0)),
        failures=int(state.get("failures", 0)),
        next_runs=next_runs,
        last_success=state.get("last_success", {}),
        last_failure=state.get("last_failure", {}),
        last_drill=state.get("last_drill"),
        last_replica_drill=state.get("last_replica_drill"),
        stale=([problem] if problem else [])
        + (stale_warnings(settings, now) if state.get("started_at") else []),
        ever_ran=bool(state.get("started_at")),
    )


def backup_age(settings: Settings, backup_type: str, now: datetime) -> timedelta | None:
    """How old the newest verified backup of a type is (None: there is none)."""
    newest = catalog.latest(settings, backup_type)
    if newest is None:
        return None
    stamp = newest.created_at_key.split("_")[0] + "+0000"
    return now - datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f%z")


def stale_warnings(settings: Settings, now: datetime) -> list[str]:
    """Say which scheduled backup types have not succeeded for too long."""
    warnings = []
    for kind in SCHEDULED:
        age = backup_age(settings, kind, now)
        limit = stale_after(settings, kind)
        if age is None:
            warnings.append(f"No {kind} backup has succeeded yet")
        elif age > limit:
            hours = age.total_seconds() / 3600
            warnings.append(
                f"No {kind} backup has succeeded for {hours:.0f} h "
                f"(the alarm is at {limit.total_seconds() / 3600:.0f} h)"
            )
    return warnings
