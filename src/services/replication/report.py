"""What the replication is doing, read from Litestream's own commands and the supervisor's
saved state: one observation for the supervisor, one status for every door."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from src.config.settings import Settings
from src.errors import ReplicationError
from src.services.history import pid_alive
from src.services.replication import litestream
from src.services.replication.positions import (
    LagTracker,
    LtxFile,
    ReplicaPositions,
    oldest_unreplicated,
    parse_ltx,
    positions,
    read_ltx_header,
)

STATE_NAME = "supervisor.json"


@dataclass(frozen=True)
class Observation:
    """One look at the local and replicated positions."""

    at: datetime
    local_txid: int | None
    replica: ReplicaPositions
    lag: timedelta | None  # None: unknown (nothing could be read)
    error: str | None = None


@dataclass(frozen=True)
class ReplicationStatus:
    """The REPLICATION section of `status`."""

    replica: str  # where, without a password
    running: bool
    pid: int | None
    restarts: int
    last_exit: str | None
    local_txid: int | None
    positions: ReplicaPositions
    lag: timedelta | None
    lag_at_most: bool  # no supervisor measured it: the time since the newest replicated write
    max_lag: timedelta
    error: str | None = None
    incidents: list[str] = field(default_factory=list)

    @property
    def behind(self) -> bool:
        """Tell whether the lag is above REPLICA_MAX_LAG."""
        return self.lag is not None and self.lag > self.max_lag and not self.lag_at_most

    @property
    def ok(self) -> bool:
        """The verdict: Litestream runs, the replica answers and keeps up."""
        return self.running and self.error is None and not self.behind


CHECK_TIMEOUT = 10.0  # seconds a look at the replica may take (an unreachable one hangs)


def local_txid(settings: Settings) -> int | None:
    """The newest transaction Litestream has taken from the live database (None: none yet).

    Raises:
        ReplicationError: litestream failed.
    """
    rows = litestream.run_json(settings, "status", "-json", timeout=CHECK_TIMEOUT) or []
    for row in rows:
        if row.get("database") == str(settings.database_path) and row.get("local_txid"):
            try:
                return int(str(row["local_txid"]), 16)
            except ValueError:
                return None
    return None


def replica_positions(settings: Settings, timeout: float = 60) -> ReplicaPositions:
    """What the replica holds (it is listed: this reaches the storage).

    Raises:
        ReplicationError: the replica could not be listed within `timeout` seconds.
    """
    listing = litestream.run_json(
        settings, "ltx", "-level", "all", "-json", str(settings.database_path), timeout=timeout
    )
    return positions(parse_ltx(listing))


def local_ltx(settings: Settings) -> list[LtxFile]:
    """The transactions Litestream has taken from the live database and still keeps beside it
    (level 0 of its `.<name>-litestream` folder), each with the time it took them."""
    db = settings.database_path
    folder = db.with_name(f".{db.name}-litestream") / "ltx" / "0"
    found = []
    try:
        paths = sorted(folder.glob("*.ltx"))
    except OSError:
        return []
    for path in paths:
        try:
            with path.open("rb") as handle:
                head = handle.read(40)
        except OSError:  # compacted away meanwhile
            continue
        ltx = read_ltx_header(path.name, head)
        if ltx is not None:
            found.append(ltx)
    return found


def unreplicated_since(settings: Settings, replica_txid: int) -> datetime | None:
    """When Litestream took the oldest transaction not yet on the replica (None: none)."""
    return oldest_unreplicated(local_ltx(settings), replica_txid)


def observe(settings: Settings, tracker: LagTracker, now: datetime) -> Observation:
    """Look at both positions; a replica that cannot be listed leaves the lag growing."""
    error = None
    try:
        local = local_txid(settings)
    except ReplicationError as failed:
        local, error = None, str(failed)
    try:
        replica = replica_positions(settings, CHECK_TIMEOUT)
    except ReplicationError as failed:
        waiting = tracker.oldest_waiting_since()
        lag = now - waiting if waiting else None
        if local is not None:
            lag = tracker.observe(local, tracker.replica_txid, now)
        return Observation(now, local, ReplicaPositions(), lag, str(failed))
    lag = tracker.observe(local, replica.newest_txid, now) if local is not None else None
    return Observation(now, local, replica, lag, error)


def save_supervisor_state(settings: Settings, state: dict[str, Any]) -> None:
    """Replace the supervisor's saved state (owner-only, atomically)."""
    folder = litestream.state_dir(settings)
    partial = folder / f".{STATE_NAME}.{os.getpid()}"
    partial.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
    partial.chmod(0o600)
    partial.replace(folder / STATE_NAME)


def supervisor_state(settings: Settings) -> dict[str, Any]:
    """The state the running supervisor saved ({} when none ran or it cannot be read)."""
    path = settings.backup_dir / ".litestream" / STATE_NAME
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _changed_since(settings: Settings, moment: datetime | None) -> bool:
    """Tell whether the database (or its WAL) was written after `moment` (+1 s)."""
    db = settings.database_path
    stamps = [p.stat().st_mtime for p in (db, db.with_name(db.name + "-wal")) if p.exists()]
    if not stamps or moment is None:
        return bool(stamps)
    return max(stamps) > moment.timestamp() + 1


def read_status(settings: Settings, now: datetime) -> ReplicationStatus | None:
    """Gather the REPLICATION section (None: REPLICA_URL is not set)."""
    if not settings.replica.enabled:
        return None
    saved = supervisor_state(settings)
    supervisor = saved.get("supervisor_pid")
    pid = saved.get("litestream_pid")
    running = bool(supervisor and pid and pid_alive(int(supervisor)) and pid_alive(int(pid)))
    tracker = LagTracker()
    waiting = saved.get("waiting_since") if running else None
    seen = observe(settings, tracker, now)
    lag, at_most = seen.lag, False
    newest = seen.replica.newest_at
    behind = seen.local_txid is not None and seen.local_txid > seen.replica.newest_txid
    # without Litestream nothing counts the writes: a database changed since is behind
    behind = behind or (not running and _changed_since(settings, newest))
    # the lag at this moment, from Litestream's own files: when it took the oldest
    # transaction the replica lacks (to its WAL check, about a second); the supervisor's
    # sample (every few seconds) and the newest write's age are the fallbacks
    listed = behind and seen.replica.files > 0  # an unlistable replica: the lag is unknown
    since = unreplicated_since(settings, seen.replica.newest_txid) if listed else None
    if since is not None:
        lag = max(now - since, timedelta(0))
    elif behind and waiting:
        lag = now - datetime.fromisoformat(waiting)
    elif behind and newest is not None:
        lag, at_most = now - newest, True  # the oldest write not there is younger than this
    return ReplicationStatus(
        replica=settings.replica.describe(),
        running=running,
        pid=int(pid) if running and pid else None,
        restarts=int(saved.get("restarts") or 0),
        last_exit=saved.get("last_exit"),
        local_txid=seen.local_txid,
        positions=seen.replica,
        lag=lag if seen.local_txid is not None or at_most else None,
        lag_at_most=at_most,
        max_lag=settings.replica.max_lag,
        error=seen.error,
        incidents=list(saved.get("incidents") or []) if running else [],
    )
