"""Stream a database as an SQL dump and as a JSON export, table by table, row by row.

The SQL text of each row is built inside SQLite with quote() (about twice as fast as
Python's iterdump here) and keeps rowids, like the CLI's `.dump --preserve-rowids`.
The JSON export keeps every value exactly: 64-bit integers, floats that round-trip,
any Unicode, BLOBs as {"$blob": base64}, infinities as {"$real": "Infinity"}.
"""

from __future__ import annotations

import base64
import math
import sqlite3
from collections.abc import Iterable
from itertools import repeat
from typing import Any, BinaryIO, Protocol

import orjson

from src.services import table_kinds
from src.services.integrity import TableInfo, list_tables, quote_identifier, rowid_name

JSON_FORMAT = "pmo-json-export/1"
CHUNK_BYTES = 1 << 20
FETCH_ROWS = 256  # rows may hold BLOBs of many KB: keep batches small


class Writable(Protocol):
    """A binary stream we write to."""

    def write(self, data: bytes, /) -> int | None:
        """Write bytes."""


class _Buffered:
    """Collect small pieces and write them in chunks of about 1 MB."""

    def __init__(self, out: Writable | BinaryIO) -> None:
        self.out = out
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.out.write(b"".join(self.parts))
            self.parts.clear()
            self.size = 0


def _sql_literal(column: str) -> str:
    """Return an SQL expression that renders one value as an exact SQL literal."""
    c = column
    return (
        f"CASE typeof({c}) "
        f"WHEN 'real' THEN (CASE WHEN {c} = 9e999 THEN '9e999' "
        f"WHEN {c} = -9e999 THEN '-9e999' ELSE quote({c}) END) "
        # quote() stops at a NUL character; hex keeps every byte of such text
        f"WHEN 'text' THEN (CASE WHEN instr({c}, char(0)) "
        f"THEN 'CAST(X''' || hex({c}) || ''' AS TEXT)' ELSE quote({c}) END) "
        f"ELSE quote({c}) END"
    )


def _insert_query(table: TableInfo, utf8: bool = True) -> str:
    """Return a SELECT that yields one INSERT statement per row of `table`."""
    columns = [quote_identifier(c) for c in table.columns]
    selected = list(columns)
    if table.has_rowid and table.rowid_alias is None:
        rowid = rowid_name(table)
        columns.insert(0, rowid)
        selected.insert(0, rowid)
    head = f"INSERT INTO {quote_identifier(table.name)}({','.join(columns)}) VALUES("
    values = " || ',' || ".join(_sql_literal(c) for c in selected)
    head_sql = "'" + head.replace("'", "''") + "'"
    line = f"{head_sql} || {values} || ');'"
    if utf8:  # SQLite hands over the UTF-8 bytes: no decoding and encoding in Python
        line = f"CAST({line} AS BLOB)"
    return f"SELECT {line} FROM {quote_identifier(table.name)}"


def write_sql_dump(conn: sqlite3.Connection, out: Writable | BinaryIO) -> dict[str, int]:
    """Write an SQL script that rebuilds the database; return rows written per table."""
    buffer = _Buffered(out)
    counts: dict[str, int] = {}
    tables = list_tables(conn)
    # a UTF-16 database would hand over UTF-16 bytes; the dump is UTF-8 either way
    utf8 = str(conn.execute("PRAGMA encoding").fetchone()[0]).upper() == "UTF-8"
    buffer.add(b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")
    writable_schema = False
    for table in tables:
        lower = table.name.lower()
        if table_kinds.is_statistics(table.name):
            buffer.add(b"ANALYZE sqlite_master;\n")
            continue
        if lower == "sqlite_sequence":
            buffer.add(b"DELETE FROM sqlite_sequence;\n")
        elif lower.startswith("sqlite_"):
            continue
        elif table.virtual:
            # As the sqlite3 CLI does: register the virtual table without running its
            # constructor; its shadow tables, dumped as plain tables, hold the data.
            if not writable_schema:
                buffer.add(b"PRAGMA writable_schema=ON;\n")
                writable_schema = True
            name = table.name.replace("'", "''")
            sql = table.sql.replace("'", "''")
            buffer.add(
                "INSERT INTO sqlite_master(type,name,tbl_name,rootpage,sql) "
                f"VALUES('table','{name}','{name}',0,'{sql}');\n".encode()
            )
            continue
        else:
            buffer.add(table.sql.encode() + b";\n")
        counts[table.name] = 0
        for (line,) in _rows(conn, _insert_query(table, utf8)):
            buffer.add((line if utf8 else line.encode("utf-8", "surrogatepass")) + b"\n")
            counts[table.name] += 1
    if writable_schema:
        buffer.add(b"PRAGMA writable_schema=OFF;\n")
    for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
        "AND type IN ('index', 'trigger', 'view') ORDER BY rowid"
    ):
        buffer.add(sql.encode() + b";\n")
    for pragma in ("user_version", "application_id"):
        value = int(conn.execute(f"PRAGMA {pragma}").fetchone()[0])
        if value:
            buffer.add(f"PRAGMA {pragma}={value};\n".encode())
    buffer.add(b"COMMIT;\n")
    buffer.flush()
    return counts


