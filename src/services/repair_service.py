"""Repair: a new database in recovery/ from every row the damaged file still holds."""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from src.config.settings import Settings
from src.errors import (
    BackupError,
    DatabaseNotFound,
    IntegrityFailure,
    LockBusy,
    NotADatabase,
    disk_error,
    disk_errors_in,
)
from src.services import (
    catalog,
    live_database,
    progress,
    safety_copy,
    second_source,
    table_kinds,
)
from src.services.archive import READ_ERRORS, extract_member
from src.services.integrity import (
    count_rows,
    list_tables,
    open_readonly,
    quote_identifier,
    run_check,
    sqlite_message,
)
from src.services.locking import exclusive_lock
from src.services.naming import clean_stale, unique_path, work_prefix
from src.services.page_salvage import (
    Layout,
    Lost,
    SchemaRow,
    TreeReader,
    Unexpected,
    build_layouts,
    fits,
    guess_page_size,
    read_schema,
)
from src.services.recovered_db import RecoveredDatabase
from src.services.replication import litestream
from src.services.sqlite_file import (
    INDEX_INTERIOR,
    INDEX_LEAF,
    TABLE_LEAF,
    BtreePage,
    PageFile,
    parse_header,
)

logger = logging.getLogger(__name__)


@dataclass
class TableCount:
    """Rows recovered for one table, and where they were found."""

    from_tree: int = 0
    from_unlinked_pages: int = 0
    from_backup: int = 0  # rows of pages the file lost, taken from the newest backup

    @property
    def total(self) -> int:
        """All rows recovered for the table."""
        return self.from_tree + self.from_unlinked_pages + self.from_backup


@dataclass
class RepairResult:
    """What a repair built and how it compares with the newest backup."""

    recovered: Path
    report: Path
    rows: dict[str, int]
    expected: dict[str, int] | None  # rows per table in the newest verified backup
    integrity: str
    lost_and_found: int = 0
    damaged_pages: int = 0
    page_size: int = 0
    notes: list[str] = field(default_factory=list)
    failed_objects: list[str] = field(default_factory=list)  # indexes etc. not recreated
    counts: dict[str, TableCount] = field(default_factory=dict)
    kept_damaged: list[Path] = field(default_factory=list)  # with --apply
    safety_backup: Path | None = None  # with --apply: the pre-restore archive made first
    applied: bool = False
    seconds: float = 0.0
    healthy: bool = False  # the live database passed integrity_check
    unreadable: list[int] = field(default_factory=list)  # page numbers (the first 200)
    rebuilt: list[str] = field(default_factory=list)  # virtual tables refilled or rebuilt
    foreign_key_violations: int = 0  # rows that refer to a row that was lost
    unexpected_errors: list[str] = field(default_factory=list)  # the repair went on past them

    def fewer_than_backup(self) -> dict[str, tuple[int, int]]:
        """Tables with fewer rows than the newest backup: (recovered, in the backup)."""
        return {
            name: (rows, (self.expected or {})[name])
            for name, rows in self.rows.items()
            if (self.expected or {}).get(name, 0) > rows
        }


@dataclass
class _Backup:
    """What the newest verified backup knows of the database's structure."""

    name: str
    schema: list[SchemaRow]
    page_size: int
    encoding: str
    user_version: int
    application_id: int
    tables: dict[str, int]
    wal: bool = False
    database: Path | None = None  # its database, extracted for the repair (then deleted)
    created_at: str = ""


class _NewestBackup:
    """The newest verified backup: its database is extracted once, when first needed, into
    a work folder that lives as long as the repair and is deleted after it."""

    def __init__(self, settings: Settings, notes: list[str]) -> None:
        self.settings = settings
        self.notes = notes
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._read = False
        self._backup: _Backup | None = None

    def extracted(self) -> _Backup | None:
        """The newest verified backup that could be read, with its database extracted."""
        if not self._read:
            self._read = True
            clean_stale(self.settings.recovery_dir, "repair")
            self._folder = tempfile.TemporaryDirectory(
                dir=self.settings.recovery_dir, prefix=work_prefix("repair")
            )
            self._backup = _newest_backup(self.settings, Path(self._folder.name), self.notes)
        return self._backup

    def described(self) -> _Backup | None:
        """The newest verified backup, as its metadata describes it (nothing extracted)."""
        return self._backup if self._read else _newest_backup(self.settings)

    def __enter__(self) -> _NewestBackup:
        return self

    def __exit__(self, *_: object) -> None:
        if self._folder is not None:
            self._folder.cleanup()


