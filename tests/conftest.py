"""Shared fixtures: settings in tmp_path, real databases, a CLI runner as a subprocess."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from src.config.settings import SETTING_NAMES, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
CHINOOK = ROOT / "tests" / "fixtures" / "chinook.sqlite"

# Hypothesis keeps its examples (and caches) outside the project, one folder per checkout: under
# pytest-xdist its writes into ROOT/.hypothesis would otherwise land while a test in the other
# worker compares the project's files before and after (test_hostile_archives, test_bot).
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    import hashlib
    import tempfile

    from hypothesis.configuration import set_hypothesis_home_dir

    _checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / f"pmo-hypothesis-{_checkout}")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Write the project's bytecode before any test runs. Under pytest-xdist a CLI process in
    one worker would otherwise write a `__pycache__` file (its first lazy import) into the
    project while a test in the other worker compares the project's files before and after."""
    import compileall

    compileall.compile_dir(ROOT / "src", quiet=1)


def project_copy(folder: Path) -> Path:
    """The files git would commit from this project (tracked, or new and not ignored), as a
    fresh clone holds them: no database, no backups, no .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    return folder


def make_env(tmp_path: Path, db: Path, **extra: str) -> dict[str, str]:
    """Return the environment variables that point the tool at tmp_path."""
    env = {
        "DATABASE_PATH": str(db),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "RECOVERY_DIR": str(tmp_path / "recovery"),
        "LOG_DIR": str(tmp_path / "logs"),
        "DATA_FILES": "",
        "BACKUP_LOCK_TIMEOUT": "5",
        "MIN_FREE_MB": "0",
    }
    env.update(extra)
    return env


@pytest.fixture
def chinook(tmp_path: Path) -> Path:
    """A writable copy of the Chinook sample database."""
    if not CHINOOK.exists():
        pytest.fail(f"fixture missing: {CHINOOK}")
    target = tmp_path / "chinook.sqlite"
    shutil.copyfile(CHINOOK, target)
    return target


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bot's sample database, built once per session."""
    from src.database.sample import create_sample_database

    path = tmp_path_factory.mktemp("sample") / "pmo_recovery.db"
    create_sample_database(path, users=600)
    return path


@pytest.fixture
def sample_db(tmp_path: Path, sample_template: Path) -> Path:
    """A writable copy of the bot's sample database (WAL mode)."""
    target = tmp_path / "pmo_recovery.db"
    with sqlite3.connect(sample_template) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    """Build settings for a database in tmp_path (extra variables as keywords)."""

    def build(db: Path, **extra: str) -> Settings:
        return load_settings(make_env(tmp_path, db, **extra), root=ROOT, env_file=tmp_path / ".env")

    return build


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python backup_manager.py ...` as a real process against tmp_path."""

    def run(
        *args: str, db: Path | None = None, timeout: float = 120, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        env = cli_env(tmp_path, db or tmp_path / "pmo_recovery.db", **extra)
        return subprocess.run(
            [sys.executable, str(ROOT / "backup_manager.py"), *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            timeout=timeout,
            cwd=tmp_path,
            check=False,
        )

    return run


_TOOL_VARIABLES = set(SETTING_NAMES)


def table_rows(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Read every row of every table (rowid first where there is one), sorted."""
    result = {}
    tables = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='table' AND sql IS NOT NULL "
        "AND name NOT LIKE 'sqlite_stat%' ORDER BY name"
    ).fetchall()
    for name, sql in tables:
        quoted = '"' + name.replace('"', '""') + '"'
        virtual = sql.upper().startswith("CREATE VIRTUAL")
        if without_rowid(conn, name):
            query = f"SELECT * FROM {quoted}"
        elif virtual:
            query = f"SELECT rowid, * FROM {quoted}"
        else:
            query = f"SELECT _rowid_, * FROM {quoted}"
        rows = conn.execute(query).fetchall()
        result[name] = sorted(rows, key=repr)
    return result


def without_rowid(conn: sqlite3.Connection, name: str) -> bool:
    """Ask SQLite whether a table is WITHOUT ROWID (not the words in its SQL)."""
    row = conn.execute("SELECT wr FROM pragma_table_list WHERE name = ?", (name,)).fetchone()
    return bool(row and row[0])


def corrupt(db: Path) -> None:
    """Overwrite pages in the middle of a database with garbage."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    with db.open("r+b") as handle:
        for page in range(pages // 3, pages // 3 + 8):
            handle.seek(page * page_size)
            handle.write(b"\xde\xad\xbe\xef" * (page_size // 4))


def grow_journal(db: Path, rows: int, blob_bytes: int, blob_every: int, seed: int) -> None:
    """Add journal entries (some with a random BLOB) so a backup or restore takes a while."""
    import random
    from contextlib import closing

    rng = random.Random(seed)
    with closing(sqlite3.connect(db)) as conn:
        users = [row[0] for row in conn.execute("SELECT user_id FROM users ORDER BY user_id")]
        with conn:
            conn.executemany(
                "INSERT INTO journal_entries (user_id, created_at, title, body, attachment) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        rng.choice(users),
                        f"2024-02-{1 + i % 28:02d}T08:00:00+07:00",
                        f"entry {i}",
                        "hari ini aku bertahan. " * rng.randint(2, 30),
                        rng.randbytes(blob_bytes) if i % blob_every == 0 else None,
                    )
                    for i in range(rows)
                ],
            )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def cli_env(tmp_path: Path, db: Path, **extra: str) -> dict[str, str]:
    """Return the environment of a CLI process: ours, without the tool's own variables."""
    env = {k: v for k, v in os.environ.items() if k not in _TOOL_VARIABLES}
    env.update(make_env(tmp_path, db, **extra))
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def popen_cli(tmp_path: Path, db: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    """Start `python backup_manager.py ...` like the run_cli fixture, without waiting."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "backup_manager.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=cli_env(tmp_path, db, **extra),
        cwd=tmp_path,
    )


# --- the bot against the fake Bot API (tests/test_bot*.py) ----------------------------------
BOT_ADMINS = (1001, 1002)


@pytest.fixture
def telegram() -> Iterator[Any]:
    """The fake Bot API server (tests/fake_telegram.py) on a free port."""
    from tests.bot_harness import TOKEN
    from tests.fake_telegram import FakeTelegram

    fake = FakeTelegram(TOKEN).start()
    # the admins' apps are set to English: the bot tests read the menus' English words
    # (tests/test_bot_languages.py reads them in Indonesian); other users stay Indonesian
    fake.languages.update(dict.fromkeys(BOT_ADMINS, "en"))
    yield fake
    fake.stop()


@pytest.fixture
def bot_settings(telegram, settings_for, sample_db):
    """Settings for a bot talking to the fake, two admins, no scheduler (override any)."""
    from tests.bot_harness import TOKEN

    def build(**extra: str):
        values = {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": telegram.url,
            "ADMIN_USER_IDS": ",".join(map(str, BOT_ADMINS)),
            "BOT_RUN_SCHEDULER": "false",
        }
        values.update(extra)
        return settings_for(sample_db, **values)

    return build


@pytest.fixture
def bot(bot_settings) -> Iterator[Any]:
    """The real Application polling the fake in a thread."""
    from tests.bot_harness import BotRunner

    runner = BotRunner(bot_settings()).start()
    yield runner
    runner.stop()
