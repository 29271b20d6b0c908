"""Restore the live database from a validated backup, safely under a running bot."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from src.config.settings import REPLICA_SOURCE, Settings
from src.errors import (
    ArchiveInvalid,
    BackupError,
    LockBusy,
    NotVerifiedHere,
    RestoreAborted,
    SchemaChangeRefused,
    disk_error,
)
from src.services import catalog, progress, table_kinds
from src.services import safety_copy as safety_copy_module
from src.services.history import History
from src.services.integrity import (
    check_header,
    count_rows,
    list_tables,
    open_readonly,
    run_check,
)
from src.services.live_database import (
    SIDECARS,
    clean_after_killed_restore,
    is_busy,
    match_live,
    opens,
    readable_copy,
    set_journal_mode,
    write_live,
    write_tables,
)
from src.services.locking import exclusive_lock
from src.services.naming import clean_stale, publish_new, unique_path, work_prefix
from src.services.offsite import fetching
from src.services.replication import litestream
from src.services.replication.restore import restore_from_replica
from src.services.safety_copy import PendingCopy, SafetyCopy
from src.services.sandbox import open_untrusted
from src.services.schema_diff import SchemaChange, schema_changes
from src.services.validation import Validation, validate_archive
from src.services.zip_structure import open_zip

logger = logging.getLogger(__name__)


@dataclass
class RestorePlan:
    """What a restore would do: the validated archive and the row counts now and then."""

    validation: Validation
    live_counts: dict[str, int] | None  # None: the live database is missing or unreadable
    live_problem: str | None
    # what the archive's schema changes in the live one (empty: the same, or no live one)
    schema_changes: list[SchemaChange] = field(default_factory=list)
    live_exists: bool = True  # False: no live database at all (e.g. a brand-new machine)
    tables: list[str] = field(default_factory=list)  # only these tables (empty: all)

    @property
    def needs_schema_consent(self) -> bool:
        """Tell whether restoring needs an explicit yes to a schema change."""
        return bool(self.schema_changes)


@dataclass
class RestoreResult:
    """What a restore did."""

    archive: Path
    source: str
    safety_backup: Path | None
    moved_aside: list[Path]
    integrity: str
    counts: dict[str, int]
    expected: dict[str, int]
    files_restored: list[str] = field(default_factory=list)
    files_kept_aside: Path | None = None
    report: Path | None = None
    notes: list[str] = field(default_factory=list)
    schema_changes: list[SchemaChange] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # only these were restored (empty: all)

    @property
    def ok(self) -> bool:
        """The verdict: the restored data passed integrity_check and has the archive's rows."""
        return self.integrity == "ok" and self.counts == self.expected

    @property
    def state(self) -> str:
        """ok, or failed (the doors say so alike)."""
        return "ok" if self.ok else "failed"


@dataclass
class CopyResult:
    """What `restore ... --to PATH` wrote: a new database file, the live one untouched."""

    archive: Path
    source: str
    path: Path
    integrity: str
    counts: dict[str, int]
    expected: dict[str, int]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The verdict: the new file passed integrity_check and has the archive's rows."""
        return self.integrity == "ok" and self.counts == self.expected

    @property
    def state(self) -> str:
        """ok, or failed (the doors say so alike)."""
        return "ok" if self.ok else "failed"


def candidates(
    settings: Settings, reference: str, passed: list[str] | None = None
) -> Iterator[Path]:
    """Yield the archives `reference` names: a path or a name `list` shows, or for `latest`
    the verified ones, newest first.

    `latest` follows the one rule (catalog.counts_as_latest); when one fails validation,
    the next one is tried. A newer archive that `list` itself finds unusable (unreadable,
    or a member name restore refuses) is noted in `passed`, as a skipped one is.
    """
    if reference != "latest":
        yield catalog.resolve_archive(settings, reference)
        return
    for backup in catalog.list_backups(settings):
        if catalog.counts_as_latest(backup):
            yield backup.path
        elif backup.error and passed is not None:
            passed.append(f"skipped {backup.name}: {backup.error}")


