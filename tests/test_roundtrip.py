"""Backup, unpack, compare every row of every table: the .db, the SQL dump, the JSON export."""

from __future__ import annotations

import base64
import math
import shutil
import sqlite3
import subprocess
import zipfile
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from src.services.backup_service import create_backup
from tests.conftest import table_rows, without_rowid

SQLITE3 = shutil.which("sqlite3")


def members(archive: Path) -> dict[str, bytes]:
    """Read every member of an archive."""
    with zipfile.ZipFile(archive) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def extract(archive: Path, name: str, target: Path) -> Path:
    """Write one member to target."""
    target.write_bytes(members(archive)[name])
    return target


def load_sql_with_cli(sql: bytes, target: Path) -> None:
    """Load an SQL dump with Debian's sqlite3 CLI, as an operator would."""
    assert SQLITE3, "Debian's sqlite3 CLI is needed (.ci/run installs it)"
    subprocess.run([SQLITE3, "-bail", str(target)], input=sql, check=True, capture_output=True)


def decode_json_value(value: object) -> object:
    """Undo the JSON export's tagging of BLOBs and infinities."""
    if isinstance(value, dict) and "$blob" in value:
        return base64.b64decode(value["$blob"])
    if isinstance(value, dict) and "$real" in value:
        return math.inf if value["$real"] == "Infinity" else -math.inf
    return value


def json_tables(data: bytes) -> dict[str, list[tuple[object, ...]]]:
    """Read the JSON export's rows per table."""
    export = orjson.loads(data)
    return {
        name: sorted((tuple(decode_json_value(v) for v in row) for row in table["rows"]), key=repr)
        for name, table in export["tables"].items()
    }


