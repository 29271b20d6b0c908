"""The corruption suite: page-level repair of a 3-table, 50,000-row database with BLOBs.

Every case counts only rows equal to the original (same rowid, same values). The rows a
case cannot recover are known in advance from SQLite's own dbstat table: the rows whose
leaf page or overflow page was destroyed.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from src.cli.output import repair_text
from src.config.settings import Settings
from src.services.backup_service import create_backup
from src.services.repair_service import RepairResult, repair
from src.services.salvage.fileformat import varint
from tests.conftest import table_rows
from tests.salvage_db import build

TABLES = ("members", "notes", "files")
PAGE = 4096


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list]:
    """The suite's database, its rows, and where each page's rows are (dbstat)."""
    path = tmp_path_factory.mktemp("salvage") / "template.db"
    build(path)
    with sqlite3.connect(path) as conn:
        rows = {name: rows for name, rows in table_rows(conn).items() if name in TABLES}
        pages = conn.execute("SELECT name, pageno, pagetype, ncell, path FROM dbstat").fetchall()
    assert sum(len(r) for r in rows.values()) > 49_000
    assert any(kind == "overflow" for _, _, kind, _, _ in pages)
    return path, rows, pages


@pytest.fixture
def damaged(tmp_path: Path, template, settings_for) -> Callable[..., tuple[Settings, Path]]:
    """A copy of the template with a verified backup (unless `backup` is False), ready to be
    damaged."""

    def make(backup: bool = True) -> tuple[Settings, Path]:
        db = tmp_path / "pmo_recovery.db"
        shutil.copyfile(template[0], db)
        settings = settings_for(db)
        if backup:
            create_backup(settings, "manual", trigger="test")
        return settings, db

    return make


def recovered_rows(result: RepairResult, original: dict) -> tuple[int, int]:
    """Count the recovered rows equal to an original row, and those that are not."""
    with sqlite3.connect(result.recovered) as conn:
        rows = table_rows(conn)
    equal = invented = 0
    for name in TABLES:
        known = set(original[name])
        for row in rows.get(name, []):
            equal += row in known
            invented += row not in known
    return equal, invented


def unrecoverable(pages: list, destroyed: set[int]) -> int:
    """Rows stored on destroyed leaf pages, or whose overflow chain was destroyed."""
    on_leaves = sum(
        cells
        for name, page, kind, cells, _ in pages
        if page in destroyed and kind == "leaf" and name in TABLES
    )
    chains = {
        (name, path.split("+")[0])
        for name, page, kind, _, path in pages
        if page in destroyed and kind == "overflow"
    }
    return on_leaves + len(chains)


def overwrite(db: Path, pages: set[int], seed: int = 1) -> None:
    """Overwrite whole pages with random bytes."""
    rng = random.Random(seed)
    with db.open("r+b") as handle:
        for page in sorted(pages):
            handle.seek((page - 1) * PAGE)
            handle.write(rng.randbytes(PAGE))


def test_undamaged_database_is_copied_exactly(damaged, template):
    settings, _ = damaged()
    result = repair(settings)
    total = sum(len(r) for r in template[1].values())
    assert recovered_rows(result, template[1]) == (total, 0)
    assert result.integrity == "ok" and result.lost_and_found == 0
    with sqlite3.connect(result.recovered) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert indexes == {"idx_members_name", "idx_notes_member", "idx_files_member"}


def test_one_percent_of_pages_garbage_loses_only_the_rows_on_them(damaged, template):
    settings, db = damaged(backup=False)  # the file's own rows only
    _, original, pages = template
    destroyed = one_percent_garbage(db)

    result = repair(settings)

    total = sum(len(r) for r in original.values())
    equal, invented = recovered_rows(result, original)
    assert invented == 0
    assert equal >= total - unrecoverable(pages, destroyed)
    assert equal / total >= 0.97, (equal, total)
    assert result.integrity == "ok"


def test_truncated_to_70_percent_keeps_every_surviving_row_and_invents_none(damaged, template):
    settings, db = damaged()
    _, original, pages = template
    size = db.stat().st_size
    kept_pages = int(size * 0.7) // PAGE
    with db.open("r+b") as handle:
        handle.truncate(kept_pages * PAGE + 1000)  # the last page cut in the middle

    result = repair(settings)

    equal, invented = recovered_rows(result, original)
    total = sum(len(r) for r in original.values())
    gone = set(range(kept_pages + 1, size // PAGE + 1))
    assert invented == 0  # no phantom row from the cut page read as zeros
    assert equal >= total - unrecoverable(pages, gone)
    assert any("truncated" in note for note in result.notes)
    with sqlite3.connect(result.recovered) as conn:
        assert conn.execute("SELECT count(*) FROM members WHERE id = 0").fetchone()[0] == 0


def test_zeroed_header_recovers_every_row(damaged, template):
    settings, db = damaged()
    with db.open("r+b") as handle:
        handle.write(bytes(100))
    result = repair(settings)
    total = sum(len(r) for r in template[1].values())
    assert recovered_rows(result, template[1]) == (total, 0)
    assert result.page_size == PAGE
    assert any("page size 4096 found" in note for note in result.notes)
    assert result.lost_and_found == 0  # free pages with deleted rows are not brought back


def test_zeroed_page_one_recovers_every_row_with_the_backups_schema(damaged, template):
    settings, db = damaged()
    with db.open("r+b") as handle:
        handle.write(bytes(PAGE))
    result = repair(settings)
    total = sum(len(r) for r in template[1].values())
    assert recovered_rows(result, template[1]) == (total, 0)
    assert any("taken from pmo_recovery_backup_manual_" in note for note in result.notes)


def test_zeroed_page_one_without_a_backup_keeps_every_row_in_lost_and_found(
    tmp_path, template, settings_for
):
    db = tmp_path / "pmo_recovery.db"
    shutil.copyfile(template[0], db)
    with db.open("r+b") as handle:
        handle.write(bytes(PAGE))
    result = repair(settings_for(db))
    with sqlite3.connect(result.recovered) as conn:
        found = conn.execute("SELECT nfield, count(*) FROM lost_and_found GROUP BY 1").fetchall()
    widths = dict(found)
    assert widths[5] >= len(template[1]["notes"])  # nothing dropped, grouped by width
    assert widths[4] >= len(template[1]["members"]) + len(template[1]["files"])
    assert result.integrity == "ok"


def test_overwritten_interior_page_recovers_every_row(damaged, template):
    settings, db = damaged()
    _, original, pages = template
    interior = next(
        page
        for name, page, kind, _, path in pages
        if name == "notes" and kind == "internal" and path != "/"
    )
    overwrite(db, {interior})
    result = repair(settings)
    total = sum(len(r) for r in original.values())
    assert recovered_rows(result, original) == (total, 0)
    assert result.counts["notes"].from_unlinked_pages > 0


def test_overwritten_root_of_a_table_recovers_every_row_by_column_types(damaged, template):
    # members and files both have 4 columns: their pages are told apart by value types
    settings, db = damaged()
    _, original, pages = template
    roots = {name: page for name, page, _, _, path in pages if path == "/" and name in TABLES}
    overwrite(db, {roots["members"], roots["files"]})
    result = repair(settings)
    total = sum(len(r) for r in original.values())
    assert recovered_rows(result, original) == (total, 0)
    assert result.lost_and_found == 0


def test_corrupt_index_pages_recover_every_row_and_rebuild_the_indexes(damaged, template):
    settings, db = damaged()
    _, original, pages = template
    index_pages = {page for name, page, _, _, _ in pages if name.startswith("idx_")}
    overwrite(db, set(sorted(index_pages)[::3]))
    result = repair(settings)
    total = sum(len(r) for r in original.values())
    assert recovered_rows(result, original) == (total, 0)
    with sqlite3.connect(result.recovered) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM notes WHERE member_id = 5").fetchall()
    assert "idx_notes_member" in str(plan)


@pytest.mark.parametrize("with_backup", [False, True])
def test_a_broken_overflow_chain_puts_the_row_in_lost_and_found(
    damaged, template, tmp_path, settings_for, with_backup
):
    if with_backup:
        settings, db = damaged()
    else:
        db = tmp_path / "pmo_recovery.db"
        shutil.copyfile(template[0], db)
        settings = settings_for(db)
    _, original, pages = template
    overflow = next(page for name, page, kind, _, _ in pages if kind == "overflow")
    overwrite(db, {overflow})
    result = repair(settings)
    total = sum(len(r) for r in original.values())
    with sqlite3.connect(result.recovered) as conn:
        lost = conn.execute("SELECT table_guess, row_id, reason, c2 FROM lost_and_found").fetchall()
    assert len(lost) == 1 and lost[0][0] == "files"  # what the file still holds of it
    assert "overflow" in lost[0][2] and lost[0][3].startswith("file ")
    # its row, whole, comes from the backup when there is one
    assert recovered_rows(result, original) == (total if with_backup else total - 1, 0)
    assert result.counts["files"].from_backup == (1 if with_backup else 0)


# --- cell-level salvage: one bad field or pointer of one leaf costs no row ----------------


def leaf_of(pages: list, table: str, nth: int = 0) -> tuple[int, int]:
    """(page number, cells) of a leaf in the middle of a table's tree."""
    leaves = sorted(
        (page, cells) for name, page, kind, cells, _ in pages if name == table and kind == "leaf"
    )
    return leaves[len(leaves) // 2 + nth]


def patch(db: Path, page: int, at: int, data: bytes) -> None:
    with db.open("r+b") as handle:
        handle.seek((page - 1) * PAGE + at)
        handle.write(data)


def read(db: Path, page: int, at: int, size: int) -> bytes:
    with db.open("rb") as handle:
        handle.seek((page - 1) * PAGE + at)
        return handle.read(size)


def all_rows_back(result: RepairResult, original: dict) -> None:
    total = sum(len(r) for r in original.values())
    assert recovered_rows(result, original) == (total, 0)
    assert result.lost_and_found == 0
    assert result.integrity == "ok"


HEADER_FIELDS = {
    # name: (offset in the page, bytes written over it, given the field's current bytes)
    "kind 0x00": (0, lambda old: b"\x00"),
    "kind of an interior page": (0, lambda old: b"\x05"),
    "kind of an index leaf": (0, lambda old: b"\x0a"),
    "first free block": (1, lambda old: b"\xff\xf0"),
    "cell count + 7": (3, lambda old: (int.from_bytes(old, "big") + 7).to_bytes(2, "big")),
    "cell count - 3": (3, lambda old: (int.from_bytes(old, "big") - 3).to_bytes(2, "big")),
    "cell count 0": (3, lambda old: b"\x00\x00"),
    "cell count 0xffff": (3, lambda old: b"\xff\xff"),
    "content start 0": (5, lambda old: b"\x00\x00"),
    "content start 9": (5, lambda old: b"\x00\x09"),
    "content start + 200": (5, lambda old: (int.from_bytes(old, "big") + 200).to_bytes(2, "big")),
    "fragmented bytes": (7, lambda old: b"\xee"),
}
FIELD_SIZES = {0: 1, 1: 2, 3: 2, 5: 2, 7: 1}


@pytest.mark.parametrize("table", ["members", "notes"])
@pytest.mark.parametrize("field", list(HEADER_FIELDS))
def test_one_bad_header_field_of_a_leaf_costs_no_row(damaged, template, field, table):
    # notes has deleted rows in free blocks: none of them may come back
    settings, db = damaged()
    _, original, pages = template
    page, _ = leaf_of(pages, table)
    at, change = HEADER_FIELDS[field]
    patch(db, page, at, change(read(db, page, at, FIELD_SIZES[at])))
    all_rows_back(repair(settings), original)


def cell_pointers(db: Path, page: int) -> list[int]:
    count = int.from_bytes(read(db, page, 3, 2), "big")
    raw = read(db, page, 8, 2 * count)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def misdirect_pointer(db: Path, page: int, where: str) -> None:
    """Point the 6th cell pointer of a leaf elsewhere: into its cell, past the page, or
    onto the next cell."""
    pointers = cell_pointers(db, page)
    bad = {
        "into its cell": pointers[5] + 3,
        "past the page": 0xFFF0,
        "onto another cell": pointers[6],
    }[where]
    patch(db, page, 8 + 2 * 5, bad.to_bytes(2, "big"))


@pytest.mark.parametrize("where", ["into its cell", "past the page", "onto another cell"])
def test_one_bad_cell_pointer_costs_no_row(damaged, template, where):
    settings, db = damaged()
    _, original, pages = template
    page, _ = leaf_of(pages, "members")
    misdirect_pointer(db, page, where)
    result = repair(settings)
    all_rows_back(result, original)
    assert any("read cell by cell" in note for note in result.notes), result.notes


@pytest.mark.parametrize("off_by", [1, -1])
def test_a_payload_size_off_by_one_keeps_the_row_in_its_table(damaged, template, off_by):
    settings, db = damaged()
    _, original, pages = template
    page, _ = leaf_of(pages, "members")
    # a cell whose payload size is a one-byte varint: it is rewritten in place
    cell = next(c for c in cell_pointers(db, page)[3:] if read(db, page, c, 1)[0] < 0x7F)
    patch(db, page, cell, bytes([read(db, page, cell, 1)[0] + off_by]))
    all_rows_back(repair(settings), original)


@pytest.mark.parametrize(("start", "length"), [(1001, 37), (2222, 300), (3333, 5)])
def test_an_unaligned_zeroed_range_loses_only_the_cells_it_hits(damaged, template, start, length):
    settings, db = damaged()
    _, original, pages = template
    page, _ = leaf_of(pages, "notes", 1)
    pointers = sorted(cell_pointers(db, page))
    ends = [*pointers[1:], PAGE]
    hit = sum(1 for a, b in zip(pointers, ends, strict=True) if a < start + length and start < b)
    patch(db, page, start, bytes(length))
    result = repair(settings)
    total = sum(len(r) for r in original.values())
    equal, invented = recovered_rows(result, original)
    assert equal >= total - hit and invented <= hit, (equal, total, invented, hit)
    assert result.integrity == "ok"


# --- the newest verified backup as a second source for the rows of lost pages -------------


def one_percent_garbage(db: Path) -> set[int]:
    count = db.stat().st_size // PAGE
    destroyed = set(random.Random(5).sample(range(2, count + 1), count // 100))
    overwrite(db, destroyed)
    return destroyed


def rowids_on(db: Path, page: int) -> list[int]:
    """The rowids of a table leaf's cells."""
    data = read(db, page, 0, PAGE)
    return [varint(data, varint(data, c)[1])[0] for c in cell_pointers(db, page)]


def test_one_percent_of_pages_garbage_with_a_backup_just_before_loses_no_row(damaged, template):
    settings, db = damaged()
    original = template[1]
    one_percent_garbage(db)

    result = repair(settings)

    total = sum(len(r) for r in original.values())
    equal, invented = recovered_rows(result, original)
    from_backup = {name: count.from_backup for name, count in result.counts.items()}
    assert invented == 0
    assert equal / total >= 0.999, (equal, total)  # 99.97 %: 16 rows lost overflow pages
    assert sum(from_backup.values()) > 0
    report = orjson.loads(result.report.read_bytes())
    for name, count in from_backup.items():
        assert report["tables"][name]["from_backup"] == count
        if count:
            assert any(
                note.startswith(f"{count} rows of {name} taken from backup pmo_recovery_backup_")
                and "(the file lost the pages that held them)" in note
                for note in result.notes
            ), result.notes
    assert "from the backup)" in repair_text(result)
    assert result.integrity == "ok"
    assert not list(settings.recovery_dir.glob(".repair-*"))  # the extracted copy is gone


def test_a_row_the_file_still_holds_keeps_its_version_not_the_backups(damaged, template):
    settings, db = damaged()
    _, original, pages = template
    lost, _ = leaf_of(pages, "members")
    kept, _ = leaf_of(pages, "members", 2)
    on_lost, on_kept = rowids_on(db, lost), rowids_on(db, kept)
    with closing(sqlite3.connect(db)) as conn, conn:  # changed after the backup
        conn.execute(
            "UPDATE members SET name = 'changed' WHERE id IN (?, ?)", (on_kept[3], on_lost[3])
        )
    overwrite(db, {lost})

    result = repair(settings)

    with closing(sqlite3.connect(result.recovered)) as conn:
        names = dict(
            conn.execute(
                "SELECT id, name FROM members WHERE id IN (?, ?)", (on_kept[3], on_lost[3])
            )
        )
        count = conn.execute("SELECT count(*) FROM members").fetchone()[0]
    assert names[on_kept[3]] == "changed"  # the file's version
    # the documented trade-off: a row of a lost page is as it was at the backup
    assert names[on_lost[3]] == dict(original_members(original))[on_lost[3]]
    assert count == len(original["members"])
    assert result.counts["members"].from_backup == len(on_lost)


def test_rows_deleted_after_the_backup_on_a_lost_page_come_back_from_it(damaged, template):
    settings, db = damaged()
    _, original, pages = template
    lost, _ = leaf_of(pages, "notes")
    gone = rowids_on(db, lost)[:5]
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(f"DELETE FROM notes WHERE id IN ({','.join('?' * len(gone))})", gone)
    overwrite(db, {lost})

    result = repair(settings)

    with closing(sqlite3.connect(result.recovered)) as conn:
        back = conn.execute(
            f"SELECT count(*) FROM notes WHERE id IN ({','.join('?' * len(gone))})", gone
        ).fetchone()[0]
    assert back == len(gone)  # expected: the backup still had them
    assert any("rows of notes taken from backup" in note for note in result.notes)
    assert any("a row deleted since the backup comes back" in note for note in result.notes)
    all_rows_back(result, original)


def original_members(original: dict) -> list[tuple[int, str]]:
    return [(row[0], row[2]) for row in original["members"]]  # rowid, id, name, ...


# --- page 1 lost: the backup's schema only where the file still fits it ---------------------


def test_page_one_lost_after_a_vacuum_since_the_backup_invents_no_row(damaged, template):
    # members rebuilt (as a migration does) and VACUUM since the backup: the tables' root
    # pages moved, and the backup's roots would put one table's rows into another
    settings, db = damaged()
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(
            """
            BEGIN;
            CREATE TABLE members_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, joined TEXT,
                score REAL);
            INSERT INTO members_new SELECT * FROM members WHERE id % 3 <> 0;
            DROP TABLE members;
            ALTER TABLE members_new RENAME TO members;
            CREATE INDEX idx_members_name ON members (name);
            DELETE FROM files WHERE id > 8000;
            COMMIT;
            VACUUM;
            """
        )
        live = {name: set(rows) for name, rows in table_rows(conn).items() if name in TABLES}
        roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master"))
    assert roots["members"] != 2  # the backup's root of members
    with db.open("r+b") as handle:
        handle.write(bytes(PAGE))

    result = repair(settings)

    with closing(sqlite3.connect(result.recovered)) as conn:
        rows = table_rows(conn)
    backup = {name: set(rows) for name, rows in template[1].items()}
    back = invented = deleted = 0
    for name in TABLES:
        for row in rows.get(name, []):
            back += row in live[name]
            deleted += row not in live[name] and row in backup[name]  # the documented trade-off
            invented += row not in live[name] and row not in backup[name]
    total = sum(len(r) for r in live.values())
    assert invented == 0  # 21,334 without the check of the backup's roots
    assert back == total  # every leaf is placed by its rowids and value kinds
    # no root, so no range: the backup gives nothing (it would bring deleted rows back)
    assert deleted == 0
    assert sum(c.from_backup for c in result.counts.values()) == 0
    assert any("is not a root of it in this file" in note for note in result.notes)
    assert any("its tree was not found at all" in note for note in result.notes), result.notes
    assert result.integrity == "ok"


def test_page_one_lost_without_a_backup_keeps_without_rowid_rows_in_lost_and_found(
    tmp_path, settings_for
):
    db = tmp_path / "pmo_recovery.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE tags (tag TEXT PRIMARY KEY, uses INTEGER) WITHOUT ROWID")
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)")
        conn.executemany(
            "INSERT INTO tags VALUES (?, ?)", [(f"tag {i:04d}", i) for i in range(2000)]
        )
        conn.executemany(
            "INSERT INTO events VALUES (?, ?)", [(i, f"event {i}") for i in range(1, 2001)]
        )
    with db.open("r+b") as handle:
        handle.write(bytes(PAGE))

    result = repair(settings_for(db))

    with closing(sqlite3.connect(result.recovered)) as conn:
        kept = set(
            conn.execute("SELECT c0, c1 FROM lost_and_found WHERE nfield = 2 AND row_id IS NULL")
        )
        events = conn.execute(
            "SELECT count(*) FROM lost_and_found WHERE row_id IS NOT NULL"
        ).fetchone()[0]
    assert {(f"tag {i:04d}", i) for i in range(2000)} <= kept
    assert events == 2000
    assert result.integrity == "ok"


def test_a_backup_that_cannot_be_read_is_a_note_not_a_failure(damaged, template):
    settings, db = damaged()
    _, original, pages = template
    for archive in settings.backup_dir.rglob("*.zip"):
        overwrite(archive, {2, 3})  # its database member no longer matches its checksum
    lost, cells = leaf_of(pages, "members")
    overwrite(db, {lost})

    result = repair(settings)

    total = sum(len(r) for r in original.values())
    assert recovered_rows(result, original) == (total - cells, 0)
    assert any("no verified backup could be read" in note for note in result.notes)
    assert result.counts["members"].from_backup == 0
    assert result.integrity == "ok"


# --- a WITHOUT ROWID table (the bot's reminders): one bad field of one leaf costs no row ---


@pytest.fixture(scope="module")
def without_rowid_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list]:
    """3,000 reminders in a WITHOUT ROWID table (many leaves) beside a rowid table."""
    path = tmp_path_factory.mktemp("without-rowid") / "template.db"
    return reminders_database(path, "user_id, kind", ("checkin", "journal", "meditate"))


