"""The backup as a second source: rows of the pages a damaged file lost, from a backup.

Where a table's tree lost a page, its parent still gives the rowid range the page held
(`Layout.missing`). The rows of those ranges that the recovered table does not hold yet
(the file's own rows and the unlinked pages placed come first) are taken from the newest
verified backup's database, for tables whose columns there are the same. They are as they
were at that backup: later changes to them are not in it, and rows deleted since it from
those ranges come back. A tree lost whole (no parent gives a range) takes nothing. A
WITHOUT ROWID table's lost pages are known by the keys of the cells beside their pointer
in the parent page (`Layout.missing_keys`): the rows between them, by key, are taken alike.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from src.errors import disk_error
from src.services import table_kinds
from src.services.integrity import quote_identifier, sqlite_message
from src.services.salvage.backup_hint import Backup
from src.services.salvage.layouts import Bound, KeyOrder, Layout, Row, TableRow, rowid_column
from src.services.salvage.result import TableCount
from src.services.salvage.writer import BATCH, RecoveredDatabase

_Range = tuple[Bound, Bound]


@dataclass
class Taken:
    """What the backup gave: rows per table, and the tables it could not give rows for."""

    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # table: why


def lost_ranges(layouts: list[Layout]) -> list[Layout]:
    """The ordinary tables whose tree lost pages (the ones a backup can help)."""
    return [
        layout
        for layout in layouts
        if layout.missing and not layout.shadow and not table_kinds.is_internal(layout.name)
    ]


def from_backup(
    backup: Backup | None,
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
        taken = take_from_backup(backup.database, layouts, target, f"from backup {backup.name}")
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


def take_from_backup(
    database: Path, layouts: list[Layout], target: RecoveredDatabase, origin: str
) -> Taken:
    """Insert the backup's rows of each table's lost rowid ranges that the target lacks.

    Args:
        database: the backup's database (an extracted copy nobody writes).
        layouts: the tables whose tree lost pages (`lost_ranges`).
        target: the recovered database, holding every row the file gave.
        origin: the backup, as named in lost_and_found for a row the target refuses.

    Raises:
        sqlite3.DatabaseError: the backup's database cannot be opened or read at all.
    """
    taken = Taken()
    uri = database.resolve().as_uri() + "?immutable=1"
    with closing(sqlite3.connect(uri, uri=True)) as source:
        source.execute("PRAGMA query_only=ON")
        for layout in layouts:
            why = _unusable(source, target.conn, layout)
            if why is None and not _bounded(layout):
                why = (
                    "its tree was not found at all: with no rowid range to go by, the backup "
                    "would bring back rows deleted since it (the file's rows come from the "
                    "pages no tree reaches)"
                )
            if why is not None:
                taken.skipped[layout.name] = why
                continue
            try:
                taken.rows[layout.name] = _take(source, target, layout, origin)
            except sqlite3.DatabaseError as error:
                if disk_error(error) is not None:
                    raise
                taken.skipped[layout.name] = f"its rows could not be read ({sqlite_message(error)})"
    return taken


def _bounded(layout: Layout) -> list[Any]:
    """The lost ranges a parent page gave (at least one bound): a whole tree lost tells
    no range, and taking every row the backup has would bring deleted ones back."""
    if layout.without_rowid:
        return [r for r in layout.missing_keys if r != (None, None)]
    return [r for r in layout.missing if r != (None, None)]


def _unusable(source: sqlite3.Connection, target: sqlite3.Connection, layout: Layout) -> str | None:
    """Why the backup's table cannot give rows to the recovered one (None: it can)."""
    if layout.without_rowid and not layout.keys:
        return "a WITHOUT ROWID table whose key could not be read"
    if not layout.without_rowid and layout.alias is None and rowid_column(layout) is None:
        return "its columns hide the rowid"
    theirs = _columns(source, layout.name)
    if not theirs:
        return "the backup has no such table"
    if theirs != _columns(target, layout.name):
        return "its columns in the backup are not the same"
    return None


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    """A table's columns as its CREATE statement declares them: name, type, primary key."""
    try:
        info = conn.execute(f"PRAGMA main.table_xinfo({quote_identifier(table)})").fetchall()
    except sqlite3.DatabaseError:
        return []
    return [
        (str(name).lower(), str(kind).upper(), pk, hidden)
        for _, name, kind, _n, _d, pk, hidden in info
    ]


