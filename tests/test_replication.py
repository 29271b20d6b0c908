"""Continuous replication with the real Litestream: a file:// replica and S3 (rclone serve s3).

Every process a test starts (the scheduler, Litestream, the S3 server) it stops.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from src.cli.output import CLI_HINTS
from src.config.settings import Settings
from src.driver.replication import ReplicationRunner
from src.presentation.status import status_text
from src.services import backup_service, repair_service, restore_service, status_service
from src.services.history import pid_alive
from src.services.replication.drill import compare_within, replica_drill
from src.services.replication.report import (
    local_txid,
    read_status,
    replica_positions,
    supervisor_state,
)
from src.services.replication.supervisor import Supervisor
from src.services.scheduled_run import make_scheduled_backup
from src.services.scheduler_state import SchedulerState
from tests.conftest import ROOT, cli_env, corrupt, table_rows
from tests.offsite_servers import S3_KEY, S3_SECRET, RcloneServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Litestream has no Windows build")

SYNC = 1.0  # REPLICA_SYNC_INTERVAL in these tests, seconds


class Recorder:
    """A notifier that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def notify(self, event: str, message: str) -> None:
        self.events.append((event, message))

    def count(self, event: str) -> int:
        return sum(1 for seen, _ in self.events if seen == event)


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[RcloneServer]:
    """A real S3 API server over tmp_path/s3root with a bucket `bucket`."""
    server = RcloneServer("s3", tmp_path / "s3root", "s3test")
    (server.folder / "bucket").mkdir(parents=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def s3_env(server: RcloneServer, tmp_path: Path) -> dict[str, str]:
    """REPLICA_* for the S3 server, and a machine-wide CA bundle nobody asked Litestream for."""
    machine_ca = tmp_path / "machine-ca.pem"
    machine_ca.write_text("not a certificate\n", encoding="utf-8")
    return {
        "REPLICA_URL": "s3://bucket/bot",
        "REPLICA_ENDPOINT": f"http://127.0.0.1:{server.port}",
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_CA_BUNDLE": str(machine_ca),  # Litestream 0.5.17 fails with it: never passed on
    }


@pytest.fixture(params=["file", "s3"])
def replica_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The REPLICA_* settings of a file:// replica, or of one on a local S3 server."""
    base = {"REPLICA_SYNC_INTERVAL": "1s"}
    if request.param == "file":
        return {**base, "REPLICA_URL": f"file://{tmp_path / 'replica'}"}
    server = request.getfixturevalue("s3")
    return {**base, **s3_env(server, tmp_path)}


def make_db(path: Path) -> Path:
    """A database with one table of timestamped rows (rollback journal, as the bot's is)."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, committed REAL NOT NULL)")
        conn.commit()
    return path


class Writer:
    """A thread committing a timestamped row every `every` seconds, noting each commit."""

    def __init__(self, db: Path, every: float = 0.05) -> None:
        self.db, self.every = db, every
        self.committed: list[tuple[int, float]] = []  # (id, when the commit returned)
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with closing(sqlite3.connect(self.db, timeout=10, isolation_level=None)) as conn:
            while not self._stop.is_set():
                began = time.time()
                cursor = conn.execute("INSERT INTO entries (committed) VALUES (?)", (began,))
                done = time.time()
                self.slowest = max(self.slowest, done - began)
                self.committed.append((int(cursor.lastrowid or 0), done))
                self._stop.wait(self.every)


def write_row(db: Path) -> int:
    """Commit one row now; return its id."""
    with closing(sqlite3.connect(db, timeout=10, isolation_level=None)) as conn:
        cursor = conn.execute("INSERT INTO entries (committed) VALUES (?)", (time.time(),))
        return int(cursor.lastrowid or 0)


def ids(db: Path) -> list[int]:
    with closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM entries ORDER BY id")]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def caught_up(settings: Settings) -> bool:
    """The replica holds every transaction Litestream has taken from the database."""
    local = local_txid(settings)
    return local is not None and replica_positions(settings).newest_txid >= local


@contextmanager
def replicating(settings: Settings, notifier: Recorder | None = None) -> Iterator[Supervisor]:
    """Run the supervisor as the scheduler does (its thread), and stop it afterwards."""
    supervisor = Supervisor(settings, notifier or Recorder())
    runner = ReplicationRunner(supervisor, poll_seconds=0.2)
    runner.start()
    try:
        yield supervisor
    finally:
        runner.stop()
    assert supervisor.process is None


def run_tool(folder: Path, db: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`backup_manager.py ARGS` with the tool's folders in `folder` (another machine)."""
    folder.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(ROOT / "backup_manager.py"), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=cli_env(folder, db, **extra),
        cwd=folder,
        timeout=180,
        check=False,
    )