@pytest.fixture(scope="module")
def descending_key_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list]:
    """The same, its key kept in another order: user_id descending, then kind without
    regard to case (in which "journal" comes before "Meditate", not after it)."""
    path = tmp_path_factory.mktemp("without-rowid-desc") / "template.db"
    return reminders_database(
        path, "user_id DESC, kind COLLATE NOCASE", ("Checkin", "journal", "Meditate")
    )


def reminders_database(path: Path, key: str, kinds: tuple[str, ...]) -> tuple[Path, dict, list]:
    rng = random.Random(3)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "CREATE TABLE reminders (user_id INTEGER NOT NULL, kind TEXT NOT NULL, "
            "remind_at TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, "
            f"created_at TEXT NOT NULL, PRIMARY KEY ({key})) WITHOUT ROWID"
        )
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)")
        conn.executemany(
            "INSERT INTO reminders VALUES (?, ?, ?, ?, ?)",
            [
                (u, k, f"{rng.randrange(24):02d}:00", rng.randrange(2), "2026-11-01 08:00")
                for u in range(1, 1001)
                for k in kinds
            ],
        )
        conn.executemany("INSERT INTO events VALUES (?, ?)", [(i, f"e{i}") for i in range(500)])
    with closing(sqlite3.connect(path)) as conn:
        rows = table_rows(conn)
        pages = conn.execute("SELECT name, pageno, pagetype, ncell, path FROM dbstat").fetchall()
    return path, rows, pages


