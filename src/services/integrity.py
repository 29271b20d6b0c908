"""Open SQLite files safely and check them: header, quick_check, integrity_check, facts."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from src.errors import DatabaseNotFound, NotADatabase
from src.services import table_kinds

logger = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class TableInfo:
    """One table as the dump and export see it."""

    name: str
    sql: str
    columns: tuple[str, ...]
    has_rowid: bool  # a rowid table (not WITHOUT ROWID, not virtual)
    rowid_alias: str | None  # the INTEGER PRIMARY KEY column that is the rowid
    virtual: bool
    shadow: bool  # a shadow table of a virtual table (FTS5 data, ...)
    readable: bool = True  # False: a virtual table whose module this SQLite lacks


@dataclass
class DatabaseFacts:
    """What the metadata records of a database."""

    size_bytes: int
    sqlite_version: str
    journal_mode: str
    page_size: int
    page_count: int
    freelist_count: int
    user_version: int
    application_id: int
    tables: dict[str, int] = field(default_factory=dict)
    user_count: int | None = None

    @property
    def total_rows(self) -> int:
        """Return the rows of every table together."""
        return sum(self.tables.values())


def quote_identifier(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def check_header(path: Path) -> None:
    """Raise unless `path` is an existing, non-empty SQLite database file.

    Raises:
        DatabaseNotFound: nothing is at `path`.
        NotADatabase: the file is empty or does not start with the SQLite header.
    """
    if not path.exists():
        raise DatabaseNotFound(
            f"No database at {path}. Check DATABASE_PATH (in .env or the environment); "
            "the tool never creates an empty database in its place."
        )
    if not path.is_file():
        raise NotADatabase(f"{path} is not a file. Point DATABASE_PATH at the bot's .db file.")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise NotADatabase(
            f"Cannot read {path}: {error.strerror or error}. Run the tool as the bot's user, "
            "or give it read access to the database file."
        ) from None
    if not header:
        raise NotADatabase(f"{path} is empty (0 bytes): there is no data to back up.")
    if header != SQLITE_HEADER:
        raise NotADatabase(
            f"{path} is not a SQLite database (its first bytes are not 'SQLite format 3'). "
            "Check DATABASE_PATH; if this was the bot's database, `repair` reads what is left "
            "of it and `restore latest --confirm` brings back the newest backup."
        )


def open_readonly(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    """Open an existing database read-only; never creates a file."""
    uri = path.resolve().as_uri() + ("?immutable=1" if immutable else "?mode=ro")
    conn = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    conn.text_factory = _lenient_text
    return conn


def _lenient_text(data: bytes) -> str:
    """Decode TEXT as UTF-8, keeping invalid bytes (as surrogates) instead of failing."""
    return data.decode("utf-8", "surrogateescape")


def run_check(conn: sqlite3.Connection, pragma: str = "quick_check") -> str:
    """Run quick_check or integrity_check; return 'ok' or the problems found."""
    try:
        rows = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}")]
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
        return f"{pragma} could not run: {sqlite_message(error)}"
    return "ok" if rows == ["ok"] else "; ".join(rows[:20])


def sqlite_message(error: Exception) -> str:
    """Return SQLite's words for an error, also when they quote bytes that are not UTF-8.

    SQLite's message about a damaged schema quotes the schema's own bytes; when those are
    not UTF-8, Python's sqlite3 raises UnicodeDecodeError (holding the message) instead.
    """
    if isinstance(error, UnicodeDecodeError) and isinstance(error.object, bytes):
        return error.object.decode("utf-8", "replace")
    return str(error)


def check_file(path: Path, pragma: str = "quick_check", *, immutable: bool = False) -> str:
    """Check a database file; return 'ok' or a description of the problem."""
    try:
        with closing(open_readonly(path, immutable=immutable)) as conn:
            return run_check(conn, pragma)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
        return f"cannot open: {sqlite_message(error)}"


def list_tables(conn: sqlite3.Connection) -> list[TableInfo]:
    """List every table of the database in schema order."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL "
        "ORDER BY rowid"
    ).fetchall()
    shadow_of = table_kinds.shadow_tables(table_kinds.Entry("table", n, s) for n, s in rows)
    kinds = _table_kinds(conn)
    tables = []
    for name, sql in rows:
        is_virtual = table_kinds.is_virtual(sql)
        shadow = name in shadow_of
        try:
            columns, alias, has_rowid = _columns(conn, name, sql, is_virtual, kinds)
        except sqlite3.OperationalError:
            if not is_virtual:
                raise
            # e.g. "no such module: vec0": its schema entry is kept, its rows cannot be read
            tables.append(TableInfo(name, sql, (), True, None, True, False, readable=False))
            continue
        tables.append(TableInfo(name, sql, columns, has_rowid, alias, is_virtual, shadow))
    return tables