def repair(settings: Settings, *, apply: bool = False) -> RepairResult:
    """Build recovery/recovered_<time>.db from every row the database file still holds.

    With `apply`, the damaged file (and its -wal/-journal) is first copied into
    recovery/, the repair is made from that copy, and the result is written into the
    live database the way a restore is.

    Raises:
        DatabaseNotFound, NotADatabase: nothing to repair at DATABASE_PATH.
        IntegrityFailure: with `apply`, the recovered database failed integrity_check.
        LockBusy: with `apply`, a backup or restore is running.
        InsufficientSpace, FolderNotWritable: the recovery folder is full or read-only.
    """
    db = settings.database_path
    if not db.exists():
        raise DatabaseNotFound(
            f"{db} does not exist; there is nothing to repair. To bring the newest verified "
            "backup back: python backup_manager.py restore latest --confirm"
        )
    if not db.is_file():
        raise NotADatabase(f"{db} is not a file. Point DATABASE_PATH at the bot's .db file.")
    with disk_errors_in(settings.recovery_dir):  # what it writes, it writes there
        settings.recovery_dir.mkdir(parents=True, exist_ok=True)
        stamp = f"{settings.now():%Y%m%d_%H%M%S}"
        healthy = _healthy(db)
        if not apply or healthy:
            result = _build(settings, db, stamp)
        else:
            with exclusive_lock(settings.backup_dir / ".lock", "repair", settings.lock_timeout):
                result = _repair_and_apply(settings, stamp)
        result.healthy = healthy
        if apply and healthy:
            result.notes.append(
                "the live database passes integrity_check, so --apply did not replace it"
            )
        result.report = _write_report(settings, stamp, result)
    logger.info("repair of %s: %s, integrity %s", db, result.recovered, result.integrity)
    return result


def _healthy(db: Path) -> bool:
    """Tell whether the database opens and passes integrity_check (then nothing needs repair)."""
    try:
        with closing(open_readonly(db)) as conn:
            return run_check(conn, "integrity_check") == "ok"
    except (sqlite3.DatabaseError, OSError):
        return False


def _repair_and_apply(settings: Settings, stamp: str) -> RepairResult:
    """Keep the damaged files, repair from the kept copy, write the result into the live file."""
    db = settings.database_path
    before = live_database.fingerprint(db)
    kept = _keep_damaged(settings, db, stamp)
    result = _build(settings, kept[0], stamp)
    result.kept_damaged = kept
    if result.integrity != "ok":
        raise IntegrityFailure(
            f"The recovered database fails integrity_check ({result.integrity}); the live "
            "database was not changed. Restore the newest backup instead."
        )
    if live_database.fingerprint(db) != before:
        raise LockBusy(
            f"{db} changed while it was being repaired (is the bot running?); it was not "
            "replaced. Stop the bot and run `repair --apply` again."
        )
    # the same safety copy a restore makes first: a pre-restore archive that restores
    # like any backup (of a file SQLite cannot copy, the raw files, marked degraded)
    try:
        made = safety_copy.make_safety_copy(settings, result.recovered, trigger="repair")
    except BackupError as error:
        error.args = (
            f"The safety copy before the repair failed, so nothing was replaced: {error}",
        )
        raise
    if made is not None:
        safety_copy.keep(settings, made, set())
        result.safety_backup = made.path
    mode = live_database.match_live(db, result.recovered)
    # no waiting for a lock: a writer that holds it would commit just before we overwrite
    result.kept_damaged += live_database.write_live(settings, result.recovered, busy_seconds=0)
    live_database.set_journal_mode(db, mode)
    if settings.replica.enabled:  # a running Litestream writes to its own tables
        litestream.keep_bookkeeping(db)
    with closing(open_readonly(db)) as conn:
        live = run_check(conn, "integrity_check")
    if live != "ok":
        raise IntegrityFailure(f"After the repair {db} fails integrity_check: {live}")
    result.applied = True
    return result


