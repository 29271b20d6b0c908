"""What restoring an archive would change in the live database's schema.

A restored archive brings its whole schema along: a trigger that empties a table on the
next insert, a view, a table replaced by another application's. The restore preview
names every such change, and a restore that changes the schema needs an explicit yes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from src.services import table_kinds

_KINDS = ("table", "view", "trigger", "index")


@dataclass(frozen=True)
class SchemaChange:
    """One difference between the live schema and the archive's."""

    kind: str  # table, view, trigger, index, or application_id
    name: str
    change: str  # added, dropped or changed

    def describe(self) -> str:
        """Say the change in a few words, e.g. `trigger wipe_checkins added`."""
        return f"{self.kind} {self.name} {self.change}"


def schema_changes(live: sqlite3.Connection, archived: sqlite3.Connection) -> list[SchemaChange]:
    """List what the archived database's schema changes compared with the live one.

    SQLite's internal tables (sqlite_sequence, sqlite_stat1-4), the shadow tables of
    virtual tables and automatic indexes are left out, nothing else named `sqlite_*`;
    SQL is compared with its whitespace normalised.
    """
    now, then = _schema(live), _schema(archived)
    changes = [
        SchemaChange(kind, name, "added" if key not in now else "dropped")
        for key in sorted(now.keys() ^ then.keys(), key=_order)
        for kind, name in [key]
    ]
    changes += [
        SchemaChange(kind, name, "changed")
        for (kind, name) in sorted(now.keys() & then.keys(), key=_order)
        if now[kind, name] != then[kind, name]
    ]
    live_app, archived_app = _application_id(live), _application_id(archived)
    if live_app != archived_app:
        changes.append(SchemaChange("application_id", f"{live_app} -> {archived_app}", "changed"))
    return sorted(changes, key=lambda c: (_order((c.kind, c.name)), c.change))


def _schema(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    """Map (kind, name) to normalised SQL for every object a person made."""
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN "
        "('table', 'view', 'trigger', 'index')"
    ).fetchall()
    shadow = _shadow_tables(rows)
    return {
        (kind, name): " ".join(str(sql).split())
        for kind, name, sql in rows
        if not _internal(kind, name, sql)
        and name not in shadow
        and not (kind == "table" and table_kinds.is_replication_bookkeeping(name))
    }


def _shadow_tables(rows: list[tuple[str, str, str]]) -> set[str]:
    """Name the shadow tables of virtual tables (FTS5 data ...), from the schema alone.

    No virtual table is opened: a damaged live database's may not open.
    """
    return set(table_kinds.shadow_tables(table_kinds.Entry(*row) for row in rows))


def _internal(kind: str, name: str, sql: str | None) -> bool:
    """Tell whether a schema object is one SQLite makes itself."""
    lower = str(name).lower()
    if kind == "table":
        return lower in table_kinds.SQLITE_OWN_TABLES
    return kind == "index" and sql is None and lower.startswith("sqlite_autoindex_")


def planted_internal_names(conn: sqlite3.Connection) -> list[str]:
    """List the objects named `sqlite_*` that SQLite did not make (e.g. `trigger sqlite_x`).

    SQLite refuses such names unless its schema was written directly, which a backup
    of ours never does: such an object in an archive's database was planted.
    """
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE lower(substr(name, 1, 7)) = 'sqlite_'"
    )
    return [f"{kind} {name}" for kind, name, sql in rows if not _internal(kind, name, sql)]


def _order(key: tuple[str, str]) -> tuple[int, str]:
    """Sort tables first, then views, triggers, indexes, then anything else."""
    kind, name = key
    return (_KINDS.index(kind) if kind in _KINDS else len(_KINDS), name)


def _application_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA application_id").fetchone()[0])
