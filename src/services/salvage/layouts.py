"""Layouts: how each table's records map onto its columns, and how well a record fits.

A table's layout is worked out by creating its schema entry in memory (the schema may be
damaged or crafted: it runs sandboxed), named as SQLite names the table its SQL creates.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from src.services import table_kinds
from src.services.integrity import quote_identifier, sqlite_message
from src.services.sandbox import check_schema_sql, guard

Bound = int | None  # a rowid bound; None is unbounded
Row = tuple[int | None, list[Any]]  # (rowid or None, the record's values)
TableRow = tuple[int, list[Any]]  # a row of a rowid table: (rowid, the record's values)


@dataclass(frozen=True)
class SchemaRow:
    """One row of sqlite_master."""

    type: str
    name: str
    tbl_name: str
    rootpage: int
    sql: str | None


@dataclass(frozen=True)
class KeyOrder:
    """How a WITHOUT ROWID table's tree orders one key column."""

    descending: bool
    collation: str  # BINARY, NOCASE, RTRIM (or an application's own)


@dataclass
class Layout:
    """How one table's records map onto its columns."""

    name: str
    root: int
    sql: str
    without_rowid: bool
    stored: list[str]  # the columns in record order
    affinities: list[str]  # per stored column
    insertable: list[bool]  # per stored column (generated columns are not)
    alias: int | None  # record position of the INTEGER PRIMARY KEY (stored as NULL)
    shadow: bool = False
    missing: list[tuple[Bound, Bound]] = field(default_factory=list)  # unread rowid ranges
    # a WITHOUT ROWID table: its primary key, the first `keys` stored columns, how its tree
    # orders each of them (DESC or not, the collation), and the key ranges (low, high: both
    # exclusive, None: no bound) of the pages of its tree that could not be read
    keys: int = 0
    key_order: tuple[KeyOrder, ...] = ()
    missing_keys: list[tuple[list[Any] | None, list[Any] | None]] = field(default_factory=list)


@dataclass
class Lost:
    """A row that could not be placed in a table, with why."""

    page: int
    table: str | None
    rowid: int | None
    reason: str
    values: list[Any]


def build_layouts(schema: list[SchemaRow], notes: list[str] | None = None) -> list[Layout]:
    """Work out each table's record layout by creating its schema in memory.

    Args:
        schema: the rows of sqlite_master, as read (perhaps damaged).
        notes: where to say which entries got no layout, or another name.

    Returns:
        A layout per table SQLite could create, named as SQLite names the created table
        (the recovered database creates it from the same SQL). An entry whose SQL does not
        create a new table has none: its pages are read as pages no table reaches.
    """
    notes = [] if notes is None else notes
    layouts = []
    created: list[tuple[SchemaRow, str]] = []
    with closing(guard(sqlite3.connect(":memory:"))) as conn:  # the schema may be crafted
        for row in schema:
            if row.type != "table" or not row.sql or table_kinds.is_virtual(row.sql):
                continue
            if row.rootpage < 2:
                continue
            if row.name == "sqlite_sequence":
                layouts.append(
                    Layout(
                        row.name,
                        row.rootpage,
                        row.sql,
                        False,
                        ["name", "seq"],
                        ["BLOB", "BLOB"],
                        [True, True],
                        None,
                    )
                )
                continue
            if row.name.startswith("sqlite_"):
                continue  # sqlite_stat*: statistics, made again by ANALYZE
            name = _create(conn, row, notes)
            if name is not None:
                created.append((row, name))
        # shadow tables by the names the recovered database will give them
        entries = [table_kinds.Entry(r.type, r.name, r.sql) for r in schema if r.type == "table"]
        entries += [table_kinds.Entry("table", name, row.sql) for row, name in created]
        shadow_of = table_kinds.shadow_tables(entries)
        layouts += [_layout(conn, row, name, name in shadow_of) for row, name in created]
    return layouts


def _create(conn: sqlite3.Connection, row: SchemaRow, notes: list[str]) -> str | None:
    """Create a schema entry's table in memory; return the name SQLite gave it, or None."""
    before = _table_names(conn)
    try:
        check_schema_sql("table", str(row.sql))
        conn.execute(str(row.sql))
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:  # UntrustedSQL too
        notes.append(
            f"schema entry {row.name!r}: SQLite cannot create its table "
            f"({sqlite_message(error)}); its rows are looked for as unlinked pages"
        )
        return None
    created = _table_names(conn) - before
    if len(created) != 1:  # e.g. IF NOT EXISTS of a table another entry created
        notes.append(
            f"schema entry {row.name!r}: its SQL creates no table of its own; its rows are "
            "looked for as unlinked pages"
        )
        return None
    name = created.pop()
    if name != row.name:  # the name or the SQL is damaged: the SQL decides, as it will
        notes.append(
            f"schema entry {row.name!r} creates the table {name!r}: its rows go into {name!r}"
        )
    return name


