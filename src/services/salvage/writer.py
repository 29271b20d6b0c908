"""The new database a repair writes: salvaged rows in, rejected rows to lost_and_found."""

from __future__ import annotations

import marshal
import os
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

from src.errors import disk_error
from src.services import table_kinds
from src.services.integrity import quote_identifier, sqlite_message
from src.services.salvage.layouts import Bound, Layout, Lost, Row, SchemaRow, rowid_column
from src.services.salvage.sqlite_copy import (
    ALIAS,
    CopyPlan,
    SourceUnreadable,
    SqliteSource,
    TextCheck,
)
from src.services.sandbox import check_schema_sql, guard

BATCH = 500
_OWN_DROPS = frozenset({sqlite3.SQLITE_DROP_TEMP_TABLE})  # its bookkeeping table
# dropping a virtual table drops its shadow tables too
_VIRTUAL_TABLE_DROPS = frozenset({sqlite3.SQLITE_DROP_VTABLE, sqlite3.SQLITE_DROP_TABLE})
_LOST_OWN_COLUMNS = 6  # id, page, table_guess, row_id, reason, nfield
_LIMIT_COLUMN = getattr(sqlite3, "SQLITE_LIMIT_COLUMN", 2)
_LIMIT_VARIABLE_NUMBER = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", 9)


