"""Export every table as readable JSON files: one per table and a summary, streamed."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from src.services.exporters import FETCH_ROWS, exact_row, json_default
from src.services.integrity import (
    TableInfo,
    list_tables,
    open_readonly,
    quote_identifier,
    rowid_name,
)

logger = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """What an export wrote."""

    folder: Path
    rows: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # table: why it stopped early
    files: dict[str, str] = field(default_factory=dict)  # table: file name

    @property
    def complete(self) -> bool:
        """Tell whether every table was read to its end."""
        return not self.errors


def _file_name(name: str, used: set[str]) -> str:
    """Return a safe, unique file name for a table."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "table"
    if len(base) > 100:  # file systems allow about 255 bytes a name
        base = f"{base[:80]}_{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    candidate, number = f"{base}.json", 1
    while candidate.lower() in used:
        number += 1
        candidate = f"{base}_{number}.json"
    used.add(candidate.lower())
    return candidate


def export_tables(db: Path, folder: Path, exported_at: str) -> ExportResult:
    """Write every readable row of every table to `folder`, a JSON file per table.

    A table that fails part-way keeps the rows read before the failure; the summary
    says where each one stopped. The database is opened read-only.

    Args:
        db: the database (never created or changed).
        folder: a new folder for the files.
        exported_at: the time to record in the summary.

    Returns:
        Rows written per table, and the tables that stopped early with the reason.
    """
    with closing(open_readonly(db)) as conn:
        tables = list_tables(conn)  # before the folder exists: an unreadable file leaves none
        folder.mkdir(parents=True, exist_ok=False)
        result = ExportResult(folder)
        used: set[str] = {"summary.json"}
        for table in tables:
            if not table.readable or table.shadow or table.name.lower().startswith("sqlite_stat"):
                continue
            result.files[table.name] = _file_name(table.name, used)
            _export_table(conn, table, folder / result.files[table.name], result)
    summary = {
        "database": str(db),
        "exported_at": exported_at,
        "complete": result.complete,
        "tables": {
            name: {"file": result.files[name], "rows": rows, "error": result.errors.get(name)}
            for name, rows in result.rows.items()
        },
        "encoding": "UTF-8; BLOB values as {'$blob': base64}; +-Infinity as {'$real': ...}; "
        "TEXT that is not valid UTF-8 as {'$text_hex': hex}",
    }
    (folder / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    logger.info("export of %s to %s: %s", db, folder, result.rows)
    return result


def _export_table(
    conn: sqlite3.Connection, table: TableInfo, target: Path, result: ExportResult
) -> None:
    """Stream one table into its file, one row object a line; skip past damaged pages."""
    columns = list(table.columns)
    count = 0
    with target.open("wb") as out:
        out.write(orjson.dumps({"table": table.name, "columns": columns})[:-1] + b',"rows":[')
        for row in _readable_rows(conn, table, result):
            out.write((b"\n" if count == 0 else b",\n") + _row_object(columns, row))
            count += 1
        out.write(b"\n]}\n")
    result.rows[table.name] = count


def _readable_rows(
    conn: sqlite3.Connection, table: TableInfo, result: ExportResult
) -> Iterator[tuple[Any, ...]]:
    """Yield the table's rows; where a page is damaged, seek past it by rowid."""
    names = ",".join(quote_identifier(c) for c in table.columns)
    source = quote_identifier(table.name)
    if not table.has_rowid or table.virtual:
        try:
            yield from _fetch(conn.execute(f"SELECT {names} FROM {source}"))
        except sqlite3.DatabaseError as error:
            result.errors[table.name] = f"stopped part-way: {error}"
        return
    rowid = rowid_name(table)
    query = f"SELECT {rowid}, {names} FROM {source} WHERE {rowid} > ? ORDER BY {rowid}"
    point = f"SELECT {rowid}, {names} FROM {source} WHERE {rowid} = ?"
    last, skipped = -(2**63), 0
    while True:
        try:
            for row in _fetch(conn.execute(query, (last,))):
                last = row[0]
                yield row[1:]
        except sqlite3.DatabaseError as error:
            reason = error
        else:
            return
        # a batch (and the cursor's look-ahead) loses the rows just before the damage:
        # take them one fresh seek at a time
        while (single := _one(conn, query + " LIMIT 1", last)) is not None:
            last = single[0]
            yield single[1:]
        jump = _next_readable(conn, query, last)
        skipped += 1
        result.errors[table.name] = f"damaged pages skipped {skipped} time(s): {reason}"
        if jump is None:
            return
        last = jump
        # the row at `jump` may open the next page: a range seek from below passes the
        # damaged page, a point look-up goes straight to it
        found = _one(conn, point, jump)
        if found is not None:
            yield found[1:]


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


def _row_object(columns: list[str], row: tuple[Any, ...]) -> bytes:
    """Serialise one row as a JSON object keyed by column name, exactly."""
    try:
        data = orjson.dumps(dict(zip(columns, row, strict=True)), default=json_default)
    except orjson.JSONEncodeError:  # TEXT that is not valid UTF-8
        data = b""
    if not data or data.count(b"null") != row.count(None):  # orjson writes inf as null
        data = orjson.dumps(dict(zip(columns, exact_row(row), strict=True)), default=json_default)
    return data
