"""repair never fails on the worst day: whatever bytes the file holds, it writes a database
that passes integrity_check, and a report, and exits 0 (4 when no SQLite page is left).

The fuzz cases flip bits in, cut and overwrite real databases (Chinook and the bot's sample
database); the regression cases are the crashes random damage found, one test each.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.cli import output
from src.config.settings import load_settings
from src.errors import ExitStatus, NotADatabase
from src.services.backup_service import create_backup
from src.services.repair_service import RepairResult, repair
from src.services.salvage import btree
from src.services.salvage import run as salvage_run
from src.services.salvage.fileformat import parse_header
from tests.conftest import CHINOOK, ROOT, make_env, table_rows

# ---------------------------------------------------------------------------------------
# damage
# ---------------------------------------------------------------------------------------


def flip_bits(data: bytes, bits: int, seed: int) -> bytes:
    """Flip `bits` bits drawn uniformly over the whole file."""
    damaged = bytearray(data)
    rng = random.Random(seed)
    for _ in range(bits):
        bit = rng.randrange(len(damaged) * 8)
        damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


def overwrite(data: bytes, spans: list[tuple[float, int]], seed: int) -> bytes:
    """Overwrite spans (start as a fraction of the file, length) with random bytes."""
    damaged = bytearray(data)
    rng = random.Random(seed)
    for start, length in spans:
        at = int(start * len(damaged))
        damaged[at : at + length] = rng.randbytes(len(damaged[at : at + length]))
    return bytes(damaged)


# ---------------------------------------------------------------------------------------
# one repair, in this process
# ---------------------------------------------------------------------------------------


class Problems(logging.Handler):
    """Collect what the tool logs as an error, or with a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@contextmanager
def logged_problems() -> Iterator[Problems]:
    """Catch error records and tracebacks logged anywhere under `src`."""
    handler = Problems()
    logger = logging.getLogger("src")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@contextmanager
def scratch() -> Iterator[Path]:
    """A folder of its own for one fuzz example (tmp_path is one per test, not per example)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        yield Path(tmp)


def assert_repairs(data: bytes, folder: Path, backups: Path | None = None) -> RepairResult | None:
    """Repair `data` in `folder`: a sound database and a report, or exit 4 without a header."""
    db = folder / "pmo_recovery.db"
    db.write_bytes(data)
    if backups is not None:
        shutil.copytree(backups, folder / "backups")
    config = load_settings(make_env(folder, db), root=ROOT, env_file=folder / ".env")
    with logged_problems() as problems:
        try:
            result = repair(config)
        except NotADatabase:
            # the one refusal: no header, and no page a size could be guessed from
            assert parse_header(data[:100]) is None
            assert not problems.records
            return None
    assert result.integrity == "ok", result.integrity
    with closing(sqlite3.connect(result.recovered)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert result.report.is_file()
    assert result.unexpected_errors == [], result.unexpected_errors
    assert not problems.records, [r.getMessage() for r in problems.records]
    return result


# ---------------------------------------------------------------------------------------
# fuzz: bit flips, truncations, overwrites of Chinook and of the bot's sample database
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def originals(
    sample_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[bytes, Path]]:
    """Each database's bytes, and a backups folder holding one verified backup of it."""
    found = {}
    for name, source in (("chinook", CHINOOK), ("sample", sample_template)):
        folder = tmp_path_factory.mktemp(f"fuzz-{name}")
        db = folder / "pmo_recovery.db"
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(db)) as dst:
            src.backup(dst)
        config = load_settings(make_env(folder, db), root=ROOT, env_file=folder / ".env")
        create_backup(config, "manual", trigger="test")
        found[name] = (db.read_bytes(), folder / "backups")
    return found