def test_kill_9_of_tool_and_litestream_loses_at_most_the_sync_interval(
    tmp_path, replica_env, settings_for
):
    db = make_db(tmp_path / "bot.db")
    settings = settings_for(db, **replica_env)
    log = (tmp_path / "scheduler.out").open("w")
    scheduler = subprocess.Popen(
        [sys.executable, str(ROOT / "backup_manager.py"), "scheduler"],
        env=cli_env(tmp_path, db, **replica_env),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the tool and its Litestream
    )
    try:
        wait_for(lambda: bool(supervisor_state(settings).get("litestream_pid")), 60, "replication")
        wait_for(lambda: replica_positions(settings).newest_txid > 0, 30, "first snapshot")
        with Writer(db) as writer:
            time.sleep(6)
            os.killpg(scheduler.pid, signal.SIGKILL)
            killed_at = time.time()
        scheduler.wait(10)
    finally:
        if scheduler.poll() is None:
            os.killpg(scheduler.pid, signal.SIGKILL)
            scheduler.wait()
        log.close()
    litestream_pid = int(supervisor_state(settings)["litestream_pid"])
    wait_for(lambda: not pid_alive(litestream_pid), 10, "litestream gone with the group")
    said = (tmp_path / "scheduler.out").read_text(encoding="utf-8")
    assert said.count("switched from delete to WAL") == 1

    fresh = tmp_path / "fresh"
    done = run_tool(
        fresh,
        fresh / "bot.db",
        "restore",
        "latest",
        "--from",
        "replica",
        "--confirm",
        **replica_env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    restored = ids(fresh / "bot.db")
    committed = dict(writer.committed)
    must_have = [i for i, at in writer.committed if at < killed_at - (SYNC + 1)]
    assert must_have and set(must_have) <= set(restored)
    assert restored == list(range(1, len(restored) + 1))  # a prefix: nothing in between lost
    recovery_point = killed_at - committed[restored[-1]]
    print(f"\nrecovery point ({replica_env['REPLICA_URL'].split(':')[0]}): {recovery_point:.2f} s")
    assert recovery_point < SYNC + 1


def test_at_a_moment_between_two_writes_restores_exactly_the_rows_before(
    tmp_path, replica_env, settings_for
):
    db = make_db(tmp_path / "bot.db")
    settings = settings_for(db, **replica_env)
    with replicating(settings):
        first = write_row(db)
        wait_for(lambda: caught_up(settings), 20, "first row replicated")
        time.sleep(2.5)
        between = datetime.now(UTC)
        time.sleep(2.5)
        second = write_row(db)
        wait_for(lambda: caught_up(settings), 20, "second row replicated")
        time.sleep(SYNC + 0.5)  # Litestream's granularity: a sync interval
        after = datetime.now(UTC)
    fresh = tmp_path / "fresh"
    for moment, expected in ((between, [first]), (after, [first, second])):
        out = fresh / f"at-{len(expected)}.db"
        done = run_tool(
            fresh,
            fresh / "bot.db",
            "restore",
            "latest",
            "--from",
            "replica",
            "--at",
            moment.isoformat(),
            "--to",
            str(out),
            **replica_env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert ids(out) == expected
    local = between.astimezone(settings.timezone).replace(year=between.year - 1)
    early = run_tool(
        fresh,
        fresh / "bot.db",
        "restore",
        "latest",
        "--from",
        "replica",
        "--at",
        f"{local:%Y-%m-%d %H:%M}",
        **replica_env,
    )
    assert early.returncode == 1 and "oldest restorable moment" in early.stderr
    assert not (fresh / "bot.db").exists()
    preview = run_tool(
        fresh,
        fresh / "bot.db",
        "restore",
        "latest",
        "--from",
        "replica",
        "--at",
        between.isoformat(),
        **replica_env,
    )
    assert preview.returncode == 8 and "entries" in preview.stdout


def test_litestream_killed_is_restarted_and_alarmed_once(tmp_path, settings_for):
    db = make_db(tmp_path / "bot.db")
    settings = settings_for(
        db, REPLICA_URL=f"file://{tmp_path / 'replica'}", REPLICA_SYNC_INTERVAL="1s"
    )
    alarms = Recorder()
    with replicating(settings, alarms) as supervisor:
        first = supervisor.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: supervisor.pid not in (None, first), 15, "restarted")
        write_row(db)
        wait_for(lambda: caught_up(settings), 20, "replicating again")
        time.sleep(2)  # more polls and checks: no second alarm for the same incident
        status = read_status(settings, settings.now())
        assert status is not None and status.running and status.pid == supervisor.pid
        assert status.restarts == 1 and status.lag is not None and not status.behind
    assert alarms.count("replication_down") == 1, alarms.events
    assert "killed by signal 9" in alarms.events[0][1]
    stopped = read_status(settings, settings.now())
    assert stopped is not None and not stopped.running


def test_an_unreachable_replica_alarms_once_and_the_writes_go_on(tmp_path, s3, settings_for):
    db = make_db(tmp_path / "bot.db")
    settings = settings_for(db, **s3_env(s3, tmp_path), REPLICA_MAX_LAG="2s")
    alarms = Recorder()
    with replicating(settings, alarms):
        wait_for(lambda: caught_up(settings), 30, "replicating")
        s3.stop()
        with Writer(db, every=0.1) as writer:
            wait_for(lambda: alarms.count("replication_lag") > 0, 30, "the lag alarm")
            time.sleep(3)
        assert alarms.count("replication_lag") == 1, alarms.events
        assert writer.slowest < 1.0 and len(writer.committed) > 20  # the bot is unaffected
        s3.start()
        wait_for(lambda: caught_up(settings), 60, "caught up after the outage")
    fresh = tmp_path / "fresh"
    done = run_tool(
        fresh,
        fresh / "bot.db",
        "restore",
        "latest",
        "--from",
        "replica",
        "--to",
        str(fresh / "copy.db"),
        **s3_env(s3, tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ids(fresh / "copy.db") == ids(db)


def test_a_restore_into_the_live_database_is_replicated(tmp_path, settings_for):
    db = make_db(tmp_path / "bot.db")
    settings = settings_for(db, REPLICA_URL=f"file://{tmp_path / 'replica'}")
    for _ in range(3):
        write_row(db)
    backup_service.create_backup(settings, "manual")
    with replicating(settings):
        for _ in range(5):
            write_row(db)
        wait_for(lambda: caught_up(settings), 20, "replicated")
        result = restore_service.restore(settings, "latest")
        assert result.ok and ids(db) == [1, 2, 3]
        wait_for(lambda: caught_up(settings), 20, "the restore replicated")
        status = read_status(settings, settings.now())
        assert status is not None and status.ok
    out = tmp_path / "from-replica.db"
    copy = restore_service.restore_to(settings, "latest", out, "replica")
    assert copy.ok and ids(out) == [1, 2, 3]
    report = json.loads(result.report.read_text(encoding="utf-8")) if result.report else {}
    assert report.get("counts_match") is True


def test_the_weekly_drill_restores_the_replica_and_compares_it_with_the_live_database(
    tmp_path, settings_for
):
    db = make_db(tmp_path / "bot.db")
    settings = settings_for(
        db, REPLICA_URL=f"file://{tmp_path / 'replica'}", REPLICA_SYNC_INTERVAL="1s"
    )
    alarms = Recorder()
    with replicating(settings):
        for _ in range(5):
            write_row(db)
        wait_for(lambda: caught_up(settings), 20, "replicated")
        with Writer(db, every=0.05):  # the bot keeps writing during the drill
            outcome = make_scheduled_backup(settings, "weekly", notifier=alarms, clock=settings.now)
        quiet = replica_drill(settings)
    assert outcome.drill is not None and outcome.drill.ok, outcome.drill
    drilled = outcome.replica_drill
    assert drilled is not None and drilled.ok, drilled
    assert "between the live database's before and after" in drilled.detail
    assert quiet is not None and quiet.ok and "match the live database's" in quiet.detail
    assert alarms.events == []
    assert SchedulerState(settings).read()["last_replica_drill"]["ok"] is True
    shown = status_text(status_service.get_status(settings), CLI_HINTS)
    assert "Last replica drill: ✅" in shown
    assert not list(settings.recovery_dir.glob("*replica-drill*"))

    # writes the replica never got (Litestream stopped): the drill fails and alarms
    replicated = len(ids(db))
    write_row(db)
    write_row(db)
    outcome = make_scheduled_backup(settings, "weekly", notifier=alarms, clock=settings.now)
    failed = outcome.replica_drill
    assert failed is not None and not failed.ok
    expected = f"entries: {replicated} rows in the replica, {replicated + 2} live"
    assert expected in failed.detail, failed.detail
    assert alarms.count("replica_drill_failed") == 1, alarms.events
    shown = status_text(status_service.get_status(settings), CLI_HINTS)
    assert "Last replica drill: ❌" in shown and expected in shown
    assert outcome.drill is not None and outcome.drill.ok  # the archive's own drill is fine


def test_the_replica_drill_compares_within_the_two_live_readings():
    assert compare_within({"a": 3}, {"a": 3}, {"a": 3}) == []
    assert compare_within({"a": 3}, {"a": 4}, {"a": 5}) == []
    assert compare_within({"a": 3}, {"a": 2}, {"a": 5}) == ["a: 2 rows in the replica, 3 to 5 live"]
    assert compare_within({"a": 3}, {"a": 4}, {"a": 3}) == ["a: 4 rows in the replica, 3 live"]
    assert compare_within({"a": 1, "b": 1}, {"a": 1}, {"a": 1, "b": 1}) == ["b: not in the replica"]


def data_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but Litestream's bookkeeping."""
    with closing(sqlite3.connect(db)) as conn:
        return {k: v for k, v in table_rows(conn).items() if not k.startswith("_litestream_")}


def test_repair_apply_while_litestream_runs_is_replicated(tmp_path, sample_db, settings_for):
    settings = settings_for(sample_db, REPLICA_URL=f"file://{tmp_path / 'replica'}")
    original = data_rows(sample_db)
    backup_service.create_backup(settings, "manual")
    with replicating(settings) as supervisor:
        wait_for(lambda: caught_up(settings), 30, "replicated")
        corrupt(sample_db)  # bytes written behind SQLite's back: never in the WAL
        result = repair_service.repair(settings, apply=True)
        assert result.applied, result.notes
        repaired = data_rows(sample_db)
        assert repaired != original  # the damaged pages' rows are gone: the replica must say so
        with closing(sqlite3.connect(sample_db)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.execute(
                "INSERT INTO users (user_id, first_name, joined_at) VALUES (987654321, ?, ?)",
                ("after the repair", "2026-12-06T06:00:00+07:00"),
            )
            conn.commit()
        wait_for(lambda: caught_up(settings), 30, "the repair replicated")
        assert supervisor.pid is not None and supervisor.restarts == 0
        status = read_status(settings, settings.now())
        assert status is not None and status.ok, status
    after = data_rows(sample_db)
    out = tmp_path / "from-replica.db"
    copy = restore_service.restore_to(settings, "latest", out, "replica")
    assert copy.ok
    assert data_rows(out) == after


def test_status_reads_the_lag_at_read_time_from_litestreams_own_position(tmp_path, settings_for):
    db = make_db(tmp_path / "bot.db")
    # a long sync interval keeps a write waiting; the supervisor samples only every 5 s
    settings = settings_for(
        db, REPLICA_URL=f"file://{tmp_path / 'replica'}", REPLICA_SYNC_INTERVAL="60s"
    )
    with replicating(settings) as supervisor:
        write_row(db)
        time.sleep(3)  # Litestream ships what it finds in its first seconds at once
        wait_for(lambda: caught_up(settings), 30, "the first sync")
        assert supervisor.check_every == 5.0
        taken = local_txid(settings) or 0
        written = time.time()
        write_row(db)
        wait_for(lambda: (local_txid(settings) or 0) > taken, 10, "Litestream took the write")
        for wait in (2.0, 1.5):
            time.sleep(wait)
            now = settings.now()
            status = read_status(settings, now)
            assert status is not None and status.running
            assert status.local_txid is not None
            assert status.local_txid > status.positions.newest_txid  # still waiting
            assert status.lag is not None and not status.lag_at_most
            true_lag = now.timestamp() - written
            # Litestream takes a write from the WAL within about a second
            assert true_lag - 1.5 <= status.lag.total_seconds() <= true_lag + 0.1, (
                status.lag,
                true_lag,
            )
