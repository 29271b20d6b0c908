"""Tests for the bot database schema, connections and sample data."""

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from src.database.sample import (
    SampleSummary,
    create_sample_database,
    write_sample_data_files,
)
from src.database.schema import (
    APPLICATION_ID,
    EXPECTED_TABLES,
    FTS_TABLE,
    SCHEMA_VERSION,
    connect,
    create_database,
    fts5_available,
)

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def _sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _schema_rows(path: Path) -> list[tuple[str, str, str | None]]:
    """Return every schema object of a database, sorted."""
    conn = connect(path)
    try:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master"))
    finally:
        conn.close()


def _add_user(conn: sqlite3.Connection, user_id: int = 42) -> None:
    """Insert one minimal user."""
    conn.execute(
        "INSERT INTO users (user_id, first_name, joined_at) VALUES (?, ?, ?)",
        (user_id, "Budi", "2024-01-01T08:00:00+07:00"),
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    """Build one default-sized sample database shared by the read-only tests."""
    return create_sample_database(tmp_path_factory.mktemp("sample") / "bot.db")


@pytest.fixture
def sample_conn(sample: SampleSummary) -> Iterator[sqlite3.Connection]:
    """Open the shared sample database."""
    conn = connect(sample.path)
    yield conn
    conn.close()


def test_create_database_creates_parent_dir_and_schema(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "data" / "pmo_recovery.db"
    create_database(db)
    conn = connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert set(EXPECTED_TABLES) <= tables
        assert "v_user_progress" in tables
        assert "trg_checkins_touch_user" in tables
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_schema_has_tables_without_integer_primary_key(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    create_database(db)
    sql = {name: text for _, name, text in _schema_rows(db)}
    assert "WITHOUT ROWID" in sql["reminders"]
    assert "PRIMARY KEY (user_id, badge)" in sql["user_badges"]


def test_create_database_is_idempotent_and_keeps_rows(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    create_database(db)
    conn = connect(db)
    with conn:
        _add_user(conn)
    conn.close()
    before = _schema_rows(db)

    create_database(db)
    create_database(db)

    assert _schema_rows(db) == before
    conn = connect(db)
    try:
        assert conn.execute("SELECT first_name FROM users").fetchall() == [("Budi",)]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_create_database_refuses_other_application_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()
    digest = _sha256(db)

    with pytest.raises(ValueError, match="application_id"):
        create_database(db)

    assert _sha256(db) == digest


def test_create_database_refuses_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    with pytest.raises(ValueError, match="newer"):
        create_database(db)


def test_connect_refuses_missing_file_and_does_not_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(sqlite3.OperationalError):
        connect(missing)
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


def test_connect_refuses_file_in_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_dir" / "bot.db"
    with pytest.raises(sqlite3.OperationalError):
        connect(missing)
    assert not missing.parent.exists()


def test_connect_handles_uri_special_characters_in_path(tmp_path: Path) -> None:
    db = tmp_path / "odd dir #1 %20?" / "bot data?.db"
    create_database(db)
    conn = connect(db)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    finally:
        conn.close()
    assert sorted(p.name for p in db.parent.iterdir()) == ["bot data?.db"]


def test_connect_enforces_foreign_keys_with_cascade(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    create_database(db)
    conn = connect(db)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO checkins (user_id, checkin_date, mood, created_at)"
                " VALUES (999, '2024-01-02', 3, '2024-01-02T08:00:00+07:00')"
            )
        _add_user(conn)
        conn.execute(
            "INSERT INTO checkins (user_id, checkin_date, mood, created_at)"
            " VALUES (42, '2024-01-02', 3, '2024-01-02T08:00:00+07:00')"
        )
        conn.execute("DELETE FROM users WHERE user_id = 42")
        assert conn.execute("SELECT COUNT(*) FROM checkins").fetchone()[0] == 0
    finally:
        conn.close()


def test_checkin_trigger_updates_last_active_at(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    create_database(db)
    conn = connect(db)
    try:
        _add_user(conn)
        conn.execute(
            "INSERT INTO checkins (user_id, checkin_date, mood, created_at)"
            " VALUES (42, '2024-03-05', 4, '2024-03-05T21:15:00+07:00')"
        )
        row = conn.execute("SELECT last_active_at FROM users").fetchone()
        assert row == ("2024-03-05T21:15:00+07:00",)
        progress = conn.execute(
            "SELECT checkin_count, avg_mood FROM v_user_progress WHERE user_id = 42"
        ).fetchone()
        assert progress == (1, 4.0)
    finally:
        conn.close()


@pytest.mark.skipif(not fts5_available(), reason="SQLite built without FTS5")
def test_journal_fts_follows_inserts_updates_and_deletes(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    create_database(db)
    conn = connect(db)
    query = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
    try:
        _add_user(conn)
        conn.execute(
            "INSERT INTO journal_entries (id, user_id, created_at, title, body)"
            " VALUES (7, 42, '2024-01-02T08:00:00+07:00', 'Refleksi', 'olahraga pagi')"
        )
        assert conn.execute(query, ("olahraga",)).fetchall() == [(7,)]
        conn.execute("UPDATE journal_entries SET body = 'meditasi' WHERE id = 7")
        assert conn.execute(query, ("olahraga",)).fetchall() == []
        assert conn.execute(query, ("meditasi",)).fetchall() == [(7,)]
        conn.execute("DELETE FROM journal_entries WHERE id = 7")
        assert conn.execute(query, ("meditasi",)).fetchall() == []
    finally:
        conn.close()


def test_sample_database_has_expected_tables_and_counts(
    sample: SampleSummary, sample_conn: sqlite3.Connection
) -> None:
    names = {r[0] for r in sample_conn.execute("SELECT name FROM sqlite_master")}
    assert set(EXPECTED_TABLES) <= names
    assert sample.users >= 3000
    for table, count in sample.counts().items():
        actual = sample_conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        assert actual == count, table
        assert count > 0, table
    assert sample.checkins >= 10_000
    assert sample.total_rows == sum(sample.counts().values())
    assert sample_conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sample_conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_sample_database_contains_nulls(sample_conn: sqlite3.Connection) -> None:
    for table, column in [
        ("users", "username"),
        ("users", "last_name"),
        ("users", "settings_json"),
        ("checkins", "note"),
        ("checkins", "score"),
        ("relapses", "reflection"),
        ("journal_entries", "title"),
        ("journal_entries", "attachment"),
    ]:
        nulls = sample_conn.execute(
            f"SELECT COUNT(*) FROM {table} WHERE {column} IS NULL"
        ).fetchone()[0]
        assert nulls > 0, f"{table}.{column}"


def test_sample_database_contains_blobs_with_nul_bytes(
    sample_conn: sqlite3.Connection,
) -> None:
    blobs = [
        r[0]
        for r in sample_conn.execute(
            "SELECT attachment FROM journal_entries WHERE typeof(attachment) = 'blob'"
        )
    ]
    assert len(blobs) >= 20
    assert all(1024 <= len(b) <= 20 * 1024 for b in blobs)
    assert all(b"\x00" in b for b in blobs)


def test_sample_database_contains_emoji_and_markup_text(
    sample_conn: sqlite3.Connection,
) -> None:
    texts = [r[0] for r in sample_conn.execute("SELECT note FROM checkins")]
    texts += [r[0] for r in sample_conn.execute("SELECT body FROM journal_entries")]
    joined = "\n".join(t for t in texts if t is not None)
    for needle in ("💪", "🙏", "🔥", "✨", "😊", "<", "&", '"', "\n"):
        assert needle in joined, repr(needle)
    names = {r[0] for r in sample_conn.execute("SELECT first_name FROM users")}
    assert {"Putu", "Wayan", "Ni Made"} & names


def test_sample_database_has_int64_limits_and_floats(
    sample_conn: sqlite3.Connection,
) -> None:
    low, high = sample_conn.execute(
        "SELECT MIN(telegram_chat_id), MAX(telegram_chat_id) FROM users"
    ).fetchone()
    assert (low, high) == (INT64_MIN, INT64_MAX)
    reals = sample_conn.execute(
        "SELECT COUNT(*) FROM checkins WHERE typeof(score) = 'real'"
    ).fetchone()[0]
    assert reals > 0


def test_sample_timestamps_are_timezone_aware(sample_conn: sqlite3.Connection) -> None:
    rows = sample_conn.execute(
        "SELECT joined_at FROM users UNION ALL SELECT created_at FROM checkins"
        " UNION ALL SELECT occurred_at FROM relapses LIMIT 5000"
    ).fetchall()
    for (stamp,) in rows:
        assert stamp.endswith("+07:00")
        assert datetime.fromisoformat(stamp).utcoffset() is not None


def test_sample_database_is_deterministic(tmp_path: Path) -> None:
    first = create_sample_database(tmp_path / "a.db", users=60, seed=3)
    second = create_sample_database(tmp_path / "b.db", users=60, seed=3)
    other = create_sample_database(tmp_path / "c.db", users=60, seed=4)

    def dump(path: Path) -> list[str]:
        conn = connect(path)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()

    assert first.counts() == second.counts()
    assert dump(first.path) == dump(second.path)
    assert dump(first.path) != dump(other.path)


def test_sample_refuses_existing_file_leaving_it_byte_identical(
    tmp_path: Path,
) -> None:
    db = tmp_path / "pmo_recovery.db"
    db.write_bytes(b"not really a database\x00\xff")
    digest = _sha256(db)

    with pytest.raises(FileExistsError, match="already exists"):
        create_sample_database(db, users=10)

    assert _sha256(db) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pmo_recovery.db"]


def test_sample_refuses_existing_sample_database(sample: SampleSummary) -> None:
    digest = _sha256(sample.path)
    mtime = sample.path.stat().st_mtime_ns

    with pytest.raises(FileExistsError):
        create_sample_database(sample.path, users=10)

    assert _sha256(sample.path) == digest
    assert sample.path.stat().st_mtime_ns == mtime


def test_sample_refuses_empty_file_and_dangling_symlink(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    link = tmp_path / "link.db"
    target = tmp_path / "target.db"
    link.symlink_to(target)

    with pytest.raises(FileExistsError):
        create_sample_database(empty, users=10)
    with pytest.raises(FileExistsError):
        create_sample_database(link, users=10)

    assert empty.read_bytes() == b""
    assert not target.exists()


def test_sample_rejects_negative_users_without_creating_file(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    with pytest.raises(ValueError, match="users"):
        create_sample_database(db, users=-1)
    assert not db.exists()


def test_write_sample_data_files_writes_utf8_json(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    written = write_sample_data_files(data_dir)

    assert written == [data_dir / "quotes.json", data_dir / "tips.json"]
    for path in written:
        raw = path.read_text(encoding="utf-8")
        assert "\\u" not in raw  # ensure_ascii=False keeps emoji readable
        items = json.loads(raw)
        assert len(items) >= 15
        assert {item["lang"] for item in items} == {"id", "en"}
        assert all(item["text"] for item in items)


def test_write_sample_data_files_never_overwrites(tmp_path: Path) -> None:
    quotes = tmp_path / "quotes.json"
    quotes.write_text('["my own quote"]\n', encoding="utf-8")

    assert write_sample_data_files(tmp_path) == [tmp_path / "tips.json"]
    tips_digest = _sha256(tmp_path / "tips.json")
    assert quotes.read_text(encoding="utf-8") == '["my own quote"]\n'

    assert write_sample_data_files(tmp_path) == []
    assert _sha256(tmp_path / "tips.json") == tips_digest