def fuzz(examples: int) -> settings:
    """Hypothesis settings for `examples` repairs (about 0.1-0.8 s each)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )


DATABASES = st.sampled_from(["chinook", "sample"])


@fuzz(30)
@given(
    name=DATABASES,
    bits=st.sampled_from([100, 1000]),
    seed=st.integers(0, 2**32 - 1),
    with_backup=st.booleans(),
)
def test_repair_survives_random_bit_flips(originals, name, bits, seed, with_backup):
    data, backups = originals[name]
    with scratch() as folder:
        assert_repairs(flip_bits(data, bits, seed), folder, backups if with_backup else None)


@fuzz(20)
@given(name=DATABASES, keep=st.floats(0.0, 1.0), with_backup=st.booleans())
def test_repair_survives_a_file_cut_anywhere(originals, name, keep, with_backup):
    data, backups = originals[name]
    with scratch() as folder:
        assert_repairs(data[: int(len(data) * keep)], folder, backups if with_backup else None)


@fuzz(30)
@given(
    name=DATABASES,
    spans=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 9000)), min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
    with_backup=st.booleans(),
)
def test_repair_survives_random_bytes_written_over_the_file(
    originals, name, spans, seed, with_backup
):
    data, backups = originals[name]
    with scratch() as folder:
        assert_repairs(overwrite(data, spans, seed), folder, backups if with_backup else None)


# before issue 13's fix: seed 10 raised UnicodeDecodeError, seed 20 TypeError (exit 1)
@pytest.mark.parametrize("seed", [10, 20])
def test_repair_cli_exits_0_on_flipped_bits_and_logs_no_traceback(run_cli, tmp_path, chinook, seed):
    chinook.write_bytes(flip_bits(chinook.read_bytes(), 1000, seed))
    done = run_cli("repair", db=chinook)
    assert done.returncode == ExitStatus.OK, done.stderr
    assert "Traceback" not in done.stderr and "Unexpected error" not in done.stderr
    assert "Report: " in done.stdout
    errors = tmp_path / "logs" / "errors.log"
    assert not errors.exists() or "Traceback" not in errors.read_text(encoding="utf-8")
    recovered = next((tmp_path / "recovery").glob("recovered_*.db"))
    with closing(sqlite3.connect(recovered)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_repair_cli_exits_4_when_the_file_is_cut_inside_its_header(run_cli, tmp_path, chinook):
    chinook.write_bytes(chinook.read_bytes()[:50])
    done = run_cli("repair", db=chinook)
    assert done.returncode == ExitStatus.DATABASE, done.stderr
    assert "no header and no page that SQLite wrote" in done.stderr
    errors = tmp_path / "logs" / "errors.log"
    assert not errors.exists() or "Traceback" not in errors.read_text(encoding="utf-8")
    assert not list((tmp_path / "recovery").glob("recovered_*"))


# ---------------------------------------------------------------------------------------
# regressions: the crashes random bit flips found
# ---------------------------------------------------------------------------------------


def case(tmp_path: Path) -> Path:
    """A folder for the damaged copy, its repair and the report."""
    folder = tmp_path / "case"
    folder.mkdir()
    return folder


def test_a_float_serial_type_with_fewer_than_8_bytes_left_sends_the_row_to_lost_and_found(
    tmp_path,
):
    db = tmp_path / "pmo_recovery.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(1, 5, "xy"), (2, 6, "zw")])
    data = db.read_bytes()
    # row 1's record: header (4 bytes: size, NULL rowid alias, 1-byte int, 2-byte text)
    # then 5, "xy"; its int's serial type 1 becomes 7, a float that needs 8 bytes (3 left)
    cell = bytes([4, 0, 1, 12 + 2 * 2 + 1]) + b"\x05xy"
    assert data.count(cell) == 1
    result = assert_repairs(data.replace(cell, bytes([4, 0, 7, 17]) + b"\x05xy"), case(tmp_path))
    assert result is not None
    with closing(sqlite3.connect(result.recovered)) as conn:
        assert conn.execute("SELECT * FROM t").fetchall() == [(2, 6, "zw")]
        lost = conn.execute("SELECT table_guess, row_id, reason FROM lost_and_found").fetchall()
    assert lost == [("t", 1, "record body shorter than its header says")]


def test_a_schema_error_message_that_is_not_utf8_does_not_stop_the_repair(tmp_path):
    db = tmp_path / "pmo_recovery.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "x"), (2, "y")])
        conn.commit()
        # a damaged schema row: its name is not UTF-8 and its SQL does not parse, so SQLite
        # says "malformed database schema (A\xb0)", bytes Python cannot decode as UTF-8
        conn.execute("PRAGMA writable_schema=ON")
        conn.execute(
            "INSERT INTO sqlite_master VALUES "
            "('table', CAST(X'41B0' AS TEXT), CAST(X'41B0' AS TEXT), 0, 'CREATE TABLE x(')"
        )
        conn.commit()
    result = assert_repairs(db.read_bytes(), case(tmp_path))
    assert result is not None
    with closing(sqlite3.connect(result.recovered)) as conn:
        assert conn.execute("SELECT * FROM t ORDER BY id").fetchall() == [(1, "x"), (2, "y")]


def test_a_schema_row_named_other_than_its_sql_keeps_the_tables_rows(tmp_path, chinook):
    with closing(sqlite3.connect(chinook)) as conn:
        original = table_rows(conn)["Album"]
        conn.execute("PRAGMA writable_schema=ON")
        conn.execute("UPDATE sqlite_master SET name = 'Albun' WHERE name = 'Album'")
        conn.commit()
    result = assert_repairs(chinook.read_bytes(), case(tmp_path))
    assert result is not None
    with closing(sqlite3.connect(result.recovered)) as conn:
        assert table_rows(conn)["Album"] == original
    assert any("'Albun'" in note and "'Album'" in note for note in result.notes), result.notes


# ---------------------------------------------------------------------------------------
# regressions: what the fuzz cases found once those were fixed
# ---------------------------------------------------------------------------------------


def make_db(path: Path, *statements: str) -> Path:
    """Create a database from statements (writable_schema on, to damage the schema)."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA writable_schema=ON")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    return path


