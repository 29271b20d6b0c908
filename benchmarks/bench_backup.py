#!/usr/bin/env python3
"""Benchmark `backup_manager.py backup` against `sqlite3 .backup` + `zip -6` on one database.

Usage:
    python benchmarks/bench_backup.py [--size-mb 100] [--keep] [--out benchmarks/out]

What it does (see benchmarks/README.md):
1. builds (or reuses) a synthetic SQLite database of about --size-mb MB with the bot's own
   schema (src.database.schema.create_database) and sample.py's vocabulary (WAL);
2. baseline: `sqlite3 DB ".backup X"` then `zip -6 -q out.zip X` (timed together);
3. ours: `python backup_manager.py backup --type manual` as a child process, wall time and
   the child's own peak RSS (os.wait4), archive size, `unzip -tq` of the archive;
4. a writer process commits one small transaction every ~5 ms (WAL, synchronous=FULL)
   and records each commit's latency: alone first, then while our backup runs;
5. times the backup's phases by calling the same service functions in this process;
6. prints one summary table and writes every figure to a JSON file under --out.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/bench_backup.py`
    sys.path.insert(0, str(ROOT))

# The bot's own schema and sample-data vocabulary (underscore names: no public API for them).
from src.config.settings import SETTING_NAMES  # noqa: E402
from src.database.sample import (  # noqa: E402
    _BADGES,
    _BLOB_HEADERS,
    _FIRST_NAMES,
    _INSERTS,
    _JOURNAL_TITLES,
    _LAST_NAMES,
    _REMINDER_KINDS,
    _TIMEZONES,
    _TRIGGERS,
)
from src.database.schema import SCHEMA_VERSION, create_database  # noqa: E402

CLI = ROOT / "backup_manager.py"
MB = 1024 * 1024
WRITER_USER_ID = 1_999_999_999  # the writer's own user; its rows are deleted afterwards
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
CHILD_TIMEOUT = 1800.0  # seconds; no measured child may run longer than this

# Variables the tool reads; removed from the inherited environment so only ours apply.
TOOL_VARIABLES = SETTING_NAMES

# --------------------------------------------------------------------------------------
# 1. the synthetic database
# --------------------------------------------------------------------------------------

# The schema comes from src.database.schema.create_database(). Triggers on these tables
# are dropped for the bulk load and recreated afterwards from their own SQL (the rows
# already carry what they would compute, e.g. users.last_active_at); the FTS sync triggers
# stay, so the journal index grows as it does in the bot.
DEFERRED_TRIGGER_TABLES = ("checkins",)
# Bump when the generated rows change; with the schema's own SQL it keys the cached file.
GENERATOR_VERSION = 2


def _words(text: str) -> tuple[str, ...]:
    """Split a space-separated listing."""
    return tuple(text.split())


WORDS_ID = _words(
    "hari ini aku saya kamu tetap bertahan bersih alhamdulillah bangun pagi olahraga menit "
    "rasanya lebih segar kemarin bangga sama diri sendiri ingat kata mentor satu waktu "
    "stress kerja tinggi tapi telepon teman ngobrol membantu banget tidur malam tanpa kamar "
    "ngaji baca buku sebelum cuaca hujan mood agak turun menulis jurnal memahami pemicu "
    "minggu sadar kapan datang menemukan bahwa fokus bersyukur punya mau mendengar target "
    "bulan depan menolong tetangga bermakna mulai belajar gitar untuk mengisi luang doa dan "
    "meditasi membuat pikiran tenang ingin menjadi ayah hadir keluarga sekali saja jebakan "
    "pelajaran jangan bilang relapse bukan akhir sesuatu supaya energi stabil capek kesepian "
    "begadang bosan media sosial lelah sendirian insomnia semangat terus maju pelan-pelan"
)
WORDS_EN = _words(
    "today felt strong urge after scrolling at night put the phone away went walking day "
    "well meditated for ten minutes grateful small wins rough morning but stayed on track "
    "not my best still here that counts week done keep going noticed urges peak around so "
    "now read before bed progress isn't linear okay therapist said notice name it let pass "
    "slept eight hours energy finally was tired lonely next time message accountability "
    "partner reset counter ashamed shame doesn't help self-compassion does boredom anxiety "
    "argument with family late-night loneliness plan tomorrow gym call brother journal"
)
EMOJI = _words("💪 🙏 ✨ 😊 🔥 📖 🌧️ ✅ 🎉 📵 ❤️ 🌙 ☀️ 😔 🤲 🧘 🏃 📿 💯 🙂")
USERS_PER_TRANSACTION = 50  # about 4 MB per transaction


class TextPool:
    """Pre-generated notes (word salad of Indonesian and English, some emoji) to draw from."""

    def __init__(self, rng: random.Random, size: int = 40_000) -> None:
        self.rng = rng
        notes = []
        for _ in range(size):
            words = rng.choices(WORDS_ID if rng.random() < 0.6 else WORDS_EN, k=rng.randint(4, 28))
            if rng.random() < 0.35:
                words.insert(rng.randrange(len(words) + 1), rng.choice(EMOJI))
            text = " ".join(words)
            notes.append(text[0].upper() + text[1:] + rng.choice((".", "!", "...", " 🙏", "")))
        self.notes = notes
        base = datetime(2022, 1, 1, tzinfo=UTC)
        self.days = [(base + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(1500)]

    def note(self) -> str:
        return self.rng.choice(self.notes)

    def body(self) -> str:
        return "\n".join(self.rng.choices(self.notes, k=self.rng.randint(2, 9)))

    def stamp(self, day: int) -> str:
        r = self.rng.randrange(86_400)
        return f"{self.days[day]}T{r // 3600:02d}:{r // 60 % 60:02d}:{r % 60:02d}+07:00"


@dataclass
class UserRows:
    """The rows of one batch of users, per table."""

    users: list[tuple[Any, ...]] = field(default_factory=list)
    streaks: list[tuple[Any, ...]] = field(default_factory=list)
    reminders: list[tuple[Any, ...]] = field(default_factory=list)
    badges: list[tuple[Any, ...]] = field(default_factory=list)
    checkins: list[tuple[Any, ...]] = field(default_factory=list)
    relapses: list[tuple[Any, ...]] = field(default_factory=list)
    journal: list[tuple[Any, ...]] = field(default_factory=list)


def username(first: str, last: str, user_id: int) -> str:
    """A Telegram-like handle: lower case, no apostrophes, spaces as underscores."""
    return f"{first}_{last}{user_id}".lower().replace("'", "").replace(" ", "_")


def make_users(pool: TextPool, first_id: int, count: int) -> UserRows:
    """Generate `count` users with their whole history."""
    rng = pool.rng
    rows = UserRows()
    for user_id in range(first_id, first_id + count):
        joined = rng.randrange(0, 1100)
        span = rng.randint(20, 1499 - joined) if joined < 1479 else 20
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        day = joined
        last_seen = joined
        for _ in range(rng.randint(10, 400)):
            day += rng.choice((1, 1, 1, 2, 3))
            if day >= joined + span or day >= 1500:
                break
            last_seen = day
            rows.checkins.append(
                (
                    user_id,
                    pool.days[day],
                    rng.randint(1, 5),
                    rng.randint(0, 10) if rng.random() < 0.9 else None,
                    round(rng.uniform(0, 100), 2),
                    pool.note() if rng.random() < 0.75 else None,
                    pool.stamp(day),
                )
            )
        for _ in range(rng.randint(0, 6)):
            rows.relapses.append(
                (
                    user_id,
                    pool.stamp(rng.randint(joined, last_seen)),
                    rng.choice(_TRIGGERS),
                    pool.note(),
                )
            )
        for _ in range(rng.randint(0, 24)):
            attachment = None
            if rng.random() < 0.03:
                attachment = rng.choice(_BLOB_HEADERS) + rng.randbytes(rng.randint(1_000, 32_000))
            title = rng.choice(_JOURNAL_TITLES) if rng.random() < 0.8 else None
            when = pool.stamp(rng.randint(joined, last_seen))
            rows.journal.append((user_id, when, title, pool.body(), attachment))
        for kind in rng.sample(_REMINDER_KINDS, rng.randint(0, 3)):
            rows.reminders.append(
                (user_id, kind, f"{rng.randint(5, 22):02d}:00", 1, pool.stamp(joined))
            )
        for badge in rng.sample(_BADGES, rng.randint(0, 5)):
            rows.badges.append((user_id, badge, pool.stamp(rng.randint(joined, last_seen))))
        current = rng.randint(0, 120)
        rows.streaks.append(
            (
                user_id,
                current,
                current + rng.randint(0, 200),
                pool.stamp(joined),
                pool.stamp(last_seen),
            )
        )
        settings = json.dumps(
            {"reminders": bool(rows.reminders), "lang": rng.choice(("id", "en")), "v": 2}
        )
        rows.users.append(
            (
                user_id,
                rng.randint(-(2**63), 2**63 - 1)
                if rng.random() < 0.01
                else rng.randint(1, 8 * 10**9),
                username(first, last, user_id),
                first,
                last if rng.random() < 0.85 else None,
                rng.choice(("id", "id", "id", "en")),
                rng.choice(_TIMEZONES),
                pool.stamp(joined),
                pool.stamp(last_seen),
                int(rng.random() < 0.9),
                settings,
            )
        )
    return rows


def insert_users(conn: sqlite3.Connection, rows: UserRows) -> None:
    """Insert one batch of users in the current transaction (sample.py's INSERT statements)."""
    batches = (
        ("users", rows.users),
        ("streaks", rows.streaks),
        ("reminders", rows.reminders),
        ("user_badges", rows.badges),
        ("checkins", rows.checkins),
        ("relapses", rows.relapses),
        ("journal_entries", rows.journal),
    )
    for table, batch in batches:
        conn.executemany(_INSERTS[table], batch)


def db_bytes(conn: sqlite3.Connection) -> int:
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(conn.execute("PRAGMA page_count").fetchone()[0]) * int(page_size)


def deferred_triggers(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """The (name, SQL) of the triggers on DEFERRED_TRIGGER_TABLES, as the schema made them."""
    marks = ",".join("?" * len(DEFERRED_TRIGGER_TABLES))
    return conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({marks})"
        " ORDER BY name",
        DEFERRED_TRIGGER_TABLES,
    ).fetchall()


def build_database(path: Path, size_mb: float, seed: int = 20240101) -> dict[str, Any]:
    """Build the synthetic database at `path` (through a temporary file); return its facts."""
    started = time.monotonic()
    target = int(size_mb * MB)
    temp = path.with_name(path.name + ".building")
    for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm"), Path(f"{temp}-journal")):
        leftover.unlink(missing_ok=True)
    rng = random.Random(seed)
    pool = TextPool(rng)
    create_database(temp)  # the bot's schema, ids and WAL mode
    conn = sqlite3.connect(temp, isolation_level=None)
    try:
        mode = conn.execute("PRAGMA journal_mode=OFF").fetchone()[0]
        if mode != "off":
            raise RuntimeError(f"could not turn the journal off for {temp} (got {mode})")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        triggers = deferred_triggers(conn)
        conn.execute("BEGIN")
        for name, _sql in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("COMMIT")
        users = shown = 0
        while db_bytes(conn) < target:
            rows = make_users(pool, users + 1, USERS_PER_TRANSACTION)
            conn.execute("BEGIN")
            insert_users(conn, rows)
            conn.execute("COMMIT")
            users += USERS_PER_TRANSACTION
            done = db_bytes(conn)
            if done * 10 // target > shown:  # every tenth of the way
                shown = done * 10 // target
                print(
                    f"  building {path.name}: {done / MB:7.1f} / {size_mb:g} MB, {users} users,"
                    f" {time.monotonic() - started:5.1f} s",
                    flush=True,
                )
        for _name, sql in triggers:
            conn.execute(sql)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"could not switch {temp} to WAL (got {mode})")
        counts = {
            name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'"
                " AND sql NOT LIKE 'CREATE VIRTUAL%'"
            ).fetchall()
        }
    finally:
        conn.close()
    temp.rename(path)
    facts = {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "build_seconds": round(time.monotonic() - started, 2),
        "rows": counts,
        "seed": seed,
    }
    Path(f"{path}.facts.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    return facts


def cache_key() -> str:
    """`v<schema version>-<hash>` of the schema create_database() makes and the generator.

    The hash covers the schema's own SQL (so an edit to src/database/schema.py that keeps
    SCHEMA_VERSION still changes it), the lists and INSERTs borrowed from sample.py and
    GENERATOR_VERSION: a cached database built by other code is never reused silently.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pmo-bench-schema-") as folder:
        probe = Path(folder) / "schema.db"
        create_database(probe)
        with contextlib.closing(sqlite3.connect(probe)) as conn:
            schema = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            ).fetchall()
            ids = [
                conn.execute(f"PRAGMA {p}").fetchone()[0]
                for p in ("application_id", "user_version")
            ]
    inputs = (
        schema,
        ids,
        GENERATOR_VERSION,
        (_FIRST_NAMES, _LAST_NAMES, _TIMEZONES, _TRIGGERS, _JOURNAL_TITLES),
        (_BLOB_HEADERS, _BADGES, _REMINDER_KINDS, _INSERTS),
        (WORDS_ID, WORDS_EN, EMOJI),
    )
    digest = hashlib.sha256(repr(inputs).encode("utf-8")).hexdigest()[:10]
    return f"v{SCHEMA_VERSION}-{digest}"


def ensure_database(out: Path, size_mb: float, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """Return the cached database of this size, building it when missing (or asked to).

    The file name carries cache_key(); a cache of this size under another key (built by
    older code or for another schema) is deleted when the new one is built.
    """
    folder = out / "db"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"pmo_bench_{size_mb:g}mb"
    path = folder / f"{stem}_{cache_key()}.db"
    facts_file = Path(f"{path}.facts.json")
    if rebuild or not path.exists() or not facts_file.exists():
        superseded = sorted({*folder.glob(f"{stem}.db*"), *folder.glob(f"{stem}_*.db*")})
        for stale in superseded:
            if not stale.name.startswith(path.name):
                print(f"  removing a superseded cache file: {stale.name}")
            stale.unlink(missing_ok=True)
        print(f"Building a {size_mb:g} MB database (cached for later runs) ...")
        facts = build_database(path, size_mb)
        facts["cached"] = False
    else:
        facts = json.loads(facts_file.read_text(encoding="utf-8"))
        facts["cached"] = True
        facts["size_bytes"] = path.stat().st_size
    return path, facts


def remove_writer_rows(db: Path) -> None:
    """Delete what the writer added, so the cached database stays as built."""
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn, conn:
        conn.execute("DELETE FROM checkins WHERE user_id = ?", (WRITER_USER_ID,))
        conn.execute("DELETE FROM users WHERE user_id = ?", (WRITER_USER_ID,))
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def warm_cache(path: Path) -> None:
    """Read a file once so every measured run starts with it in the page cache."""
    with path.open("rb") as handle:
        while handle.read(8 * MB):
            pass


# --------------------------------------------------------------------------------------
# measuring child processes
# --------------------------------------------------------------------------------------


@dataclass
class Measured:
    """One child process: its wall time and its own resource usage."""

    argv: list[str]
    returncode: int
    wall_s: float
    max_rss_mb: float
    user_s: float
    sys_s: float
    started: float  # time.monotonic() at start
    ended: float
    stdout: str = ""
    stderr: str = ""


def run_measured(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Measured:
    """Run a child; return its wall time and its own peak RSS and CPU time.

    The child is started through `/usr/bin/time`: os.wait4 on a child we spawn directly
    reports at least *our* peak RSS, because Linux carries the pre-exec memory's high-water
    mark (here: the vfork'd benchmark process, 100+ MB) into the child's ru_maxrss.
    `time` is small, so what it reports is the child's own peak.
    """
    with (
        open(os.devnull, "rb") as stdin,
        _temp_file() as out,
        _temp_file() as err,
        _temp_file() as report,
    ):
        wrapped = argv
        if TIME_BIN:
            wrapped = [TIME_BIN, "-f", "%U %S %M", "-o", f"/dev/fd/{report.fileno()}", *argv]
        started = time.monotonic()
        proc = subprocess.Popen(
            wrapped,
            stdin=stdin,
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
            pass_fds=(report.fileno(),),
            start_new_session=True,
        )
        deadline = started + CHILD_TIMEOUT
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, 9)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        ended = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
        user_s, sys_s, rss_kib = usage.ru_utime, usage.ru_stime, float(usage.ru_maxrss)
        if TIME_BIN:
            report.seek(0)
            fields = report.read().decode().split()
            # "Command exited with non-zero status N" may come first
            user_s, sys_s, rss_kib = float(fields[-3]), float(fields[-2]), float(fields[-1])
        out.seek(0)
        err.seek(0)
        return Measured(
            argv=argv,
            returncode=proc.returncode,
            wall_s=ended - started,
            max_rss_mb=rss_kib / 1024,  # KiB on Linux
            user_s=user_s,
            sys_s=sys_s,
            started=started,
            ended=ended,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


@contextlib.contextmanager
def _temp_file() -> Iterator[Any]:
    import tempfile

    with tempfile.TemporaryFile() as handle:
        yield handle


def check_ok(run: Measured, what: str) -> None:
    if run.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {run.returncode}): {' '.join(run.argv)}\n"
            f"stdout: {run.stdout[-2000:]}\nstderr: {run.stderr[-2000:]}"
        )


def tool_env(work: Path, db: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of our CLI: everything under `work`, no data files, no .env surprises."""
    env = {k: v for k, v in os.environ.items() if k not in TOOL_VARIABLES}
    env.update(
        {
            "DATABASE_PATH": str(db),
            "BACKUP_DIR": str(work / "backups"),
            "RECOVERY_DIR": str(work / "recovery"),
            "LOG_DIR": str(work / "logs"),
            "DATA_FILES": "",
            "BACKUP_LOCK_TIMEOUT": "5",
            "MIN_FREE_MB": "0",
            "RETENTION_MANUAL": "1",
            "PYTHONIOENCODING": "utf-8",
        }
    )
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------------------
# 2. baseline and 3. ours
# --------------------------------------------------------------------------------------


def settle() -> float:
    """Flush dirty pages left by earlier runs so they do not slow the next measured run."""
    started = time.monotonic()
    os.sync()
    return round(time.monotonic() - started, 3)


def run_baseline(db: Path, work: Path) -> dict[str, Any]:
    """sqlite3 .backup, then zip -6; timed together."""
    folder = work / "baseline"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settle()
    copy = folder / db.name
    archive = folder / "baseline.zip"
    backup = run_measured(["sqlite3", str(db), f".backup '{copy}'"])
    check_ok(backup, "sqlite3 .backup")
    zipped = run_measured(["zip", "-6", "-q", archive.name, copy.name], cwd=folder)
    check_ok(zipped, "zip -6")
    unsynced = settle()  # not counted: zip leaves its output in the page cache, ours fsyncs
    test = subprocess.run(
        ["unzip", "-tq", str(archive)], capture_output=True, text=True, check=False
    )
    return {
        "sqlite3_backup_s": round(backup.wall_s, 3),
        "zip_s": round(zipped.wall_s, 3),
        "total_s": round(backup.wall_s + zipped.wall_s, 3),
        "cpu_s": round(backup.user_s + backup.sys_s + zipped.user_s + zipped.sys_s, 3),
        "peak_rss_mb": round(max(backup.max_rss_mb, zipped.max_rss_mb), 1),
        "sync_after_s_not_counted": unsynced,
        "archive_bytes": archive.stat().st_size,
        "unzip_tq": test.stdout.strip() or test.stderr.strip(),
        "unzip_ok": test.returncode == 0,
    }


def run_ours(
    db: Path, work: Path, label: str, extra_argv: list[str] | None = None
) -> dict[str, Any]:
    """`python backup_manager.py backup --type manual` in a child; wall, RSS, archive."""
    shutil.rmtree(work / "backups", ignore_errors=True)
    shutil.rmtree(work / "logs", ignore_errors=True)
    settle()
    argv = [sys.executable, *(extra_argv or []), str(CLI), "backup", "--type", "manual"]
    run = run_measured(argv, env=tool_env(work, db), cwd=work)
    check_ok(run, f"our backup ({label})")
    archives = sorted((work / "backups" / "manual").glob("*.zip"))
    if len(archives) != 1:
        raise RuntimeError(f"expected one archive in {work / 'backups' / 'manual'}, got {archives}")
    archive = archives[0]
    test = subprocess.run(
        ["unzip", "-tq", str(archive)], capture_output=True, text=True, check=False
    )
    with zipfile.ZipFile(archive) as zf:
        members = {i.filename: (i.file_size, i.compress_size) for i in zf.infolist()}
        metadata = json.loads(zf.read("metadata.json"))
    return {
        "label": label,
        "wall_s": round(run.wall_s, 3),
        "internal_duration_s": metadata.get("duration_seconds"),
        "cpu_s": round(run.user_s + run.sys_s, 3),
        "peak_rss_mb": round(run.max_rss_mb, 1),
        "archive_bytes": archive.stat().st_size,
        "archive": str(archive),
        "compression": metadata.get("compression"),
        "members": {
            name: {"size": size, "compressed": packed} for name, (size, packed) in members.items()
        },
        "unzip_tq": test.stdout.strip() or test.stderr.strip(),
        "unzip_ok": test.returncode == 0,
        "started": run.started,
        "ended": run.ended,
    }


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median `key` (the lower middle one), with every run's figure."""
    chosen = dict(sorted(runs, key=lambda run: run[key])[(len(runs) - 1) // 2])
    chosen[f"all_runs_{key}"] = [run[key] for run in runs]
    return chosen


def cli_startup(work: Path, db: Path) -> float:
    """Wall time of `backup_manager.py --help`: interpreter start and imports."""
    best = min(
        run_measured([sys.executable, str(CLI), "--help"], env=tool_env(work, db), cwd=work).wall_s
        for _ in range(3)
    )
    return round(best, 3)


# --------------------------------------------------------------------------------------
# 4. writer latency
# --------------------------------------------------------------------------------------


def writer_loop(
    db: str, interval: float, max_seconds: float, stop: Any, ready: Any, results: Any
) -> None:
    """Commit one small checkin every `interval` s until told to stop or `max_seconds` pass."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "INSERT OR IGNORE INTO users (user_id, first_name, joined_at) VALUES (?, 'Writer', ?)",
        (WRITER_USER_ID, "2024-01-01T00:00:00+07:00"),
    )
    first = conn.execute(
        "SELECT count(*) FROM checkins WHERE user_id = ?", (WRITER_USER_ID,)
    ).fetchone()[0]
    base = datetime(2100, 1, 1, tzinfo=UTC)
    samples: list[tuple[float, float]] = []
    errors: list[str] = []
    ready.set()
    deadline = time.monotonic() + max_seconds
    tick = time.monotonic()
    n = first
    while not stop.is_set() and time.monotonic() < deadline:
        n += 1
        day = (base + timedelta(days=n)).strftime("%Y-%m-%d")
        t0 = time.monotonic()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO checkins (user_id, checkin_date, mood, urge_level, score, note,"
                " created_at) VALUES (?, ?, 3, 4, 50.0, 'bench writer 💪', ?)",
                (WRITER_USER_ID, day, f"{day}T12:00:00+07:00"),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            errors.append(str(error))
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        samples.append((t0, time.monotonic() - t0))
        tick += interval
        pause = tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            tick = time.monotonic()  # behind schedule: do not try to catch up in a burst
    conn.close()
    results.put({"samples": samples, "errors": errors[:20], "error_count": len(errors)})


class Writer:
    """A writer process; use as a context manager, read .result afterwards."""

    def __init__(self, db: Path, interval: float, max_seconds: float) -> None:
        ctx = mp.get_context("spawn")
        self.stop = ctx.Event()
        self.ready = ctx.Event()
        self.queue = ctx.Queue()
        self.proc = ctx.Process(
            target=writer_loop,
            args=(str(db), interval, max_seconds, self.stop, self.ready, self.queue),
            daemon=True,
        )
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Writer:
        self.proc.start()
        if not self.ready.wait(30):
            raise RuntimeError("the writer process did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.result = self.queue.get(timeout=60)
        self.proc.join(30)


def latency_stats(samples: list[tuple[float, float]], start: float, end: float) -> dict[str, Any]:
    """Commit latencies (ms) of commits that started within [start, end]."""
    inside = [(t0, lat * 1000) for t0, lat in samples if start <= t0 <= end]
    values = sorted(lat for _, lat in inside)
    if not values:
        return {"commits": 0}
    worst_at = max(inside, key=lambda sample: sample[1])[0] - start

    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 2)

    return {
        "commits": len(values),
        "commits_per_s": round(len(values) / max(end - start, 1e-9), 1),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(values[-1], 2),
        "max_at_s": round(worst_at, 2),  # seconds after the measured window began
        "mean_ms": round(statistics.fmean(values), 2),
        "over_100ms": sum(v > 100 for v in values),
        "over_200ms": sum(v > 200 for v in values),
    }


def writer_idle(db: Path, seconds: float, interval: float) -> dict[str, Any]:
    with Writer(db, interval, seconds + 5) as writer:
        start = time.monotonic()
        time.sleep(seconds)
        end = time.monotonic()
    stats = latency_stats(writer.result["samples"], start, end)
    stats["errors"] = writer.result["error_count"]
    return stats


def writer_during_backup(
    db: Path, work: Path, interval: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    with Writer(db, interval, CHILD_TIMEOUT) as writer:
        time.sleep(1.0)
        ours = run_ours(db, work, "with writer")
        time.sleep(0.5)
    stats = latency_stats(writer.result["samples"], ours["started"], ours["ended"])
    stats["errors"] = writer.result["error_count"]
    stats["error_samples"] = writer.result["errors"]
    return stats, ours


# --------------------------------------------------------------------------------------
# 5. phases: the service's steps, one by one, in this process
# --------------------------------------------------------------------------------------


class NullSink:
    """A writable that only counts (the cost of generating an export without compressing it)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.size += len(data)
        return len(data)


def time_phases(db: Path, work: Path) -> dict[str, Any]:
    """Time each step of backup_service._build sequentially (the real run overlaps the check)."""
    from src.config.settings import load_settings
    from src.services.archive import ArchiveWriter, check_members
    from src.services.exporters import write_json_export, write_sql_dump
    from src.services.integrity import (
        check_file,
        check_header,
        gather_facts,
        open_readonly,
        run_check,
    )
    from src.services.snapshot import take_snapshot

    settings = load_settings(tool_env(work, db), root=ROOT, env_file=work / "no-such.env")
    folder = work / "phases"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    phases: dict[str, float] = {}
    sizes: dict[str, int] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.monotonic()
        value = fn()
        phases[name] = round(time.monotonic() - t0, 3)
        return value

    snapshot = folder / db.name
    settle()
    timed("check_header + quick_check (live)", lambda: (check_header(db), check_file(db)))
    timed("snapshot (backup API, fsync per step)", lambda: take_snapshot(db, snapshot))

    def integrity() -> str:
        with contextlib.closing(open_readonly(snapshot, immutable=True)) as conn:
            return run_check(conn, "integrity_check")

    def facts() -> Any:
        with contextlib.closing(open_readonly(snapshot, immutable=True)) as conn:
            return gather_facts(conn, snapshot.stat().st_size)

    timed("integrity_check (snapshot) [overlapped in real run]", integrity)
    timed("count rows (snapshot) [overlapped in real run]", facts)

    def sha_only() -> str:
        sha = hashlib.sha256()
        with snapshot.open("rb") as handle:
            while chunk := handle.read(MB):
                sha.update(chunk)
        return sha.hexdigest()

    timed("[reference] sha256 of snapshot only", sha_only)

    def export_only(write: Callable[[Any, Any], Any], key: str) -> None:
        sink = NullSink()
        with contextlib.closing(open_readonly(snapshot, immutable=True)) as conn:
            write(conn, sink)
        sizes[key] = sink.size

    timed(
        "[reference] SQL dump generation only (no zip)", lambda: export_only(write_sql_dump, "sql")
    )
    timed(
        "[reference] JSON export generation only (no zip)",
        lambda: export_only(write_json_export, "json"),
    )

    partial = folder / "phases.zip"
    writer = ArchiveWriter(
        partial, settings.compression_level, large=snapshot.stat().st_size > 512 * MB
    )
    timed(
        "zip: add database file",
        lambda: writer.add_file(f"database/{db.name}", snapshot, "database"),
    )

    def export_into(write: Callable[[Any, Any], Any], member: str) -> None:
        with (
            contextlib.closing(open_readonly(snapshot, immutable=True)) as conn,
            writer.stream(member, member.rsplit(".", 1)[-1]) as out,
        ):
            write(conn, out)

    timed(
        "zip: SQL dump (generate + deflate + sha)",
        lambda: export_into(write_sql_dump, f"database/{db.stem}.sql"),
    )
    timed(
        "zip: JSON export (generate + deflate + sha)",
        lambda: export_into(write_json_export, f"database/{db.stem}.json"),
    )
    metadata = {"members": [m.to_json() for m in writer.members]}
    timed("zip: metadata + close + fsync", lambda: (writer.add_metadata(metadata), writer.close()))
    problems = timed(
        "verify read-back (inflate + sha256 of every member)",
        lambda: check_members(partial, metadata),
    )
    total = round(sum(v for k, v in phases.items() if not k.startswith("[reference]")), 3)
    critical = round(
        total
        - phases["integrity_check (snapshot) [overlapped in real run]"]
        - phases["count rows (snapshot) [overlapped in real run]"],
        3,
    )
    result = {
        "compression": settings.compression_level,
        "seconds": phases,
        "sum_sequential_s": total,
        "sum_without_overlapped_checks_s": critical,
        "uncompressed_bytes": {**sizes, "db": snapshot.stat().st_size},
        "archive_bytes": partial.stat().st_size,
        "verify_problems": problems,
    }
    shutil.rmtree(folder, ignore_errors=True)
    return result


def profile_ours(db: Path, work: Path, top: int = 25) -> str:
    """Run our CLI once under cProfile (main thread only) and return the top functions."""
    import pstats

    prof = work / "backup.prof"
    run_ours(db, work, "cProfile", ["-m", "cProfile", "-o", str(prof)])
    text = io.StringIO()
    stats = pstats.Stats(str(prof), stream=text)
    stats.sort_stats("tottime").print_stats(top)
    return text.getvalue()


# --------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def _runs(run: dict[str, Any], key: str) -> str:
    return "/".join(f"{value:.1f}" for value in run.get(f"all_runs_{key}", [run[key]]))


def summary(result: dict[str, Any]) -> str:
    base, ours, rss = result["baseline"], result["ours"], result["ours"]["peak_rss_mb"]
    idle, busy = result["writer_idle"], result.get("writer_during_backup", {})
    ratio = result["ratio_wall_ours_over_baseline"]
    with_writer = result.get("ours_with_writer", {})
    lines = [
        f"== backup benchmark: {result['db']['size_bytes'] / MB:.1f} MB database "
        f"({sum(result['db']['rows'].values()):,} rows in all tables), "
        f"{result['machine']['cpus']} CPUs ==",
        f"{'':36}{'baseline':>14}{'ours':>14}",
        f"{'wall time (s)':36}{base['total_s']:>14.2f}{ours['wall_s']:>14.2f}",
        f"{'  (sqlite3 .backup / zip -6)':36}"
        f"{base['sqlite3_backup_s']:>6.2f} /{base['zip_s']:>6.2f}{'':>14}",
        f"{'  every run (s)':36}{_runs(base, 'total_s'):>14}{_runs(ours, 'wall_s'):>14}",
        f"{'  sync after zip (not counted) (s)':36}{base['sync_after_s_not_counted']:>14.2f}",
        f"{'  internal duration (metadata)':36}{'':>14}{ours['internal_duration_s'] or 0:>14.2f}",
        f"{'CPU time user+sys (s)':36}{base['cpu_s']:>14.2f}{ours['cpu_s']:>14.2f}",
        f"{'peak RSS (MB)':36}{base['peak_rss_mb']:>14.1f}{rss:>14.1f}",
        f"{'archive size (MB)':36}{base['archive_bytes'] / MB:>14.1f}"
        f"{ours['archive_bytes'] / MB:>14.1f}",
        f"{'unzip -tq':36}{'ok' if base['unzip_ok'] else 'FAIL':>14}"
        f"{'ok' if ours['unzip_ok'] else 'FAIL':>14}",
        f"{'ratio wall ours/baseline':36}{ratio:>28.2f}",
        f"{'our wall time with writer (s)':36}{with_writer.get('wall_s', 0):>28.2f}",
        f"{'CLI startup (--help) (s)':36}{result['cli_startup_s']:>28.3f}",
        "",
        f"{'writer commit latency (ms)':36}{'idle':>14}{'during ours':>14}",
    ]
    keys = (
        "commits",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "max_at_s",
        "over_100ms",
        "over_200ms",
        "errors",
    )
    for key in keys:
        lines.append(f"{'  ' + key:36}{idle.get(key, '-')!s:>14}{busy.get(key, '-')!s:>14}")
    lines += [
        "",
        "targets:",
        f"  wall ratio <= 1.0 ......... {ratio:.2f}  {verdict(ratio <= 1.0)}",
        f"  peak RSS < 100 MB ......... {rss:.1f}  {verdict(rss < 100)}",
    ]
    if busy.get("commits"):
        lines.append(
            f"  writer max < 200 ms ....... {busy['max_ms']:.1f}  {verdict(busy['max_ms'] < 200)}"
        )
    phases = result.get("phases")
    if isinstance(phases, dict) and "seconds" in phases:
        lines += ["", "phases (sequential, in-process, same service functions):"]
        lines += [f"  {name:58}{secs:>8.2f} s" for name, secs in phases["seconds"].items()]
        lines.append(f"  {'sum (without [reference] rows)':58}{phases['sum_sequential_s']:>8.2f} s")
        lines.append(
            f"  {'sum minus the overlapped checks':58}"
            f"{phases['sum_without_overlapped_checks_s']:>8.2f} s"
        )
        sizes = phases["uncompressed_bytes"]
        lines.append(
            "  uncompressed: " + ", ".join(f"{k} {v / MB:.1f} MB" for k, v in sizes.items())
        )
    return "\n".join(lines)


def machine_facts() -> dict[str, Any]:
    """Describe the machine a result was measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100, help="database size (default 100)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--keep", action="store_true", help="keep the archives and work files")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument("--writer-seconds", type=float, default=10, help="idle writer phase")
    parser.add_argument("--writer-interval-ms", type=float, default=5)
    parser.add_argument("--no-writer", action="store_true", help="skip the writer phases")
    parser.add_argument("--no-phases", action="store_true", help="skip the phase timing")
    parser.add_argument("--profile", action="store_true", help="also run ours under cProfile")
    parser.add_argument("--repeat", type=int, default=1, help="baseline/ours runs (median)")
    args = parser.parse_args(argv)

    for tool in ("sqlite3", "zip", "unzip"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed")
    out = args.out.resolve()
    db, db_facts = ensure_database(out, args.size_mb, args.rebuild)
    work = out / f"run-{args.size_mb:g}mb"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    interval = args.writer_interval_ms / 1000
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "db": db_facts,
    }
    try:
        print("warming the page cache ...")
        warm_cache(db)
        result["cli_startup_s"] = cli_startup(work, db)
        baselines, ours_runs = [], []
        for number in range(1, args.repeat + 1):
            print(f"baseline: sqlite3 .backup + zip -6 (run {number}/{args.repeat}) ...")
            baselines.append(run_baseline(db, work))
            print(f"ours: backup_manager.py backup --type manual (run {number}/{args.repeat}) ...")
            ours_runs.append(run_ours(db, work, "alone"))
        result["baseline"] = median_run(baselines, "total_s")
        result["ours"] = ours = median_run(ours_runs, "wall_s")
        result["ratio_wall_ours_over_baseline"] = round(
            ours["wall_s"] / result["baseline"]["total_s"], 3
        )
        result["ratio_archive_ours_over_baseline"] = round(
            ours["archive_bytes"] / result["baseline"]["archive_bytes"], 3
        )
        if not args.no_writer:
            print(f"writer alone for {args.writer_seconds:g} s ...")
            result["writer_idle"] = writer_idle(db, args.writer_seconds, interval)
            print("writer during our backup ...")
            busy, with_writer = writer_during_backup(db, work, interval)
            result["writer_during_backup"] = busy
            result["ours_with_writer"] = with_writer
        else:
            result["writer_idle"] = {}
        if not args.no_phases:
            print("timing the phases in-process ...")
            try:
                result["phases"] = time_phases(db, work)
            except Exception as error:  # the service may be mid-edit; report, do not die
                result["phases"] = {"error": f"{type(error).__name__}: {error}"}
        if args.profile:
            print("cProfile run ...")
            result["cprofile_top"] = profile_ours(db, work)
    finally:
        if not args.no_writer:
            remove_writer_rows(db)
        if not args.keep:
            for name in ("baseline", "backups", "phases", "recovery"):
                shutil.rmtree(work / name, ignore_errors=True)
    for key in ("ours", "ours_with_writer"):
        if key in result:
            result[key].pop("started", None)
            result[key].pop("ended", None)
    text = summary(result)
    print()
    print(text)
    if "cprofile_top" in result:
        print()
        print(result["cprofile_top"])
    result["summary"] = text
    path = out / f"bench-{args.size_mb:g}mb.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
