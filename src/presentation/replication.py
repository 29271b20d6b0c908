"""The REPLICATION section of the status, the same for every door (English by default)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from src.presentation.words import ENGLISH, word
from src.services.replication.report import ReplicationStatus


def status_lines(
    status: ReplicationStatus | None, start_hint: str, language: str = ENGLISH
) -> list[str]:
    """The REPLICATION section (nothing when REPLICA_URL is not set)."""
    if status is None:
        return []
    lang = language

    def w(key: str, **values: object) -> str:
        return word(key, lang, **values)

    held = status.positions
    if status.running:
        state = w("repl_running", pid=status.pid)
    else:
        state = w("repl_not_running", start=start_hint)
    newest = (
        w("transaction", txid=held.newest_txid, at=_moment(held.newest_at, lang))
        if held.newest_txid
        else w("nothing_yet")
    )
    lines = [
        w("replication"),
        w("status", state=state),
        w("replica", replica=status.replica),
        w("newest_replicated", what=newest),
        w("lag", lag=lag_words(status, lang)),
        w("oldest_restorable", at=_moment(held.oldest_restorable, lang)),
    ]
    if status.restarts:
        lines.append(w("restarts", count=status.restarts, last=status.last_exit))
    if status.error:
        lines.append(w("last_error", error=status.error))
    return lines


def lag_words(status: ReplicationStatus, language: str = ENGLISH) -> str:
    """The lag, and whether it is above REPLICA_MAX_LAG."""
    limit = word("lag_limit", language, limit=seconds(status.max_lag, language))
    if status.lag is None:
        return word("lag_unknown", language, limit=limit)
    mark = "⚠️ " if status.behind else ""
    bound = word("at_most", language) if status.lag_at_most else ""
    return f"{mark}{bound}{seconds(status.lag, language)} ({limit})"


def seconds(span: timedelta, language: str = ENGLISH) -> str:
    """A span in seconds, minutes or hours."""
    value = span.total_seconds()
    if value < 120:
        return word("seconds", language, value=f"{value:.0f}")
    if value < 7200:
        return word("minutes", language, value=f"{value / 60:.0f}")
    return word("hours", language, value=f"{value / 3600:.1f}")


def _moment(moment: datetime | None, language: str = ENGLISH) -> str:
    if not moment:
        return word("none_yet_moment", language)
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}".strip()


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
