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

import queue
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from src.services import table_kinds
from src.services.integrity import open_readonly, quote_identifier
from src.services.salvage.layouts import Bound, Layout, rowid_column
from src.services.sandbox import guard

ALIAS = "salvage_source"  # the damaged file's name on the new database's connection
_KEY = "salvage_rowid"  # the rowid's name in the search for wide texts
WIDE = "*[^\x01-\x7f]*"  # GLOB: a text with a character outside ASCII (a byte over 0x7F)


class SourceUnreadable(Exception):
    """SQLite met damage inside the new database's transaction, which is then lost: no
    reader may take it for one damaged page (it ends the salvage's first attempt)."""


@dataclass(frozen=True)
class CopyPlan:
    """One table's statements: the probe (on the damaged file), the copy (into the new
    database) and the search for texts with a byte over 0x7F (on the damaged file); each
    takes (first rowid, last rowid, count), the search the GLOB pattern `WIDE` too."""

    table: str
    probe: str
    copy: str
    wide: str
    key: str  # the rowid's name (quoted) in the new table
    texts: list[str]  # the columns (quoted) the search gives, after the rowid


class SqliteSource:
    """The damaged file as SQLite reads it: its tables, and a connection to probe leaves."""

    def __init__(self, path: Path) -> None:
        """Open the file read-only and immutable (SQLite reads the main file only, as it
        is: no -wal, no journal, no lock) and read its tables.

        Raises:
            sqlite3.DatabaseError: SQLite cannot read its schema (the salvage then reads
                every row itself).
        """
        self.path = path
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
        key = alias or rowid_column(layout)
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
        where = f"WHERE {quote_identifier(key)} BETWEEN ?1 AND ?2 LIMIT ?3"
        last = quote_identifier(layout.stored[-1])  # reading it reads the whole header
        texts = [c for c in columns if c != key]
        values = ",".join(f"CASE WHEN typeof({c}) = 'text' THEN {c} END" for c in texts)
        wide = " OR ".join(f"(typeof({c}) = 'text' AND {c} GLOB ?4)" for c in texts) or "0"
        rowid = quote_identifier(key)
        # the leaf's rows first (LIMIT: no page past it is read), then those with wide texts
        leaf = (
            f"SELECT {rowid} AS {_KEY}{',' if texts else ''}{','.join(texts)} FROM {table} {where}"
        )
        return CopyPlan(
            table=layout.name,
            probe=f"SELECT count(typeof(v)) FROM (SELECT {last} AS v FROM {table} {where})",
            copy=f"INSERT INTO main.{table}({listed}) SELECT {listed} FROM {ALIAS}.{table} {where}",
            wide=f"SELECT {_KEY}{',' if values else ''}{values} FROM ({leaf}) WHERE {wide}",
            key=rowid,
            texts=texts,
        )

    def probe(self, plan: CopyPlan, bounds: tuple[int, int, int]) -> bool:
        """Tell whether SQLite reads exactly `count` rows first..last without an error."""
        try:
            return bool(self.conn.execute(plan.probe, bounds).fetchone()[0] == bounds[2])
        except (sqlite3.DatabaseError, UnicodeDecodeError):
            return False

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class Mend:
    """A text SQLite copied that is not UTF-8, and what it becomes (each byte that is no
    UTF-8 becomes U+FFFD, as when a row is decoded in Python)."""

    table: str
    key: str
    column: str
    rowid: int
    text: str


class TextCheck:
    """Looks, in a thread beside the tree walk, at the texts of the leaves SQLite copied:
    one with a byte over 0x7F may not be UTF-8 (a flipped bit), which Python's sqlite3
    (the bot's) could then never read. Its own connection reads the damaged file again
    (the rows the probe read); the mends are applied by the new database's connection."""

    def __init__(self, path: Path) -> None:
        self._conn = guard(open_readonly(path, immutable=True))
        self._conn.text_factory = bytes
        self._queue: queue.SimpleQueue[tuple[CopyPlan, tuple[int, int, int]] | None] = (
            queue.SimpleQueue()
        )
        self._mends: list[Mend] = []
        self.errors: list[str] = []
        # the leaves copied one after another, not handed over yet: plan, bounds, range end
        self._run_of_leaves: tuple[CopyPlan, tuple[int, int, int], Bound] | None = None
        self._thread = threading.Thread(target=self._run, name="salvage-texts", daemon=True)
        self._thread.start()

    def check(
        self, plan: CopyPlan, bounds: tuple[int, int, int], parent: tuple[Bound, Bound]
    ) -> None:
        """Look at the texts of one copied leaf (later, in the thread). A leaf whose range
        (`parent`: what its parent page gives) begins where the last one's ended is the
        next leaf of the tree: the two are looked at in one read."""
        run = self._run_of_leaves
        if run is not None and run[0] is plan and run[2] == parent[0] and run[2] is not None:
            first, _, count = run[1]
            self._run_of_leaves = (plan, (first, bounds[1], count + bounds[2]), parent[1])
            return
        self._hand_over()
        self._run_of_leaves = (plan, bounds, parent[1])

    def _hand_over(self) -> None:
        if self._run_of_leaves is not None:
            self._queue.put(self._run_of_leaves[:2])
            self._run_of_leaves = None

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            plan, bounds = job[0], job[1]
            try:
                self._look(plan, bounds)
            except Exception as error:  # noqa: BLE001 - a text left as it is, noted
                self.errors.append(f"{plan.table}, rows {bounds[0]}-{bounds[1]}: {error}")

    def _look(self, plan: CopyPlan, bounds: tuple[int, int, int]) -> None:
        for rowid, *texts in self._conn.execute(plan.wide, (*bounds, WIDE)):
            for column, text in zip(plan.texts, texts, strict=True):
                if text is None:
                    continue
                try:
                    text.decode("utf-8")
                except UnicodeDecodeError:
                    fixed = text.decode("utf-8", "replace")
                    self._mends.append(Mend(plan.table, plan.key, column, rowid, fixed))

    def finish(self) -> list[Mend]:
        """Wait for every leaf handed over; return the texts to mend, and close."""
        self._hand_over()
        self._queue.put(None)
        self._thread.join()
        self._conn.close()
        return self._mends


def open_source(path: Path | None) -> SqliteSource | None:
    """The damaged file for SQLite's reader, or None (none given, or its schema unreadable)."""
    if path is None:
        return None
    try:
        return SqliteSource(path)
    except (sqlite3.DatabaseError, UnicodeDecodeError, ValueError, OSError):
        return None