INDEX_HEADER_FIELDS = {
    **{k: v for k, v in HEADER_FIELDS.items() if not k.startswith("kind")},
    "kind 0x00": (0, lambda old: b"\x00"),
    "kind of an interior index page": (0, lambda old: b"\x02"),
    "kind of a table leaf": (0, lambda old: b"\x0d"),
}


@pytest.mark.parametrize("field", list(INDEX_HEADER_FIELDS))
def test_one_bad_header_field_of_a_without_rowid_leaf_costs_no_row(
    tmp_path, settings_for, without_rowid_template, field
):
    template, original, pages = without_rowid_template
    db = tmp_path / "pmo_recovery.db"
    shutil.copyfile(template, db)
    page, _ = leaf_of(pages, "reminders")
    at, change = INDEX_HEADER_FIELDS[field]
    patch(db, page, at, change(read(db, page, at, FIELD_SIZES[at])))
    result = repair(settings_for(db))
    with closing(sqlite3.connect(result.recovered)) as conn:
        assert table_rows(conn) == original
    assert result.lost_and_found == 0 and result.integrity == "ok"


@pytest.mark.parametrize("where", ["into its cell", "past the page", "onto another cell"])
def test_one_bad_cell_pointer_of_a_without_rowid_leaf_costs_no_row(
    tmp_path, settings_for, without_rowid_template, where
):
    template, original, pages = without_rowid_template
    db = tmp_path / "pmo_recovery.db"
    shutil.copyfile(template, db)
    page, _ = leaf_of(pages, "reminders")
    misdirect_pointer(db, page, where)
    result = repair(settings_for(db))
    with closing(sqlite3.connect(result.recovered)) as conn:
        assert table_rows(conn) == original
    assert result.lost_and_found == 0 and result.integrity == "ok"
    assert any("read cell by cell" in note for note in result.notes), result.notes