def _table_kinds(conn: sqlite3.Connection) -> dict[str, str]:
    """Return PRAGMA table_list's type per table (empty on SQLite before 3.37)."""
    try:
        return {row[1]: row[2] for row in conn.execute("PRAGMA table_list") if row[0] == "main"}
    except sqlite3.DatabaseError:
        return {}


def _columns(
    conn: sqlite3.Connection, name: str, sql: str, is_virtual: bool, kinds: dict[str, str]
) -> tuple[tuple[str, ...], str | None, bool]:
    """Return the columns, the rowid alias and whether the table has a rowid."""
    info = conn.execute(f"PRAGMA table_xinfo({quote_identifier(name)})").fetchall()
    # hidden: 0 normal, 1 hidden (virtual tables), 2/3 generated columns (not insertable)
    columns = tuple(row[1] for row in info if row[6] == 0)
    if is_virtual:
        return columns, None, True
    if _without_rowid(conn, name, sql, kinds):
        return columns, None, False
    if {"rowid", "_rowid_", "oid"} <= {c.lower() for c in columns}:
        return columns, None, False  # no name left for the rowid: rows keep their values only
    pk = [row for row in info if row[5] > 0]
    alias = None
    if len(pk) == 1 and str(pk[0][2]).upper() == "INTEGER":
        origins = [row[3] for row in conn.execute(f"PRAGMA index_list({quote_identifier(name)})")]
        # INTEGER PRIMARY KEY DESC is no rowid alias: SQLite gives it an index of origin 'pk'
        if "pk" not in origins:
            alias = pk[0][1]
    return columns, alias, True


_WITHOUT_ROWID_END = re.compile(r"\)\s*(?:(?:WITHOUT\s+ROWID|STRICT)\s*,?\s*)+;?\s*$", re.I)


def _without_rowid(conn: sqlite3.Connection, name: str, sql: str, kinds: dict[str, str]) -> bool:
    """Tell a WITHOUT ROWID table (the words in a default value or comment do not count)."""
    if kinds:
        row = conn.execute(
            "SELECT wr FROM pragma_table_list WHERE schema='main' AND name=?", (name,)
        )
        found = row.fetchone()
        if found is not None:
            return bool(found[0])
    tail = _WITHOUT_ROWID_END.search(sql)
    return bool(tail and "ROWID" in tail.group(0).upper())


def rowid_name(table: TableInfo) -> str:
    """Return a name that refers to the rowid and to no column of the table."""
    for candidate in ("rowid", "_rowid_", "oid"):
        if candidate not in {c.lower() for c in table.columns}:
            return candidate
    raise NotADatabase(f"table {table.name} hides its rowid behind columns rowid, _rowid_ and oid")


def gather_facts(conn: sqlite3.Connection, size_bytes: int) -> DatabaseFacts:
    """Read the facts the metadata records, counting the rows of every table."""

    def pragma(name: str) -> object:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]

    facts = DatabaseFacts(
        size_bytes=size_bytes,
        sqlite_version=sqlite3.sqlite_version,
        journal_mode=str(pragma("journal_mode")),
        page_size=int(str(pragma("page_size"))),
        page_count=int(str(pragma("page_count"))),
        freelist_count=int(str(pragma("freelist_count"))),
        user_version=int(str(pragma("user_version"))),
        application_id=int(str(pragma("application_id"))),
    )
    facts.tables = count_rows(conn)
    if "users" in facts.tables:
        facts.user_count = facts.tables["users"]
    return facts


def count_rows(conn: sqlite3.Connection) -> dict[str, int]:
    """Count the rows of every readable table (shadow tables of virtual tables included;
    Litestream's bookkeeping left out: it changes on its own while replicating)."""
    counts = {}
    for table in list_tables(conn):
        if not table.readable or table_kinds.is_replication_bookkeeping(table.name):
            continue
        query = f"SELECT count(*) FROM {quote_identifier(table.name)}"
        counts[table.name] = int(conn.execute(query).fetchone()[0])
    return counts


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Hold one read transaction so every statement sees the same snapshot."""
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        yield
    finally:
        conn.execute("COMMIT")