class RecoveredDatabase:
    """A new database, filled in one transaction; closed by `finish`."""

    def __init__(self, path: Path, page_size: int, source: SqliteSource | None = None) -> None:
        """Create the database at `path`.

        Args:
            path: the new file.
            page_size: the damaged file's page size (the new file's).
            source: the damaged file, when SQLite may read it itself as it is on disk:
                its whole leaves are then copied by SQLite's own reader (`copier`), far
                faster than row by row (see `sqlite_copy`).
        """
        self.path = path
        # a URI connection: the source is attached as an immutable, read-only URI
        self.conn = sqlite3.connect(path.resolve().as_uri(), uri=True, isolation_level=None)
        self.conn.execute(f"PRAGMA page_size={int(page_size)}")
        # a journal, so that ROLLBACK TO a batch's savepoint really undoes its rows (with
        # journal_mode=OFF it does nothing, and the rows retried one by one were refused
        # as duplicates); in memory: a new file that a crash leaves unlisted needs no more
        self.conn.execute("PRAGMA main.journal_mode=MEMORY")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA temp_store=FILE")
        self._source = source
        self._texts: TextCheck | None = None
        if source is not None:  # before the guard, which refuses ATTACH
            self.conn.execute(f"ATTACH ? AS {ALIAS}", (source.uri,))
            self._texts = TextCheck(source.path)
        # the schema comes from a damaged file, perhaps a crafted one: it runs sandboxed
        readable = frozenset({ALIAS}) if source is not None else frozenset()
        guard(self.conn, also=_OWN_DROPS, readable=readable)
        self.conn.execute("BEGIN")
        self.conn.execute("CREATE TEMP TABLE lost(page, tbl, row_id, reason, nfield, vals BLOB)")
        self._statements: dict[tuple[str, int, bool], str] = {}
        self._shapes: dict[str, tuple[bool, bool]] = {}
        self.not_recreated: list[str] = []
        self.lost_rows = 0
        self.lost_table = "lost_and_found"
        self.copied: dict[str, int] = {}  # rows SQLite's reader copied, per table

    def create_tables(self, layouts: list[Layout]) -> None:
        """Create the ordinary tables (shadow tables come with their virtual table)."""
        for layout in layouts:
            if layout.shadow or table_kinds.is_internal(layout.name):
                continue
            try:
                check_schema_sql("table", layout.sql)
                self.conn.execute(layout.sql)
            except sqlite3.DatabaseError as error:  # its rows are then refused: lost_and_found
                if disk_error(error) is not None:
                    raise
                self.not_recreated.append(f"table {layout.name}: {sqlite_message(error)}")
        # committed (to a file nobody lists yet): after a schema change in the open
        # transaction, every ROLLBACK TO makes SQLite read all schemas again, the
        # damaged file's too, which may then no longer load
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    def insert(self, layout: Layout, rows: Iterable[Row], page: int = 0, origin: str = "") -> int:
        """Insert rows into a table; rows it does not accept go to lost_and_found (their
        reason names `origin`, where they came from, when it is not the file's `page`)."""
        done = 0
        batch: list[Row] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                done += self._flush(layout, batch, page, origin)
                batch = []
        return done + (self._flush(layout, batch, page, origin) if batch else 0)

    def _flush(self, layout: Layout, batch: list[Row], page: int, origin: str) -> int:
        groups: dict[int, list[tuple[int | None, list[Any]]]] = {}
        for rowid, values in batch:
            if len(values) > len(layout.stored):
                self.lose(Lost(page, layout.name, rowid, "more values than columns", values))
                continue
            groups.setdefault(len(values), []).append((rowid, values))
        done = 0
        for width, rows in groups.items():
            sql = self._statement(layout, width)
            params = [self._parameters(layout, rowid, values) for rowid, values in rows]
            self.conn.execute("SAVEPOINT batch")
            try:
                self.conn.executemany(sql, params)
                self.conn.execute("RELEASE batch")
                done += len(params)
                continue
            except sqlite3.DatabaseError as error:
                if disk_error(error) is not None:  # a full disk (SQLite rolled back): stop
                    raise
                self.conn.execute("ROLLBACK TO batch")  # none of the batch is kept
                self.conn.execute("RELEASE batch")
            for (rowid, values), one in zip(rows, params, strict=True):
                try:
                    self.conn.execute(sql, one)
                    done += 1
                except sqlite3.DatabaseError as error:
                    if disk_error(error) is not None:  # no row of it is lost: nothing fits
                        raise
                    reason = f"{origin + ': ' if origin else ''}refused: {error}"
                    self.lose(Lost(page, layout.name, rowid, reason, values))
        return done

    def _parameters(self, layout: Layout, rowid: int | None, values: list[Any]) -> tuple[Any, ...]:
        keeps, every = self._shapes.get(layout.name) or self._shape(layout)
        if layout.alias is not None and layout.alias < len(values):
            values = list(values)
            values[layout.alias] = rowid
        if not every:  # generated columns take no value
            values = [v for v, ok in zip(values, layout.insertable, strict=False) if ok]
        return (rowid, *values) if keeps else tuple(values)

    def _shape(self, layout: Layout) -> tuple[bool, bool]:
        """Whether inserts into a table name its rowid, and take a value for every column."""
        shape = (_keeps_rowid(layout), all(layout.insertable))
        self._shapes[layout.name] = shape
        return shape

    def _statement(self, layout: Layout, width: int) -> str:
        key = (layout.name, width, _keeps_rowid(layout))
        if key not in self._statements:
            columns = [
                quote_identifier(c)
                for c, ok in zip(layout.stored[:width], layout.insertable, strict=False)
                if ok
            ]
            if key[2]:
                columns.insert(0, str(rowid_column(layout)))
            table = quote_identifier(layout.name)
            marks = ",".join("?" * len(columns))
            self._statements[key] = f"INSERT INTO {table}({','.join(columns)}) VALUES({marks})"
        return self._statements[key]

    def copier(self, layout: Layout) -> Callable[[int, int, int, Bound, Bound], bool] | None:
        """How SQLite's own reader copies a whole leaf of one table (first rowid, last
        rowid, count: True when it did), or None when it may not (`SqliteSource.plan`)."""
        if self._source is None:
            return None
        plan = self._source.plan(layout, self._columns(layout.name))
        if plan is None:
            return None
        source = self._source

        texts = self._texts

        def copy(first: int, last: int, count: int, low: Bound, high: Bound) -> bool:
            bounds = (first, last, count)
            if not (source.probe(plan, bounds) and self.copy_rows(plan, bounds)):
                return False
            if texts is not None:  # its texts are looked at beside the walk (`mend_texts`)
                texts.check(plan, bounds, (low, high))
            return True

        return copy

    def copy_rows(self, plan: CopyPlan, bounds: tuple[int, int, int]) -> bool:
        """Copy one leaf's rows (first..last rowid, `count` of them) that the probe read.

        Kept only when SQLite inserted exactly those rows; undone when a row is refused
        (the caller then reads the leaf row by row).

        Raises:
            SourceUnreadable: SQLite met damage all the same: this transaction is lost.
        """
        self.conn.execute("SAVEPOINT copy")
        try:
            done = self.conn.execute(plan.copy, bounds).rowcount
        except sqlite3.IntegrityError:  # a row refused (the statement's rows are undone)
            done = -1
        except sqlite3.DatabaseError as error:
            if disk_error(error) is not None:
                raise
            raise SourceUnreadable(f"SQLite could not read table {plan.table}: {error}") from None
        if done != bounds[2]:
            self.conn.execute("ROLLBACK TO copy")
        self.conn.execute("RELEASE copy")
        if done == bounds[2]:
            self.copied[plan.table] = self.copied.get(plan.table, 0) + done
        return done == bounds[2]

    def mend_texts(self) -> list[str]:
        """Make the texts SQLite's reader copied valid UTF-8, as the row reader's are (each
        byte that is no UTF-8 becomes U+FFFD); return what could not be looked at. Called
        once, after the last copy and before any trigger is made."""
        if self._texts is None:
            return []
        texts, self._texts = self._texts, None
        for mend in texts.finish():
            table = quote_identifier(mend.table)
            self.conn.execute(
                f"UPDATE main.{table} SET {mend.column} = ? WHERE {mend.key} = ?",
                (mend.text, mend.rowid),
            )
        return texts.errors

    def _columns(self, table: str) -> list[tuple[str, int]]:
        """The new table's columns (name, hidden), as SQLite made them; [] when not made."""
        try:
            info = self.conn.execute(f"PRAGMA main.table_xinfo({quote_identifier(table)})")
            return [(str(r[1]).lower(), int(r[6])) for r in info]
        except sqlite3.DatabaseError:
            return []

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
        """Create a virtual table and fill it again; say how.

        It is made in memory first: the file is written without a journal, so a creation
        that failed here (a shadow table's name taken) would leave half of it behind. One
        that cannot be filled or read (damaged SQL names no content table) is dropped again.
        """
        try:
            check_schema_sql("table", str(row.sql))
            name, makes = _virtual_tables_made(str(row.sql))
        except (sqlite3.DatabaseError, UnicodeDecodeError) as error:  # UntrustedSQL too
            self.not_recreated.append(f"table {row.name}: {sqlite_message(error)}")
            return "not recreated"
        taken = sorted(makes & {n.lower() for n in self._table_names()})
        if name is None or taken:
            why = f"the names it needs are taken: {', '.join(taken)}" if taken else "no table here"
            self.not_recreated.append(f"table {row.name}: {why}")
            return "not recreated"
        self.conn.execute(str(row.sql))
        try:
            how = self._refill(name, str(row.sql), content, rows)
            # a table every read of which fails (its content table is gone) is not kept
            self.conn.execute(f"SELECT * FROM {quote_identifier(name)} LIMIT 1").fetchall()
        except sqlite3.DatabaseError as error:
            if disk_error(error) is not None:
                raise
            self._drop(name)
            self.not_recreated.append(
                f"table {row.name}: could not be filled again ({sqlite_message(error)})"
            )
            return "not recreated"
        return how

    def _table_names(self) -> list[str]:
        """Every name in the recovered database's schema so far."""
        return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")]

    def _drop(self, table: str) -> None:
        """Drop a virtual table this repair created (only then may this connection drop one)."""
        guard(self.conn, also=_OWN_DROPS | _VIRTUAL_TABLE_DROPS)
        try:
            self.conn.execute(f"DROP TABLE {quote_identifier(table)}")
        finally:
            guard(self.conn, also=_OWN_DROPS)

    def _refill(self, table: str, sql: str, content: Layout | None, rows: Iterable[Row]) -> str:
        """Fill a created virtual table from its content rows, or rebuild it from its table."""
        name = quote_identifier(table)
        option = table_kinds.content_option(sql)
        if option:  # external content: the index is built from that table
            self.conn.execute(f"INSERT INTO {name}({name}) VALUES('rebuild')")
            return f"rebuilt from {option}"
        if option is not None or content is None:
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
                self.lose(Lost(0, table, rowid, f"refused: {error}", values))
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
                # e.g. salvaged rows break UNIQUE, or the damaged SQL names no table
                except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
                    if disk_error(error) is not None:
                        raise
                    self.not_recreated.append(f"{kind} {row.name}: {sqlite_message(error)}")

    def finish(self, user_version: int, application_id: int, *, wal: bool = False) -> None:
        """Write lost_and_found and the header values, commit, and sync the file to disk."""
        self._write_lost()
        self.conn.execute("DROP TABLE temp.lost")
        self.conn.execute(f"PRAGMA user_version={int(user_version)}")
        self.conn.execute(f"PRAGMA application_id={int(application_id)}")
        self.conn.execute("COMMIT")
        if self._source is not None:  # (the guard refuses DETACH: no untrusted SQL is left)
            self.conn.set_authorizer(None)
            self.conn.execute(f"DETACH {ALIAS}")
            self._source.close()
        if wal:  # the live database was in WAL mode: so is its replacement
            self.conn.execute("PRAGMA main.journal_mode=WAL")
        self.conn.close()
        with self.path.open("rb+") as handle:
            os.fsync(handle.fileno())

    def _write_lost(self) -> None:
        """Create lost_and_found from the kept rows: one column per value, as SQLite allows."""
        widest = self.conn.execute("SELECT max(nfield) FROM temp.lost").fetchone()[0]
        if widest is None:
            return
        # a damaged record can claim thousands of values; nfield says how many it had
        widest = min(widest, _value_columns(self.conn))
        columns = "".join(f", c{i}" for i in range(widest))
        # the damaged database can have one already (from a repair that was applied)
        taken = {name.lower() for name in self._table_names()}
        number = 1
        while self.lost_table.lower() in taken:
            number += 1
            self.lost_table = f"lost_and_found_{number}"
        table = quote_identifier(self.lost_table)
        self.conn.execute(
            f"CREATE TABLE {table}(id INTEGER PRIMARY KEY, page INTEGER, "
            f"table_guess TEXT, row_id INTEGER, reason TEXT, nfield INTEGER{columns})"
        )
        insert = f"INSERT INTO {table} VALUES(NULL,{','.join('?' * (widest + 5))})"
        for page, guess, rowid, reason, nfield, blob in self.conn.execute(
            "SELECT * FROM temp.lost"
        ):
            values = marshal.loads(blob)[:widest]  # noqa: S302 - written by lose() above
            self.conn.execute(
                insert,
                (page, guess, rowid, reason, nfield, *values, *[None] * (widest - len(values))),
            )

    def _has(self, table: str) -> bool:
        found = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,))
        return found.fetchone() is not None

    def abort(self) -> None:
        """Close and delete the unfinished file."""
        if self._texts is not None:
            self._texts.finish()
        self.conn.close()
        if self._source is not None:
            self._source.close()
        self.path.unlink(missing_ok=True)


def _virtual_tables_made(sql: str) -> tuple[str | None, set[str]]:
    """Run a CREATE VIRTUAL TABLE in memory; return the virtual table's name and the names
    (lower case) of every table it makes."""
    with closing(guard(sqlite3.connect(":memory:"))) as scratch:
        scratch.execute(sql)
        made = scratch.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'table'")
        tables = made.fetchall()
    name = next((n for n, s in tables if table_kinds.is_virtual(s)), None)
    return name, {n.lower() for n, _s in tables}


def _value_columns(conn: sqlite3.Connection) -> int:
    """How many value columns lost_and_found can have: SQLite's limits on the columns of a
    table and on the parameters of a statement, less its six own columns."""
    getlimit = getattr(conn, "getlimit", None)  # Python 3.11+
    if getlimit is None:
        return 999 - _LOST_OWN_COLUMNS  # the lower default of both limits (SQLite < 3.32)
    return min(getlimit(_LIMIT_COLUMN), getlimit(_LIMIT_VARIABLE_NUMBER)) - _LOST_OWN_COLUMNS


def _keeps_rowid(layout: Layout) -> bool:
    """Tell whether inserts name the rowid apart from the columns."""
    return layout.alias is None and not layout.without_rowid and rowid_column(layout) is not None