@pytest.mark.parametrize("template_of", ["without_rowid_template", "descending_key_template"])
def test_a_lost_leaf_of_a_without_rowid_table_is_filled_from_the_backup_by_key(
    tmp_path, settings_for, request, template_of
):
    template, original, pages = request.getfixturevalue(template_of)
    db = tmp_path / "pmo_recovery.db"
    shutil.copyfile(template, db)
    settings = settings_for(db)
    create_backup(settings, "manual", trigger="test")
    page, cells = leaf_of(pages, "reminders")  # a leaf in the middle: users 1 and 1000 not on it
    with closing(sqlite3.connect(db)) as conn, conn:
        # since the backup: a row changed on a page that survives, one deleted far from it
        conn.execute("UPDATE reminders SET remind_at = 'changed' WHERE user_id = 1")
        conn.execute("DELETE FROM reminders WHERE user_id = 1000")
    overwrite(db, {page}, seed=9)

    result = repair(settings)

    with closing(sqlite3.connect(result.recovered)) as conn:
        rows = table_rows(conn)["reminders"]
    expected = [
        (u, k, "changed" if u == 1 else t, e, c)
        for (u, k, t, e, c) in original["reminders"]
        if u != 1000
    ]
    assert rows == expected
    assert result.counts["reminders"].from_backup == cells
    assert any(f"{cells} rows of reminders taken from backup" in n for n in result.notes)
    assert result.lost_and_found == 0 and result.integrity == "ok"


