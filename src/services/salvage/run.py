"""The salvage: every row a damaged database file still holds, in a new database.

`salvage` reads the file's header (or guesses its page size), applies its -wal or hot
-journal, reads the schema (completed from the newest verified backup where damaged),
copies every table's tree, places the pages no tree reaches, takes the rows of lost
pages from the backup, recreates indexes, views and triggers, and reads the result back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from src.services import progress, table_kinds
from src.services.salvage.backup_hint import Backup, Prefetched, SchemaHint
from src.services.salvage.btree import TreeReader
from src.services.salvage.check import inspect
from src.services.salvage.fileformat import Header, PageFile, parse_header
from src.services.salvage.layouts import Layout, SchemaRow, build_layouts
from src.services.salvage.orphans import place_orphans
from src.services.salvage.page_size import page_size_without_header
from src.services.salvage.result import SalvageResult, TableCount
from src.services.salvage.schema import read_or_borrow, trust_roots
from src.services.salvage.second_source import from_backup, lost_ranges
from src.services.salvage.sqlite_copy import SourceUnreadable, open_source
from src.services.salvage.writer import RecoveredDatabase


def salvage(
    source: Path,
    hint: SchemaHint | None,
    into: Path,
    *,
    rows_from_backup: bool = True,
    sqlite_reader: bool = True,
) -> SalvageResult:
    """Salvage every row `source` (with its -wal/-journal) still holds into a new database.

    Args:
        source: the damaged database file (a copy nobody writes while it is read).
        hint: where the newest verified backup is found, asked only when the file lost
            its header or part of its schema, or pages of a table; None: no backup.
        into: the new database (written as `.<name>.partial` beside it, then renamed).
        rows_from_backup: take the rows of the pages the file lost from the backup.
        sqlite_reader: let SQLite's own reader copy the leaves that are whole, when it can
            read the file as it is (False: every row is decoded here; for comparisons).

    Returns:
        What was written, found and lost; `integrity` is the new file's integrity_check.

    Raises:
        NotADatabase: no SQLite page in the file.
    """
    notes: list[str] = []
    # the rows of lost pages come from the backup: extracted beside the walk once damage shows
    prefetched = Prefetched(hint, notes) if hint is not None else None
    try:
        return _salvage(source, prefetched, into, notes, rows_from_backup, sqlite_reader)
    except SourceUnreadable:  # the new database's transaction is lost: all again, row by row
        return salvage(source, hint, into, rows_from_backup=rows_from_backup, sqlite_reader=False)
    finally:
        if prefetched is not None:  # no extraction outlives the salvage (the caller's folder)
            prefetched.wait()


def _salvage(
    source: Path,
    hint: Prefetched | None,
    into: Path,
    notes: list[str],
    rows_from_backup: bool,
    sqlite_reader: bool,
) -> SalvageResult:
    started = time.monotonic()

    def newest() -> Backup | None:
        return hint.extracted(notes) if hint is not None else None

    partial = into.with_name(f".{into.name}.partial")
    with source.open("rb") as handle:
        header = parse_header(handle.read(100))
    backup = None
    if header is None:
        backup = newest()
        page_size = page_size_without_header(source, backup, notes)
        reserved, encoding = 0, backup.encoding if backup else "utf-8"
    else:
        page_size, reserved, encoding = header.page_size, header.reserved, header.encoding
    with PageFile(source, page_size, reserved) as pages:
        _overlay(pages, source, notes, header.page_count if header else 0)
        reader = TreeReader(pages, encoding)
        if hint is not None and rows_from_backup:
            reader.on_damage = hint.start
        schema, borrowed, unknown = read_or_borrow(reader, hint, notes)
        layouts: list[Layout] = []
        with reader.unexpected.step("working out the tables' layouts"):
            layouts = build_layouts(schema, notes)
        if borrowed:
            with reader.unexpected.step("checking the backup's root pages against the file"):
                schema = trust_roots(reader, schema, layouts, borrowed, notes)
        readable = sqlite_reader and _sqlite_reads_it(source, header, pages)
        target = RecoveredDatabase(partial, page_size, open_source(source if readable else None))
        try:
            second = newest if rows_from_backup else None
            counts = _fill(reader, schema, layouts, target, header, second, notes, unknown)
            _finish(target, header, backup)
        except BaseException:
            target.abort()
            raise
        notes += pages.notes
    partial.replace(into)
    return _result(into, reader, target, counts, page_size, notes, started)


def _sqlite_reads_it(source: Path, header: Header | None, pages: PageFile) -> bool:
    """Tell whether SQLite, opening the file itself, sees the pages this salvage reads: a
    header, UTF-8 (the new database's encoding), no -wal or -journal beside it and no
    overlay applied, not cut short of the pages its header counts. (A cut page at its end
    is read by neither: SQLite reads only the pages on the way to the leaves the walk
    gave it.)"""
    if header is None or header.encoding != "utf-8" or not pages.as_on_disk:
        return False
    if header.page_count > pages.file_pages:  # SQLite calls a cut file damaged: no schema
        return False
    return not any(
        source.with_name(source.name + suffix).exists() for suffix in ("-wal", "-journal")
    )


def _finish(target: RecoveredDatabase, header: Header | None, backup: Backup | None) -> None:
    """Commit the recovered database with the header values of the file (else the backup's)."""
    target.finish(
        header.user_version if header else backup.user_version if backup else 0,
        header.application_id if header else backup.application_id if backup else 0,
        wal=header.wal if header else bool(backup and backup.wal),
    )


def _result(
    recovered: Path,
    reader: TreeReader,
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
    page_size: int,
    notes: list[str],
    started: float,
) -> SalvageResult:
    """Read the recovered database back and say what was found, lost and noted."""
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
    checked = inspect(recovered, target.lost_table, reader.unexpected, notes)
    notes += [
        f"unexpected error in {error} (the repair went on without it; errors.log has the "
        "details: please report it)"
        for error in reader.unexpected.errors
    ]
    return SalvageResult(
        recovered=recovered,
        rows=checked.rows,
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
        leaves_copied=reader.leaves_copied,
    )


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


def _fill(
    reader: TreeReader,
    schema: list[SchemaRow],
    layouts: list[Layout],
    target: RecoveredDatabase,
    header: Header | None,
    second: Callable[[], Backup | None] | None,
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
    for error in target.mend_texts():
        notes.append(f"texts SQLite copied could not be checked for UTF-8: {error}")
    progress.phase("looking for rows on pages no table reaches")
    with step("the scan for pages no table reaches"):
        place_orphans(reader, layouts, target, counts, unknown)
    lost_pages = lost_ranges(layouts)
    if second is not None and lost_pages:
        progress.phase("taking the rows of lost pages from the newest backup")
        with step("taking the rows of lost pages from the newest backup"):
            from_backup(second(), lost_pages, target, counts, notes)
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
        except SourceUnreadable:  # the new database's transaction is lost
            raise
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
    if layout.shadow and not layout.name.endswith("_content"):
        reader.set_aside(layout)  # a virtual table's own index data: rebuilt, not copied
        return
    rows = reader.rows(layout)
    if layout.name == "sqlite_sequence":
        target.sequences(list(rows))
    elif layout.shadow:
        shadow_rows[layout.name] = list(rows)
    else:
        reader.copy = target.copier(layout)
        try:
            counts[layout.name].from_tree += target.insert(layout, rows)
        finally:
            reader.copy = None
        counts[layout.name].from_tree += target.copied.pop(layout.name, 0)