def test_a_foreign_key_to_a_column_that_is_no_key_is_noted_not_fatal(tmp_path):
    db = make_db(
        tmp_path / "pmo_recovery.db",
        "CREATE TABLE p (id INTEGER, name TEXT)",
        "CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p (id))",
        "INSERT INTO p VALUES (1, 'one')",
        "INSERT INTO c VALUES (1, 1), (2, 7)",
    )
    result = assert_repairs(db.read_bytes(), case(tmp_path))
    assert result is not None
    assert result.rows == {"p": 1, "c": 2}
    assert any(
        note.startswith("the foreign keys of c could not be checked: foreign key mismatch")
        for note in result.notes
    ), result.notes


def test_an_fts_table_whose_content_table_is_lost_is_dropped_not_fatal(tmp_path):
    db = make_db(
        tmp_path / "pmo_recovery.db",
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT)",
        "CREATE VIRTUAL TABLE docs_fts USING fts5(title, content='docs', content_rowid='id')",
        "INSERT INTO docs VALUES (1, 'semangat'), (2, 'hari ini')",
        "INSERT INTO docs_fts (docs_fts) VALUES ('rebuild')",
        "UPDATE sqlite_master SET sql = 'CREATE TABLE docs (' WHERE name = 'docs'",
    )
    result = assert_repairs(db.read_bytes(), case(tmp_path))
    assert result is not None
    assert "docs_fts" not in result.rows and "docs" not in result.rows
    assert "table docs_fts: could not be filled again (SQL logic error)" in result.failed_objects
    with closing(sqlite3.connect(result.recovered)) as conn:
        lost = conn.execute("SELECT row_id, c1 FROM lost_and_found ORDER BY row_id").fetchall()
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert lost == [(1, "semangat"), (2, "hari ini")]
    assert not any(name.startswith("docs_fts") for name in names)


