"""Define the PMO Recovery Bot's SQLite schema and open its database safely."""

import logging
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)

SCHEMA_VERSION: int = 1
"""Schema revision, stored in ``PRAGMA user_version``."""

APPLICATION_ID: int = 0x504D4F52
"""Marker ("PMOR") in ``PRAGMA application_id`` that identifies the bot's database."""

BUSY_TIMEOUT_MS: int = 5000

EXPECTED_TABLES: tuple[str, ...] = (
    "users",
    "checkins",
    "streaks",
    "relapses",
    "journal_entries",
    "reminders",
    "user_badges",
)
"""Ordinary tables every bot database has (the optional FTS table is not listed)."""

FTS_TABLE: str = "journal_fts"
"""Optional FTS5 index over journal titles and bodies (skipped without FTS5)."""

_TABLES: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS users (
        user_id          INTEGER PRIMARY KEY,
        telegram_chat_id INTEGER,
        username         TEXT,
        first_name       TEXT NOT NULL,
        last_name        TEXT,
        language_code    TEXT NOT NULL DEFAULT 'id',
        timezone         TEXT NOT NULL DEFAULT 'Asia/Jakarta',
        joined_at        TEXT NOT NULL,
        last_active_at   TEXT,
        is_active        INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
        settings_json    TEXT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS checkins (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id      INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
        checkin_date TEXT NOT NULL,
        mood         INTEGER NOT NULL CHECK (mood BETWEEN 1 AND 5),
        urge_level   INTEGER CHECK (urge_level BETWEEN 0 AND 10),
        score        REAL,
        note         TEXT,
        created_at   TEXT NOT NULL,
        UNIQUE (user_id, checkin_date)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS streaks (
        user_id      INTEGER PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
        current_days INTEGER NOT NULL DEFAULT 0 CHECK (current_days >= 0),
        longest_days INTEGER NOT NULL DEFAULT 0 CHECK (longest_days >= 0),
        started_at   TEXT,
        updated_at   TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS relapses (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id     INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
        occurred_at TEXT NOT NULL,
        "trigger"   TEXT,
        reflection  TEXT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS journal_entries (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id    INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        title      TEXT,
        body       TEXT NOT NULL,
        attachment BLOB
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS reminders (
        user_id    INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
        kind       TEXT NOT NULL,
        remind_at  TEXT NOT NULL,
        enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
        created_at TEXT NOT NULL,
        PRIMARY KEY (user_id, kind)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS user_badges (
        user_id   INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
        badge     TEXT NOT NULL,
        earned_at TEXT NOT NULL,
        PRIMARY KEY (user_id, badge)
    )
    """,
)

_INDEXES: tuple[str, ...] = (
    # checkins (user_id, checkin_date) is already indexed by its UNIQUE constraint.
    "CREATE INDEX IF NOT EXISTS idx_relapses_user ON relapses (user_id, occurred_at)",
    "CREATE INDEX IF NOT EXISTS idx_journal_user ON journal_entries (user_id, created_at)",
    "CREATE INDEX IF NOT EXISTS idx_users_username ON users (username)",
)

_VIEWS: tuple[str, ...] = (
    """
    CREATE VIEW IF NOT EXISTS v_user_progress AS
    SELECT
        u.user_id,
        u.username,
        u.first_name,
        COALESCE(s.current_days, 0) AS current_days,
        COALESCE(s.longest_days, 0) AS longest_days,
        (SELECT COUNT(*) FROM checkins c WHERE c.user_id = u.user_id) AS checkin_count,
        (SELECT COUNT(*) FROM relapses r WHERE r.user_id = u.user_id) AS relapse_count,
        (SELECT AVG(c.mood) FROM checkins c WHERE c.user_id = u.user_id) AS avg_mood,
        u.last_active_at
    FROM users u
    LEFT JOIN streaks s ON s.user_id = u.user_id
    """,
)

_TRIGGERS: tuple[str, ...] = (
    """
    CREATE TRIGGER IF NOT EXISTS trg_checkins_touch_user
    AFTER INSERT ON checkins
    BEGIN
        UPDATE users
        SET last_active_at = NEW.created_at
        WHERE user_id = NEW.user_id
          AND (last_active_at IS NULL OR last_active_at < NEW.created_at);
    END
    """,
)

_FTS: tuple[str, ...] = (
    """
    CREATE VIRTUAL TABLE IF NOT EXISTS journal_fts USING fts5(
        title, body, content='journal_entries', content_rowid='id'
    )
    """,
    """
    CREATE TRIGGER IF NOT EXISTS trg_journal_fts_insert
    AFTER INSERT ON journal_entries
    BEGIN
        INSERT INTO journal_fts (rowid, title, body)
        VALUES (NEW.id, NEW.title, NEW.body);
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS trg_journal_fts_delete
    AFTER DELETE ON journal_entries
    BEGIN
        INSERT INTO journal_fts (journal_fts, rowid, title, body)
        VALUES ('delete', OLD.id, OLD.title, OLD.body);
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS trg_journal_fts_update
    AFTER UPDATE OF title, body ON journal_entries
    BEGIN
        INSERT INTO journal_fts (journal_fts, rowid, title, body)
        VALUES ('delete', OLD.id, OLD.title, OLD.body);
        INSERT INTO journal_fts (rowid, title, body)
        VALUES (NEW.id, NEW.title, NEW.body);
    END
    """,
)


def fts5_available() -> bool:
    """Return whether this Python's SQLite library was built with FTS5."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


def _check_identity(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database of another application or of a newer schema version."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id not in (0, APPLICATION_ID):
        msg = (
            f"{path} has application_id {app_id:#x}, not the PMO Recovery Bot's "
            f"{APPLICATION_ID:#x}; refusing to modify it. Check the database path."
        )
        raise ValueError(msg)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        msg = (
            f"{path} has schema version {version}, newer than this code's "
            f"{SCHEMA_VERSION}; upgrade the bot before touching this database."
        )
        raise ValueError(msg)


def create_database(path: Path) -> None:
    """Create the bot's schema at ``path``, keeping any existing data (idempotent).

    Args:
        path: Database file; it and its parent directory are created when missing.

    Raises:
        ValueError: The file is a SQLite database of another application or of a
            newer schema version.
        sqlite3.DatabaseError: The file is not a usable SQLite database.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        _check_identity(conn, path)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            logger.warning("Could not switch %s to WAL mode (still %s)", path, mode)
        with_fts = fts5_available()
        if not with_fts:
            logger.info("SQLite lacks FTS5; creating %s without %s", path, FTS_TABLE)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in (*_TABLES, *_INDEXES, *_VIEWS, *_TRIGGERS):
                conn.execute(statement)
            if with_fts:
                for statement in _FTS:
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()
    logger.debug("Schema version %d ensured at %s", SCHEMA_VERSION, path)


def connect(path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Open an existing database read-write with foreign keys on, never creating it.

    Args:
        path: Existing database file.
        busy_timeout_ms: How long to wait for another connection's lock.

    Returns:
        An open connection; the caller closes it.

    Raises:
        sqlite3.OperationalError: The file does not exist or cannot be opened.
    """
    uri = f"{path.resolve().as_uri()}?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn
