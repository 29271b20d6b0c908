"""Real processes against real files: SIGKILL mid-backup, concurrent backups, the lock, WAL.

Every backup here runs as `python backup_manager.py ...` in its own process; nothing is
mocked. The kill test uses a fixed seed so the kill points are the same on every run
(relative to the measured duration of one backup on the machine at hand).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from src.config.settings import Settings
from src.services.locking import exclusive_lock
from tests.conftest import grow_journal, popen_cli, table_rows

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL and flock semantics: POSIX")

RunCli = Callable[..., subprocess.CompletedProcess[str]]
SettingsFor = Callable[..., Settings]

SEED = 20240611
KILLS = 10
# Never let retention delete an archive under the test's feet.
KEEP_ALL = {"RETENTION_MANUAL": "1000"}


# --- helpers ---------------------------------------------------------------------------


def _listed(run_cli: RunCli, db: Path) -> list[dict[str, object]]:
    """Return `list --json` as parsed JSON (the command must succeed)."""
    result = run_cli("list", "--json", db=db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _status(run_cli: RunCli, db: Path) -> dict[str, object]:
    """Return `status --json` as parsed JSON."""
    result = run_cli("status", "--json", db=db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _verify(run_cli: RunCli, db: Path, archive: Path) -> None:
    """Run `verify PATH` and require exit 0."""
    result = run_cli("verify", str(archive), db=db)
    assert result.returncode == 0, (archive.name, result.stdout, result.stderr)


def _archive_from_output(stdout: str) -> Path:
    """Return the archive path a successful `backup` printed."""
    match = re.search(r"File: (\S+\.zip)", stdout)
    assert match, stdout
    return Path(match[1])


def _zips(settings: Settings) -> set[Path]:
    """Every *.zip anywhere under the backup folder (work folders included)."""
    return set(settings.backup_dir.rglob("*.zip"))


def _leftovers(settings: Settings) -> list[Path]:
    """Work folders of interrupted backups in the type folders."""
    return sorted(settings.backup_dir.glob("*/.tmp-*"))


def _attempt_of(settings: Settings, pid: int) -> tuple[str, str | None] | None:
    """Read (status, archive) of the attempt a process recorded, straight from the file."""
    uri = settings.history_path.resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        rows = conn.execute("SELECT status, archive FROM attempts WHERE pid = ?", (pid,)).fetchall()
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def _wait_for_lock_holder(
    settings: Settings, proc: subprocess.Popen[str], timeout: float = 30
) -> float:
    """Wait until `proc` holds the backup lock (its note is in the lock file); return when."""
    lock = settings.backup_dir / ".lock"
    note = f"by pid {proc.pid}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if note in lock.read_text(encoding="utf-8", errors="replace"):
                return time.monotonic()
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"backup exited ({proc.returncode}) before taking the lock:\n{out}\n{err}")
        time.sleep(0.002)
    proc.kill()
    proc.communicate()
    pytest.fail("backup never took the lock")


def _wait_for_lock_release(settings: Settings, proc: subprocess.Popen[str]) -> float:
    """Wait until `proc` no longer holds the lock (its note is cleared); return when."""
    lock = settings.backup_dir / ".lock"
    note = f"by pid {proc.pid}"
    while note in lock.read_text(encoding="utf-8", errors="replace"):
        if proc.poll() is not None:
            break
        time.sleep(0.002)
    return time.monotonic()


def _extract_database(archive: Path, target: Path) -> Path:
    """Extract the archived database (the member with role 'database') to `target`."""
    with zipfile.ZipFile(archive) as zf:
        metadata = json.loads(zf.read("metadata.json"))
        member = next(m["path"] for m in metadata["members"] if m["role"] == "database")
        target.write_bytes(zf.read(member))
    return target


def _rows_of(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """table_rows of a database file, opened read-only and never modified."""
    with closing(sqlite3.connect(path.resolve().as_uri() + "?immutable=1", uri=True)) as conn:
        return table_rows(conn)


# --- 1. SIGKILL at random points -------------------------------------------------------


@pytest.mark.slow
def test_sigkill_at_random_points_never_leaves_a_listed_partial_archive(
    tmp_path: Path, sample_db: Path, settings_for: SettingsFor, run_cli: RunCli
) -> None:
    grow_journal(
        sample_db, rows=20_000, blob_bytes=4096, blob_every=4, seed=SEED
    )  # ~30 MB: a backup takes about 1 s
    settings = settings_for(sample_db)
    rng = random.Random(SEED)
    verified: set[Path] = set()
    successes = 0

    def backup_ok() -> Path:
        """Run one full backup; it must succeed and leave no work folders behind."""
        nonlocal successes
        result = run_cli("backup", db=sample_db, **KEEP_ALL)
        assert result.returncode == 0, result.stderr
        successes += 1
        assert _leftovers(settings) == [], "the backup did not clean up interrupted work"
        return _archive_from_output(result.stdout)

    def check_listing() -> None:
        """Only complete archives are listed, each verifies, and no other *.zip exists."""
        listed = _listed(run_cli, sample_db)
        paths = {Path(str(item["path"])) for item in listed}
        assert all(item["error"] is None for item in listed), listed
        assert _zips(settings) == paths, "a *.zip exists that `list` does not show, or vice versa"
        for path in sorted(paths - verified):
            _verify(run_cli, sample_db, path)
            verified.add(path)

    backup_ok()  # a first, cold run; its archive must survive every kill below
    check_listing()
    # calibrate: how long a (warm) backup holds the lock on this machine
    proc = popen_cli(tmp_path, sample_db, "backup", **KEEP_ALL)
    locked_at = _wait_for_lock_holder(settings, proc)
    span = _wait_for_lock_release(settings, proc) - locked_at
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    successes += 1
    check_listing()

    killed: list[int] = []
    finished_anyway = late_kills = 0
    phases: list[str] = []
    for number in range(KILLS):
        # one kill point in each tenth of the locked span, at a seeded random place in it
        delay = span * (number + rng.random()) / KILLS
        published = _zips(settings)
        proc = popen_cli(tmp_path, sample_db, "backup", **KEEP_ALL)
        locked_at = _wait_for_lock_holder(settings, proc)
        time.sleep(max(0.0, locked_at + delay - time.monotonic()))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
        if proc.returncode == -signal.SIGKILL:
            killed.append(proc.pid)
            left = _leftovers(settings)
            contents = sorted(p.name for d in left for p in d.iterdir())
            if _zips(settings) != published:
                phases.append("published")
            elif any(name.endswith(".partial") for name in contents):
                phases.append("partial")
            else:
                phases.append("snapshot" if contents else "before the snapshot")
        else:
            assert proc.returncode == 0, (proc.returncode, out, err)
            finished_anyway += 1
            successes += 1

        check_listing()
        attempt = _attempt_of(settings, proc.pid)
        # the process held the lock, so it had recorded its attempt first
        assert attempt is not None
        if proc.returncode == -signal.SIGKILL:
            state, recorded = attempt
            # killed before it could finish: 'running' (shown as interrupted), never 'failed';
            # 'success' only when the kill came after the archive was published and recorded
            assert state in {"running", "success"}, attempt
            if state == "success":
                assert recorded is not None
                assert Path(recorded) in verified
                late_kills += 1
                successes += 1
        if number % 3 == 2:
            # the next backup succeeds, cleans the leftovers, and its archive verifies
            archive = backup_ok()
            check_listing()
            assert archive in verified

    summary = (
        f"lock held {span:.2f} s; killed {len(killed)} ({late_kills} after recording success), "
        f"finished {finished_anyway}; phases {phases}"
    )
    print(summary)
    # a busy machine may let a late kill come after the backup finished; most must land
    assert len(killed) >= KILLS // 2, summary
    assert "partial" in phases, f"no kill hit the archive writing: {summary}"

    backup_ok()
    check_listing()
    assert _leftovers(settings) == []
    assert not (settings.backup_dir / ".work").exists()

    # `status` counts every killed attempt as interrupted (none as a success or failure),
    # except one killed after its archive was published and recorded as a success
    history = _status(run_cli, sample_db)["history"]
    assert history == {
        **history,
        "successes": successes,
        "failures": 0,
        "interrupted": len(killed) - late_kills,
    }
    # every listed archive is complete and verified
    listed = _listed(run_cli, sample_db)
    assert listed
    assert all(item["verified"] is True for item in listed), listed


# --- 2. two backups started together ---------------------------------------------------


@pytest.mark.slow
def test_two_concurrent_backups_both_succeed_with_distinct_names(
    tmp_path: Path, sample_db: Path, settings_for: SettingsFor, run_cli: RunCli
) -> None:
    grow_journal(
        sample_db, rows=8_000, blob_bytes=4096, blob_every=4, seed=SEED
    )  # long enough that the two overlap
    settings = settings_for(sample_db)
    extra = {"BACKUP_LOCK_TIMEOUT": "120", **KEEP_ALL}
    procs = [popen_cli(tmp_path, sample_db, "backup", **extra) for _ in range(2)]
    # watch them: the lock passes from one to the other, one work folder at a time
    holders: list[str] = []
    most_work_folders = 0
    deadline = time.monotonic() + 120
    while any(proc.poll() is None for proc in procs) and time.monotonic() < deadline:
        most_work_folders = max(most_work_folders, len(_leftovers(settings)))
        lock = settings.backup_dir / ".lock"
        note = lock.read_text(encoding="utf-8", errors="replace") if lock.exists() else ""
        if note and (not holders or holders[-1] != note):
            holders.append(note)
        time.sleep(0.005)
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, (out, err)

    assert most_work_folders == 1
    pattern = r"manual backup started at \S+ \S+ by pid (\d+)"
    assert sorted(int(re.fullmatch(pattern, h)[1]) for h in holders) == sorted(  # type: ignore[index]
        proc.pid for proc in procs
    )
    archives = [_archive_from_output(out) for out, _ in outputs]
    assert len(set(archives)) == 2, archives
    assert len({a.name for a in archives}) == 2
    listed = {Path(str(item["path"])) for item in _listed(run_cli, sample_db)}
    assert listed == set(archives) == _zips(settings)
    for archive in archives:
        _verify(run_cli, sample_db, archive)
    assert _leftovers(settings) == []
    history = _status(run_cli, sample_db)["history"]
    assert (history["successes"], history["failures"], history["interrupted"]) == (2, 0, 0)


# --- 3. the lock is busy ---------------------------------------------------------------


def test_backup_gives_up_with_exit_6_while_another_process_holds_the_lock(
    tmp_path: Path, sample_db: Path, settings_for: SettingsFor, run_cli: RunCli
) -> None:
    settings = settings_for(sample_db)
    first = run_cli("backup", db=sample_db)
    assert first.returncode == 0, first.stderr
    before = _listed(run_cli, sample_db)
    zips_before = _zips(settings)

    with exclusive_lock(settings.backup_dir / ".lock", "restore by the test", timeout=0):
        started = time.monotonic()
        busy = run_cli("backup", db=sample_db, BACKUP_LOCK_TIMEOUT="1")
        waited = time.monotonic() - started

    assert busy.returncode == 6, (busy.stdout, busy.stderr)
    assert "restore by the test" in busy.stderr
    assert f"pid {os.getpid()}" in busy.stderr
    assert "BACKUP_LOCK_TIMEOUT" in busy.stderr
    assert waited >= 1.0
    assert _listed(run_cli, sample_db) == before
    assert _zips(settings) == zips_before
    assert _leftovers(settings) == []
    history = _status(run_cli, sample_db)["history"]
    assert (history["successes"], history["failures"], history["interrupted"]) == (1, 1, 0)
    assert "restore by the test" in str(history["last_failure"])

    # released: the lock file no longer names the old holder and the next backup runs
    assert "restore by the test" not in (settings.backup_dir / ".lock").read_text()
    again = run_cli("backup", db=sample_db, BACKUP_LOCK_TIMEOUT="1")
    assert again.returncode == 0, again.stderr


# --- 4. rows that live only in the WAL -------------------------------------------------

_HOLDING_WRITER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
conn.execute("PRAGMA wal_autocheckpoint=0")
exec(sys.argv[2])
print("committed", flush=True)
sys.stdin.read()  # hold the connection (and the uncheckpointed WAL) until told to go
conn.close()
"""

