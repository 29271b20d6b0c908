"""Bring a moment of the replica back as a checked database file (`restore --from replica`).

Litestream restores into the work folder; the file is then checked as an archive's database
copy is (integrity_check, no planted schema, row counts) and handed to the usual restore
(preview, safety copy, live write) as a `Validation` whose source is "replica".
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from src.config.settings import REPLICA_SOURCE, Settings
from src.errors import ArchiveInvalid, ConfigError, RestoreAborted
from src.services import progress
from src.services.integrity import count_rows, run_check
from src.services.replication import litestream
from src.services.replication.report import replica_positions
from src.services.sandbox import open_untrusted
from src.services.schema_diff import planted_internal_names
from src.services.validation import Validation

_LOCAL_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")


def parse_at(text: str, settings: Settings) -> datetime:
    """Read a point in time: `YYYY-MM-DD HH:MM[:SS]` in BACKUP_TIMEZONE, or ISO 8601 with
    an offset (`2026-12-06T14:05:00+07:00`, `...Z`).

    Raises:
        ValueError: neither (the message shows both forms).
    """
    raw = text.strip()
    local = _LOCAL_TIME.fullmatch(raw)
    try:
        if local:
            year, month, day, hour, minute, second = (int(p or 0) for p in local.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=settings.timezone)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            f"{text!r} is no point in time: write YYYY-MM-DD HH:MM[:SS] (in "
            f"{settings.timezone_name}) or ISO 8601 with an offset, e.g. 2026-12-06T14:05:00+07:00"
        )
    return moment


MORNING_HOUR = 6
# the point-in-time presets the bot offers: id -> words
PRESETS = {"m5": "5 minutes ago", "h1": "1 hour ago", "am": "this morning 06:00"}


def preset_moment(preset: str, now: datetime, zone: tzinfo) -> datetime:
    """The moment a preset stands for at `now` ("am": 06:00 today in `zone`, or yesterday's
    when it is not 06:00 yet).

    Raises:
        ValueError: no such preset.
    """
    if preset == "m5":
        return now - timedelta(minutes=5)
    if preset == "h1":
        return now - timedelta(hours=1)
    if preset == "am":
        local = now.astimezone(zone)
        morning = local.replace(hour=MORNING_HOUR, minute=0, second=0, microsecond=0)
        return morning if morning <= local else morning - timedelta(days=1)
    raise ValueError(f"no such point-in-time preset: {preset!r}")


def litestream_time(moment: datetime) -> str:
    """The moment as Litestream's -timestamp reads it (RFC 3339 in UTC)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def restore_from_replica(settings: Settings, work: Path, at: datetime | None) -> Validation:
    """Restore the replica's newest state (or the state at `at`) into `work`, and check it.

    Args:
        work: an empty folder (inside the recovery folder).
        at: the moment to restore (None: the newest replicated transaction).

    Returns:
        The checked database, as a validation whose source is "replica".

    Raises:
        ConfigError: REPLICA_URL is not set.
        RestoreAborted: the replica holds nothing, or `at` is before its oldest restorable
            time or in the future.
        ArchiveInvalid: what Litestream restored fails integrity_check.
        ReplicationError: Litestream failed, or the replica could not be reached.
    """
    if not settings.replica.enabled:
        raise ConfigError(
            "`--from replica` restores from the Litestream replica, and REPLICA_URL is not "
            "set: set it (and its credentials) as on the server that replicated"
        )
    where = settings.replica.describe()
    progress.phase(f"listing the replica {where}")
    held = replica_positions(settings)
    if not held.newest_txid or held.newest_at is None:
        raise RestoreAborted(f"The replica {where} holds nothing to restore yet.")
    if at is not None:
        _check_reachable(settings, at, held.oldest_restorable)
    out = work / "replica.db"
    progress.phase(f"restoring from the replica {where}")
    timestamp = ["-timestamp", litestream_time(at)] if at else []
    litestream.run(
        settings, "restore", "-o", str(out), *timestamp, str(settings.database_path), timeout=3600
    )
    counts = _check(out)
    moment = at or held.newest_at
    name = f"{REPLICA_SOURCE}@{moment.astimezone(settings.timezone):%Y-%m-%dT%H:%M:%S%z}"
    metadata = {
        "backup_type": REPLICA_SOURCE,
        "created_at": moment.isoformat(),
        "hostname": where,
        "database": {"source_path": str(settings.database_path)},
    }
    what = f"as of {moment.astimezone(settings.timezone):%Y-%m-%d %H:%M:%S %Z}"
    if at is None:
        what = f"its newest state (transaction {held.newest_txid}, written {moment:%H:%M:%S} UTC)"
    note = f"fetched {what} from the replica {where} (Litestream)"
    return Validation(Path(name), metadata, out, REPLICA_SOURCE, counts, [note])


def _check_reachable(settings: Settings, at: datetime, oldest: datetime | None) -> None:
    """Refuse a moment before the oldest snapshot, or in the future.

    Raises:
        RestoreAborted: saying which moments can be restored.
    """
    zone = settings.timezone
    if at > settings.now():
        raise RestoreAborted(
            f"{at.astimezone(zone):%Y-%m-%d %H:%M:%S} is in the future; nothing was restored."
        )
    if oldest is None or at <= oldest:
        since = f"after {oldest.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}" if oldest else "none yet"
        raise RestoreAborted(
            f"The replica cannot go back to {at.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}: its "
            f"oldest restorable moment is {since} (REPLICA_RETENTION keeps "
            f"{settings.replica.retention.total_seconds() / 3600:g} h). Nothing was restored; "
            "an older state is in the backups (`list`)."
        )


def _check(candidate: Path) -> dict[str, int]:
    """Check what Litestream wrote as an archive's database copy is checked.

    Raises:
        ArchiveInvalid: it fails integrity_check or holds a forged schema.
    """
    progress.phase("checking the restored database")
    try:
        with closing(open_untrusted(candidate)) as conn:
            result = run_check(conn, "integrity_check")
            planted = planted_internal_names(conn)
            counts = count_rows(conn)
    except sqlite3.DatabaseError as error:
        raise ArchiveInvalid(
            f"What Litestream restored cannot be read ({error}); nothing was restored."
        ) from None
    if result != "ok" or planted:
        problem = f"fails integrity_check: {result}" if result != "ok" else "a forged schema"
        raise ArchiveInvalid(f"What Litestream restored {problem}; nothing was restored.")
    return counts
