"""Run SQL that came from outside (an archive, a damaged file) where it can harm nothing.

An archive's SQL dump or JSON schema is untrusted input: a crafted one can try to
`ATTACH` the live database, `VACUUM INTO` a file anywhere, or load an extension. Such SQL
only ever runs on a scratch database in a work folder, on a connection that
- may attach no database (`SQLITE_LIMIT_ATTACHED` 0: also what `VACUUM INTO` needs),
- has an authorizer that refuses ATTACH/DETACH, extension loading and any statement
  that names another database than its own, and
- treats its schema as untrusted (`trusted_schema` off: views and triggers cannot call
  functions with side effects);
and each statement must first be one of those a dump of ours contains.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from src.services.integrity import open_readonly

# What SQLite's authorizer is asked about, by action code (sqlite3.h).
_ALLOWED_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_REINDEX,  # asked by CREATE INDEX on a table that holds rows
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_CREATE_VTABLE,
        sqlite3.SQLITE_CREATE_TEMP_TABLE,  # repair's own bookkeeping table
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_PRAGMA,
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
        sqlite3.SQLITE_ANALYZE,
        sqlite3.SQLITE_RECURSIVE,
    }
)
_REFUSED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "writefile", "edit"})
# pragmas that change the process (not the database), or files elsewhere
_REFUSED_PRAGMAS = frozenset({"temp_store_directory", "data_store_directory"})
_LIMIT_ATTACHED = getattr(sqlite3, "SQLITE_LIMIT_ATTACHED", 7)
_OWN_DATABASES = frozenset({None, "main", "temp"})

# Every statement a dump of ours contains (exporters.write_sql_dump), and nothing else.
_DUMP_STATEMENT = re.compile(
    r"""^\s*(?:
        PRAGMA\s+(?:foreign_keys\s*=\s*OFF|writable_schema\s*=\s*(?:ON|OFF)
                   |(?:user_version|application_id)\s*=\s*-?\d+)\s*;\s*$
      | BEGIN(?:\s+TRANSACTION)?\s*;\s*$
      | COMMIT\s*;\s*$
      | ANALYZE\s+sqlite_master\s*;\s*$
      | DELETE\s+FROM\s+sqlite_sequence\s*;\s*$
      | CREATE\s+(?:UNIQUE\s+)?INDEX\s
      | CREATE\s+(?:VIRTUAL\s+)?TABLE\s
      | CREATE\s+(?:VIEW|TRIGGER)\s
      | INSERT\s+INTO\s
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# The one write into the schema table a dump of ours makes (with writable_schema on):
# registering a virtual table, as the sqlite3 CLI's .dump does. Any other INSERT runs
# where it can write no schema table, not even through a trigger it fires.
_VIRTUAL_TABLE_ENTRY = re.compile(
    r"""^\s*INSERT\s+INTO\s+sqlite_master\(type,name,tbl_name,rootpage,sql\)\s+
    VALUES\('table','((?:[^']|'')+)','\1',0,'CREATE\s+VIRTUAL\s+TABLE\s(?:[^']|'')*'\)
    \s*;\s*$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
_INSERT_STATEMENT = re.compile(r"^\s*INSERT\s", re.IGNORECASE)
_SCHEMA_TABLES = frozenset(
    {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}
)
_WRITES = frozenset({sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE})
_SCHEMA_STATEMENT = {
    "table": re.compile(r"^\s*CREATE\s+(?:VIRTUAL\s+)?TABLE\s", re.IGNORECASE),
    "index": re.compile(r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s", re.IGNORECASE),
    "view": re.compile(r"^\s*CREATE\s+VIEW\s", re.IGNORECASE),
    "trigger": re.compile(r"^\s*CREATE\s+TRIGGER\s", re.IGNORECASE),
}


class UntrustedSQL(sqlite3.DatabaseError):
    """A statement from outside that is not one a backup of ours contains."""


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, _t: object) -> int:
    """Allow what rebuilding a database needs, inside its own file; refuse the rest."""
    if action not in _ALLOWED_ACTIONS or db not in _OWN_DATABASES:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _REFUSED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _REFUSED_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _authorize_rows(
    action: int, arg1: str | None, arg2: str | None, db: str | None, t: object
) -> int:
    """Like _authorize, and refuse any write into the schema table."""
    if action in _WRITES and (arg1 or "").lower() in _SCHEMA_TABLES:
        return sqlite3.SQLITE_DENY
    return _authorize(action, arg1, arg2, db, t)


def guard(
    conn: sqlite3.Connection,
    also: frozenset[int] = frozenset(),
    readable: frozenset[str] = frozenset(),
) -> sqlite3.Connection:
    """Confine a connection to its own database file; return it.

    Args:
        conn: a connection to a scratch or untrusted database.
        also: authorizer actions the caller's own statements need besides the usual
            (repair drops its temporary bookkeeping table: SQLITE_DROP_TEMP_TABLE).
        readable: databases the caller attached before (read-only, immutable) whose
            tables may be read, and only read (repair copies a damaged file's whole
            leaves from one).
    """
    if hasattr(conn, "setlimit"):  # Python 3.11+; the authorizer refuses ATTACH either way
        conn.setlimit(_LIMIT_ATTACHED, 0)
    conn.execute("PRAGMA trusted_schema=OFF")
    if also or readable:

        def authorize(
            action: int, arg1: str | None, arg2: str | None, db: str | None, t: object
        ) -> int:
            if action in also and db in _OWN_DATABASES:
                return sqlite3.SQLITE_OK
            if action == sqlite3.SQLITE_READ and db in readable:
                return sqlite3.SQLITE_OK
            return _authorize(action, arg1, arg2, db, t)

        conn.set_authorizer(authorize)
    else:
        conn.set_authorizer(_authorize)
    return conn


def scratch_database(target: Path, page_size: int | None = None) -> sqlite3.Connection:
    """Open a new, empty, guarded database for rebuilding, in autocommit mode.

    The page size is the original's: SQLite's backup API cannot write into a WAL
    database of another page size, which is how the copy reaches the live file.
    """
    if target.exists():
        raise FileExistsError(target)
    conn = sqlite3.connect(target, isolation_level=None)
    if page_size:
        conn.execute(f"PRAGMA page_size={int(page_size)}")
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    return guard(conn)


def open_untrusted(path: Path) -> sqlite3.Connection:
    """Open a database file from an archive read-only, guarded like a scratch database."""
    return guard(open_readonly(path, immutable=True))


def check_dump_statement(statement: str) -> None:
    """Refuse a statement of an SQL dump that a dump of ours never contains.

    Raises:
        UntrustedSQL: naming the start of the statement.
    """
    if not _DUMP_STATEMENT.match(statement):
        raise UntrustedSQL(
            f"the SQL dump holds a statement a backup never contains: {_start(statement)!r}"
        )


def run_dump_statement(conn: sqlite3.Connection, statement: str) -> None:
    """Run one statement of an SQL dump on a scratch database, once it passed the checks.

    Raises:
        UntrustedSQL: a statement a dump of ours never contains (nothing of it ran).
        sqlite3.DatabaseError: SQLite refused it (e.g. an INSERT that writes the schema).
    """
    check_dump_statement(statement)
    if not _INSERT_STATEMENT.match(statement) or _VIRTUAL_TABLE_ENTRY.match(statement):
        conn.execute(statement)
        return
    conn.set_authorizer(_authorize_rows)
    try:
        conn.execute(statement)
    finally:
        conn.set_authorizer(_authorize)


def check_schema_sql(kind: str, sql: str) -> None:
    """Refuse a schema entry whose SQL is not a CREATE statement of its kind.

    Raises:
        UntrustedSQL: naming the kind and the start of the SQL.
    """
    pattern = _SCHEMA_STATEMENT.get(kind)
    if pattern is None or not pattern.match(sql):
        raise UntrustedSQL(f"a schema entry of kind {kind!r} is not a CREATE: {_start(sql)!r}")


def _start(sql: str) -> str:
    """Return the first words of a statement, enough to name it."""
    return " ".join(sql.split())[:60]