def _keep_damaged(settings: Settings, db: Path, stamp: str) -> list[Path]:
    """Copy the damaged database with its -wal/-journal into recovery/damaged_<time>/."""
    folder = unique_path(settings.recovery_dir / f"damaged_{stamp}")
    folder.mkdir()
    return live_database.copy_with_sidecars(db, folder)


def salvage_copy(settings: Settings, source: Path, target: Path) -> RepairResult:
    """Salvage `source` page by page into `target` (a new file), e.g. for diagnose's export.

    Only what the file holds: no row of a lost page is taken from a backup.

    Raises:
        NotADatabase: no SQLite page in the file.
    """
    return _build(settings, source, "", into=target)


def _build(settings: Settings, source: Path, stamp: str, into: Path | None = None) -> RepairResult:
    """Salvage `source` (with its -wal/-journal) into a new recovered database; a repair
    (not `into`) takes the rows of the pages the file lost from the newest backup."""
    notes: list[str] = []
    with _NewestBackup(settings, notes) as backups:
        return _build_with(settings, source, stamp, into, backups, notes)


def _build_with(
    settings: Settings,
    source: Path,
    stamp: str,
    into: Path | None,
    backups: _NewestBackup,
    notes: list[str],
) -> RepairResult:
    started = time.monotonic()
    recovered = into or unique_path(settings.recovery_dir / f"recovered_{stamp}.db")
    partial = recovered.with_name(f".{recovered.name}.partial")
    with source.open("rb") as handle:
        header = parse_header(handle.read(100))
    backup = None
    if header is None:
        backup = backups.extracted()
        page_size = _page_size_without_header(source, backup, notes)
        reserved, encoding = 0, backup.encoding if backup else "utf-8"
    else:
        page_size, reserved, encoding = header.page_size, header.reserved, header.encoding
    with PageFile(source, page_size, reserved) as pages:
        _overlay(pages, source, notes, header.page_count if header else 0)
        reader = TreeReader(pages, encoding)
        schema, borrowed, unknown = _schema(reader, backups, notes)
        layouts: list[Layout] = []
        with reader.unexpected.step("working out the tables' layouts"):
            layouts = build_layouts(schema, notes)
        if borrowed:
            with reader.unexpected.step("checking the backup's root pages against the file"):
                schema = _trust_roots(reader, schema, layouts, borrowed, notes)
        target = RecoveredDatabase(partial, page_size)
        try:
            second = None if into is not None else backups.extracted
            counts = _salvage(reader, schema, layouts, target, header, second, notes, unknown)
            target.finish(
                header.user_version if header else backup.user_version if backup else 0,
                header.application_id if header else backup.application_id if backup else 0,
                wal=header.wal if header else bool(backup and backup.wal),
            )
        except BaseException:
            target.abort()
            raise
        notes += pages.notes
    partial.replace(recovered)
    if target.lost_table != "lost_and_found":
        notes.append(
            f"the database already has a lost_and_found table (kept as it was): the rows this "
            f"repair could not place are in {target.lost_table}"
        )
    if reader.found_by_cells:
        notes.append(
            f"{reader.found_by_cells} row(s) read cell by cell from leaf pages whose header "
            "or cell pointers are damaged"
        )
    checked = _inspect(recovered, target.lost_table, reader.unexpected, notes)
    notes += [
        f"unexpected error in {error} (the repair went on without it; errors.log has the "
        "details: please report it)"
        for error in reader.unexpected.errors
    ]
    newest = backups.described()
    return RepairResult(
        recovered=recovered,
        report=Path(),
        rows=checked.rows,
        expected=newest.tables if newest else None,
        integrity=checked.integrity,
        lost_and_found=target.lost_rows,
        damaged_pages=len(reader.damaged),
        page_size=page_size,
        notes=notes,
        failed_objects=target.not_recreated,
        counts=counts,
        seconds=time.monotonic() - started,
        unreadable=sorted(reader.damaged)[:200],
        foreign_key_violations=checked.foreign_key_violations,
        rebuilt=checked.virtual,
        unexpected_errors=reader.unexpected.errors,
    )