def plan_restore(
    settings: Settings,
    reference: str,
    work: Path,
    *,
    record: bool = False,
    from_target: str | None = None,
    tables: list[str] | None = None,
    at: datetime | None = None,
) -> RestorePlan:
    """Validate the archive and compare it with the live database; change nothing.

    Args:
        record: remember in the history an archive that `latest` had to skip (not in a
            dry run, which writes nothing outside its work folder).
        from_target: fetch the archive from this off-machine target (into `work`), or
            "replica": restore the Litestream replica's newest state, or the one `at`.
        tables: restore only these tables (each must be an ordinary or virtual table
            with the same columns in the archive and in the live database).

    Raises:
        ArchiveInvalid: the archive failed a check (for `latest`: every one did).
        RestoreAborted: no archive, or one of another application's database.
        LockBusy: the bot or another program holds the live database locked.
    """
    validation = _validate_first(settings, reference, work, record, from_target, at)
    db = settings.database_path
    with readable_copy(db, work) as live:
        # only a database that is missing or does not open (replaced as a file) needs
        # no schema comparison; a busy one raises LockBusy
        written_into = opens(live)
        live_counts, live_problem = _live_counts(live)
        _refuse_foreign(live, validation)
        if tables:
            _check_tables(live, validation, tables, written_into)
            changes = []  # the other tables are not touched; these have the same columns
        else:
            changes = _schema_changes(live, validation) if written_into else []
    return RestorePlan(validation, live_counts, live_problem, changes, db.exists(), tables or [])


def _check_tables(live: Path, validation: Validation, tables: list[str], opens: bool) -> None:
    """Refuse table names that cannot be restored one by one, saying why.

    Raises:
        RestoreAborted: no live database to write into, an unknown or internal table, or
            one whose columns differ between the archive and the live database.
    """
    if not opens:
        raise RestoreAborted(
            "The live database is missing or cannot be opened, so single tables cannot be "
            "written into it. Restore the whole database (without --table)."
        )
    with (
        closing(open_readonly(live)) as now,
        closing(open_untrusted(validation.candidate)) as then,
    ):
        live_tables = {t.name: t for t in list_tables(now)}
        archived = {t.name: t for t in list_tables(then)}
    choosable = sorted(
        n for n, t in archived.items() if not t.shadow and not table_kinds.is_internal(n)
    )
    for name in tables:
        table = archived.get(name)
        if table is None or table.shadow or table_kinds.is_internal(name):
            what = "is part of a virtual table" if table and table.shadow else "is not there"
            raise RestoreAborted(
                f"Table {name!r} {what} in {validation.archive.name}; nothing was restored. "
                f"Tables you can restore: {', '.join(choosable[:30])}."
            )
        now_table = live_tables.get(name)
        if now_table is None or now_table.columns != table.columns or not table.readable:
            live_columns = ", ".join(now_table.columns) if now_table else "no such table"
            raise RestoreAborted(
                f"Table {name!r} has other columns in {validation.archive.name} "
                f"({', '.join(table.columns)}) than in the live database ({live_columns}); "
                "nothing was restored. Restore the whole database, or copy the rows by hand "
                "from `restore ARCHIVE --to FILE`."
            )


def _validate_first(
    settings: Settings,
    reference: str,
    work: Path,
    record: bool,
    from_target: str | None,
    at: datetime | None = None,
) -> Validation:
    """Validate the archive (for `latest`, the newest one that passes), or restore and
    check the replica's state (`from_target` "replica").

    Only an archive with a defect is skipped (and, with `record`, recorded as failed);
    a full recovery folder (InsufficientSpace) says nothing about the archive and stops.
    """
    if from_target == REPLICA_SOURCE:
        if reference != "latest":
            raise RestoreAborted(
                "The replica holds no archives: restore `latest --from replica`, with "
                "--at TIME for an earlier moment."
            )
        return restore_from_replica(settings, work, at)
    if at is not None:
        raise RestoreAborted("--at chooses a moment of the replica: use it with --from replica.")
    skipped: list[str] = []
    fetched: list[str] = []  # for `latest`: also the newer archives `list` finds unusable
    archives = (
        fetching.candidates(settings, from_target, reference, work, fetched)
        if from_target
        else candidates(settings, reference, fetched)
    )
    record = record and not from_target  # a fetched copy is no archive of the history
    history = History(settings.history_path)
    for number, archive in enumerate(archives):
        folder = work / f"archive_{number}"
        folder.mkdir()
        try:
            # an archive of ours, verified and unchanged since: its database copy is read
            # back in full, the SQL and JSON copies only before a fallback uses them
            unchanged = not from_target and history.unchanged_since_verified(archive)
            validation = validate_archive(
                archive, folder, settings.recovery_dir, every_member=not unchanged
            )
        except ArchiveInvalid as error:
            if reference != "latest":
                raise
            skipped.append(f"skipped {archive.name}: {error}")
            logger.warning("restore latest: %s", skipped[-1])
            if record:
                History(settings.history_path).record_verification(
                    archive, settings.now(), [str(error)]
                )
            shutil.rmtree(folder, ignore_errors=True)
            continue
        validation.notes[:0] = [*fetched, *skipped]
        return validation
    if skipped:
        raise ArchiveInvalid(
            f"No verified backup passed validation ({'; '.join(skipped)}). Nothing was "
            "restored. `verify --all` checks every backup; `list` shows them."
        )
    if reference == "latest" and not from_target:
        _unverified_here(settings)
    raise RestoreAborted("No verified backup to restore. `list` shows the backups there are.")


