"""SQLite's own reader copying the whole leaves of a damaged file (far faster than decoding
each row in Python).

The tree walk (`btree.TreeReader`) finds the leaves that are whole: plain cells in rowid
order, inside the range their parent gives, filling their page exactly. For each, SQLite
copies rowids first..last (`count` of them) with one INSERT ... SELECT from the damaged
file, attached read-only and immutable to the new database's connection.

One danger makes the order of things matter: when SQLite meets damage while the new
database's transaction is open, that whole transaction is lost (SQLite 3.40 refuses every
later statement of it, COMMIT too). So a second connection, on the damaged file alone,
first reads the same rows (`probe`); only when it reads exactly `count` rows without an
error does the copy run. It reads the same pages by the same path, so the copy cannot
meet what the probe did not. Should it all the same (`SourceUnreadable`), the salvage
starts again without SQLite's reader.

SQLite reads the file only when it sees what the salvage reads: a header whose page count
the file holds, UTF-8, no -wal or journal applied (`run._sqlite_reads_it`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from src.services import table_kinds
from src.services.integrity import open_readonly, quote_identifier
from src.services.salvage.layouts import Layout
from src.services.sandbox import guard

ALIAS = "salvage_source"  # the damaged file's name on the new database's connection


class SourceUnreadable(Exception):
    """SQLite met damage inside the new database's transaction, which is then lost: no
    reader may take it for one damaged page (it ends the salvage's first attempt)."""


@dataclass(frozen=True)
class CopyPlan:
    """One table's statements: the probe (on the damaged file) and the copy (into the new
    database); both take (first rowid, last rowid, count)."""

    table: str
    probe: str
    copy: str


class SqliteSource:
    """The damaged file as SQLite reads it: its tables, and a connection to probe leaves."""

    def __init__(self, path: Path) -> None:
        """Open the file read-only and immutable (SQLite reads the main file only, as it
        is: no -wal, no journal, no lock) and read its tables.

        Raises:
            sqlite3.DatabaseError: SQLite cannot read its schema (the salvage then reads
                every row itself).
        """
        self.uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
        self.conn = guard(open_readonly(path, immutable=True))
        try:
            self.tables = self._tables()
        except BaseException:
            self.conn.close()
            raise

    def _tables(self) -> dict[str, tuple[int, list[tuple[str, int]]]]:
        """Lower-case name -> (root page, columns (lower-case name, hidden))."""
        found = {}
        rows = self.conn.execute("SELECT name, rootpage FROM sqlite_master WHERE type = 'table'")
        for name, root in rows.fetchall():
            info = self.conn.execute(f"PRAGMA table_xinfo({quote_identifier(str(name))})")
            columns = [(str(r[1]).lower(), int(r[6])) for r in info]
            found[str(name).lower()] = (int(root or 0), columns)
        return found

    def plan(self, layout: Layout, made: list[tuple[str, int]]) -> CopyPlan | None:
        """The statements that copy a table's leaves, or None when SQLite may not: a table
        of another kind (shadow, WITHOUT ROWID, internal), another root page in SQLite's
        schema, or other columns there than the new table has (`made`)."""
        if layout.shadow or layout.without_rowid or table_kinds.is_internal(layout.name):
            return None
        there = self.tables.get(layout.name.lower())
        if there is None or there[0] != layout.root or there[1] != made or not layout.stored:
            return None
        alias = None
        if layout.alias is not None:
            if layout.alias >= len(layout.stored):
                return None
            alias = layout.stored[layout.alias]
        names = {c.lower() for c in layout.stored}
        key = alias or next((c for c in ("rowid", "_rowid_", "oid") if c not in names), None)
        if key is None:
            return None
        columns = [
            quote_identifier(c)
            for c, ok in zip(layout.stored, layout.insertable, strict=False)
            if ok
        ]
        if alias is None:
            columns.insert(0, key)
        listed = ",".join(columns)
        table = quote_identifier(layout.name)
        where = f"WHERE {quote_identifier(key)} BETWEEN ? AND ? LIMIT ?"
        last = quote_identifier(layout.stored[-1])  # reading it reads the whole header
        return CopyPlan(
            table=layout.name,
            probe=f"SELECT count(typeof(v)) FROM (SELECT {last} AS v FROM {table} {where})",
            copy=f"INSERT INTO main.{table}({listed}) SELECT {listed} FROM {ALIAS}.{table} {where}",
        )

    def probe(self, plan: CopyPlan, bounds: tuple[int, int, int]) -> bool:
        """Tell whether SQLite reads exactly `count` rows first..last without an error."""
        try:
            return bool(self.conn.execute(plan.probe, bounds).fetchone()[0] == bounds[2])
        except (sqlite3.DatabaseError, UnicodeDecodeError):
            return False

    def close(self) -> None:
        self.conn.close()


def open_source(path: Path | None) -> SqliteSource | None:
    """The damaged file for SQLite's reader, or None (none given, or its schema unreadable)."""
    if path is None:
        return None
    try:
        return SqliteSource(path)
    except (sqlite3.DatabaseError, UnicodeDecodeError, ValueError, OSError):
        return None
