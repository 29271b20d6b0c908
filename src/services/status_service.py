"""The system's status: database, backups, latest backup, history, scheduler."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from src.config.settings import ARCHIVE_TYPES, Settings
from src.errors import BackupError
from src.services import admin_reach, catalog
from src.services.history import History, Statistics
from src.services.integrity import check_file, check_header
from src.services.live_database import has_hot_journal
from src.services.offsite.report import OffsiteStatus, offsite_status
from src.services.replication.report import ReplicationStatus, read_status
from src.services.scheduler_state import SchedulerView, scheduler_view

HOT_JOURNAL = (
    "not checked: an interrupted write left a hot journal, which waits to be rolled back "
    "(the next backup or restore rolls it back)"
)


@dataclass
class DatabaseStatus:
    """The live database as `status` shows it."""

    path: Path
    exists: bool
    size_bytes: int
    integrity: str
    hot_journal: bool = False  # a killed write waits to be rolled back: not checked


@dataclass
class SystemStatus:
    """Everything `status` shows."""

    database: DatabaseStatus
    backups_by_type: dict[str, int]
    storage_bytes: int
    free_bytes: int | None
    latest: catalog.BackupInfo | None
    statistics: Statistics
    scheduler: SchedulerView
    offsite: OffsiteStatus | None = None
    replication: ReplicationStatus | None = None  # None: REPLICA_URL is not set
    unreachable_admins: list[admin_reach.AdminReach] = field(default_factory=list)

    @property
    def total_backups(self) -> int:
        """Return the number of backups of every type."""
        return sum(self.backups_by_type.values())


def database_status(settings: Settings) -> DatabaseStatus:
    """Check the live database without changing it (quick_check).

    A hot journal (a write a killed process left half done) cannot be rolled back by a
    read-only look: then the database is not checked, and the status says why.
    """
    path = settings.database_path
    if not path.exists():
        return DatabaseStatus(path, False, 0, "missing")
    try:
        check_header(path)
    except BackupError as error:
        return DatabaseStatus(path, True, path.stat().st_size, str(error))
    integrity = check_file(path, "quick_check")
    if integrity != "ok" and has_hot_journal(path):
        return DatabaseStatus(path, True, path.stat().st_size, HOT_JOURNAL, hot_journal=True)
    return DatabaseStatus(path, True, path.stat().st_size, integrity)


def get_status(settings: Settings) -> SystemStatus:
    """Gather the status every door (CLI, bot) reports the same way."""
    backups = catalog.list_backups(settings)
    by_type = {kind: sum(1 for b in backups if b.backup_type == kind) for kind in ARCHIVE_TYPES}
    folder = settings.backup_dir
    free = shutil.disk_usage(folder).free if folder.is_dir() else None
    return SystemStatus(
        database=database_status(settings),
        backups_by_type=by_type,
        storage_bytes=sum(b.size_bytes for b in backups),
        free_bytes=free,
        latest=next((b for b in backups if catalog.counts_as_latest(b)), None),
        statistics=History(settings.history_path).statistics(),
        scheduler=scheduler_view(settings),
        offsite=offsite_status(settings, settings.now()),
        replication=read_status(settings, settings.now()),
        unreachable_admins=admin_reach.unreachable(settings),
    )
