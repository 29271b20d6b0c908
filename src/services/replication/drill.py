"""The replica drill: restore the replica's newest state and compare it with the live database.

The live database keeps being written while the drill runs, so the comparison brackets the
restore: the live row counts are read before (once the replica has caught up with what
Litestream had taken from the database then) and after it. A replica that restores a moment
of that window has, in every table, a count between the two readings; a quiet database gives
the same count three times, and then they must match exactly.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from src.config.settings import REPLICA_SOURCE, Settings
from src.errors import BackupError
from src.services.drill import DrillResult
from src.services.integrity import count_rows, open_readonly, read_transaction
from src.services.naming import clean_stale, work_prefix
from src.services.replication.report import local_txid, replica_positions
from src.services.replication.restore import restore_from_replica

logger = logging.getLogger(__name__)

SETTLE = 1.5  # seconds: Litestream looks at the WAL about once a second


def live_counts(settings: Settings) -> dict[str, int]:
    """The live database's row counts, read in one transaction (Litestream's tables left out)."""
    with closing(open_readonly(settings.database_path)) as conn, read_transaction(conn):
        return count_rows(conn)


def compare_within(
    before: dict[str, int], replica: dict[str, int], after: dict[str, int]
) -> list[str]:
    """The tables whose replica count is outside the live counts read before and after.

    Returns:
        One line per such table (empty: the replica is a state of the window).
    """
    problems = []
    for table in sorted({*before, *replica, *after}):
        seen = [before.get(table), after.get(table)]
        got = replica.get(table)
        if got is None:
            problems.append(f"{table}: not in the replica")
            continue
        known = [n for n in seen if n is not None]
        if not known:
            problems.append(f"{table}: only in the replica ({got} rows)")
        elif not min(known) <= got <= max(known):
            live = f"{min(known)}" if min(known) == max(known) else f"{min(known)} to {max(known)}"
            problems.append(f"{table}: {got} rows in the replica, {live} live")
    return problems


def replica_drill(
    settings: Settings,
    *,
    catch_up: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DrillResult | None:
    """Restore the replica's newest state into a throw-away file and compare its row counts
    with the live database's at that moment.

    Args:
        catch_up: seconds to wait for the replica to hold what Litestream had taken from the
            database when the drill began (default: REPLICA_MAX_LAG).

    Returns:
        The drill's verdict; None when REPLICA_URL is not set.
    """
    if not settings.replica.enabled:
        return None
    source = Path(REPLICA_SOURCE)
    wait = settings.replica.max_lag.total_seconds() if catch_up is None else catch_up
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.recovery_dir, "replica-drill")
    try:
        before = live_counts(settings)
        sleep(SETTLE)
        behind = _wait_for_replica(settings, wait, sleep)
        if behind:
            return DrillResult(source, False, behind)
        with tempfile.TemporaryDirectory(
            dir=settings.recovery_dir, prefix=work_prefix("replica-drill")
        ) as tmp:
            restored = restore_from_replica(settings, Path(tmp), None)
        after = live_counts(settings)
    except BackupError as error:
        return DrillResult(source, False, f"the replica did not restore: {error}")
    problems = compare_within(before, restored.counts, after)
    if problems:
        return DrillResult(
            source,
            False,
            "the replica's row counts are not the live database's within the lag: "
            + "; ".join(problems[:5]),
        )
    rows = sum(restored.counts.values())
    same = (
        "row counts match the live database's"
        if before == after
        else "row counts between the live database's before and after (written meanwhile)"
    )
    return DrillResult(
        source,
        True,
        f"restored {rows} rows in {len(restored.counts)} tables from "
        f"{settings.replica.describe()}; integrity ok; {same}",
    )


def _wait_for_replica(
    settings: Settings, wait: float, sleep: Callable[[float], None]
) -> str | None:
    """Wait until the replica holds what Litestream has taken from the database now.

    Returns:
        None once it does; else why not (in words).
    """
    wanted = local_txid(settings) or 0
    deadline = time.monotonic() + wait
    while True:
        held = replica_positions(settings).newest_txid
        if held >= wanted:
            return None
        if time.monotonic() >= deadline:
            return (
                f"the replica did not catch up within {wait:.0f} s (it holds transaction "
                f"{held}, the database is at {wanted}); is Litestream running?"
            )
        sleep(0.5)