def _unverified_here(settings: Settings) -> None:
    """Say what to do when `latest` finds no verified backup but unverified ones exist.

    Raises:
        NotVerifiedHere: archives that could be `latest` have not been verified here.
    """
    unverified = [
        b
        for b in catalog.list_backups(settings)
        if b.verified is None
        and catalog.not_latest_because(b.backup_type, b.degraded, b.trigger) is None
    ]
    if unverified:
        raise NotVerifiedHere(
            f"No verified backup to restore: {len(unverified)} archive(s) in "
            f"{settings.backup_dir} have not been verified here (the backup folder may have "
            "been moved or copied). Run `backup_manager.py verify --all`, then restore again."
        )


def _schema_changes(live: Path, validation: Validation) -> list[SchemaChange]:
    """Say what the archive's database changes in the live schema.

    A comparison that fails counts as a change: restoring then needs the same explicit
    yes (--allow-schema-change).

    Raises:
        LockBusy: the bot or another program holds the live database locked.
    """
    try:
        with (
            closing(open_readonly(live)) as now,
            closing(open_untrusted(validation.candidate)) as then,
        ):
            return schema_changes(now, then)
    except sqlite3.DatabaseError as error:
        _raise_if_busy(live, error)
        logger.warning("restore: the schemas could not be compared: %s", error)
        return [SchemaChange("schema", "comparison", f"failed ({error})")]


def check_only(
    settings: Settings,
    reference: str,
    from_target: str | None = None,
    tables: list[str] | None = None,
    at: datetime | None = None,
) -> RestorePlan:
    """Validate an archive in a work folder that is removed again; change nothing."""
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.recovery_dir, "check")
    with tempfile.TemporaryDirectory(dir=settings.recovery_dir, prefix=work_prefix("check")) as tmp:
        return plan_restore(
            settings, reference, Path(tmp), from_target=from_target, tables=tables, at=at
        )


def _live_counts(db: Path) -> tuple[dict[str, int] | None, str | None]:
    """Count the live database's rows, or say why that is not possible."""
    try:
        check_header(db)
        with closing(open_readonly(db)) as conn:
            return count_rows(conn), None
    except (BackupError, sqlite3.DatabaseError) as error:
        _raise_if_busy(db, error)
        return None, str(error)


def _raise_if_busy(db: Path, error: BaseException) -> None:
    """Raise LockBusy when SQLite could not read the database because it is locked."""
    if is_busy(error):
        raise LockBusy(
            f"{db} is locked: the bot or another program holds it ({error}); nothing was "
            "restored. Try again when its write has finished, or stop the bot first."
        ) from error


def _refuse_foreign(db: Path, validation: Validation) -> None:
    """Refuse an archive whose database has no table in common with the live one.

    The tables are the archived database's own (its metadata could say anything); another
    application_id with tables in common is a schema change, shown and asked about.
    """
    try:
        with closing(open_readonly(db)) as conn:
            live_tables = set(count_rows(conn))
    except sqlite3.DatabaseError:
        return  # missing or unreadable: nothing to compare with
    archived = set(validation.counts)
    if live_tables and not live_tables & archived:
        raise RestoreAborted(
            f"{validation.archive.name} holds a database of another application (tables "
            f"{sorted(archived)[:5]}, none of them in {db}). Nothing was restored. To restore "
            "it elsewhere, set DATABASE_PATH to a new file."
        )


