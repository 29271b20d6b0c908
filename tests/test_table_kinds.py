"""The one rule for table kinds, and the restore fallbacks on generated schemas.

The oracle is SQLite itself (`pragma_table_list`, whose shadow tables come from each
module's xShadowName), never the rule under test. Each generated schema mixes virtual
tables (FTS4, FTS5, R*Tree) with ordinary tables whose names share their prefixes,
WITHOUT ROWID tables, generated columns and quoted names; it is backed up by the tool,
then rebuilt from the archive's SQL dump and from its JSON export, and compared.
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.config.settings import load_settings
from src.services import table_kinds
from src.services.archive import read_metadata
from src.services.backup_service import create_backup
from src.services.rebuild import rebuild_from_json, rebuild_from_sql
from tests.conftest import ROOT, make_env, table_rows

MODULES = {
    "fts4": "USING fts4(body, title)",
    "fts5": "USING fts5(body, title)",
    "rtree": "USING rtree(id, x0, x1)",
}
ALL_SUFFIXES = sorted(set().union(*table_kinds.SHADOW_SUFFIXES.values()) | {"archive", "x"})
BASES = ["notes", "Notes2", "geo", "t", "my table", 'quo"te', "ünï", "a_b", "entries"]
FLAVOURS = ["rowid", "integer_pk", "without_rowid", "generated"]


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Schema:
    virtual: list[tuple[str, str]]  # (name, module)
    ordinary: list[tuple[str, str]]  # (name, flavour)


@st.composite
def schemas(draw: st.DrawFn) -> Schema:
    taken: set[str] = set()
    reserved: set[str] = set()  # the shadow tables the virtual tables will make

    def free(name: str) -> bool:
        return name.lower() not in taken | reserved

    virtual = []
    for _ in range(draw(st.integers(0, 2))):
        name, module = draw(st.sampled_from(BASES)), draw(st.sampled_from(sorted(MODULES)))
        if free(name):
            virtual.append((name, module))
            taken.add(name.lower())
            reserved |= {f"{name}_{s}".lower() for s in table_kinds.SHADOW_SUFFIXES[module]}
    ordinary = []
    for _ in range(draw(st.integers(1, 4))):
        if virtual and draw(st.booleans()):
            owner = draw(st.sampled_from(virtual))[0]
            name = f"{owner}_{draw(st.sampled_from(ALL_SUFFIXES))}"  # shares the prefix
        else:
            name = draw(st.sampled_from(BASES)) + draw(st.sampled_from(["", "_data", "_1"]))
        if free(name):
            ordinary.append((name, draw(st.sampled_from(FLAVOURS))))
            taken.add(name.lower())
    return Schema(virtual, ordinary)


def build(db: Path, schema: Schema, seed: int) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        for name, module in schema.virtual:
            conn.execute(f"CREATE VIRTUAL TABLE {quoted(name)} {MODULES[module]}")
            for n in range(1, 6):
                if module == "rtree":
                    conn.execute(f"INSERT INTO {quoted(name)} VALUES (?, ?, ?)", (n, n, n + 1.5))
                else:
                    conn.execute(
                        f"INSERT INTO {quoted(name)}(rowid, body, title) VALUES (?, ?, ?)",
                        (n * 7 + seed, f"word{n} common ünï {seed}", f"title {n}"),
                    )
        for name, flavour in schema.ordinary:
            columns = {
                "rowid": "a TEXT, b BLOB, c",
                "integer_pk": "id INTEGER PRIMARY KEY, a TEXT, b BLOB, c",
                "without_rowid": "k TEXT PRIMARY KEY, a TEXT, b BLOB, c",
                "generated": "id INTEGER PRIMARY KEY, a TEXT, b BLOB, c, "
                "g TEXT GENERATED ALWAYS AS (upper(a)) STORED",
            }[flavour]
            tail = " WITHOUT ROWID" if flavour == "without_rowid" else ""
            conn.execute(f"CREATE TABLE {quoted(name)} ({columns}){tail}")
            for n in range(4):
                values = [f"text {n} {name}", bytes([n, seed % 256, 0]), [None, 1.5, n][n % 3]]
                if flavour == "without_rowid":
                    values = [f"key{n}", *values]
                marks = ",".join("?" * len(values))
                names = {"without_rowid": "k, a, b, c"}.get(flavour, "a, b, c")
                conn.execute(f"INSERT INTO {quoted(name)} ({names}) VALUES ({marks})", values)
        conn.commit()


def shadow_by_sqlite(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT name FROM pragma_table_list WHERE type = 'shadow'")
        return {row[0] for row in rows}


def entries(db: Path) -> list[table_kinds.Entry]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    return [table_kinds.Entry(*row) for row in rows]


def contents(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows but the shadow tables and statistics (SQLite says which)."""
    shadow = shadow_by_sqlite(db)
    with closing(sqlite3.connect(db)) as conn:
        rows = table_rows(conn)
    return {name: value for name, value in rows.items() if name not in shadow}


