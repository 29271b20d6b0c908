"""The schema a salvage goes by: sqlite_master read from page 1's tree, completed from the
newest verified backup where it is damaged, and the backup's root pages kept only where
the file's page there fits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from src.services.salvage.backup_hint import Backup, SchemaHint
from src.services.salvage.btree import TreeReader
from src.services.salvage.layouts import Layout, SchemaRow


def read_schema(reader: TreeReader) -> tuple[list[SchemaRow], bool]:
    """Read sqlite_master from page 1's tree; return its rows and whether all of it was read."""
    rows = []
    lost_before = len(reader.lost)
    master = Layout(
        "sqlite_master",
        1,
        "",
        False,
        ["type", "name", "tbl_name", "rootpage", "sql"],
        ["TEXT", "TEXT", "TEXT", "INTEGER", "TEXT"],
        [True] * 5,
        None,
    )
    for _rowid, values in reader.table_rows(master):
        if len(values) == 5 and isinstance(values[1], str):
            kind, name, table, root, sql = values
            # damaged bytes can hold any kind of value: a root that is no page number is no
            # root, SQL that is no text is no SQL
            root = root if isinstance(root, int) else 0
            rows.append(SchemaRow(str(kind), name, str(table), root, sql_text(sql)))
    return rows, not master.missing and len(reader.lost) == lost_before


def sql_text(value: Any) -> str | None:
    """Return a schema row's SQL when it is text (a damaged row can hold a number or BLOB)."""
    return value if isinstance(value, str) else None


def read_or_borrow(
    reader: TreeReader, hint: SchemaHint | None, notes: list[str]
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
    backup = hint.extracted(notes) if hint else None
    merged = _merge_schema(schema, backup, notes)
    known = {row.name for row in schema}
    borrowed = {row.name: backup.name for row in merged if row.name not in known} if backup else {}
    return merged, borrowed, backup is None


def trust_roots(
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
    schema: list[SchemaRow], backup: Backup | None, notes: list[str]
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
