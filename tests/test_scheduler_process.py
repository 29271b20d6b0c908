"""The scheduler as a real process: status sees it, a second one refuses, signals stop it."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from src.errors import ExitStatus
from tests.conftest import corrupt, popen_cli


def wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float = 60) -> list[str]:
    """Read the process's stdout until a line contains `text`."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not seen; got {lines}")


def scheduler_json(run_cli, db) -> dict:
    done = run_cli("status", "--json", db=db)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["scheduler"]


def test_scheduler_process_status_single_instance_and_signals(run_cli, tmp_path, sample_db):
    proc = popen_cli(tmp_path, sample_db, "scheduler")
    try:
        wait_for_line(proc, "Scheduler running")
        state = scheduler_json(run_cli, sample_db)
        assert state["running"] is True and state["pid"] == proc.pid
        text = run_cli("status", db=sample_db).stdout
        assert f"🟢 Running (pid {proc.pid}" in text and "Next daily backup: " in text

        second = run_cli("scheduler", db=sample_db, timeout=30)
        assert second.returncode == ExitStatus.BUSY
        assert f"already running: backup scheduler (pid {proc.pid})" in second.stderr

        # the catch-up made a daily and a weekly backup, and drilled the weekly one
        deadline = time.monotonic() + 60
        while scheduler_json(run_cli, sample_db)["last_drill"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        state = scheduler_json(run_cli, sample_db)
        assert state["successes"] == 2 and state["last_drill"]["ok"] is True

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert "Scheduler stopped" in proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
    assert scheduler_json(run_cli, sample_db)["running"] is False
    assert "🔴 Stopped" in run_cli("status", db=sample_db).stdout

    killed = popen_cli(tmp_path, sample_db, "scheduler")
    try:
        wait_for_line(killed, "Scheduler running")
        assert scheduler_json(run_cli, sample_db)["running"] is True
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        killed.kill()
        killed.wait()
    assert scheduler_json(run_cli, sample_db)["running"] is False  # a dead pid is not running
    restarted = popen_cli(tmp_path, sample_db, "scheduler")  # the lock died with it
    try:
        wait_for_line(restarted, "Scheduler running")
        restarted.send_signal(signal.SIGINT)  # Ctrl-C
        assert restarted.wait(timeout=60) == 0
    finally:
        restarted.kill()
        restarted.wait()


def test_pause_resume_and_run_now_from_the_cli(run_cli, sample_db):
    assert run_cli("scheduler", "pause", db=sample_db).returncode == 0
    assert (
        "⏸️" in run_cli("status", db=sample_db).stdout
        or scheduler_json(run_cli, sample_db)["paused"]
    )
    done = run_cli("scheduler", "run-now", "weekly", db=sample_db)
    assert done.returncode == 0, done.stderr
    assert "Weekly backup made: pmo_recovery_backup_weekly_" in done.stdout
    assert "Restore drill: restored" in done.stdout
    assert run_cli("scheduler", "resume", db=sample_db).returncode == 0
    assert scheduler_json(run_cli, sample_db)["paused"] is False
    bad = run_cli("scheduler", "run-now", "manual", db=sample_db)
    assert bad.returncode == ExitStatus.USAGE


def test_a_stuck_scheduler_is_shown_as_not_responding_and_sighup_stops_it(
    run_cli, tmp_path, sample_db, settings_for
):
    from datetime import timedelta

    from src.services import scheduler_state

    settings = settings_for(sample_db)
    proc = popen_cli(tmp_path, sample_db, "scheduler")
    try:
        wait_for_line(proc, "Scheduler running")
        deadline = time.monotonic() + 60
        while scheduler_state.scheduler_view(settings).last_drill is None:  # catch-up done
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(0.5)  # it idles between beats now
        proc.send_signal(signal.SIGSTOP)
        later = settings.now() + timedelta(minutes=5)  # no heartbeat for five minutes
        view = scheduler_state.scheduler_view(settings, later)
        assert view.hanging and not view.running and view.pid == proc.pid
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGHUP)  # the terminal closed: it goes on
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()


def test_run_now_failure_keeps_its_exit_code_and_promises_no_retry(run_cli, sample_db):
    corrupt(sample_db)
    done = run_cli("scheduler", "run-now", "daily", db=sample_db)
    assert done.returncode == ExitStatus.INTEGRITY
    assert "Retry" not in done.stdout + done.stderr
    assert "fails quick_check" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_paused_scheduler_says_so_when_started_and_in_status(run_cli, tmp_path, sample_db):
    assert run_cli("scheduler", "pause", db=sample_db).returncode == 0
    assert "paused: scheduled backups are skipped" in run_cli("status", db=sample_db).stdout
    proc = popen_cli(tmp_path, sample_db, "scheduler")
    try:
        lines = wait_for_line(proc, "It is paused")
        assert any("Scheduler running" in line for line in lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
