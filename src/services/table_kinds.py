"""Which tables of a schema are ordinary, virtual, shadow or SQLite's own: the one rule.

A shadow table holds a virtual table's data (FTS5's `notes_data`, R*Tree's `geo_node`).
SQLite calls a table the shadow of virtual table V when its name is V, an underscore and
a suffix that V's module claims (the module's xShadowName). The suffixes below are the
ones SQLite's built-in modules claim; `PRAGMA table_list` gives the same answer for
them (a test checks it on generated schemas), and this rule also works where that
pragma cannot (SQLite before 3.37, a schema read from damaged pages or from an export).
A table merely named like a shadow table (`notes_archive` next to FTS5 `notes`, or
`notes_segments`, which only FTS3/4 claim) is an ordinary table.

Every reader and writer asks here: the dump, the JSON export and its rebuild, the row
counts, the schema comparison, page salvage and the recovered database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# the suffixes each built-in module's xShadowName accepts (sqlite3.c: fts3ShadowName,
# fts5ShadowName, rtreeShadowName; geopoly is an R*Tree)
SHADOW_SUFFIXES: dict[str, frozenset[str]] = {
    "fts3": frozenset({"content", "docsize", "segdir", "segments", "stat"}),
    "fts4": frozenset({"content", "docsize", "segdir", "segments", "stat"}),
    "fts5": frozenset({"config", "content", "data", "docsize", "idx"}),
    "rtree": frozenset({"node", "parent", "rowid"}),
    "rtree_i32": frozenset({"node", "parent", "rowid"}),
    "geopoly": frozenset({"node", "parent", "rowid"}),
}

# the only tables named sqlite_* that SQLite makes itself (AUTOINCREMENT, ANALYZE); the
# automatic indexes (sqlite_autoindex_*) have no SQL. Any other such name was planted
# (PRAGMA writable_schema): SQLite refuses to create it otherwise.
SQLITE_OWN_TABLES = frozenset({"sqlite_sequence", *(f"sqlite_stat{n}" for n in range(1, 5))})

RTREE_MODULES = frozenset({"rtree", "rtree_i32", "geopoly"})  # their first column is the rowid

_TOKEN = re.compile(
    r"""\s+|--[^\n]*|/\*.*?(?:\*/|$)"""  # space and comments (skipped)
    r"""|(?P<token>"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|'(?:[^']|'')*'|\w+|.)""",
    re.DOTALL,
)


@dataclass(frozen=True)
class Entry:
    """One row of sqlite_schema, as far as the rule needs it."""

    type: str
    name: str
    sql: str | None


def tokens(sql: str) -> list[str]:
    """Split SQL into tokens (quoted names whole, comments and space dropped)."""
    return [m["token"] for m in _TOKEN.finditer(sql) if m["token"]]


def unquote(token: str) -> str:
    """Return an identifier without its quotes ("a""b" -> a"b, [x] -> x, `y` -> y)."""
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'`":
        return token[1:-1].replace(token[0] * 2, token[0])
    if len(token) >= 2 and token[0] == "[" and token[-1] == "]":
        return token[1:-1]
    return token


def is_virtual(sql: str | None) -> bool:
    """Tell whether a CREATE statement makes a virtual table."""
    words = [t.upper() for t in tokens(sql or "")[:3]]
    return words == ["CREATE", "VIRTUAL", "TABLE"]


def virtual_module(sql: str | None) -> str | None:
    """Return the module of a CREATE VIRTUAL TABLE (lower case), or None for other SQL."""
    if not is_virtual(sql):
        return None
    parts = tokens(sql or "")
    for at, token in enumerate(parts[3:], start=3):
        if token.upper() == "USING" and at + 1 < len(parts):
            return unquote(parts[at + 1]).lower()
    return None


def external_content(sql: str | None) -> bool:
    """Tell an FTS table whose rows live in another table (`content=...`, not empty)."""
    return bool(content_option(sql))


def content_option(sql: str | None) -> str | None:
    """Return an FTS table's `content=` table ('' when contentless); None without the option."""
    if virtual_module(sql) not in {"fts4", "fts5"}:
        return None
    parts = tokens(sql or "")
    for at in range(len(parts) - 2):
        if parts[at].lower() == "content" and parts[at + 1] == "=":
            return unquote(parts[at + 2])
    return None


# Litestream's bookkeeping in a replicated database: made (and needed) by Litestream, not data
LITESTREAM_TABLES = frozenset({"_litestream_seq", "_litestream_lock"})


def is_replication_bookkeeping(name: str) -> bool:
    """Tell whether a table is Litestream's own (never counted, never a schema change)."""
    return name.lower() in LITESTREAM_TABLES


def is_internal(name: str) -> bool:
    """SQLite's own tables (sqlite_schema, sqlite_sequence, sqlite_stat1-4)."""
    return name.lower().startswith("sqlite_")


def is_statistics(name: str) -> bool:
    """ANALYZE's tables: made again by ANALYZE, never exported or compared."""
    return name.lower().startswith("sqlite_stat")


def shadow_tables(entries: Iterable[Entry]) -> dict[str, str]:
    """Return each shadow table's name with the virtual table it belongs to.

    Names compare as SQLite compares them: without regard to ASCII case.
    """
    entries = list(entries)
    suffixes_of: dict[str, frozenset[str]] = {}
    for entry in entries:
        if entry.type == "table":
            module = virtual_module(entry.sql)
            if module is not None:
                suffixes_of[entry.name.lower()] = SHADOW_SUFFIXES.get(module, frozenset())
    found: dict[str, str] = {}
    for entry in entries:
        if entry.type != "table" or is_virtual(entry.sql):
            continue
        # a virtual table's name may hold underscores itself: try every split
        base = entry.name.lower()
        for cut in range(len(base) - 1, 0, -1):
            if base[cut] != "_":
                continue
            owner, suffix = base[:cut], base[cut + 1 :]
            if suffix in suffixes_of.get(owner, ()):
                found[entry.name] = next(e.name for e in entries if e.name.lower() == owner)
                break
    return found


def ordinary_tables(entries: Iterable[Entry]) -> list[str]:
    """Return the tables that hold rows of their own: not virtual, shadow or SQLite's."""
    entries = list(entries)
    shadow = shadow_tables(entries)
    return [
        e.name
        for e in entries
        if e.type == "table"
        and e.sql
        and not is_virtual(e.sql)
        and not is_internal(e.name)
        and e.name not in shadow
    ]
