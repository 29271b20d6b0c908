"""Rebuild a database from an archive's SQL dump or JSON export (the spec's double safety)."""

from __future__ import annotations

import base64
import logging
import math
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson

from src.services import table_kinds
from src.services.exporters import JSON_FORMAT
from src.services.integrity import quote_identifier
from src.services.sandbox import check_schema_sql, run_dump_statement, scratch_database
from src.services.zip_structure import open_zip

logger = logging.getLogger(__name__)


def _lines(archive: Path, member: str) -> Iterator[bytes]:
    """Yield the lines of one archive member, streamed."""
    with open_zip(archive) as zf, zf.open(member) as raw:
        yield from raw


def rebuild_from_sql(
    archive: Path, member: str, target: Path, page_size: int | None = None
) -> None:
    """Run the archive's SQL dump, statement by statement, in a sandbox: a new database.

    Raises:
        UntrustedSQL: a statement a dump of ours never contains (nothing of it ran).
    """
    with closing(scratch_database(target, page_size)) as conn:
        statement = ""
        for raw in _lines(archive, member):
            statement += raw.decode("utf-8")
            if sqlite3.complete_statement(statement):
                run_dump_statement(conn, statement)
                statement = ""
        if statement.strip():
            raise ValueError("the SQL dump ends in the middle of a statement")
        if conn.in_transaction:
            raise ValueError("the SQL dump never commits: it is incomplete")


def _value(value: Any) -> Any:
    """Undo the JSON export's tagging of BLOBs and infinities."""
    if isinstance(value, dict):
        if "$blob" in value:
            return base64.b64decode(value["$blob"])
        if "$real" in value:
            return math.inf if value["$real"] == "Infinity" else -math.inf
        if "$text_hex" in value:  # invalid UTF-8 cannot be bound as TEXT: the nearest text
            return bytes.fromhex(value["$text_hex"]).decode("utf-8", "replace")
    return value


def rebuild_from_json(
    archive: Path, member: str, target: Path, page_size: int | None = None
) -> None:
    """Rebuild a database from the archive's JSON export (schema, then rows, then indexes)."""
    lines = _lines(archive, member)
    head = orjson.loads(next(lines).rstrip().rstrip(b",") + b"}")
    if not isinstance(head, dict) or head.get("format") != JSON_FORMAT:
        raise ValueError("unknown JSON export format")
    if next(lines).strip() != b'"tables":{':
        raise ValueError("the JSON export is not laid out as this tool writes it")
    schema = _checked_schema(head.get("schema"))
    with closing(scratch_database(target, page_size)) as conn:
        conn.execute("BEGIN")
        _create_tables(conn, schema)
        _load_rows(conn, lines)
        for entry in schema:
            if entry["type"] in ("index", "trigger", "view") and entry["sql"]:
                check_schema_sql(entry["type"], entry["sql"])
                conn.execute(entry["sql"])
        conn.execute(f"PRAGMA user_version={int(head['user_version'])}")
        conn.execute(f"PRAGMA application_id={int(head['application_id'])}")
        conn.execute("COMMIT")


def _checked_schema(schema: Any) -> list[dict[str, Any]]:
    """Return the export's schema list after checking its shape (it may be crafted)."""
    if not isinstance(schema, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("type"), str)
        and isinstance(e.get("name"), str)
        and isinstance(e.get("sql"), str | None)
        for e in schema
    ):
        raise ValueError("the JSON export's schema is not a list of type, name and sql")
    return schema


def _create_tables(conn: sqlite3.Connection, schema: list[dict[str, Any]]) -> None:
    """Create the virtual tables first, then every table that does not exist yet.

    A virtual table makes its shadow tables itself, so whatever exists after the first
    pass is left alone; no rule about names decides it (an ordinary `notes_archive` next
    to FTS5 `notes` is created like any other table).
    """
    tables = [
        e
        for e in schema
        if e["type"] == "table" and e["sql"] and not table_kinds.is_internal(e["name"])
    ]
    virtual = [e for e in tables if table_kinds.is_virtual(e["sql"])]
    for entry in (*virtual, *(e for e in tables if e not in virtual)):
        if _exists(conn, entry["name"]):
            continue
        check_schema_sql("table", entry["sql"])
        conn.execute(entry["sql"])


def _exists(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=? COLLATE NOCASE", (name,)
    )
    return found.fetchone() is not None


def _load_rows(conn: sqlite3.Connection, lines: Iterator[bytes]) -> None:
    """Insert each table's rows, batch line by batch line."""
    insert = None
    for raw in lines:
        line = raw.strip()
        if line.startswith(b"["):
            if insert is None:
                raise ValueError("rows before any table in the JSON export")
            rows = orjson.loads(b"[" + line.rstrip(b",") + b"]")
            conn.executemany(insert, ([_value(v) for v in row] for row in rows))
        elif line.startswith(b'"'):
            insert = _table_insert(conn, line)
        elif line not in (b"]}", b"]},", b"}}", b""):
            raise ValueError(f"unexpected line in the JSON export: {line[:80]!r}")


def _table_insert(conn: sqlite3.Connection, line: bytes) -> str:
    """Parse a table header line; return the INSERT for its rows."""
    name_end = line.index(b'":{') + 1
    name = orjson.loads(line[:name_end])
    table = orjson.loads(line[name_end + 1 :] + b"]}")
    if not (
        isinstance(name, str)
        and isinstance(table, dict)
        and isinstance(table.get("columns"), list)
        and all(isinstance(c, str) for c in table["columns"])
        and isinstance(table.get("rowid_first"), bool)
    ):
        raise ValueError("a table header of the JSON export is not laid out as we write it")
    columns = [quote_identifier(c) for c in table["columns"]]
    if table["rowid_first"]:
        taken = {c.lower() for c in table["columns"][1:]}
        columns[0] = next(n for n in ("rowid", "_rowid_", "oid") if n not in taken)
    if name == "sqlite_sequence":
        conn.execute("DELETE FROM sqlite_sequence")  # filled by the inserts; set it exactly
    marks = ",".join("?" * len(columns))
    return f"INSERT INTO {quote_identifier(name)}({','.join(columns)}) VALUES({marks})"
