"""The scheduler and off-machine copies, under a controlled clock: retries with backoff,
one alarm per failing or stale target, the drill of the newest copy after a weekly backup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from src.services import scheduler_state
from src.services.backup_scheduler import BackupScheduler
from src.services.offsite.ledger import Ledger
from tests.offsite_servers import make_age_keys
from tests.test_scheduler import Clock, Notes


def offsite_settings(settings_for, db: Path, tmp_path: Path, folder: Path, **extra: str):
    keys = make_age_keys(tmp_path)
    # the scheduled times lie half a day away, so the test's clock, moved by hours at
    # most, never crosses one (whatever the time of day the test runs at)
    away = datetime.now(UTC) + timedelta(hours=12)
    extra.setdefault("BACKUP_TIMEZONE", "UTC")
    extra.setdefault("DAILY_BACKUP_TIME", f"{away:%H:%M}")
    extra.setdefault("WEEKLY_BACKUP_TIME", f"{away:%H:%M}")
    extra.setdefault("WEEKLY_BACKUP_DAY", f"{away + timedelta(days=3):%A}".lower())
    return settings_for(
        db,
        OFFSITE_TARGETS=f"usb={folder}",
        OFFSITE_ENCRYPT_TO=keys.public,
        AGE_IDENTITY_FILE=str(keys.identity_file),
        **extra,
    )


def daily_copy(settings):
    """The one daily copy (a weekly backup may fall due while the test's clock moves)."""
    (record,) = [
        r for r in Ledger(settings.history_path).records("usb") if r.backup_type == "daily"
    ]
    return record


def start(settings, clock, notes) -> BackupScheduler:
    runner = BackupScheduler(settings, clock=clock, notifier=notes, catch_up=False)
    runner.start(clock.now)
    return runner


def test_a_failed_copy_is_retried_with_backoff_and_alarms_once(settings_for, sample_db, tmp_path):
    usb = tmp_path / "usb"  # the disk is not mounted yet
    settings = offsite_settings(settings_for, sample_db, tmp_path, usb)
    clock = Clock(settings.now())
    notes = Notes()
    runner = start(settings, clock, notes)
    try:
        assert runner.run("daily").ok  # the local backup counts, the copy waits
        failed = notes.of("offsite_failed")
        assert len(failed) == 1 and "usb" in failed[0] and "local backup is fine" in failed[0]
        record = daily_copy(settings)
        assert record.state == "pending" and record.attempts == 1
        runner.tick(clock.now)  # the first beat sends all there is: fails again, no second alarm
        assert len(notes.of("offsite_failed")) == 1
        attempts = daily_copy(settings).attempts
        clock.at(clock.now + timedelta(minutes=2))
        runner.tick(clock.now)  # not due yet: not tried
        assert daily_copy(settings).attempts == attempts
        usb.mkdir()  # the disk is back
        clock.at(clock.now + timedelta(minutes=30))
        runner.tick(clock.now)
        record = daily_copy(settings)
        assert record.state == "verified" and (usb / f"{record.archive}.age").is_file()
        assert scheduler_state.SchedulerState(settings).read()["offsite_failing"] == {}
        usb.rename(tmp_path / "gone")  # a new incident alarms again
        assert runner.run("daily").ok
        assert len(notes.of("offsite_failed")) == 2
    finally:
        runner.stop()


def test_no_verified_daily_copy_for_too_long_alarms_once_per_incident(
    settings_for, sample_db, tmp_path
):
    usb = tmp_path / "usb"
    usb.mkdir()
    settings = offsite_settings(settings_for, sample_db, tmp_path, usb, OFFSITE_STALE_HOURS="26")
    clock = Clock(settings.now())
    notes = Notes()
    runner = start(settings, clock, notes)
    try:
        assert runner.run("daily").ok
        runner.check_stale(clock.now)
        assert notes.of("offsite_stale") == []
        clock.at(clock.now + timedelta(hours=27))
        runner.check_stale(clock.now)
        runner.check_stale(clock.now)
        stale = notes.of("offsite_stale")
        assert len(stale) == 1 and "usb" in stale[0] and "26 h" in stale[0]
        assert runner.run("daily").ok  # a new verified copy (now) ends the incident
        clock.at(settings.now() + timedelta(hours=1))
        runner.check_stale(clock.now)
        assert len(notes.of("offsite_stale")) == 1
        assert scheduler_state.SchedulerState(settings).read()["offsite_stale_notified"] == {}
    finally:
        runner.stop()


def test_the_weekly_drill_restores_the_newest_off_machine_copy(settings_for, sample_db, tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    settings = offsite_settings(settings_for, sample_db, tmp_path, usb)
    notes = Notes()
    runner = BackupScheduler(settings, notifier=notes)
    assert runner.run("weekly").ok
    drills = scheduler_state.SchedulerState(settings).read()["last_offsite_drill"]
    assert drills["usb"]["ok"] is True and "integrity ok" in drills["usb"]["detail"]

    def tamper_then_drill(settings_):
        from src.services.offsite.drill import offsite_drills

        (copy,) = sorted(usb.glob("*weekly*.age"))[-1:]
        data = bytearray(copy.read_bytes())
        data[len(data) // 2] ^= 0xFF
        copy.write_bytes(bytes(data))
        return offsite_drills(settings_)

    runner = BackupScheduler(settings, notifier=notes, offsite_drill=tamper_then_drill)
    assert runner.run("weekly").ok
    drills = scheduler_state.SchedulerState(settings).read()["last_offsite_drill"]
    assert drills["usb"]["ok"] is False and "does not decrypt" in drills["usb"]["detail"]
    assert len(notes.of("offsite_drill_failed")) == 1