def test_rows_lost_again_go_beside_an_earlier_repairs_lost_and_found(tmp_path):
    db = make_db(
        tmp_path / "pmo_recovery.db",
        "CREATE TABLE lost_and_found (id INTEGER PRIMARY KEY, page INTEGER, reason TEXT)",
        "INSERT INTO lost_and_found VALUES (1, 9, 'from the repair before')",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT)",
        "INSERT INTO t VALUES (1, 5, 'xy'), (2, 6, 'zw')",
    )
    cell = bytes([4, 0, 1, 17]) + b"\x05xy"  # row 1: its int takes 2 bytes, its text is short
    damaged = db.read_bytes().replace(cell, bytes([4, 0, 2, 17]) + b"\x05xy")
    result = assert_repairs(damaged, case(tmp_path))
    assert result is not None
    assert result.rows == {"lost_and_found": 1, "t": 1}
    with closing(sqlite3.connect(result.recovered)) as conn:
        assert conn.execute("SELECT * FROM lost_and_found").fetchall() == [
            (1, 9, "from the repair before")
        ]
        assert conn.execute("SELECT table_guess, row_id FROM lost_and_found_2").fetchall() == [
            ("t", 1)
        ]
    assert any("are in lost_and_found_2" in note for note in result.notes), result.notes


def test_a_record_claiming_thousands_of_values_is_kept_as_sqlite_allows(tmp_path):
    db = make_db(
        tmp_path / "pmo_recovery.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)",
        "INSERT INTO t VALUES (1, zeroblob(3000)), (2, x'01')",
    )
    # the record's header size (4) becomes a two-byte varint (2944): its header then runs
    # into the BLOB's 3,000 zero bytes, each a NULL serial type
    record = bytes([4, 0, 0xAE, 0x7C]) + bytes(3000)  # 0xAE 0x7C: serial type 6012
    data = db.read_bytes()
    assert data.count(record) == 1
    result = assert_repairs(data.replace(record, bytes([0x97]) + record[1:]), case(tmp_path))
    assert result is not None
    with closing(sqlite3.connect(result.recovered)) as conn:
        row_id, nfield = conn.execute("SELECT row_id, nfield FROM lost_and_found").fetchone()
        columns = len(conn.execute("PRAGMA table_info(lost_and_found)").fetchall())
        most = conn.getlimit(sqlite3.SQLITE_LIMIT_COLUMN)
        assert conn.execute("SELECT * FROM t").fetchall() == [(2, b"\x01")]
    assert (row_id, nfield) == (1, 1 + 2940)  # the BLOB's serial type, then 2,940 NULLs
    assert columns == most  # SQLite's limit (2,000): 1,994 values, and nfield says 2,941


def test_schema_rows_holding_the_wrong_kinds_of_values_lose_no_rows(tmp_path):
    db = make_db(
        tmp_path / "pmo_recovery.db",
        "CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT)",
        "CREATE TABLE b (id INTEGER PRIMARY KEY, y TEXT)",
        "CREATE TABLE c (id INTEGER PRIMARY KEY, z TEXT)",
        "INSERT INTO a VALUES (1, 'a1')",
        "INSERT INTO b VALUES (1, 'b1')",
        "INSERT INTO c VALUES (1, 'c1')",
        "UPDATE sqlite_master SET rootpage = 'two' WHERE name = 'a'",
        "UPDATE sqlite_master SET sql = CAST(sql AS BLOB) WHERE name = 'b'",
    )
    result = assert_repairs(db.read_bytes(), case(tmp_path))
    assert result is not None
    assert result.rows == {"c": 1}
    with closing(sqlite3.connect(result.recovered)) as conn:
        lost = conn.execute("SELECT c1 FROM lost_and_found ORDER BY c1").fetchall()
    assert lost == [("a1",), ("b1",)]