_WAL_CHANGES = """
conn.execute("BEGIN")
conn.execute(
    "INSERT INTO users (user_id, first_name, joined_at, settings_json) "
    "VALUES (4242424242, 'Wal-only', '2024-06-01T00:00:00+07:00', '{\\"x\\": 1}')"
)
for i in range(300):
    conn.execute(
        "INSERT INTO journal_entries (user_id, created_at, title, body, attachment) "
        "VALUES (4242424242, '2024-06-01T00:00:00+07:00', ?, ?, ?)",
        (f"wal {i}", "only in the wal " * 20, bytes(range(256)) * 4 if i % 10 == 0 else None),
    )
conn.execute("UPDATE users SET first_name = 'Renamed in WAL' WHERE rowid IN "
             "(SELECT rowid FROM users WHERE user_id <> 4242424242 ORDER BY rowid LIMIT 5)")
conn.execute("DELETE FROM user_badges WHERE rowid IN "
             "(SELECT rowid FROM user_badges ORDER BY rowid LIMIT 20)")
conn.execute("COMMIT")
conn.execute("INSERT INTO relapses (user_id, occurred_at) VALUES (4242424242, '2024-06-02')")
"""


@pytest.mark.parametrize("holder", ["connection in the test", "writer process"])
def test_rows_only_in_the_wal_of_an_open_writer_are_in_the_backup(
    tmp_path: Path, sample_db: Path, run_cli: RunCli, holder: str
) -> None:
    wal = sample_db.with_name(sample_db.name + "-wal")
    with closing(sqlite3.connect(sample_db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _rows_of(sample_db)

    writer: sqlite3.Connection | None = None
    proc: subprocess.Popen[str] | None = None
    if holder == "writer process":
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDING_WRITER, str(sample_db), _WAL_CHANGES],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "committed"
    else:
        writer = sqlite3.connect(sample_db, isolation_level=None)
        assert writer.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        writer.execute("PRAGMA wal_autocheckpoint=0")
        exec(_WAL_CHANGES, {"conn": writer})
    try:
        # precondition: the new rows are in the WAL only; the main file alone lacks them
        assert wal.stat().st_size > 0
        main_only = tmp_path / "main-only.db"
        shutil.copyfile(sample_db, main_only)
        assert _rows_of(main_only) == before

        result = run_cli("backup", db=sample_db)
        assert result.returncode == 0, result.stderr
        archive = _archive_from_output(result.stdout)

        # still uncheckpointed while the writer is open: the backup read them from the WAL
        shutil.copyfile(sample_db, main_only)
        assert _rows_of(main_only) == before
        with closing(sqlite3.connect(f"{sample_db.resolve().as_uri()}?mode=ro", uri=True)) as c:
            live = table_rows(c)
    finally:
        if writer is not None:
            writer.close()
        if proc is not None:
            proc.communicate(input="", timeout=30)
            assert proc.returncode == 0

    archived = _rows_of(_extract_database(archive, tmp_path / "archived.db"))
    assert live != before
    assert archived == live
    users = {row[1]: row for row in archived["users"]}
    assert users[4242424242][4] == "Wal-only"
    assert sum(1 for row in archived["journal_entries"] if row[2] == 4242424242) == 300
    _verify(run_cli, sample_db, archive)


# --- 5. a writer that keeps committing -------------------------------------------------

_BUSY_WRITER = r"""
import sqlite3, sys, time
from pathlib import Path
db, stop = sys.argv[1], Path(sys.argv[2])
conn = sqlite3.connect(db, isolation_level=None, timeout=30)
conn.execute("PRAGMA busy_timeout=30000")
commits, deadline = 0, time.monotonic() + 60
while commits < 100_000 and time.monotonic() < deadline and not stop.exists():
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO writer_log (n, payload) VALUES (?, randomblob(512))", (commits,))
    conn.execute("UPDATE writer_counter SET n = n + 1")
    conn.execute("UPDATE users SET last_active_at = ? WHERE user_id = "
                 "(SELECT user_id FROM users ORDER BY user_id LIMIT 1 OFFSET ?)",
                 (f"2024-07-01T00:00:{commits % 60:02d}+07:00", commits % 500))
    conn.execute("COMMIT")
    commits += 1
    if commits == 50:
        print("running", flush=True)
conn.close()
print(commits, flush=True)
"""


@pytest.mark.slow
def test_backup_succeeds_while_a_writer_keeps_committing(
    tmp_path: Path, sample_db: Path, settings_for: SettingsFor, run_cli: RunCli
) -> None:
    grow_journal(sample_db, rows=6_000, blob_bytes=4096, blob_every=4, seed=SEED)
    settings = settings_for(sample_db)
    with closing(sqlite3.connect(sample_db)) as conn, conn:
        conn.execute("CREATE TABLE writer_log (id INTEGER PRIMARY KEY, n INTEGER, payload BLOB)")
        conn.execute("CREATE TABLE writer_counter (n INTEGER NOT NULL)")
        conn.execute("INSERT INTO writer_counter VALUES (0)")

    stop = tmp_path / "stop-writer"
    writer = subprocess.Popen(
        [sys.executable, "-c", _BUSY_WRITER, str(sample_db), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "running"
        with closing(sqlite3.connect(f"{sample_db.resolve().as_uri()}?mode=ro", uri=True)) as c:
            at_start = c.execute("SELECT n FROM writer_counter").fetchone()[0]
        result = run_cli("backup", db=sample_db, BACKUP_LOCK_TIMEOUT="60")
        with closing(sqlite3.connect(f"{sample_db.resolve().as_uri()}?mode=ro", uri=True)) as c:
            at_end = c.execute("SELECT n FROM writer_counter").fetchone()[0]
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=90)
    assert writer.returncode == 0, err
    assert result.returncode == 0, result.stderr
    assert at_end > at_start + 10, "the writer was not committing during the backup"
    assert int(out.split()[-1]) >= at_end

    archive = _archive_from_output(result.stdout)
    _verify(run_cli, sample_db, archive)
    assert _zips(settings) == {archive}
    assert _leftovers(settings) == []
    # the snapshot is one consistent moment: each commit's three changes are all in, or none
    with closing(
        sqlite3.connect(
            _extract_database(archive, tmp_path / "archived.db").as_uri() + "?immutable=1",
            uri=True,
        )
    ) as conn:
        counter = conn.execute("SELECT n FROM writer_counter").fetchone()[0]
        logged = conn.execute("SELECT count(*), coalesce(max(n) + 1, 0) FROM writer_log").fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert logged == (counter, counter)
    assert at_start <= counter <= at_end


def test_two_verify_runs_at_once_do_not_disturb_each_other(chinook, settings_for):
    from concurrent.futures import ThreadPoolExecutor

    from src.services.backup_service import create_backup
    from src.services.catalog import verify_backups

    settings = settings_for(chinook)
    archives = [create_backup(settings, "manual").path for _ in range(3)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: verify_backups(settings, archives), range(4)))
    assert all(report.ok for reports in runs for report in reports)
    assert not list(settings.backup_dir.glob(".verify-*"))
