"""The recovery folder's retention: reports and exports older than RECOVERY_RETENTION_DAYS go.

Only names this tool writes are looked at. What can be made again (a report, an export of
rows that are still in the database and its backups) expires; what may be the only copy of
someone's data (a damaged database a restore or repair moved aside, the files a restore
replaced, a recovered database) is never deleted here, only named, so an operator decides.
"""

from __future__ import annotations

import logging
import re
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from src.config.settings import Settings

logger = logging.getLogger(__name__)

REPORT, EXPORT, ASIDE = "report", "export", "moved aside"
RECEIVED = "received"  # an archive an admin sent to the bot (RECOVERY_DIR/received/<id>/)
_RECEIVED_ID = re.compile(r"^[0-9a-f]{12}$")  # received.place's folder names

_STAMP = r"\d{8}_\d{6}(?:_\d{1,6})?"  # the writer's time, then unique_path's _2, _3, ...
# (kind, a regular file or a folder, name): every name the tool writes in RECOVERY_DIR
_NAMES = (
    (REPORT, False, re.compile(rf"^(?:diagnosis|repair|restore)_{_STAMP}\.json$")),
    (EXPORT, True, re.compile(rf"^data_export_{_STAMP}$")),
    (ASIDE, True, re.compile(rf"^(?:damaged|files_before_restore)_{_STAMP}$")),
    (ASIDE, False, re.compile(r"^damaged_\d{8}_\d{6}_.+$")),  # a live file a restore replaced
    (ASIDE, False, re.compile(rf"^recovered_{_STAMP}\.db$")),
)


@dataclass(frozen=True)
class RecoveryItem:
    """One report, export folder or moved-aside copy in the recovery folder."""

    path: Path
    kind: str  # REPORT, EXPORT, RECEIVED or ASIDE
    modified: datetime  # its own modification time (a folder's: when an entry last changed)


@dataclass
class RecoveryPlan:
    """What the recovery folder's retention deletes, and what it leaves to a person."""

    days: int  # RECOVERY_RETENTION_DAYS; 0 keeps everything
    expired: list[RecoveryItem] = field(default_factory=list)
    left: list[RecoveryItem] = field(default_factory=list)  # old, but possibly the only copy


def classify(name: str, is_dir: bool) -> str | None:
    """Return the kind of an entry the tool writes (None: not ours, never touched)."""
    return next(
        (kind for kind, folder, shape in _NAMES if folder == is_dir and shape.match(name)), None
    )


def scan(folder: Path) -> list[RecoveryItem]:
    """List the entries of `folder` that the tool wrote (symbolic links never count).

    Returns:
        Reports, export folders and moved-aside copies, oldest first; [] when the folder
        does not exist (nothing is created).
    """
    items = []
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return []
    for entry in entries:
        try:
            info = entry.lstat()
        except FileNotFoundError:  # removed while we looked
            continue
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            continue
        kind = classify(entry.name, stat.S_ISDIR(info.st_mode))
        if kind is not None:
            moment = datetime.fromtimestamp(info.st_mtime, timezone.utc)
            items.append(RecoveryItem(entry, kind, moment))
        elif entry.name == "received" and stat.S_ISDIR(info.st_mode):
            items += _received(entry)
    return sorted(items, key=lambda item: (item.modified, item.path.name))


def _received(folder: Path) -> list[RecoveryItem]:
    """The folders of archives sent to the bot (each a copy of a backup: it expires)."""
    items = []
    for entry in folder.iterdir():
        info = entry.lstat()
        if stat.S_ISDIR(info.st_mode) and _RECEIVED_ID.match(entry.name):
            moment = datetime.fromtimestamp(info.st_mtime, timezone.utc)
            items.append(RecoveryItem(entry, RECEIVED, moment))
    return items


def select_old(items: Sequence[RecoveryItem], days: int, now: datetime) -> RecoveryPlan:
    """Decide, without touching a file, which items are older than `days` (0: none are).

    Reports and exports older than that expire; moved-aside copies that old are only listed
    in `left`.
    """
    plan = RecoveryPlan(days)
    if days == 0:
        return plan
    cutoff = now - timedelta(days=days)
    for item in items:
        if item.modified >= cutoff:
            continue
        (plan.left if item.kind == ASIDE else plan.expired).append(item)
    return plan


def plan_recovery(settings: Settings, now: datetime | None = None) -> RecoveryPlan:
    """Return what the recovery folder's retention would delete now."""
    return select_old(
        scan(settings.recovery_dir), settings.recovery_retention_days, now or settings.now()
    )


def delete(items: Sequence[RecoveryItem]) -> list[Path]:
    """Delete the reports and exports `select_old` chose; return the paths deleted."""
    deleted = []
    for item in items:
        if item.kind == ASIDE:  # never, whoever asks
            continue
        try:
            if item.kind in (EXPORT, RECEIVED):
                shutil.rmtree(item.path)
            else:
                item.path.unlink()
        except FileNotFoundError:
            continue
        except OSError:  # the backup or prune itself goes on; say so
            logger.exception("recovery retention: cannot delete %s", item.path)
            continue
        logger.info("recovery retention: deleted %s", item.path.name)
        deleted.append(item.path)
    return deleted


def prune_recovery(settings: Settings) -> list[Path]:
    """Delete the expired reports and exports after a backup; never raises for a problem
    with the recovery folder (the backup succeeded), logs it instead."""
    try:
        plan = plan_recovery(settings)
    except OSError:
        logger.exception("recovery retention: cannot look into %s", settings.recovery_dir)
        return []
    if plan.left:
        logger.info(
            "recovery retention: left %s (older than %d days, but possibly the only copy of "
            "data; delete by hand when no longer needed)",
            ", ".join(item.path.name for item in plan.left),
            plan.days,
        )
    return delete(plan.expired)
