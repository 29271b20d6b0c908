"""Read every row SQLite can still read from a damaged table, seeking past bad pages (the
row-level reader of export and diagnose; the page-level salvage is src/services/salvage/)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from src.services.exporters import FETCH_ROWS
from src.services.integrity import TableInfo, quote_identifier, rowid_name


def readable_rows(
    conn: sqlite3.Connection,
    table: TableInfo,
    errors: dict[str, str],
    with_rowid: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """Yield the table's rows; where a page is damaged, seek past it by rowid.

    Args:
        conn: the (damaged) database, read-only.
        table: the table to read.
        errors: where to note, by table name, that and why reading stopped or skipped.
        with_rowid: put the rowid first in each row (where the table has one of its own).

    Yields:
        Each readable row, in rowid order.
    """
    names = ",".join(quote_identifier(c) for c in table.columns)
    source = quote_identifier(table.name)
    keep = with_rowid and table.has_rowid and table.rowid_alias is None
    if not table.has_rowid or table.virtual:
        selected = f"rowid, {names}" if keep else names
        try:
            yield from _fetch(conn.execute(f"SELECT {selected} FROM {source}"))
        except sqlite3.DatabaseError as error:
            errors[table.name] = f"stopped part-way: {error}"
        return
    rowid = rowid_name(table)
    query = f"SELECT {rowid}, {names} FROM {source} WHERE {rowid} > ? ORDER BY {rowid}"
    point = f"SELECT {rowid}, {names} FROM {source} WHERE {rowid} = ?"
    last, skipped = -(2**63), 0
    while True:
        try:
            for row in _fetch(conn.execute(query, (last,))):
                last = row[0]
                yield row if keep else row[1:]
        except sqlite3.DatabaseError as error:
            reason = error
        else:
            return
        # a batch (and the cursor's look-ahead) loses the rows just before the damage:
        # take them one fresh seek at a time
        while (single := _one(conn, query + " LIMIT 1", last)) is not None:
            last = single[0]
            yield single if keep else single[1:]
        jump = _next_readable(conn, query, last)
        skipped += 1
        errors[table.name] = f"damaged pages skipped {skipped} time(s): {reason}"
        if jump is None:
            return
        last = jump
        # the row at `jump` may open the next page: a range seek from below passes the
        # damaged page, a point look-up goes straight to it
        found = _one(conn, point, jump)
        if found is not None:
            yield found if keep else found[1:]


def _one(conn: sqlite3.Connection, query: str, value: int) -> tuple[Any, ...] | None:
    """Return the first row of a query, or None when there is none or it cannot be read."""
    try:
        row: tuple[Any, ...] | None = conn.execute(query, (value,)).fetchone()
    except sqlite3.DatabaseError:
        return None
    return row


def _fetch(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    """Yield a cursor's rows in batches."""
    while batch := cursor.fetchmany(FETCH_ROWS):
        yield from batch


def _next_readable(conn: sqlite3.Connection, query: str, last: int) -> int | None:
    """Find the smallest rowid start past `last` from which the table reads again.

    Steps grow until a start reads; then a binary search narrows the gap, so the rows on
    the next intact page are not skipped (about 63 probes per damaged page at most).
    """

    def reads(start: int) -> bool:
        try:
            conn.execute(query, (start,)).fetchone()
        except sqlite3.DatabaseError:
            return False
        return True

    step = 1
    while last + step < 2**63 - 1 and not reads(last + step):
        step *= 2
    if last + step >= 2**63 - 1:
        return None
    failing, good = last + step // 2, last + step
    while good - failing > 1:
        middle = (failing + good) // 2
        if reads(middle):
            good = middle
        else:
            failing = middle
    return good