@pytest.mark.parametrize(
    "key",
    [
        "a, b",
        "a DESC, b",
        "a, b COLLATE NOCASE",
        "a DESC, b COLLATE NOCASE DESC",
        "b COLLATE RTRIM",
    ],
)
def test_the_key_range_a_lost_page_held_is_read_in_the_tree_s_own_order(tmp_path, key):
    """What a lost page of a WITHOUT ROWID table held is taken from the backup by the keys
    beside it: "after" and "before" a key must be the tree's order, DESC and collation too."""
    from src.services.salvage.layouts import KeyOrder, SchemaRow, build_layouts
    from src.services.salvage.second_source import beyond

    db = tmp_path / "keys.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            f"CREATE TABLE t (a INTEGER, b TEXT, c TEXT, PRIMARY KEY ({key})) WITHOUT ROWID"
        )
        words = ["apple", "Apple ", "Banana", "banana!", "cherry", "Cherry2", "b", "B "]
        rows = {(a, w) for a in range(4) for w in words}
        conn.executemany("INSERT OR IGNORE INTO t VALUES (?, ?, 'x')", sorted(rows))
    with closing(sqlite3.connect(db)) as conn:
        master = conn.execute("SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master")
        (layout,) = [t for t in build_layouts([SchemaRow(*r) for r in master]) if t.name == "t"]
        keys = list(zip(layout.stored[: layout.keys], layout.key_order, strict=True))
        assert all(isinstance(order, KeyOrder) for _, order in keys)
        names = ", ".join(c for c, _ in keys)
        in_tree_order = conn.execute(f"SELECT {names} FROM t").fetchall()  # a scan of the tree
        for i, bound in enumerate(in_tree_order):
            after, values = beyond(keys, list(bound), after=True)
            found = conn.execute(f"SELECT {names} FROM t WHERE {after}", values).fetchall()
            assert sorted(found) == sorted(in_tree_order[i + 1 :]), (key, bound)
            before, values = beyond(keys, list(bound), after=False)
            found = conn.execute(f"SELECT {names} FROM t WHERE {before}", values).fetchall()
            assert sorted(found) == sorted(in_tree_order[:i]), (key, bound)