def fts_matches(db: Path, schema: Schema) -> dict[str, list[int]]:
    """What each full-text index finds (reads the index, not only the content)."""
    with closing(sqlite3.connect(db)) as conn:
        return {
            name: [
                r[0]
                for r in conn.execute(
                    f"SELECT rowid FROM {quoted(name)} WHERE "
                    f"{quoted(name)} MATCH 'common' ORDER BY rowid"
                )
            ]
            for name, module in schema.virtual
            if module.startswith("fts")
        }


def integrity(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))


@settings(max_examples=150, deadline=None)
@given(schema=schemas())
def test_the_rule_agrees_with_sqlite_on_which_tables_are_shadow_tables(schema):
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "x.db"
        build(db, schema, seed=1)
        assert set(table_kinds.shadow_tables(entries(db))) == shadow_by_sqlite(db)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=schemas(), seed=st.integers(0, 1000))
def test_each_fallback_copy_rebuilds_every_generated_schema_exactly(schema, seed):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        db = root / "bot.db"
        build(db, schema, seed)
        tool = load_settings(make_env(root, db), root=ROOT, env_file=root / ".env")
        archive = create_backup(tool, "manual", send_offsite=False).path
        metadata = read_metadata(archive)
        members = {m["role"]: m["path"] for m in metadata["members"]}
        page_size = metadata["database"]["page_size"]
        expected, matches = contents(db), fts_matches(db, schema)
        for source, rebuild in (("sql", rebuild_from_sql), ("json", rebuild_from_json)):
            rebuilt = root / f"from_{source}.db"
            rebuild(archive, members[source], rebuilt, page_size)
            assert integrity(rebuilt) == "ok", source
            assert contents(rebuilt) == expected, source
            assert fts_matches(rebuilt, schema) == matches, source


@pytest.mark.parametrize(
    ("sql", "module"),
    [
        ("CREATE VIRTUAL TABLE x USING fts5(a)", "fts5"),
        ('CREATE VIRTUAL TABLE "USING" USING FTS4(a)', "fts4"),
        ("CREATE VIRTUAL TABLE [a b] /* USING fts3 */ USING rtree(i, a, b)", "rtree"),
        ('create virtual table `t` using "Vec0"(x)', "vec0"),
        ("CREATE TABLE x(a)", None),
        (None, None),
    ],
)
def test_the_module_of_a_virtual_table_is_read_past_quotes_and_comments(sql, module):
    assert table_kinds.virtual_module(sql) == module


def test_a_table_only_named_like_a_shadow_table_is_ordinary():
    schema = [
        table_kinds.Entry("table", "notes", "CREATE VIRTUAL TABLE notes USING fts5(a)"),
        table_kinds.Entry("table", "notes_data", "CREATE TABLE 'notes_data'(id, block)"),
        table_kinds.Entry("table", "notes_segments", "CREATE TABLE notes_segments(a)"),
        table_kinds.Entry("table", "notes_archive", "CREATE TABLE notes_archive(a)"),
        table_kinds.Entry("table", "NOTES_IDX", "CREATE TABLE 'NOTES_IDX'(segid, term, pgno)"),
        table_kinds.Entry("table", "my_v", "CREATE VIRTUAL TABLE my_v USING rtree(i, a, b)"),
        table_kinds.Entry("table", "my_v_node", 'CREATE TABLE "my_v_node"(nodeno, data)'),
        table_kinds.Entry("table", "ext", "CREATE VIRTUAL TABLE ext USING vec0(x)"),
        table_kinds.Entry("table", "ext_chunks", "CREATE TABLE ext_chunks(a)"),
    ]
    assert table_kinds.shadow_tables(schema) == {
        "notes_data": "notes",
        "NOTES_IDX": "notes",
        "my_v_node": "my_v",
    }
    assert table_kinds.ordinary_tables(schema) == ["notes_segments", "notes_archive", "ext_chunks"]