def _schema(
    reader: TreeReader, backups: _NewestBackup, notes: list[str]
) -> tuple[list[SchemaRow], dict[str, str], bool]:
    """Read the schema from page 1's tree, completed from the newest backup when damaged.

    Returns:
        The schema; the entries taken from the backup (name: the backup's name); and
        whether the schema is still unknown in part (not read whole, and no backup).
    """
    schema: list[SchemaRow] = []
    complete = False
    with reader.unexpected.step("reading the schema (sqlite_master)"):
        schema, complete = read_schema(reader)
    if complete and schema:
        return schema, {}, False
    backup = backups.extracted()
    merged = _merge_schema(schema, backup, notes)
    known = {row.name for row in schema}
    borrowed = {row.name: backup.name for row in merged if row.name not in known} if backup else {}
    return merged, borrowed, backup is None


@dataclass
class _Checked:
    """What the recovered file holds, read back from it."""

    integrity: str
    foreign_key_violations: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    virtual: list[str] = field(default_factory=list)


def _inspect(
    recovered: Path, lost_table: str, unexpected: Unexpected, notes: list[str]
) -> _Checked:
    """Check the recovered file and count its rows per table."""
    # immutable: nobody writes it, and no -wal/-shm is left beside it
    with closing(open_readonly(recovered, immutable=True)) as conn:
        checked = _Checked(run_check(conn, "integrity_check"))
        with unexpected.step("reading the recovered database back"):
            checked.foreign_key_violations = _foreign_key_violations(conn, notes)
            tables = list_tables(conn)
            checked.virtual = [t.name for t in tables if t.virtual]
            shadow = {t.name for t in tables if t.shadow}
            # a rebuilt FTS index has other segments than the original: not comparable rows
            checked.rows = {
                k: v for k, v in count_rows(conn).items() if k != lost_table and k not in shadow
            }
    return checked


def _foreign_key_violations(conn: sqlite3.Connection, notes: list[str]) -> int:
    """Count the rows that refer to a row that is not there, table by table."""
    count = 0
    tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    for (table,) in tables:
        try:
            check = conn.execute(f"PRAGMA foreign_key_check({quote_identifier(table)})")
            count += len(check.fetchall())
        except sqlite3.DatabaseError as error:  # a damaged schema: its parent has no such key
            notes.append(f"the foreign keys of {table} could not be checked: {error}")
    return count


def _page_size_without_header(source: Path, backup: _Backup | None, notes: list[str]) -> int:
    """Guess the page size of a file whose header is gone."""
    size = source.stat().st_size
    guessed = guess_page_size(lambda s: PageFile(source, s), size)
    if guessed is None and backup is not None and _has_pages(source, backup.page_size):
        notes.append(f"header unreadable: page size {backup.page_size} taken from {backup.name}")
        return backup.page_size
    if guessed is None:
        raise NotADatabase(
            f"{source} is not a SQLite database: no header and no page that SQLite wrote. "
            "Check DATABASE_PATH, or restore a backup: python backup_manager.py restore latest "
            "--confirm"
        )
    notes.append(f"header unreadable: page size {guessed} found from the pages themselves")
    return guessed


def _has_pages(source: Path, page_size: int) -> bool:
    """Tell whether any page of the file reads as a b-tree page of this size."""
    with PageFile(source, page_size) as pages:
        return any(pages.btree(n) is not None for n in range(2, pages.page_count + 1))