def restore(
    settings: Settings,
    reference: str,
    *,
    include_files: bool = False,
    allow_schema_change: bool = False,
    from_target: str | None = None,
    tables: list[str] | None = None,
    safety_dir: Path | None = None,
    safety_copy: bool = True,
    at: datetime | None = None,
) -> RestoreResult:
    """Replace the live database's content (or only `tables`) with a validated backup's.

    Under the backup lock from start to end: a hot journal a killed write left is rolled
    back; the safety copy of the current database (a pre-restore archive) is made while
    the archive is validated; then the data is written through SQLite's backup API into
    the live file, in one transaction: open connections (the bot's) see the old or the
    new data, never a mix, and a kill leaves one or the other. A database too damaged to
    open is replaced as a file, its old files kept in the recovery folder.

    Args:
        allow_schema_change: restore also when the archive's schema differs from the
            live one (its tables, views, triggers, indexes or application_id).
        from_target: take the archive from this off-machine target (downloaded and
            decrypted into the work folder first); works with no local backup at all.
            "replica": restore the Litestream replica (REPLICA_URL) instead.
        tables: replace only the rows of these tables, in one transaction (the same
            validation and safety copy come first).
        safety_dir: put the safety copy here instead of backups/pre-restore/.
        safety_copy: False only when the operator said so twice (the CLI asks); never
            from the bot.
        at: with the replica, the moment to restore (None: its newest state).

    Raises:
        ArchiveInvalid, RestoreAborted: refused before anything changed.
        SchemaChangeRefused: the schema would change and that was not allowed.
        LockBusy: a backup or another restore is running.
    """
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.recovery_dir, "restore")
    with (
        tempfile.TemporaryDirectory(
            dir=settings.recovery_dir, prefix=work_prefix("restore")
        ) as tmp,
        # one lock from the safety copy to the end of the write: nothing slips in between
        exclusive_lock(settings.backup_dir / ".lock", "restore", settings.lock_timeout),
    ):
        clean_after_killed_restore(settings.database_path)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # the snapshot of the live file is taken on one core while the archive is
            # validated on the other; a refused restore deletes it again
            taken: Future[PendingCopy | None] = Future()
            copying = (
                pool.submit(
                    progress.carried(_safety_copy),
                    settings,
                    _restoring(settings, reference, from_target),
                    safety_dir,
                    taken,
                )
                if safety_copy
                else None
            )
            try:
                plan = plan_restore(
                    settings,
                    reference,
                    Path(tmp),
                    record=True,
                    from_target=from_target,
                    tables=tables,
                    at=at,
                )
                _refuse_unasked_schema_change(plan, allow_schema_change)
                if copying is not None:
                    taken.result()  # the snapshot holds the live database as it was
            except BaseException:
                _discard(copying)
                raise
            # its archive is compressed, checked and read back beside the write, which
            # commits only once the copy is kept
            safety = _Safety(settings, copying, plan)
            try:
                journal_mode = (
                    None
                    if plan.tables
                    else match_live(settings.database_path, plan.validation.candidate)
                )
                if plan.tables:
                    safety.kept()
                    write_tables(settings.database_path, plan.validation.candidate, plan.tables)
                    moved = []
                else:
                    moved = write_live(
                        settings, plan.validation.candidate, before_commit=safety.kept
                    )
                    set_journal_mode(settings.database_path, journal_mode)
                    if settings.replica.enabled:  # a running Litestream writes its own tables
                        litestream.keep_bookkeeping(settings.database_path)
            finally:
                safety.settle()
        result = _after(settings, plan, safety.path, moved)
        if include_files:
            _restore_files(settings, plan.validation, result)
    result.report = _write_report(settings, result)
    return result