def test_a_shadow_table_under_a_damaged_name_leaves_the_fts_table_whole(tmp_path):
    db = make_db(
        tmp_path / "pmo_recovery.db",
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT)",
        "CREATE VIRTUAL TABLE docs_fts USING fts5(title, content='docs', content_rowid='id')",
        "INSERT INTO docs VALUES (1, 'semangat'), (2, 'hari ini')",
        "INSERT INTO docs_fts (docs_fts) VALUES ('rebuild')",
        "UPDATE sqlite_master SET name = 'docs_ftz_idx' WHERE name = 'docs_fts_idx'",
    )
    result = assert_repairs(db.read_bytes(), case(tmp_path))
    assert result is not None
    assert result.failed_objects == []
    with closing(sqlite3.connect(result.recovered)) as conn:
        assert conn.execute("SELECT * FROM docs").fetchall() == [(1, "semangat"), (2, "hari ini")]
        found = conn.execute("SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'hari'").fetchall()
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert found == [(2,)]
    assert "docs_ftz_idx" not in names


def test_a_virtual_table_whose_tables_names_are_taken_is_not_half_made(tmp_path):
    db = make_db(
        tmp_path / "pmo_recovery.db",
        "CREATE TABLE notes_data (id INTEGER PRIMARY KEY, body TEXT)",
        "INSERT INTO notes_data VALUES (1, 'mine')",
        "CREATE VIRTUAL TABLE other USING fts5(body)",
        # damaged SQL: the FTS5 table would now be `notes`, whose data table is notes_data
        "UPDATE sqlite_master SET sql = 'CREATE VIRTUAL TABLE notes USING fts5(body)' "
        "WHERE name = 'other'",
    )
    result = assert_repairs(db.read_bytes(), case(tmp_path))
    assert result is not None
    assert "table other: the names it needs are taken: notes_data" in result.failed_objects
    with closing(sqlite3.connect(result.recovered)) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("SELECT * FROM notes_data").fetchall() == [(1, "mine")]
    assert "notes" not in names and "other" not in names


def test_an_fts_table_whose_content_option_is_damaged_is_not_kept_unreadable(tmp_path):
    db = make_db(
        tmp_path / "pmo_recovery.db",
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT)",
        "CREATE VIRTUAL TABLE docs_fts USING fts5(title, content='docs', content_rowid='id')",
        "INSERT INTO docs VALUES (1, 'semangat')",
        "INSERT INTO docs_fts (docs_fts) VALUES ('rebuild')",
        # a flipped bit: FTS5 reads its rows from a table `do)cs`, which does not exist
        "UPDATE sqlite_master SET sql = replace(sql, '''docs''', '''do)cs''') "
        "WHERE name = 'docs_fts'",
    )
    result = assert_repairs(db.read_bytes(), case(tmp_path))
    assert result is not None
    assert result.rows == {"docs": 1}
    assert result.failed_objects == ["table docs_fts: could not be filled again (SQL logic error)"]


# ---------------------------------------------------------------------------------------
# the net under the readers: an error nobody foresaw costs its page, not the repair
# ---------------------------------------------------------------------------------------


def test_an_error_no_reader_foresaw_costs_one_page_and_is_reported(tmp_path, chinook, monkeypatch):
    with closing(sqlite3.connect(chinook)) as conn:
        original = table_rows(conn)
    real = btree.decode_record

    def buggy(payload: bytes, encoding: str = "utf-8") -> list:
        # a bug no test foresaw, hit by one record of one page (Album 1, on one leaf)
        if b"For Those About To Rock We Salute You" in payload:
            raise RuntimeError("a reader bug")
        return real(payload, encoding)

    monkeypatch.setattr(btree, "decode_record", buggy)
    # the leaves are read here, row by row (SQLite's own reader would copy this whole file)
    monkeypatch.setattr(salvage_run, "open_source", lambda path: None)
    folder = case(tmp_path)
    db = folder / "pmo_recovery.db"
    db.write_bytes(chinook.read_bytes())
    config = load_settings(make_env(folder, db), root=ROOT, env_file=folder / ".env")
    with logged_problems() as problems:
        result = repair(config)

    assert result.integrity == "ok"
    [error] = result.unexpected_errors
    assert re.fullmatch(r"page \d+ of table Album: RuntimeError: a reader bug", error), error
    assert [r.exc_info[0] for r in problems.records if r.exc_info] == [RuntimeError]
    assert any(note.startswith(f"unexpected error in {error}") for note in result.notes)
    report = json.loads(result.report.read_text())
    assert report["unexpected_errors"] == [error]
    assert json.loads(output.result_json(result))["unexpected_errors"] == [error]
    text = output.repair_text(result)
    assert text.startswith("⚠️ Recovered database") and "unexpected error in page" in text
    with closing(sqlite3.connect(result.recovered)) as conn:
        recovered = table_rows(conn)
    # that page's albums are missing, every other row of every table is there
    assert 0 < len(recovered["Album"]) < len(original["Album"])
    assert set(recovered["Album"]) < set(original["Album"])
    assert all(recovered[name] == rows for name, rows in original.items() if name != "Album")