def _overlay(pages: PageFile, source: Path, notes: list[str], header_pages: int) -> None:
    """Apply the -wal (committed frames) or a hot -journal, and note a truncated file."""
    frames = pages.apply_wal(source.with_name(source.name + "-wal"))
    if frames:
        notes.append(f"{frames} pages read from committed frames of the -wal file")
    else:
        rolled = pages.apply_journal(source.with_name(source.name + "-journal"))
        if rolled:
            notes.append(f"{rolled} pages rolled back from the hot -journal file")
    if pages.partial_tail:
        notes.append(
            f"the file ends in {pages.partial_tail} bytes of a cut page; they are not read"
        )
    if header_pages > pages.page_count and not frames:
        notes.append(f"the file is truncated: it holds {pages.page_count} of {header_pages} pages")


def _trust_roots(
    reader: TreeReader,
    schema: list[SchemaRow],
    layouts: list[Layout],
    borrowed: dict[str, str],
    notes: list[str],
) -> list[SchemaRow]:
    """Keep a root page taken from a backup's schema only where the file's page there fits
    (a file reorganised since, by VACUUM, has other roots: the backup's would put one
    table's rows into another). A table whose root does not fit is read from the pages
    no table reaches; an index's is not used to set its pages aside."""
    by_name = {layout.name: layout for layout in layouts}
    checked = []
    for row in schema:
        if row.name not in borrowed or row.rootpage < 2:
            checked.append(row)
            continue
        layout = by_name.get(row.name) if row.type == "table" else None
        index = row.type == "index" or (layout is not None and layout.without_rowid)
        if reader.root_fits(row.rootpage, layout, index=index):
            checked.append(row)
            continue
        what = "the rows of the table are looked for on the pages no table reaches"
        if layout is not None:
            layout.root = 0
            layout.missing.append((None, None))  # the whole table: placed as unlinked
        else:
            what = "its pages are not set aside by it"
        notes.append(
            f"{row.type} {row.name}: page {row.rootpage}, its root in {borrowed[row.name]}, "
            f"is not a root of it in this file (reorganised since, e.g. by VACUUM): {what}"
        )
        checked.append(replace(row, rootpage=0))
    return checked


def _merge_schema(
    schema: list[SchemaRow], backup: _Backup | None, notes: list[str]
) -> list[SchemaRow]:
    """Complete a schema that could not be read whole with the newest backup's."""
    if backup is None:
        notes.append(
            "the schema (sqlite_master) could not be read whole and there is no verified "
            "backup to take it from: rows without a table are in lost_and_found"
        )
        return schema
    known = {row.name for row in schema}
    added = [row for row in backup.schema if row.name not in known]
    notes.append(
        f"the schema could not be read whole: {len(added)} entries taken from {backup.name}"
    )
    return schema + added


def _salvage(
    reader: TreeReader,
    schema: list[SchemaRow],
    layouts: list[Layout],
    target: RecoveredDatabase,
    header: Any,
    second: Callable[[], _Backup | None] | None,
    notes: list[str],
    unknown: bool = False,
) -> dict[str, TableCount]:
    """Fill the target: table trees, then unlinked pages, then the rows of lost pages from
    the newest backup (`second`, which extracts it; None: only the file), then what is
    rebuilt. With the schema `unknown` in part, the records of index pages no tree reaches
    are kept in lost_and_found (they may be a WITHOUT ROWID table's rows)."""
    counts = {layout.name: TableCount() for layout in layouts if not layout.shadow}
    target.create_tables(layouts)
    by_name = {layout.name: layout for layout in layouts}
    shadow_rows = _read_trees(reader, layouts, target, counts)
    step = reader.unexpected.step
    for row in schema:
        if row.rootpage > 1 and (row.type == "index" or table_kinds.is_statistics(row.name)):
            with step(f"marking the pages of {row.type} {row.name}"):
                reader.mark_tree(row.rootpage)
    if header is not None:
        with step("marking the free pages"):
            reader.mark_freelist(header.freelist_trunk)
    progress.phase("looking for rows on pages no table reaches")
    with step("the scan for pages no table reaches"):
        _place_orphans(reader, layouts, target, counts, unknown)
    lost_pages = second_source.lost_ranges(layouts)
    if second is not None and lost_pages:
        progress.phase("taking the rows of lost pages from the newest backup")
        with step("taking the rows of lost pages from the newest backup"):
            _from_backup(second(), lost_pages, target, counts, notes)
    progress.phase("writing the recovered database")
    for lost in reader.lost:
        target.lose(lost)
    for row in schema:
        if row.type == "table" and str(row.sql or "").lstrip().upper().startswith("CREATE VIRTUAL"):
            content = by_name.get(f"{row.name}_content")
            with step(f"virtual table {row.name}"):
                target.virtual_table(row, content, shadow_rows.get(f"{row.name}_content", []))
    with step("recreating indexes, views and triggers"):
        target.schema_objects(schema)
    return counts


