"""The REPLICATION section of the status, the same for every door."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from src.services.replication.report import ReplicationStatus


def status_lines(status: ReplicationStatus | None, start_hint: str) -> list[str]:
    """The REPLICATION section (nothing when REPLICA_URL is not set)."""
    if status is None:
        return []
    held = status.positions
    if status.running:
        state = f"🟢 Running (litestream pid {status.pid})"
    else:
        state = f"🔴 Not running ({start_hint}: it runs Litestream)"
    lines = [
        "🔁 REPLICATION:",
        f"  Status: {state}",
        f"  Replica: {status.replica}",
        "  Newest replicated: "
        + (
            f"transaction {held.newest_txid}, written {_moment(held.newest_at)}"
            if held.newest_txid
            else "nothing yet"
        ),
        f"  Lag: {lag_words(status)}",
        f"  Oldest restorable moment: {_moment(held.oldest_restorable)}",
    ]
    if status.restarts:
        lines.append(f"  Restarts: {status.restarts} (last end: {status.last_exit})")
    if status.error:
        lines.append(f"  ⚠️ Last error: {status.error}")
    return lines


def lag_words(status: ReplicationStatus) -> str:
    """The lag, and whether it is above REPLICA_MAX_LAG."""
    limit = f"alarm above {seconds(status.max_lag)}"
    if status.lag is None:
        return f"unknown ({limit})"
    mark = "⚠️ " if status.behind else ""
    bound = "at most " if status.lag_at_most else ""
    return f"{mark}{bound}{seconds(status.lag)} ({limit})"


def seconds(span: timedelta) -> str:
    """A span in seconds, minutes or hours."""
    value = span.total_seconds()
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.0f} min" if value < 7200 else f"{value / 3600:.1f} h"


def _moment(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}".strip() if moment else "none yet"


def status_json(status: ReplicationStatus | None) -> dict[str, Any] | None:
    """The REPLICATION section for --json (null when REPLICA_URL is not set)."""
    if status is None:
        return None
    held = status.positions
    return {
        "ok": status.ok,
        "replica": status.replica,
        "running": status.running,
        "pid": status.pid,
        "restarts": status.restarts,
        "last_exit": status.last_exit,
        "local_txid": status.local_txid,
        "newest_txid": held.newest_txid,
        "newest_at": held.newest_at.isoformat() if held.newest_at else None,
        "oldest_restorable": held.oldest_restorable.isoformat() if held.oldest_restorable else None,
        "lag_seconds": status.lag.total_seconds() if status.lag is not None else None,
        "lag_at_most": status.lag_at_most,
        "max_lag_seconds": status.max_lag.total_seconds(),
        "behind": status.behind,
        "error": status.error,
    }