def _take(
    source: sqlite3.Connection, target: RecoveredDatabase, layout: Layout, origin: str
) -> int:
    """Insert the backup's rows of the table's lost ranges whose rowid the target lacks."""
    if layout.without_rowid:
        return _take_keyed(source, target, layout, origin)
    table = quote_identifier(layout.name)
    rowid = (
        quote_identifier(layout.stored[layout.alias])
        if layout.alias is not None
        else str(rowid_column(layout))
    )
    columns = ", ".join(quote_identifier(c) for c in layout.stored)
    done = 0
    for low, high in merge(_bounded(layout)):
        where = " AND ".join(
            [f"{rowid} > ?"] * (low is not None) + [f"{rowid} <= ?"] * (high is not None)
        )
        sql = f"SELECT {rowid}, {columns} FROM {table}{' WHERE ' + where if where else ''}"
        bounds = [b for b in (low, high) if b is not None]
        for batch in _batches(source.execute(sql, bounds)):
            held = _held(target.conn, table, rowid, [r for r, _ in batch])
            fresh = [row for row in batch if row[0] not in held]
            done += target.insert(layout, fresh, origin=origin)
    return done


def _take_keyed(
    source: sqlite3.Connection, target: RecoveredDatabase, layout: Layout, origin: str
) -> int:
    """Insert the backup's rows of a WITHOUT ROWID table's lost key ranges whose key the
    target lacks (keys compared as the table's tree orders them: column by column, each
    ASC or DESC, in the key's collation)."""
    table = quote_identifier(layout.name)
    keys = [
        (quote_identifier(c), order)
        for c, order in zip(layout.stored[: layout.keys], layout.key_order, strict=True)
    ]
    columns = ", ".join(quote_identifier(c) for c in layout.stored)
    held_sql = f"SELECT 1 FROM {table} WHERE {' AND '.join(_compare(k, '=') for k in keys)}"
    done = 0
    for low, high in _bounded(layout):
        where: list[str] = ["1"]
        bounds: list[Any] = []
        for bound, after in ((low, True), (high, False)):
            if bound is not None:
                condition, values = beyond(keys, bound, after)
                where.append(condition)
                bounds += values
        sql = f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)}"
        cursor = source.execute(sql, bounds)
        while batch := cursor.fetchmany(BATCH):
            fresh: list[Row] = [
                (None, list(row))
                for row in batch
                if target.conn.execute(held_sql, row[: layout.keys]).fetchone() is None
            ]
            done += target.insert(layout, fresh, origin=origin)
    return done


def _compare(key: tuple[str, KeyOrder], op: str) -> str:
    column, order = key
    return f"{column} {op} ? COLLATE {quote_identifier(order.collation)}"


def beyond(
    keys: list[tuple[str, KeyOrder]], bound: list[Any], after: bool
) -> tuple[str, list[Any]]:
    """The condition "the key comes after (or before) `bound` in the tree's order", and its
    values: for some column, the ones before it equal the bound's and it comes later (or
    earlier), each compared ASC or DESC in the key's collation.

    keys: the key columns (quoted) and how the tree orders each. The first column's own
    bound comes first, implied by the rest, so SQLite seeks the tree instead of a scan.
    """
    terms = []
    for i, (column, order) in enumerate(keys):
        later = after != order.descending
        equal = [_compare(k, "=") for k in keys[:i]]
        terms.append(" AND ".join([*equal, _compare((column, order), ">" if later else "<")]))
    first = _compare(keys[0], ">=" if after != keys[0][1].descending else "<=")
    values = [bound[0], *(value for i in range(len(keys)) for value in bound[: i + 1])]
    return f"({first} AND (" + " OR ".join(f"({t})" for t in terms) + "))", values


def _batches(cursor: sqlite3.Cursor) -> Iterator[list[TableRow]]:
    while rows := cursor.fetchmany(BATCH):
        yield [(int(row[0]), list(row[1:])) for row in rows]


def _held(conn: sqlite3.Connection, table: str, rowid: str, rowids: list[int]) -> set[int]:
    """The rowids among `rowids` that the recovered table holds already."""
    marks = ",".join("?" * len(rowids))
    found = conn.execute(f"SELECT {rowid} FROM {table} WHERE {rowid} IN ({marks})", rowids)
    return {r for (r,) in found}


def merge(ranges: list[_Range]) -> list[_Range]:
    """Merge overlapping (low, high] rowid ranges (None: unbounded) into disjoint ones."""
    lowest = -(1 << 64)

    def key(r: _Range) -> int:
        return lowest if r[0] is None else r[0]

    merged: list[_Range] = []
    for low, high in sorted(ranges, key=key):
        if merged:
            last_low, last_high = merged[-1]
            if last_high is None or (low is not None and low <= last_high) or low is None:
                merged[-1] = (
                    last_low,
                    None if last_high is None or high is None else max(last_high, high),
                )
                continue
        merged.append((low, high))
    return merged