def _from_backup(
    backup: _Backup | None,
    layouts: list[Layout],
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
    notes: list[str],
) -> None:
    """Take the rows of the tables' lost rowid ranges that the file no longer holds from
    the newest verified backup; a backup that cannot be read is a note, never an error."""
    if backup is None or backup.database is None:
        notes.append(
            "no verified backup could be read to take the rows of the lost pages from: "
            f"{', '.join(t.name for t in layouts)} may miss rows"
        )
        return
    when = _moment(backup.created_at)
    try:
        taken = second_source.take_from_backup(
            backup.database, layouts, target, f"from backup {backup.name}"
        )
    except sqlite3.DatabaseError as error:
        if disk_error(error) is not None:
            raise
        notes.append(
            f"backup {backup.name} could not be read ({sqlite_message(error)}): no row "
            "of the lost pages was taken from it"
        )
        return
    for table, rows in taken.rows.items():
        counts[table].from_backup += rows
        if rows:
            notes.append(
                f"{rows} rows of {table} taken from backup {backup.name} of {when} (the file "
                "lost the pages that held them)"
            )
    if any(taken.rows.values()):
        notes.append(
            "rows taken from a backup are as they were then: a change made to them since is "
            "not in them, and a row deleted since the backup comes back"
        )
    for table, why in taken.skipped.items():
        notes.append(f"no row of {table} was taken from backup {backup.name}: {why}")


def _moment(created_at: str) -> str:
    """A backup's time for a note: local date, hours and minutes as it was recorded."""
    try:
        return f"{datetime.fromisoformat(created_at):%Y-%m-%d %H:%M}"
    except ValueError:
        return created_at


def _read_trees(
    reader: TreeReader,
    layouts: list[Layout],
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
) -> dict[str, list[tuple[int | None, list[Any]]]]:
    """Copy the rows each table's tree reaches; return the rows of FTS content tables."""
    shadow_rows: dict[str, list[tuple[int | None, list[Any]]]] = {}
    progress.phase("reading every table's pages", len(layouts))
    for layout in layouts:
        progress.advance(1)
        if layout.root < 2:  # no root in this file: its pages are placed as unlinked
            continue
        try:
            _read_tree(reader, layout, target, counts, shadow_rows)
        except Exception as error:  # noqa: BLE001 - one table's failure never ends the repair
            reader.unexpected.add(f"table {layout.name}", error)
            layout.missing.append((None, None))  # its pages not read yet: placed as unlinked
    return shadow_rows


def _read_tree(
    reader: TreeReader,
    layout: Layout,
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
    shadow_rows: dict[str, list[tuple[int | None, list[Any]]]],
) -> None:
    """Copy the rows one table's tree reaches (an FTS content table's into `shadow_rows`)."""
    rows = reader.index_rows(layout) if layout.without_rowid else reader.table_rows(layout)
    if layout.name == "sqlite_sequence":
        target.sequences(list(rows))
    elif layout.shadow and layout.name.endswith("_content"):
        shadow_rows[layout.name] = list(rows)
    elif layout.shadow:
        for _ in rows:  # read only to take its pages out of the orphan scan
            pass
    else:
        counts[layout.name].from_tree += target.insert(layout, rows)


