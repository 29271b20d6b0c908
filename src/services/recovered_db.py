"""The new database a repair writes: salvaged rows in, rejected rows to lost_and_found."""

from __future__ import annotations

import marshal
import os
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from src.errors import disk_error
from src.services import table_kinds
from src.services.integrity import quote_identifier
from src.services.page_salvage import Layout, Lost, Row, SchemaRow
from src.services.sandbox import check_schema_sql, guard

BATCH = 500
_CONTENT_OPTION = re.compile(r"\bcontent\s*=\s*(['\"]?)([^'\",)\s]*)\1", re.I)


class RecoveredDatabase:
    """A new database, filled in one transaction; closed by `finish`."""

    def __init__(self, path: Path, page_size: int) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute(f"PRAGMA page_size={int(page_size)}")
        self.conn.execute("PRAGMA journal_mode=OFF")  # a new file: a crash leaves it unlisted
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA temp_store=FILE")
        # the schema comes from a damaged file, perhaps a crafted one: it runs sandboxed
        guard(self.conn, also=frozenset({sqlite3.SQLITE_DROP_TEMP_TABLE}))
        self.conn.execute("BEGIN")
        self.conn.execute("CREATE TEMP TABLE lost(page, tbl, row_id, reason, nfield, vals BLOB)")
        self._statements: dict[tuple[str, int, bool], str] = {}
        self.not_recreated: list[str] = []
        self.lost_rows = 0

    def create_tables(self, layouts: list[Layout]) -> None:
        """Create the ordinary tables (shadow tables come with their virtual table)."""
        for layout in layouts:
            if not layout.shadow and not table_kinds.is_internal(layout.name):
                check_schema_sql("table", layout.sql)
                self.conn.execute(layout.sql)

    def insert(self, layout: Layout, rows: Iterable[Row], page: int = 0) -> int:
        """Insert rows into a table; rows it does not accept go to lost_and_found."""
        done = 0
        batch: list[Row] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                done += self._flush(layout, batch, page)
                batch = []
        return done + (self._flush(layout, batch, page) if batch else 0)

    def _flush(self, layout: Layout, batch: list[Row], page: int) -> int:
        groups: dict[int, list[tuple[Any, ...]]] = {}
        for rowid, values in batch:
            if len(values) > len(layout.stored):
                self.lose(Lost(page, layout.name, rowid, "more values than columns", values))
                continue
            groups.setdefault(len(values), []).append(self._parameters(layout, rowid, values))
        done = 0
        for width, params in groups.items():
            sql = self._statement(layout, width)
            self.conn.execute("SAVEPOINT batch")
            try:
                self.conn.executemany(sql, params)
                self.conn.execute("RELEASE batch")
                done += len(params)
                continue
            except sqlite3.DatabaseError as error:
                if disk_error(error) is not None:  # a full disk (SQLite rolled back): stop
                    raise
                self.conn.execute("ROLLBACK TO batch")
                self.conn.execute("RELEASE batch")
            for one in params:
                try:
                    self.conn.execute(sql, one)
                    done += 1
                except sqlite3.DatabaseError as error:
                    if disk_error(error) is not None:  # no row of it is lost: nothing fits
                        raise
                    self.lose(Lost(page, layout.name, None, f"refused: {error}", list(one)))
        return done

    def _parameters(self, layout: Layout, rowid: int | None, values: list[Any]) -> tuple[Any, ...]:
        values = list(values)
        if layout.alias is not None and layout.alias < len(values):
            values[layout.alias] = rowid
        kept = [v for v, ok in zip(values, layout.insertable, strict=False) if ok]
        if _keeps_rowid(layout):
            kept.insert(0, rowid)
        return tuple(kept)

    def _statement(self, layout: Layout, width: int) -> str:
        key = (layout.name, width, _keeps_rowid(layout))
        if key not in self._statements:
            columns = [
                quote_identifier(c)
                for c, ok in zip(layout.stored[:width], layout.insertable, strict=False)
                if ok
            ]
            if key[2]:
                columns.insert(0, str(_rowid_name(layout)))
            table = quote_identifier(layout.name)
            marks = ",".join("?" * len(columns))
            self._statements[key] = f"INSERT INTO {table}({','.join(columns)}) VALUES({marks})"
        return self._statements[key]

    def lose(self, lost: Lost) -> None:
        """Keep a row that has no table to go to."""
        self.lost_rows += 1
        self.conn.execute(
            "INSERT INTO temp.lost VALUES(?,?,?,?,?,?)",
            (
                lost.page,
                lost.table,
                lost.rowid,
                lost.reason,
                len(lost.values),
                marshal.dumps(lost.values),
            ),
        )

    def sequences(self, rows: Iterable[Row]) -> None:
        """Put AUTOINCREMENT counters back (never below what the rows need)."""
        if not self._has("sqlite_sequence"):
            return
        for _rowid, values in rows:
            if len(values) == 2 and isinstance(values[1], int):
                name, seq = values
                self.conn.execute(
                    "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (seq, name)
                )
                if not self.conn.execute("SELECT changes()").fetchone()[0]:
                    self.conn.execute("INSERT INTO sqlite_sequence VALUES(?, ?)", (name, seq))

    def virtual_table(self, row: SchemaRow, content: Layout | None, rows: Iterable[Row]) -> str:
        """Create a virtual table and fill it again; say how."""
        try:
            check_schema_sql("table", str(row.sql))
            self.conn.execute(str(row.sql))
        except sqlite3.DatabaseError as error:  # UntrustedSQL too
            self.not_recreated.append(f"table {row.name}: {error}")
            return "not recreated"
        name = quote_identifier(row.name)
        option = _CONTENT_OPTION.search(str(row.sql))
        if option and option.group(2):  # external content: the index is built from that table
            self.conn.execute(f"INSERT INTO {name}({name}) VALUES('rebuild')")
            return f"rebuilt from {option.group(2)}"
        if option or content is None:
            return "recreated empty (it keeps no content of its own)"
        columns = [r[1] for r in self.conn.execute(f"PRAGMA table_xinfo({name})") if r[6] == 0]
        sql = (
            f"INSERT INTO {name}(rowid,{','.join(quote_identifier(c) for c in columns)}) "
            f"VALUES({','.join('?' * (len(columns) + 1))})"
        )
        count = 0
        for rowid, values in rows:
            try:
                self.conn.execute(sql, (rowid, *values[1 : len(columns) + 1]))
                count += 1
            except sqlite3.DatabaseError as error:
                self.lose(Lost(0, row.name, rowid, f"refused: {error}", values))
        return f"refilled with {count} rows from {content.name}"

    def schema_objects(self, schema: list[SchemaRow]) -> None:
        """Create the indexes (rebuilt from the rows), views and triggers."""
        for kind in ("index", "view", "trigger"):
            for row in schema:
                if row.type != kind or not row.sql:
                    continue
                try:
                    check_schema_sql(kind, row.sql)
                    self.conn.execute(row.sql)
                except sqlite3.DatabaseError as error:  # e.g. salvaged rows break UNIQUE
                    self.not_recreated.append(f"{kind} {row.name}: {error}")

    def finish(self, user_version: int, application_id: int, *, wal: bool = False) -> None:
        """Write lost_and_found and the header values, commit, and sync the file to disk."""
        widest = self.conn.execute("SELECT max(nfield) FROM temp.lost").fetchone()[0]
        if widest is not None:
            columns = "".join(f", c{i}" for i in range(widest))
            self.conn.execute(
                "CREATE TABLE lost_and_found(id INTEGER PRIMARY KEY, page INTEGER, "
                f"table_guess TEXT, row_id INTEGER, reason TEXT, nfield INTEGER{columns})"
            )
            marks = ",".join("?" * (widest + 5))
            insert = f"INSERT INTO lost_and_found VALUES(NULL,{marks})"
            for page, table, rowid, reason, nfield, blob in self.conn.execute(
                "SELECT * FROM temp.lost"
            ):
                values = marshal.loads(blob)  # noqa: S302 - written by lose() above
                self.conn.execute(
                    insert,
                    (page, table, rowid, reason, nfield, *values, *[None] * (widest - nfield)),
                )
        self.conn.execute("DROP TABLE temp.lost")
        self.conn.execute(f"PRAGMA user_version={int(user_version)}")
        self.conn.execute(f"PRAGMA application_id={int(application_id)}")
        self.conn.execute("COMMIT")
        if wal:  # the live database was in WAL mode: so is its replacement
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.close()
        with self.path.open("rb+") as handle:
            os.fsync(handle.fileno())

    def _has(self, table: str) -> bool:
        found = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,))
        return found.fetchone() is not None

    def abort(self) -> None:
        """Close and delete the unfinished file."""
        self.conn.close()
        self.path.unlink(missing_ok=True)


def _rowid_name(layout: Layout) -> str | None:
    """A name for the rowid that no column has (None: all three are columns)."""
    names = {c.lower() for c in layout.stored}
    return next((c for c in ("rowid", "_rowid_", "oid") if c not in names), None)


def _keeps_rowid(layout: Layout) -> bool:
    """Tell whether inserts name the rowid apart from the columns."""
    return layout.alias is None and not layout.without_rowid and _rowid_name(layout) is not None