def restore_to(
    settings: Settings,
    reference: str,
    target: Path,
    from_target: str | None = None,
    at: datetime | None = None,
) -> CopyResult:
    """Write the validated archive's database to `target`, a new file; touch nothing else.

    No lock and no safety backup: the live database is neither read nor written. The
    file is written beside `target` under a temporary name, synced, and only then given
    its name (owner-only), so a kill leaves no half file under it.

    Raises:
        RestoreAborted: `target` exists, is the live database, or its folder is missing.
        ArchiveInvalid: the archive failed a check.
        InsufficientSpace: no room for it.
    """
    target = target.expanduser().absolute()
    live = settings.database_path.absolute()
    if target in {live, *(live.with_name(live.name + s) for s in SIDECARS)}:
        raise RestoreAborted(
            f"{target} is the live database: `restore ARCHIVE --confirm` replaces it (after a "
            "safety backup). --to writes a new file only."
        )
    if target.exists() or target.is_symlink():
        raise RestoreAborted(f"{target} exists already; --to writes a new file only: name one.")
    if not target.parent.is_dir():
        raise RestoreAborted(f"The folder {target.parent} does not exist; create it first.")
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.recovery_dir, "check")
    with tempfile.TemporaryDirectory(dir=settings.recovery_dir, prefix=work_prefix("check")) as tmp:
        validation = _validate_first(settings, reference, Path(tmp), False, from_target, at)
        partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
        try:
            progress.phase(f"writing {target.name}", validation.candidate.stat().st_size)
            with validation.candidate.open("rb") as src, partial.open("xb") as dst:
                partial.chmod(0o600)
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                    progress.advance(len(chunk))
                dst.flush()
                os.fsync(dst.fileno())
            publish_new(partial, target)
        except FileExistsError:
            raise RestoreAborted(f"{target} appeared meanwhile; nothing was written.") from None
        except OSError as error:
            known = disk_error(error, target.parent)
            if known is not None:
                raise known from error
            raise
        finally:
            partial.unlink(missing_ok=True)
    with closing(open_readonly(target)) as conn:
        integrity = run_check(conn, "integrity_check")
        counts = count_rows(conn)
    logger.info("restore of %s to %s: %s", validation.archive.name, target, integrity)
    return CopyResult(
        validation.archive,
        validation.source,
        target,
        integrity,
        counts,
        validation.counts,
        list(validation.notes),
    )


def describe_changes(changes: list[SchemaChange], limit: int = 8) -> str:
    """Name schema changes in one line, the first `limit` of them."""
    shown = ", ".join(c.describe() for c in changes[:limit])
    return shown + (f" and {len(changes) - limit} more" if len(changes) > limit else "")


def _refuse_unasked_schema_change(plan: RestorePlan, allowed: bool) -> None:
    """Raise SchemaChangeRefused when the archive changes the schema and that was not allowed."""
    if plan.schema_changes and not allowed:
        raise SchemaChangeRefused(
            f"{plan.validation.archive.name} would change the database's schema: "
            f"{describe_changes(plan.schema_changes)}. Nothing was changed. If that is "
            "intended (e.g. undoing a migration), confirm it with --allow-schema-change."
        )


def _restoring(settings: Settings, reference: str, from_target: str | None = None) -> Path:
    """The archive a restore will most likely read, known before it is validated: named in
    the safety copy's metadata and kept from retention while it is read."""
    if from_target == REPLICA_SOURCE:
        return Path(REPLICA_SOURCE)
    if reference == "latest":
        newest = catalog.latest(settings)
        return newest.path if newest else Path("latest")
    try:
        return catalog.resolve_archive(settings, reference)
    except BackupError:
        return Path(reference)  # validation says what is wrong with it


class _Safety:
    """The safety copy being finished beside a restore's write: `kept` waits for it and
    records it (the write's gate before its commit); `settle` waits for it in any case."""

    def __init__(
        self, settings: Settings, finishing: Future[SafetyCopy | None] | None, plan: RestorePlan
    ) -> None:
        self.settings, self.finishing, self.plan = settings, finishing, plan
        self.path: Path | None = None
        self._kept = False

    def kept(self) -> None:
        """Wait for the safety copy and keep it; raise when it failed (nothing written)."""
        if self.finishing is None or self._kept:
            return
        self._kept = True
        made = self.finishing.result()
        if made is not None:
            safety_copy_module.keep(self.settings, made, {self.plan.validation.archive})
            self.path = made.path

    def settle(self) -> None:
        """Wait for a copy the write did not wait for (it failed first): keep it, whole."""
        if self.finishing is None or self._kept:
            return
        try:
            self.kept()
        except BaseException:
            logger.warning("restore: the safety copy failed too", exc_info=True)


def _safety_copy(
    settings: Settings,
    restoring: Path,
    folder: Path | None,
    taken: Future[PendingCopy | None],
) -> SafetyCopy | None:
    """Make the safety copy of the current database; `taken` is set once its snapshot is
    taken (from then on the live database may change). A failure stops the restore."""
    with progress.lane("safety copy"):
        try:
            with _failed_safety_copy():
                pending = safety_copy_module.begin_safety_copy(settings, restoring, folder)
        except BaseException as error:
            taken.set_exception(error)
            raise
        taken.set_result(pending)
        if pending is None:
            return None
        with _failed_safety_copy():
            return pending.finish()


@contextmanager
def _failed_safety_copy() -> Iterator[None]:
    try:
        yield
    except BackupError as error:
        error.args = (
            f"The safety copy before the restore failed, so nothing was restored: {error}",
        )
        raise