def _place_orphans(
    reader: TreeReader,
    layouts: list[Layout],
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
    unknown: bool = False,
) -> None:
    """Give the leaf pages no tree reached to the table whose gap they fill, or lose them
    (an index leaf's records only when the schema is `unknown` in part)."""
    for page in reader.orphans():
        with reader.unexpected.step(f"page {page.number}, which no table reaches"):
            _place_orphan(reader, page, layouts, target, counts, unknown)


def _place_orphan(
    reader: TreeReader,
    page: BtreePage,
    layouts: list[Layout],
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
    unknown: bool = False,
) -> None:
    """Give one leaf page no tree reached to the table whose gap it fills, or lose its rows."""
    if page.kind in (INDEX_LEAF, INDEX_INTERIOR):
        placed = False
        if any(t.without_rowid and t.missing for t in layouts):
            placed = _place_records(reader, page, layouts, target, counts)
        if unknown and not placed:
            reason = "on an index page no tree reaches (a WITHOUT ROWID row or an index entry)"
            for _, values in reader.index_leaf(page):
                target.lose(Lost(page.number, None, None, reason, values))
        return
    if page.kind != TABLE_LEAF:
        return
    lost_before = len(reader.lost)
    rows = list(reader.leaf_rows(page, None))
    if not rows:
        return
    layout, guess = _owner(rows, [t for t in layouts if not t.without_rowid and t.missing])
    for lost in reader.lost[lost_before:]:  # cells of this page that did not decode
        lost.table = guess
    if layout is not None and layout.shadow:
        return  # a virtual table's own index data: rebuilt, not copied
    if layout is None:
        for rowid, values in rows:
            target.lose(Lost(page.number, guess, rowid, "on a page no table reaches", values))
        return
    reader.visited.add(page.number)
    counts[layout.name].from_unlinked_pages += target.insert(layout, rows, page.number)


def _place_records(
    reader: TreeReader,
    page: Any,
    layouts: list[Layout],
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
) -> bool:
    """Give an unlinked index page to a damaged WITHOUT ROWID table it fits exactly; tell
    whether it did."""
    records = list(reader.index_leaf(page))
    if not records:
        return False
    widths = {len(values) for _, values in records}
    fitting = [
        t
        for t in layouts
        if t.without_rowid
        and t.missing
        and widths == {len(t.stored)}
        and all(fits(values, t) > 0 for _, values in records)
    ]
    if len(fitting) == 1 and not fitting[0].shadow:
        reader.visited.add(page.number)
        counts[fitting[0].name].from_unlinked_pages += target.insert(
            fitting[0], records, page.number
        )
        return True
    return False


def _owner(
    rows: list[tuple[int, list[Any]]], damaged: list[Layout]
) -> tuple[Layout | None, str | None]:
    """The damaged table whose missing rowid range, columns and value kinds fit these rows best."""
    low, high = min(r for r, _ in rows), max(r for r, _ in rows)
    widest = max(len(values) for _, values in rows)
    scored = []
    for layout in damaged:
        if widest > len(layout.stored) or not any(_within(low, high, g) for g in layout.missing):
            continue
        score = min(fits(values, layout) for _, values in rows)
        if score > 0:
            scored.append((len(layout.stored) == widest, score, layout))
    if not scored:
        return None, None
    best = max(scored, key=lambda s: (s[0], s[1]))
    ties = [s[2] for s in scored if (s[0], s[1]) == (best[0], best[1])]
    if len(ties) == 1:
        return best[2], best[2].name
    return None, " | ".join(t.name for t in ties)


def _within(low: int, high: int, gap: tuple[int | None, int | None]) -> bool:
    start, end = gap
    return (start is None or low > start) and (end is None or high <= end)


# an archive or its database that cannot be read, or metadata without what it should say
_BACKUP_ERRORS: tuple[type[Exception], ...] = (
    *READ_ERRORS,
    sqlite3.DatabaseError,
    ValueError,
    TypeError,
)