def source_rows_for_json(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Rows as the JSON export holds them: rowid first only where it is no column."""
    conn = sqlite3.connect(db)
    result = {}
    for name, _sql in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='table' AND sql IS NOT NULL"
    ):
        # SQLite's own answer (its modules' xShadowName), not a rule about names
        shadow = conn.execute(
            "SELECT count(*) FROM pragma_table_list WHERE name = ? AND type = 'shadow'", (name,)
        ).fetchone()[0]
        if shadow or name.startswith("sqlite_stat"):
            continue
        quoted = '"' + name.replace('"', '""') + '"'
        info = conn.execute(f"PRAGMA table_xinfo({quoted})").fetchall()
        columns = ", ".join('"' + r[1].replace('"', '""') + '"' for r in info if r[6] == 0)
        pk = [r for r in info if r[5]]
        origins = [r[3] for r in conn.execute(f"PRAGMA index_list({quoted})")]
        alias = len(pk) == 1 and pk[0][2].upper() == "INTEGER" and "pk" not in origins
        plain = without_rowid(conn, name) or alias
        rowid = "_rowid_" if any(r[1].lower() == "rowid" for r in info) else "rowid"
        query = f"SELECT {'' if plain else rowid + ', '}{columns} FROM {quoted}"
        result[name] = sorted(conn.execute(query).fetchall(), key=repr)
    conn.close()
    return result


def assert_same_database(source: Path, copy: Path) -> None:
    """Compare every row of every table, the schema and the header pragmas."""
    with sqlite3.connect(source) as a, sqlite3.connect(copy) as b:
        assert table_rows(a) == table_rows(b)
        schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        assert a.execute(schema).fetchall() == b.execute(schema).fetchall()
        for pragma in ("user_version", "application_id"):
            query = f"PRAGMA {pragma}"
            assert a.execute(query).fetchone() == b.execute(query).fetchone()
        assert b.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def check_round_trip(db: Path, settings, tmp_path: Path) -> None:
    """Back up `db`; the .db, the SQL dump and the JSON export must all equal it."""
    result = create_backup(settings, "manual")
    files = members(result.path)
    stem = db.stem
    assert {
        f"database/{db.name}",
        f"database/{stem}.sql",
        f"database/{stem}.json",
        "metadata.json",
    } <= set(files)
    archived = extract(result.path, f"database/{db.name}", tmp_path / "archived.db")
    assert_same_database(db, archived)
    loaded = tmp_path / "from_sql.db"
    load_sql_with_cli(files[f"database/{stem}.sql"], loaded)
    assert_same_database(db, loaded)
    assert json_tables(files[f"database/{stem}.json"]) == source_rows_for_json(db)


def test_chinook_round_trip_through_db_sql_and_json(chinook, settings_for, tmp_path):
    check_round_trip(chinook, settings_for(chinook), tmp_path)


def test_bot_sample_round_trip_through_db_sql_and_json(sample_db, settings_for, tmp_path):
    check_round_trip(sample_db, settings_for(sample_db), tmp_path)


@pytest.fixture
def awkward_db(tmp_path: Path) -> Path:
    """A database with every value and schema object that dumps get wrong."""
    db = tmp_path / "awkward.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        '''
        PRAGMA journal_mode=WAL;
        CREATE TABLE plain(a, b TEXT, c REAL, d BLOB);
        CREATE TABLE counter(id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
        CREATE TABLE desc_pk(id INTEGER PRIMARY KEY DESC, v);
        CREATE TABLE wr(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
        CREATE TABLE "odd ""name"""("rowid" TEXT, "select" INT);
        CREATE TABLE gen(a INT, b INT GENERATED ALWAYS AS (a * 2) VIRTUAL);
        CREATE VIEW v_plain AS SELECT a, b FROM plain;
        CREATE INDEX plain_b ON plain(b);
        CREATE TRIGGER counter_touch AFTER INSERT ON counter BEGIN
            UPDATE plain SET b = b WHERE 0;
        END;
        CREATE VIRTUAL TABLE notes USING fts5(title, body);
        PRAGMA user_version = 42;
        PRAGMA application_id = 1347243858;
        '''
    )
    values = [
        (2**63 - 1, "emoji 🙏💪 <b>&amp;", 0.1 + 0.2, b"\x00\xff\x10"),
        (-(2**63), "line\nbreak 'quote' \"dq\"", math.inf, b""),
        (None, "nul\x00inside", -math.inf, None),
        (1.5, "", 5e-324, bytes(range(256))),
        ("text in int column", "Ünïcödé 漢字 العربية", 1e308, b"x" * 5000),
    ]
    conn.executemany("INSERT INTO plain VALUES (?, ?, ?, ?)", values)
    # rowids with gaps, in a table whose rowid is no column (iterdump would renumber them)
    conn.execute("DELETE FROM plain WHERE a IS NULL")
    conn.executemany("INSERT INTO counter(v) VALUES (?)", [("x",), ("y",), ("z",)])
    conn.execute("DELETE FROM counter WHERE v = 'z'")
    conn.executemany("INSERT INTO desc_pk VALUES (?, ?)", [(10, "a"), (3, "b")])
    conn.executemany("INSERT INTO wr VALUES (?, ?)", [("k1", 1), ("k2", None)])
    conn.execute('INSERT INTO "odd ""name""" VALUES (?, ?)', ("r", 7))
    conn.execute("INSERT INTO gen(a) VALUES (21)")
    conn.executemany(
        "INSERT INTO notes(rowid, title, body) VALUES (?, ?, ?)",
        [(5, "Hari ke-10", "Tetap semangat 💪"), (9, "relapse", "belajar dari ini")],
    )
    conn.commit()
    conn.close()
    return db


def test_awkward_values_and_schema_objects_survive(awkward_db, settings_for, tmp_path):
    check_round_trip(awkward_db, settings_for(awkward_db), tmp_path)
    loaded = sqlite3.connect(tmp_path / "from_sql.db")
    assert loaded.execute("SELECT rowid FROM notes WHERE notes MATCH 'semangat'").fetchall() == [
        (5,)
    ]
    assert loaded.execute("SELECT seq FROM sqlite_sequence WHERE name='counter'").fetchone() == (3,)
    assert loaded.execute("SELECT b FROM gen").fetchone() == (42,)


def test_metadata_records_database_facts_and_member_hashes(chinook, settings_for):
    import hashlib

    result = create_backup(settings_for(chinook), "manual")
    files = members(result.path)
    meta = orjson.loads(files["metadata.json"])
    assert meta["format_version"] == 1
    assert meta["backup_type"] == "manual"
    assert datetime.fromisoformat(meta["created_at"]).utcoffset() is not None
    db = meta["database"]
    assert db["tables"]["Track"] == 3503
    assert db["user_count"] is None  # Chinook has no users table
    assert db["integrity_before"] == db["integrity_after"] == "ok"
    assert db["journal_mode"] == "delete"
    for member in meta["members"]:
        data = files[member["path"]]
        assert member["size"] == len(data)
        assert member["sha256"] == hashlib.sha256(data).hexdigest()
    assert {m["path"] for m in meta["members"]} == set(files) - {"metadata.json"}


def test_archive_passes_unzip_test_and_is_owner_only(chinook, settings_for):
    result = create_backup(settings_for(chinook), "manual")
    unzip = shutil.which("unzip")
    assert unzip, "Debian's unzip is needed (.ci/run installs it)"
    done = subprocess.run(
        [unzip, "-tq", str(result.path)], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert result.path.stat().st_mode & 0o777 == 0o600


def test_env_file_is_never_archived(chinook, settings_for, tmp_path):
    secret = tmp_path / ".env"
    secret.write_text("BOT_TOKEN=123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ\n")
    settings = settings_for(chinook, CONFIG_FILES=f"{secret},requirements.txt")
    result = create_backup(settings, "manual")
    files = members(result.path)
    assert not any(name.endswith(".env") for name in files)
    assert all(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ" not in data for data in files.values())
    assert any(".env" in missing for missing in result.missing_files)


def test_utf16_database_round_trips(tmp_path, settings_for):
    db = tmp_path / "utf16.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA encoding = 'UTF-16le'")
    conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO notes(body) VALUES (?)", [("Semangat 💪",), ("漢字 <b>",), ("",)])
    conn.commit()
    conn.close()
    check_round_trip(db, settings_for(db), tmp_path)


def test_invalid_utf8_text_is_archived_byte_for_byte(tmp_path, settings_for):
    db = tmp_path / "bad_text.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes VALUES (1, CAST(X'C3' AS TEXT)), (2, 'fine')")
    conn.commit()
    conn.close()
    result = create_backup(settings_for(db), "manual")
    files = members(result.path)
    rows = orjson.loads(files["database/bad_text.json"])["tables"]["notes"]["rows"]
    assert rows == [[1, {"$text_hex": "c3"}], [2, "fine"]]
    loaded = tmp_path / "from_sql.db"
    load_sql_with_cli(files["database/bad_text.sql"], loaded)
    check = sqlite3.connect(loaded)
    assert check.execute("SELECT hex(body), typeof(body) FROM notes WHERE id=1").fetchone() == (
        "C3",
        "text",
    )


def test_rowids_kept_when_without_rowid_is_only_a_default_value(tmp_path, settings_for):
    db = tmp_path / "words.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes(body DEFAULT 'written WITHOUT ROWID', n)")
    conn.execute("INSERT INTO notes(rowid, body, n) VALUES (2, 'x', 1), (3, 'y', 2)")
    conn.commit()
    conn.close()
    check_round_trip(db, settings_for(db), tmp_path)


def test_virtual_table_of_a_missing_module_keeps_its_schema_and_the_rest(tmp_path, settings_for):
    db = tmp_path / "vec.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name)")
    conn.execute("INSERT INTO users VALUES (1, 'Budi')")
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute(
        "INSERT INTO sqlite_master(type,name,tbl_name,rootpage,sql) VALUES"
        "('table','vec','vec',0,'CREATE VIRTUAL TABLE vec USING vec0(e float[4])')"
    )
    conn.commit()
    conn.close()
    result = create_backup(settings_for(db), "manual")
    assert not result.degraded
    files = members(result.path)
    assert b"CREATE VIRTUAL TABLE vec USING vec0" in files["database/vec.sql"]
    assert b'INSERT INTO "users"' in files["database/vec.sql"]
    assert orjson.loads(files["database/vec.json"])["tables"]["users"]["rows"] == [[1, "Budi"]]
