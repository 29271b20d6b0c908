"""Alarms without the bot: Apprise URLs and health-check pings received by a local HTTP
server; `status --check` for monitoring."""

from __future__ import annotations

import json
import logging
import socket

from src.errors import ExitStatus
from src.services import scheduler_state
from src.services.backup_scheduler import BackupScheduler
from src.services.notifiers.apprise_notifier import AppriseNotifier
from tests.http_catcher import Catcher
from tests.test_scheduler import Clock, FakeBackups, Notes


def test_a_failed_backup_from_the_cli_reaches_the_apprise_urls(run_cli, tmp_path):
    with Catcher() as catcher:
        done = run_cli(
            "backup",
            db=tmp_path / "missing.db",
            NOTIFY_URLS=f"json://127.0.0.1:{catcher.port}/hook",
        )
        assert done.returncode == ExitStatus.DATABASE
        (caught,) = catcher.wait_for(1)
    message = json.loads(caught.body)
    assert caught.path == "/hook" and "Backup failed" in message["title"]
    assert "missing.db" in message["message"]


def test_scheduled_backups_ping_the_health_check_start_success_and_fail(settings_for, sample_db):
    with Catcher() as catcher:
        settings = settings_for(sample_db, HEALTHCHECK_URL=f"{catcher.url}/ping/abc")
        clock = Clock(settings.now())
        runner = BackupScheduler(settings, clock=clock, notifier=Notes(), catch_up=False)
        assert runner.run("daily").ok
        good = catcher.wait_for(2)
        assert [c.path for c in good] == ["/ping/abc/start", "/ping/abc"]
        assert b"daily backup made: pmo_recovery_backup_daily_" in good[1].body
        failing = BackupScheduler(
            settings, clock=clock, notifier=Notes(), backup=FakeBackups(clock, failures=1)
        )
        assert not failing.run("daily", retry=False).ok
        both = catcher.wait_for(4)
    assert [c.path for c in both[2:]] == ["/ping/abc/start", "/ping/abc/fail"]
    assert b"disk on fire" in both[3].body


def test_scheduler_alarms_go_to_apprise_and_an_undeliverable_one_is_logged(
    settings_for, sample_db, caplog
):
    with Catcher() as catcher:
        settings = settings_for(sample_db, NOTIFY_URLS=f"json://127.0.0.1:{catcher.port}/a")
        clock = Clock(settings.now())
        runner = BackupScheduler(settings, clock=clock, backup=FakeBackups(clock, failures=1))
        assert not runner.run("daily").ok
        (caught,) = catcher.wait_for(1)
        assert "disk on fire" in json.loads(caught.body)["message"]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    notifier = AppriseNotifier([f"json://127.0.0.1:{dead}/x"], retry_seconds=(0.05, 0.05))
    with caplog.at_level(logging.ERROR):
        notifier.notify("backup_failed", "nobody hears this")  # never raises
    assert "could not be delivered to NOTIFY_URLS entry 1 after 3 tries" in caplog.text
    assert str(dead) not in caplog.text


def test_status_check_says_ok_warning_or_critical(run_cli, sample_db, settings_for, tmp_path):
    nothing = run_cli("status", "--check", db=sample_db)
    assert nothing.returncode == 2 and nothing.stdout.startswith("CRITICAL: no verified backup")
    assert run_cli("backup", "--type", "daily", db=sample_db).returncode == 0
    assert run_cli("backup", "--type", "weekly", db=sample_db).returncode == 0
    healthy = run_cli("status", "--check", db=sample_db)
    assert healthy.returncode == 0 and healthy.stdout.startswith("OK: ")
    assert len(healthy.stdout.strip().splitlines()) == 1
    scheduler_state.set_paused(settings_for(sample_db), True)
    paused = run_cli("status", "--check", db=sample_db)
    assert paused.returncode == 1 and "paused" in paused.stdout
    scheduler_state.set_paused(settings_for(sample_db), False)
    pending = run_cli(
        "status",
        "--check",
        db=sample_db,
        OFFSITE_TARGETS="usb=/nonexistent/usb",
        OFFSITE_PLAINTEXT="true",
    )
    assert pending.returncode == 1 and "no verified daily copy on usb yet" in pending.stdout
    made = run_cli(
        "backup",
        db=sample_db,
        OFFSITE_TARGETS=f"usb={tmp_path / 'no-usb'}",
        OFFSITE_PLAINTEXT="true",
    )
    assert made.returncode == 0
    late = run_cli(
        "status",
        "--check",
        db=sample_db,
        OFFSITE_TARGETS=f"usb={tmp_path / 'no-usb'}",
        OFFSITE_PLAINTEXT="true",
    )
    assert late.returncode == 1 and "pending for usb" in late.stdout
    sample_db.rename(tmp_path / "elsewhere.db")
    gone = run_cli("status", "--check", db=sample_db)
    assert gone.returncode == 2 and "is missing" in gone.stdout


def test_notification_settings_are_checked_without_echoing_them(run_cli, sample_db):
    bad = run_cli("status", db=sample_db, NOTIFY_URLS="json://ok.example/x,nope-secret-token")
    assert bad.returncode == ExitStatus.CONFIG
    assert "NOTIFY_URLS: entry 2" in bad.stderr and "nope-secret-token" not in bad.stderr
    ping = run_cli("status", db=sample_db, HEALTHCHECK_URL="hc-ping.com/secret-uuid")
    assert ping.returncode == ExitStatus.CONFIG and "secret-uuid" not in ping.stderr