# ---------------------------------------------------------------------------------------
# fuzz: a damaged -wal or hot -journal beside an intact file
# ---------------------------------------------------------------------------------------


def _with_sidecar(folder: Path, mode: str) -> tuple[bytes, bytes, set[tuple[int, str]]]:
    """A database whose newest writes live only in its -wal (or whose last write was cut,
    leaving a hot -journal): its bytes, the sidecar's, and every row either state holds."""
    db = folder / "live.db"
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"base {i}") for i in range(1, 2001)])
        base = set(conn.execute("SELECT id, v FROM t"))
        if mode == "wal":
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")
        else:
            conn.execute("PRAGMA cache_size=1")  # changed pages reach the file before commit
        conn.execute("BEGIN")
        conn.execute("UPDATE t SET v = 'new ' || id WHERE id % 3 = 0")
        conn.executemany(
            "INSERT INTO t VALUES (?, ?)", [(i, f"new {i}") for i in range(2001, 2600)]
        )
        if mode == "wal":
            conn.execute("COMMIT")
            after = set(conn.execute("SELECT id, v FROM t"))
            data, sidecar = db.read_bytes(), Path(f"{db}-wal").read_bytes()
        else:
            after = {
                (i, f"new {i}" if i % 3 == 0 or i > 2000 else f"base {i}") for i in range(1, 2600)
            }
            data, sidecar = db.read_bytes(), Path(f"{db}-journal").read_bytes()
            conn.execute("ROLLBACK")
    return data, sidecar, base | after


@pytest.fixture(scope="module")
def sidecars(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, bytes, set]]:
    return {mode: _with_sidecar(tmp_path_factory.mktemp(mode), mode) for mode in ("wal", "journal")}


def damage(data: bytes, how: str, seed: int) -> bytes:
    rng = random.Random(seed)
    if how == "flip":
        return flip_bits(data, rng.choice([1, 10, 100]), seed)
    if how == "cut":
        return data[: rng.randrange(len(data) + 1)]
    return overwrite(data, [(rng.random(), rng.randrange(1, 5000))], seed)


@fuzz(40)
@given(
    mode=st.sampled_from(["wal", "journal"]),
    how=st.sampled_from(["flip", "cut", "overwrite"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_repair_survives_a_damaged_wal_or_journal(sidecars, mode, how, seed):
    data, sidecar, possible = sidecars[mode]
    with scratch() as folder:
        Path(folder / f"pmo_recovery.db-{mode}").write_bytes(damage(sidecar, how, seed))
        result = assert_repairs(data, folder)
        assert result is not None
        with closing(sqlite3.connect(result.recovered)) as conn:
            rows = set(conn.execute("SELECT id, v FROM t"))
        if mode == "wal" or how == "cut":
            # each row as the file or its write left it, never made up from damaged bytes
            assert rows <= possible, sorted(rows - possible)[:5]
        # (a journal's checksum samples one byte in 200 of a page: bytes changed between
        # them go unseen, by SQLite's own rollback too, and are rolled back as they are)
        if mode == "wal":  # the file is whole: a damaged -wal costs none of its rows
            assert {row[0] for row in rows} >= set(range(1, 2001))
