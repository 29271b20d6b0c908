"""The copy of the live database a restore makes first: a `pre-restore` archive, fast.

Undoing a restore needs the database only, so this archive holds the database (through
SQLite's backup API, compressed, SHA-256 and CRC recorded, read back) and its metadata,
not the SQL and JSON copies of a full backup. Its snapshot passes integrity_check and
its row counts are recorded, so it restores like any backup. It lives in
`backups/pre-restore/` with its own retention (RETENTION_PRE_RESTORE), is never
`latest` and never counts toward another type.

The caller holds the backup lock from before this copy until its write is done, so
nothing can slip in between; nothing here takes that lock.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from src.config.settings import PRE_RESTORE, Settings
from src.errors import BackupError, InsufficientSpace, disk_error
from src.services import progress
from src.services.archive import ArchiveWriter, check_members
from src.services.backup_service import (
    apply_retention,
    check_snapshot,
    clean_leftovers,
    prepare_folder,
    unique_name,
)
from src.services.contents import build_metadata
from src.services.history import History
from src.services.integrity import check_header
from src.services.live_database import copy_with_sidecars
from src.services.member_names import safe_part
from src.services.naming import publish_new
from src.services.snapshot import take_snapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SafetyCopy:
    """A finished safety copy, not yet recorded: `keep` it once the restore goes ahead."""

    path: Path
    started: datetime
    seconds: float
    trigger: str
    retained: bool  # in backups/pre-restore/, where retention applies
    made_folder: bool  # the folder did not exist before this copy


def make_safety_copy(
    settings: Settings, restoring: Path, folder: Path | None = None, trigger: str = "restore"
) -> SafetyCopy | None:
    """Archive the live database before it is replaced; record nothing yet.

    The caller either keeps it (`keep`: the history, then retention) once the restore
    goes ahead, or discards it (`discard`) when the restore is refused, which then leaves
    no trace. A copy that fails is recorded in the history as a failed attempt.

    Args:
        restoring: the archive about to be restored (named in the metadata).
        folder: where to put it (`--safety-dir`); default `backups/pre-restore/`, where
            retention applies. Elsewhere nothing is ever deleted.
        trigger: who asked (restore, repair), recorded in the metadata.

    Returns:
        The verified archive, or None when there is no database to keep (a missing file,
        or one that is not SQLite: nothing of it could be restored later either).

    Raises:
        InsufficientSpace, FolderNotWritable: it cannot be written; nothing was restored.
    """
    pending = begin_safety_copy(settings, restoring, folder, trigger)
    return pending.finish() if pending else None


def begin_safety_copy(
    settings: Settings, restoring: Path, folder: Path | None = None, trigger: str = "restore"
) -> PendingCopy | None:
    """Take the snapshot of the live database a safety copy archives; return it, to be
    finished (compressed, checked, read back, published) by `PendingCopy.finish`.

    Once this returns, the live database may change: the snapshot holds it as it was.
    Arguments, return (None: no database to keep) and errors as `make_safety_copy`.
    """
    db = settings.database_path
    try:
        check_header(db)
    except BackupError as missing:
        logger.warning("%s: no safety copy (%s)", trigger, missing)
        return None
    retained = folder is None
    folder = folder or settings.type_dir(PRE_RESTORE)
    made_folder = not folder.exists()
    prepare_folder(folder)
    clean_leftovers(folder)
    started, clock = settings.now(), time.monotonic()
    logger.info("%s: safety copy of %s started", trigger, db)
    final = folder / unique_name(folder, PRE_RESTORE, started)
    pending = PendingCopy(
        settings, db, folder / f".tmp-{final.stem}", final, started, clock, restoring, trigger
    )
    pending.made_folder, pending.retained = made_folder, retained
    try:
        _check_room(db, folder, settings.min_free_mb)
        pending.work.mkdir(mode=0o700)
        pending.problems = _snapshot(db, pending.snapshot)
    except BaseException as caught:  # noqa: BLE001 - failed() records it and raises it again
        pending.failed(caught)
    return pending


class PendingCopy:
    """A safety copy whose snapshot is taken: the rest (compression, integrity_check,
    read-back, publishing) is done by `finish`, which may run beside the restore's write
    (the restore commits only once `finish` has returned)."""

    def __init__(
        self,
        settings: Settings,
        db: Path,
        work: Path,
        final: Path,
        started: datetime,
        clock: float,
        restoring: Path,
        trigger: str,
    ) -> None:
        self.settings, self.db, self.work, self.final = settings, db, work, final
        self.started, self.clock, self.restoring, self.trigger = started, clock, restoring, trigger
        self.snapshot = work / db.name
        self.problems: list[str] = []
        self.made_folder = False
        self.retained = True

    def finish(self) -> SafetyCopy:
        """Compress and check the snapshot, read the archive back and publish it.

        Raises:
            BackupError (InsufficientSpace, FolderNotWritable ...): the copy failed; it is
                recorded in the history as a failed attempt and nothing of it is left.
        """
        try:
            _write(self, self.settings.compression_level)
        except BaseException as caught:  # noqa: BLE001 - failed() records it, raises it again
            self.failed(caught)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        seconds = time.monotonic() - self.clock
        logger.info("%s: safety copy %s done, %.2f s", self.trigger, self.final.name, seconds)
        return SafetyCopy(
            self.final, self.started, seconds, self.trigger, self.retained, self.made_folder
        )

    def failed(self, caught: BaseException) -> NoReturn:
        """Record the failed attempt, delete what was made, and raise the error (a full or
        read-only folder named)."""
        shutil.rmtree(self.work, ignore_errors=True)
        folder = self.final.parent
        error: BaseException = disk_error(caught, folder) or caught
        history = History(self.settings.history_path)
        attempt = history.start(PRE_RESTORE, self.trigger, self.started)
        history.finish(
            attempt, self.settings.now(), time.monotonic() - self.clock, error=str(error)
        )
        if error is caught:
            raise caught
        raise error from caught


def keep(settings: Settings, copy: SafetyCopy, protect: set[Path]) -> None:
    """Record a safety copy the restore went ahead with (made and verified); apply the
    pre-restore retention, never to `protect` (the archive being restored)."""
    history = History(settings.history_path)
    attempt = history.start(PRE_RESTORE, copy.trigger, copy.started)
    history.finish(
        attempt,
        settings.now(),
        copy.seconds,
        archive=copy.path,
        size_bytes=copy.path.stat().st_size,
    )
    history.record_verification(copy.path, settings.now(), [])
    if copy.retained:
        apply_retention(settings, PRE_RESTORE, protect={copy.path, *protect})


def discard(copy: SafetyCopy) -> None:
    """Delete a safety copy of a restore that was refused: it leaves no trace."""
    copy.path.unlink(missing_ok=True)
    if copy.made_folder:
        with contextlib.suppress(OSError):  # not empty (someone else wrote there): kept
            copy.path.parent.rmdir()
    logger.info("restore refused: its safety copy %s was deleted again", copy.path.name)


def _check_room(db: Path, folder: Path, min_free_mb: int) -> None:
    """Refuse to start when the snapshot and its archive would not fit."""
    wal = db.with_name(db.name + "-wal")
    size = db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    needed = 2 * size + min_free_mb * 2**20
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise InsufficientSpace(
            f"Not enough free space in {folder} for the safety copy of the database: "
            f"{free // 2**20} MB free, about {needed // 2**20} MB needed. Free some space, "
            "or put the safety copy on another disk with --safety-dir DIR. Nothing was "
            "restored."
        )


def _snapshot(db: Path, snapshot: Path) -> list[str]:
    """Take the scratch snapshot (its archive is synced, so it is not); a file SQLite cannot
    copy is kept as its raw files. Returns the problems to record."""
    try:
        take_snapshot(db, snapshot, synced=False)
    except sqlite3.DatabaseError as error:  # damaged: keep the files as they are
        snapshot.unlink(missing_ok=True)
        copy_with_sidecars(db, snapshot.parent)
        return [f"SQLite could not copy the database ({error}); kept the raw files"]
    return []


def _write(copy: PendingCopy, level: int) -> None:
    """Compress and check the snapshot in parallel; read the archive back; publish it."""
    snapshot, db, final = copy.snapshot, copy.db, copy.final
    writer = ArchiveWriter(copy.work / (final.name + ".partial"), level)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            checked = pool.submit(progress.carried(check_snapshot), snapshot)
            writer.add_file(f"database/{safe_part(db.name)}", snapshot, "database", str(db))
            for suffix in ("-wal", "-journal"):  # only a raw copy has these
                sidecar = snapshot.with_name(snapshot.name + suffix)
                if sidecar.exists():
                    writer.add_file(
                        f"database/{safe_part(sidecar.name)}", sidecar, "database-sidecar"
                    )
            progress.phase("checking the safety copy")
            after, facts = checked.result()
        metadata = build_metadata(
            copy.settings,
            PRE_RESTORE,
            copy.started,
            time.monotonic() - copy.clock,
            facts,
            "not checked (the live database is read once, by the snapshot)",
            after,
        )
        metadata.update(
            degraded=after != "ok" or bool(copy.problems),
            problems=copy.problems,
            files={"included": [], "missing": []},
            trigger=copy.trigger,
            restoring=copy.restoring.name,
            members=[m.to_json() for m in writer.members],
        )
        writer.add_metadata(metadata)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    bad = check_members(writer.path, metadata, phase="reading the safety copy back")
    if bad:
        raise BackupError(f"The safety copy failed its read-back ({'; '.join(bad)}).")
    writer.path.chmod(0o600)
    publish_new(writer.path, final)