def _rows(conn: sqlite3.Connection, query: str) -> Iterable[tuple[Any, ...]]:
    """Yield the rows of a query, fetched in batches so memory stays flat."""
    cursor = conn.execute(query)
    while batch := cursor.fetchmany(FETCH_ROWS):
        yield from batch


def json_default(value: Any) -> Any:
    """Encode what orjson cannot: BLOBs."""
    if isinstance(value, bytes):
        return {"$blob": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot export {type(value).__name__}")


def exact_row(row: tuple[Any, ...]) -> list[Any]:
    """Tag what JSON cannot hold as it is: infinities, TEXT that is not valid UTF-8."""
    return [_exact(v) for v in row]


def _exact(value: Any) -> Any:
    """Tag one value when JSON cannot hold it as it is."""
    if isinstance(value, float) and math.isinf(value):
        return {"$real": "Infinity" if value > 0 else "-Infinity"}
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # invalid UTF-8 in the database, kept byte for byte
            return {"$text_hex": value.encode("utf-8", "surrogateescape").hex()}
    return value


def _dump_rows(rows: list[tuple[Any, ...]]) -> bytes:
    """Serialise a batch of rows as JSON arrays separated by commas, exactly."""
    try:
        data = orjson.dumps(rows, default=json_default)
    except orjson.JSONEncodeError:  # TEXT that is not valid UTF-8
        data = b""
    # orjson writes inf as null; only when the nulls outnumber the NULLs look closer
    if not data or data.count(b"null") != sum(map(tuple.count, rows, repeat(None))):
        data = orjson.dumps([exact_row(row) for row in rows], default=json_default)
    return data[1:-1]


def json_exportable(tables: list[TableInfo]) -> list[TableInfo]:
    """Return the tables the JSON export holds: no shadow or internal statistics tables."""
    return [
        t for t in tables if t.readable and not t.shadow and not table_kinds.is_statistics(t.name)
    ]


def write_json_export(conn: sqlite3.Connection, out: Writable | BinaryIO) -> dict[str, int]:
    """Write every table as JSON (schema first, then rows); return rows per table."""
    buffer = _Buffered(out)
    counts: dict[str, int] = {}
    schema = [
        {"type": t, "name": n, "tbl_name": tn, "sql": s}
        for t, n, tn, s in conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
        )
    ]
    head = {
        "format": JSON_FORMAT,
        "user_version": int(conn.execute("PRAGMA user_version").fetchone()[0]),
        "application_id": int(conn.execute("PRAGMA application_id").fetchone()[0]),
        "encoding": "values are JSON; BLOB {'$blob': base64}; +-Infinity {'$real': ...}; "
        "TEXT that is not UTF-8 {'$text_hex': hex}",
        "schema": schema,
    }
    buffer.add(orjson.dumps(head)[:-1] + b',\n"tables":{')
    for index, table in enumerate(json_exportable(list_tables(conn))):
        with_rowid = table.has_rowid and table.rowid_alias is None
        columns = ([rowid_name(table)] if with_rowid else []) + list(table.columns)
        selected = ([rowid_name(table)] if with_rowid else []) + [
            quote_identifier(c) for c in table.columns
        ]
        prefix = b",\n" if index else b"\n"
        meta = orjson.dumps({"columns": columns, "rowid_first": with_rowid})[:-1]
        buffer.add(prefix + orjson.dumps(table.name) + b":" + meta + b',"rows":[')
        query = f"SELECT {','.join(selected)} FROM {quote_identifier(table.name)}"
        count = 0
        cursor = conn.execute(query)
        # a batch of rows a line: one orjson call per batch is about 20% faster than per row
        while batch := cursor.fetchmany(FETCH_ROWS):
            buffer.add((b"\n" if count == 0 else b",\n") + _dump_rows(batch))
            count += len(batch)
        counts[table.name] = count
        buffer.add(b"\n]}")  # on a line of its own: each batch line parses alone
    buffer.add(b"\n}}\n")
    buffer.flush()
    return counts