def _discard(copying: Future[SafetyCopy | None] | None) -> None:
    """A restore refused after its safety copy began: wait for the copy, then delete it
    (nothing was replaced; it leaves no trace, and pushes no older safety copy out)."""
    if copying is None:
        return
    try:
        made = copying.result()
    except BaseException:
        logger.warning("restore: the safety copy of a refused restore failed too", exc_info=True)
        return
    if made is not None:
        safety_copy_module.discard(made)


def _after(
    settings: Settings, plan: RestorePlan, safety: Path | None, moved: list[Path]
) -> RestoreResult:
    """Check the restored database against the archive's metadata."""
    with closing(open_readonly(settings.database_path)) as conn:
        integrity = run_check(conn, "integrity_check")
        counts = count_rows(conn)
        orphans = _orphans(conn, plan.tables) if plan.tables else 0
    validation = plan.validation
    expected = validation.counts
    notes = list(validation.notes)
    if plan.tables:  # the other tables were not touched: only these are compared
        counts = {name: counts.get(name, -1) for name in plan.tables}
        expected = {name: validation.counts.get(name, -1) for name in plan.tables}
        if orphans:
            notes.append(
                f"{orphans} row(s) now refer to rows that are missing (PRAGMA "
                "foreign_key_check): restore the tables they refer to as well"
            )
    return RestoreResult(
        archive=validation.archive,
        source=validation.source,
        safety_backup=safety,
        moved_aside=moved,
        integrity=integrity,
        counts=counts,
        expected=expected,
        notes=notes,
        schema_changes=list(plan.schema_changes),
        tables=list(plan.tables),
    )


def _orphans(conn: sqlite3.Connection, tables: list[str]) -> int:
    """Count rows whose foreign keys point nowhere, in or into the restored tables."""
    try:
        rows = conn.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.DatabaseError:
        return 0
    wanted = {name.lower() for name in tables}
    return sum(1 for row in rows if str(row[0]).lower() in wanted or str(row[2]).lower() in wanted)


def _restore_files(settings: Settings, validation: Validation, result: RestoreResult) -> None:
    """Put back the archived config and data files, keeping the current ones aside."""

    stamp = settings.now().strftime("%Y%m%d_%H%M%S")
    aside = unique_path(settings.recovery_dir / f"files_before_restore_{stamp}")
    root = settings.project_root.resolve()
    # only the files this installation archives (CONFIG_FILES, DATA_FILES), never .env:
    # an archive from elsewhere must not plant code or secrets
    # config files (code, such as settings.py) only from archives of this installation
    made_here = validation.archive.resolve().is_relative_to(settings.backup_dir)
    names = (*settings.config_files, *settings.data_files) if made_here else settings.data_files
    if not made_here:
        result.notes.append("config files are restored only from this installation's backups")
    allowed = {(root / name).resolve() for name in names if Path(name).name != ".env"}
    with open_zip(validation.archive) as zf:
        for member in validation.metadata["members"]:
            name = member["path"]
            if member.get("role") not in ("config", "data") or not name.startswith("files/"):
                continue
            relative = str(member.get("original") or name.removeprefix("files/"))
            target = (root / relative).resolve()  # only ever one of `allowed`
            if target not in allowed:
                result.notes.append(f"{relative}: not a configured config or data file, skipped")
                continue
            if target.exists():
                keep = aside / relative
                keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target, keep)
                result.files_kept_aside = aside
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            result.files_restored.append(relative)


def _write_report(settings: Settings, result: RestoreResult) -> Path:
    """Write the restore's JSON report into the recovery folder."""
    report: dict[str, Any] = {
        "restored_at": settings.now().isoformat(),
        "archive": str(result.archive),
        "source_used": result.source,
        "safety_backup": str(result.safety_backup) if result.safety_backup else None,
        "moved_aside": [str(p) for p in result.moved_aside],
        "integrity_check": result.integrity,
        "row_counts": result.counts,
        "row_counts_in_backup": result.expected,
        "counts_match": result.counts == result.expected,
        "schema_changes": [c.describe() for c in result.schema_changes],
        "tables_restored": result.tables or "all",
        "files_restored": result.files_restored,
        "files_kept_aside": str(result.files_kept_aside) if result.files_kept_aside else None,
        "notes": result.notes,
    }
    path = unique_path(settings.recovery_dir / f"restore_{settings.now():%Y%m%d_%H%M%S}.json")
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    logger.info("restore from %s (%s copy) done: %s", result.archive.name, result.source, report)
    return path
