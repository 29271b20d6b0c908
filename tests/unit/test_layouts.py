"""Unit tests of the layouts page salvage gives each table (src/services/salvage/layouts.py): a
schema read from damaged pages makes layouts named as SQLite names what the SQL creates, or
none, with a note; never an exception."""

from __future__ import annotations

from src.services.salvage.layouts import SchemaRow, build_layouts


def table(name: str, sql: str, root: int = 2) -> SchemaRow:
    return SchemaRow("table", name, name, root, sql)


def test_a_layout_takes_the_name_the_sql_creates_and_says_so():
    notes: list[str] = []
    layouts = build_layouts(
        [table("Albun", "CREATE TABLE Album (id INTEGER PRIMARY KEY, t)")], notes
    )
    assert [(t.name, t.stored, t.alias) for t in layouts] == [("Album", ["id", "t"], 0)]
    assert notes == ["schema entry 'Albun' creates the table 'Album': its rows go into 'Album'"]


def test_a_without_rowid_table_under_another_name_gets_its_primary_key_order():
    sql = "CREATE TABLE r (a TEXT, b INTEGER, PRIMARY KEY (b, a)) WITHOUT ROWID"
    layouts = build_layouts([table("q", sql)], [])
    assert [(t.name, t.without_rowid, t.stored) for t in layouts] == [("r", True, ["b", "a"])]


def test_a_second_entry_for_one_table_gets_no_layout_and_a_note():
    notes: list[str] = []
    layouts = build_layouts(
        [
            table("a", "CREATE TABLE a (x)"),
            table("b", "CREATE TABLE a (y)", root=3),
            table("c", "CREATE TABLE IF NOT EXISTS a (z)", root=4),
        ],
        notes,
    )
    assert [(t.name, t.root) for t in layouts] == [("a", 2)]
    assert notes[0].startswith("schema entry 'b': SQLite cannot create its table (table a ")
    assert notes[1] == (
        "schema entry 'c': its SQL creates no table of its own; its rows are looked for as "
        "unlinked pages"
    )


def test_sql_that_does_not_parse_or_creates_a_temporary_table_gets_no_layout():
    notes: list[str] = []
    schema = [table("t", "CREATE TABLE t (x"), table("u", "CREATE TABLE temp.u (x)", root=3)]
    assert build_layouts(schema, notes) == []
    assert len(notes) == 2


def test_the_first_autoincrement_table_gets_its_layout_though_sqlite_sequence_comes_too():
    notes: list[str] = []
    schema = [
        table("a", "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, x)"),
        table("sqlite_sequence", "CREATE TABLE sqlite_sequence(name,seq)", root=3),
        table("b", "CREATE TABLE b (id INTEGER PRIMARY KEY AUTOINCREMENT, y)", root=4),
    ]
    layouts = build_layouts(schema, notes)
    assert sorted(t.name for t in layouts) == ["a", "b", "sqlite_sequence"]
    assert notes == []