def _table_names(conn: sqlite3.Connection) -> set[str]:
    """The tables of a connection's main schema, but SQLite's own (AUTOINCREMENT's first
    table also makes sqlite_sequence)."""
    tables = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {name for (name,) in tables if not table_kinds.is_internal(name)}


def _layout(conn: sqlite3.Connection, row: SchemaRow, table: str, shadow: bool) -> Layout:
    """Read the layout of `table` (created from `row`) from PRAGMA table_xinfo / index_xinfo."""
    name = quote_identifier(table)
    info = conn.execute(f"PRAGMA main.table_xinfo({name})").fetchall()
    # hidden: 2 = VIRTUAL generated (not stored), 3 = STORED generated (stored, not insertable)
    columns = {cid: (col, str(decl or ""), hidden) for cid, col, decl, _nn, _d, _pk, hidden in info}
    without_rowid = bool(
        conn.execute(
            "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?", (table,)
        ).fetchone()[0]
    )
    keys = 0
    key_order: tuple[KeyOrder, ...] = ()
    if without_rowid:
        pk_index = next(
            r[1] for r in conn.execute(f"PRAGMA main.index_list({name})") if r[3] == "pk"
        )
        # seqno, cid, name, desc, collation, key
        xinfo = conn.execute(f"PRAGMA main.index_xinfo({quote_identifier(pk_index)})")
        entries = xinfo.fetchall()
        order = [r[1] for r in entries]
        keys = sum(1 for r in entries if r[5])
        key_order = tuple(KeyOrder(bool(r[3]), str(r[4] or "BINARY")) for r in entries if r[5])
    else:
        order = [cid for cid, (_c, _d, hidden) in columns.items() if hidden != 2]
    stored = [columns[cid] for cid in order]
    alias = None
    if not without_rowid:
        pk = [r for r in info if r[5] > 0]
        origins = [r[3] for r in conn.execute(f"PRAGMA main.index_list({name})")]
        if len(pk) == 1 and str(pk[0][2]).upper() == "INTEGER" and "pk" not in origins:
            alias = order.index(pk[0][0])
    return Layout(
        name=table,
        root=row.rootpage,
        sql=str(row.sql),
        without_rowid=without_rowid,
        stored=[c for c, _d, _h in stored],
        affinities=[affinity(d) for _c, d, _h in stored],
        insertable=[h == 0 for _c, _d, h in stored],
        alias=alias,
        shadow=shadow,
        keys=keys,
        key_order=key_order,
    )


def affinity(declared: str) -> str:
    """SQLite's column affinity for a declared type."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not upper or "BLOB" in upper:
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def rowid_column(layout: Layout) -> str | None:
    """A name for the rowid that no column has (None: all three are columns)."""
    names = {c.lower() for c in layout.stored}
    return next((c for c in ("rowid", "_rowid_", "oid") if c not in names), None)


def fits(values: list[Any], layout: Layout) -> float:
    """How well a record's values fit a table's column affinities.

    0.0 when a value cannot be in such a column at all (a number in a TEXT column,
    a value in a rowid alias column); otherwise the mean of 1 per value of the
    column's own kind and 0.5 per value that is possible but unusual there.
    """
    if len(values) > len(layout.stored):
        return 0.0
    if layout.alias is not None and layout.alias < len(values) and values[layout.alias] is not None:
        return 0.0
    total = 0.0
    for value, kind in zip(values, layout.affinities, strict=False):
        score = _fit(value, kind)
        if score == 0.0:
            return 0.0
        total += score
    return total / max(len(values), 1)


def _fit(value: Any, kind: str) -> float:
    """1 for a value of the column's own kind, 0.5 for a possible one, 0 for an impossible one."""
    if value is None or kind == "BLOB":
        return 1.0
    if kind == "TEXT":
        return 1.0 if isinstance(value, str) else 0.5 if isinstance(value, bytes) else 0.0
    if isinstance(value, int):
        return 1.0
    if isinstance(value, float):
        return 0.5 if kind == "INTEGER" else 1.0
    if isinstance(value, str) and _numeric(value):
        return 0.0  # a numeric column would have stored it as a number
    return 0.5


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _numeric(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text))