def _newest_backup(
    settings: Settings, into: Path | None = None, notes: list[str] | None = None
) -> _Backup | None:
    """The newest verified backup: its metadata; with `into`, its database too, extracted
    there and read (schema, page size). One that cannot be read is noted and passed over."""
    for backup in catalog.list_backups(settings):
        if not backup.verified or backup.degraded or not backup.metadata:
            continue
        try:
            found = _read_backup(backup, into)
        except _BACKUP_ERRORS as error:
            if disk_error(error) is not None:
                raise
            logger.warning("repair: backup %s cannot be read: %s", backup.name, error)
            if notes is not None:
                notes.append(f"backup {backup.name} could not be read ({error}); not used")
            continue
        if found is not None:
            return found
    return None


def _read_backup(backup: catalog.BackupInfo, into: Path | None) -> _Backup | None:
    """What one backup knows of the database; with `into`, its database extracted there
    (None when the archive has no database member, or it fails its checksum)."""
    metadata = backup.metadata or {}
    database = metadata["database"]
    tables = {str(k): int(v) for k, v in dict(database.get("tables", {})).items()}
    if into is None:
        page_size = int(database.get("page_size") or 0)
        return _Backup(backup.name, [], page_size, "utf-8", 0, 0, tables)
    member = next((m for m in metadata["members"] if m.get("role") == "database"), None)
    if member is None:
        return None
    copy = into / f"{backup.name}.db"
    if extract_member(backup.path, member["path"], copy, member):
        copy.unlink(missing_ok=True)
        return None
    with closing(open_readonly(copy, immutable=True)) as conn:
        schema = [
            SchemaRow(*row)
            for row in conn.execute("SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master")
        ]
        facts = [
            conn.execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("page_size", "encoding", "user_version", "application_id")
        ]
    encoding = {"UTF-8": "utf-8", "UTF-16le": "utf-16-le", "UTF-16be": "utf-16-be"}
    return _Backup(
        backup.name,
        schema,
        int(facts[0]),
        encoding.get(str(facts[1]), "utf-8"),
        int(facts[2]),
        int(facts[3]),
        tables,
        str(database.get("journal_mode", "")).lower() == "wal",
        database=copy,
        created_at=backup.created_at,
    )


def _write_report(settings: Settings, stamp: str, result: RepairResult) -> Path:
    """Write the repair report: rows per table against the newest backup."""
    tables: dict[str, Any] = {
        name: {
            "recovered": rows,
            "from_table_pages": result.counts[name].from_tree if name in result.counts else None,
            "from_unlinked_pages": (
                result.counts[name].from_unlinked_pages if name in result.counts else None
            ),
            "from_backup": result.counts[name].from_backup if name in result.counts else None,
            "in_newest_backup": (result.expected or {}).get(name),
        }
        for name, rows in result.rows.items()
    }
    report = {
        "database": str(settings.database_path),
        "recovered": str(result.recovered),
        "method": "page-level salvage: b-tree pages read from the file itself",
        "page_size": result.page_size,
        "integrity_check": result.integrity,
        "unreadable_tree_pages": result.damaged_pages,
        "unreadable_pages_first_200": result.unreadable,
        "live_database_healthy": result.healthy,
        "fewer_rows_than_newest_backup": {
            name: {"recovered": got, "in_backup": had}
            for name, (got, had) in result.fewer_than_backup().items()
        },
        "virtual_tables_rebuilt": result.rebuilt,
        "foreign_key_violations": result.foreign_key_violations,
        "lost_and_found_rows": result.lost_and_found,
        "tables": tables,
        "notes": result.notes,
        "unexpected_errors": result.unexpected_errors,
        "not_recreated": result.failed_objects,
        "applied": result.applied,
        "damaged_files_kept": [str(p) for p in result.kept_damaged],
        "safety_backup": str(result.safety_backup) if result.safety_backup else None,
        "seconds": round(result.seconds, 2),
    }
    path = unique_path(settings.recovery_dir / f"repair_{stamp}.json")
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return path
