"""`backup keep` / `backup unkeep`: exempt one archive from retention, or give it back."""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

from src.config.settings import Settings
from src.errors import ArchiveInvalid, NotABackup, disk_errors_in
from src.services import catalog
from src.services.history import History
from src.services.locking import exclusive_lock

logger = logging.getLogger(__name__)


@dataclass
class KeepResult:
    """What `backup keep` or `backup unkeep` did to one archive."""

    archive: Path
    name: str
    backup_type: str
    kept: bool  # whether the archive is kept now
    changed: bool  # False: it was so already


def keep_archive(settings: Settings, reference: str) -> KeepResult:
    """Exempt an archive from retention: never deleted, locally or on a target, and not
    counted, so it takes no day, week or place from the newer ones.

    Args:
        settings: where the backups and their history are.
        reference: a path, or an archive's file name as `list` shows it (untrusted).

    Returns:
        The archive and whether it was kept before.

    Raises:
        NotABackup: no archive there, or not one of the backups `list` shows (outside
            BACKUP_DIR, another name, another folder).
        ArchiveInvalid: the file has an archive's name but is no ZIP archive.
        LockBusy: a backup or retention held the lock longer than BACKUP_LOCK_TIMEOUT.
        FolderNotWritable, InsufficientSpace: the history cannot be written.
    """
    path, backup_type = _locate(settings, reference)
    if not path.is_file():
        raise NotABackup(f"No backup archive at {path}. `list` shows the backups there are.")
    if not zipfile.is_zipfile(path):
        raise ArchiveInvalid(
            f"{path.name} is not a ZIP archive, so it cannot be kept; `verify {path.name}` "
            "says more (retention never deletes an archive that failed verification)."
        )
    # under the lock retention decides and deletes: no mark lands between the two
    lock = settings.backup_dir / ".lock"
    with disk_errors_in(settings.backup_dir), exclusive_lock(lock, "keep", settings.lock_timeout):
        if not path.is_file():
            raise NotABackup(f"{path.name} was deleted meanwhile; nothing was kept.")
        changed = History(settings.history_path).keep(path.name, settings.now())
    logger.info("kept %s (exempt from retention)%s", path.name, "" if changed else ", already")
    return KeepResult(path, path.name, backup_type, kept=True, changed=changed)


def unkeep_archive(settings: Settings, reference: str) -> KeepResult:
    """Give a kept archive back to retention (the next backup or `prune` may delete it).

    Args:
        settings: where the backups and their history are.
        reference: a path, or an archive's file name; also one deleted by hand since it
            was kept (its copies on the targets then follow their retention again).

    Returns:
        The archive and whether it was kept.

    Raises:
        NotABackup: not one of the backups `list` shows, and no mark of that name.
        FolderNotWritable, InsufficientSpace: the history cannot be written.
    """
    path, backup_type = _locate(settings, reference)
    history = History(settings.history_path)
    known = history.kept_names() or frozenset()
    if not path.is_file() and path.name not in known:
        raise NotABackup(
            f"No backup archive at {path}, and none of that name is kept. `list` shows the "
            "backups there are (📌 marks the kept ones)."
        )
    with disk_errors_in(settings.backup_dir):
        changed = history.unkeep(path.name)
    logger.info("%s is no longer kept%s", path.name, "" if changed else " (it was not)")
    return KeepResult(path, path.name, backup_type, kept=False, changed=changed)


def _locate(settings: Settings, reference: str) -> tuple[Path, str]:
    """Resolve ARCHIVE as `restore` and `verify` do; accept only a place `list` looks at.

    Returns:
        The resolved path (it may not exist) and its backup type.
    """
    path = catalog.resolve_archive(settings, reference)
    match = catalog.ARCHIVE_NAME.match(path.name)
    if match is not None and path.parent == settings.type_dir(match["type"]).resolve():
        return path, match["type"]
    if not path.exists():
        raise NotABackup(
            f"No archive at {path}. Give a path or a name that `list` shows "
            "(e.g. pmo_recovery_backup_daily_20260101_030000.zip)."
        )
    if not path.is_relative_to(settings.backup_dir):
        raise NotABackup(
            f"{path} is not in the backup folder {settings.backup_dir}: only the backups "
            "`list` shows can be kept (retention never touches a file elsewhere)."
        )
    raise NotABackup(
        f"{path} is not a backup archive: the tool's archives are named "
        f"{catalog.NAME_PREFIX}_<type>_<YYYYMMDD_HHMMSS>.zip and live in "
        f"{settings.backup_dir}/<type>/. `list` shows them."
    )
