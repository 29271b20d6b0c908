"""The scheduler under a controlled clock: due times, DST, catch-up, retries, alarms, pause."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from src.driver.heartbeat import Heartbeat
from src.errors import IntegrityFailure
from src.logging_setup import configure_logging
from src.services import scheduler_state
from src.services.backup_scheduler import BackupScheduler, run_scheduled_backup
from src.services.backup_service import create_backup
from src.services.drill import DrillResult, restore_drill
from src.services.schedule_times import Retry, next_weekly
from tests.conftest import corrupt


class Clock:
    """A clock the test moves."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> Clock:
        self.now = moment
        return self


@dataclass
class Made:
    path: Path


class FakeBackups:
    """Records the backups asked for; fails the first `failures` of them."""

    def __init__(self, clock: Clock, failures: int = 0, error: type[Exception] = RuntimeError):
        self.clock = clock
        self.calls: list[tuple[str, datetime]] = []
        self.failures = failures
        self.error = error

    def __call__(self, _settings, backup_type: str, trigger: str) -> Made:
        assert trigger == "scheduler"
        self.calls.append((backup_type, self.clock.now))
        if self.failures:
            self.failures -= 1
            raise self.error("disk on fire")
        return Made(Path(f"/nowhere/pmo_recovery_backup_{backup_type}_x.zip"))


class Notes:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def notify(self, event: str, message: str) -> None:
        self.events.append((event, message))

    def of(self, kind: str) -> list[str]:
        return [m for e, m in self.events if e == kind]


def fine_drill(_settings, archive: Path) -> DrillResult:
    return DrillResult(archive, True, "fine")


def make(settings, clock, backups, notes=None, **kw) -> BackupScheduler:
    runner = BackupScheduler(
        settings,
        clock=clock,
        backup=backups,
        drill=kw.pop("drill", fine_drill),
        notifier=notes or Notes(),
        catch_up=kw.pop("catch_up", False),
        **kw,
    )
    runner.start(clock.now)
    return runner


JAKARTA = ZoneInfo("Asia/Jakarta")
NEW_YORK = ZoneInfo("America/New_York")


def test_daily_at_three_and_weekly_on_sunday_at_two_in_jakarta(settings_for, sample_db):
    settings = settings_for(sample_db, BACKUP_TIMEZONE="Asia/Jakarta")
    clock = Clock(datetime(2026, 11, 27, 10, 0, tzinfo=JAKARTA))  # a Friday
    backups = FakeBackups(clock)
    runner = make(settings, clock, backups)
    try:
        assert runner.next_runs["daily"] == datetime(2026, 11, 28, 3, 0, tzinfo=JAKARTA)
        assert runner.next_runs["weekly"] == datetime(2026, 11, 29, 2, 0, tzinfo=JAKARTA)
        for moment in (
            datetime(2026, 11, 28, 2, 59, 59, tzinfo=JAKARTA),
            datetime(2026, 11, 28, 3, 0, tzinfo=JAKARTA),
            datetime(2026, 11, 28, 3, 0, 30, tzinfo=JAKARTA),
            datetime(2026, 11, 29, 1, 59, tzinfo=JAKARTA),
            datetime(2026, 11, 29, 2, 0, 1, tzinfo=JAKARTA),
            datetime(2026, 11, 29, 3, 0, tzinfo=JAKARTA),
        ):
            runner.tick(clock.at(moment).now)
        assert backups.calls == [
            ("daily", datetime(2026, 11, 28, 3, 0, tzinfo=JAKARTA)),
            ("weekly", datetime(2026, 11, 29, 2, 0, 1, tzinfo=JAKARTA)),
            ("daily", datetime(2026, 11, 29, 3, 0, tzinfo=JAKARTA)),
        ]
        # 03:00 in Jakarta is 20:00 UTC the day before
        assert runner.next_runs["daily"].astimezone(timezone.utc).hour == 20
        view = scheduler_state.scheduler_view(settings, clock.now)
        assert view.running and view.successes == 3 and view.last_drill["ok"] is True
    finally:
        runner.stop()


def test_daily_runs_once_on_the_days_clocks_change(settings_for, sample_db):
    settings = settings_for(
        sample_db, BACKUP_TIMEZONE="America/New_York", DAILY_BACKUP_TIME="02:30"
    )
    clock = Clock(datetime(2027, 3, 13, 12, 0, tzinfo=NEW_YORK))
    backups = FakeBackups(clock)
    runner = make(settings, clock, backups)
    try:
        # spring forward: 02:30 does not exist on 14 March; the run is at 03:30 EDT
        start = datetime(2027, 3, 13, 17, 0, tzinfo=timezone.utc)
        for minutes in range(0, 3 * 24 * 60, 10):
            clock.at((start + timedelta(minutes=minutes)).astimezone(NEW_YORK))
            runner.tick(clock.now)
        runs = [(kind, t.day, t.hour, t.minute) for kind, t in backups.calls]
        # 14 March 2027 is a Sunday: the weekly 02:00 does not exist either, it runs at 03:00
        assert runs == [
            ("weekly", 14, 3, 0),
            ("daily", 14, 3, 30),
            ("daily", 15, 2, 30),
            ("daily", 16, 2, 30),
        ]
    finally:
        runner.stop()
    # fall back: 01:30 happens twice on 7 November 2027; the daily backup runs once
    settings = settings_for(
        sample_db, BACKUP_TIMEZONE="America/New_York", DAILY_BACKUP_TIME="01:30"
    )
    clock = Clock(datetime(2027, 11, 6, 12, 0, tzinfo=NEW_YORK))
    backups = FakeBackups(clock)
    runner = make(settings, clock, backups)
    try:
        start = datetime(2027, 11, 6, 17, 0, tzinfo=timezone.utc)
        for minutes in range(0, 2 * 24 * 60, 10):
            clock.at((start + timedelta(minutes=minutes)).astimezone(NEW_YORK))
            runner.tick(clock.now)
        daily = [t.astimezone(timezone.utc) for kind, t in backups.calls if kind == "daily"]
        assert daily == [
            datetime(2027, 11, 7, 5, 30, tzinfo=timezone.utc),  # 01:30 EDT, the first one
            datetime(2027, 11, 8, 6, 30, tzinfo=timezone.utc),  # 01:30 EST
        ]
    finally:
        runner.stop()


def test_weekly_on_another_day_and_time(settings_for, sample_db):
    settings = settings_for(sample_db, WEEKLY_BACKUP_DAY="wednesday", WEEKLY_BACKUP_TIME="23:15")
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=settings.timezone))
    runner = make(settings, clock, FakeBackups(clock))
    try:
        weekly = runner.next_runs["weekly"]
        assert (weekly.weekday(), weekly.hour, weekly.minute) == (2, 23, 15)
        assert weekly == next_weekly(
            clock.now, 2, weekly.timetz().replace(tzinfo=None), settings.timezone
        )
    finally:
        runner.stop()


def test_catch_up_after_the_machine_was_off(settings_for, sample_db):
    settings = settings_for(sample_db)
    create_backup(settings, "daily", trigger="test")
    create_backup(settings, "weekly", trigger="test")
    now = settings.now()
    clock = Clock(now + timedelta(hours=30))  # off over night: the daily backup is 30 h old
    backups = FakeBackups(clock)
    runner = make(settings, clock, backups, catch_up=True)
    try:
        assert runner.pending == ["daily"]
        runner.tick(clock.now)
        assert [kind for kind, _ in backups.calls] == ["daily"]
        clock.at(now + timedelta(hours=30, minutes=1))
        runner.tick(clock.now)
        assert len(backups.calls) == 1  # once, not on every beat
    finally:
        runner.stop()
    clock.at(now + timedelta(days=8))
    again = make(settings, clock, FakeBackups(clock), catch_up=True)
    try:
        assert again.pending == ["daily", "weekly"]
    finally:
        again.stop()


def test_failures_are_retried_with_backoff_counted_logged_and_notified(
    settings_for, sample_db, tmp_path
):
    settings = settings_for(sample_db, SCHEDULER_RETRIES="3", SCHEDULER_RETRY_MINUTES="5")
    configure_logging(settings.log_dir)
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=settings.timezone))
    backups = FakeBackups(clock, failures=2)
    notes = Notes()
    runner = make(settings, clock, backups, notes)
    try:
        three = runner.next_runs["daily"]
        for offset in (0, 4, 5, 14, 15, 16):
            clock.at(three + timedelta(minutes=offset))
            runner.tick(clock.now)
        assert [when - three for _, when in backups.calls] == [
            timedelta(0),
            timedelta(minutes=5),
            timedelta(minutes=15),
        ]
        view = scheduler_state.scheduler_view(settings, clock.now)
        assert (view.successes, view.failures) == (1, 2)
        assert view.last_failure["daily"]["reason"] == "disk on fire"
        failed = notes.of("backup_failed")
        assert len(failed) == 2 and "Retry 1 of 3" in failed[0] and "Retry 2 of 3" in failed[1]
    finally:
        runner.stop()
        logging.shutdown()
    errors = (settings.log_dir / "errors.log").read_text()
    assert "Traceback" in errors and "RuntimeError: disk on fire" in errors


def test_after_the_last_retry_it_gives_up_until_the_next_day(settings_for, sample_db):
    settings = settings_for(sample_db, SCHEDULER_RETRIES="1", SCHEDULER_RETRY_MINUTES="1")
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=settings.timezone))
    backups = FakeBackups(clock, failures=10)
    notes = Notes()
    runner = make(settings, clock, backups, notes)
    try:
        three = runner.next_runs["daily"]
        for offset in range(0, 120, 1):
            clock.at(three + timedelta(minutes=offset))
            runner.tick(clock.now)
        assert len(backups.calls) == 2
        assert len(notes.of("backup_gave_up")) == 1
        clock.at(three + timedelta(days=1))
        runner.tick(clock.now)
        assert [kind for kind, _ in backups.calls].count("daily") == 3
    finally:
        runner.stop()


def test_a_job_that_raises_does_not_stop_later_jobs_in_the_thread(settings_for, sample_db):
    # the weekly run on a day that is neither today nor tomorrow: the next daily run
    # must be the only job due when the clock moves on
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    today = settings_for(sample_db).now().weekday()
    settings = settings_for(sample_db, WEEKLY_BACKUP_DAY=days[(today + 3) % 7])
    clock = Clock(settings.now())
    backups = FakeBackups(clock, failures=1, error=ZeroDivisionError)
    runner = BackupScheduler(
        settings,
        clock=clock,
        backup=backups,
        drill=fine_drill,
        notifier=Notes(),
        catch_up=True,
    )
    heartbeat = Heartbeat(runner, beat_seconds=1)
    heartbeat.start()
    try:
        deadline = datetime.now() + timedelta(seconds=20)
        while len(backups.calls) < 2 and datetime.now() < deadline:
            heartbeat.stopping.wait(0.05)
        assert [kind for kind, _ in backups.calls] == ["daily", "weekly"]
        clock.at(runner.next_runs["daily"] + timedelta(seconds=1))
        while len(backups.calls) < 3 and datetime.now() < deadline:
            heartbeat.stopping.wait(0.05)
        assert [kind for kind, _ in backups.calls] == ["daily", "weekly", "daily"]
    finally:
        assert heartbeat.stop(timeout=10)
    assert not scheduler_state.scheduler_view(settings).running


def test_staleness_alarm_fires_once_per_incident(settings_for, sample_db):
    settings = settings_for(sample_db)
    create_backup(settings, "daily", trigger="test")
    create_backup(settings, "weekly", trigger="test")
    made = settings.now()
    clock = Clock(made + timedelta(hours=25))
    notes = Notes()
    runner = make(settings, clock, FakeBackups(clock), notes)
    try:
        runner.check_stale(clock.now)
        assert notes.of("stale") == []
        clock.at(made + timedelta(hours=26, minutes=50))
        runner.check_stale(clock.now)
        runner.check_stale(clock.now)
        clock.at(made + timedelta(hours=30))
        runner.check_stale(clock.now)
        stale = notes.of("stale")
        assert len(stale) == 1 and "No daily backup has succeeded for 27 h" in stale[0]
        view = scheduler_state.scheduler_view(settings, clock.now)
        assert any("daily" in warning for warning in view.stale)
        assert not any("weekly" in warning for warning in view.stale)
    finally:
        runner.stop()


def test_pause_survives_a_restart_and_run_requests_still_run(settings_for, sample_db):
    settings = settings_for(sample_db)
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=settings.timezone))
    backups = FakeBackups(clock)
    scheduler_state.set_paused(settings, True)
    runner = make(settings, clock, backups)
    runner.stop()
    runner = make(settings, clock, backups)  # restarted: still paused
    try:
        clock.at(runner.next_runs["daily"])
        runner.tick(clock.now)
        assert backups.calls == []
        assert scheduler_state.scheduler_view(settings, clock.now).paused
        scheduler_state.request_run(settings, "daily")  # the bot's "run now"
        runner.tick(clock.now)
        assert [kind for kind, _ in backups.calls] == ["daily"]
        scheduler_state.set_paused(settings, False)
        clock.at(runner.next_runs["daily"])
        runner.tick(clock.now)
        assert [kind for kind, _ in backups.calls].count("daily") == 2
    finally:
        runner.stop()


def test_a_weekly_backup_is_drilled_and_a_failed_drill_counts(settings_for, sample_db):
    settings = settings_for(sample_db)
    notes = Notes()
    runner = BackupScheduler(settings, notifier=notes)
    assert runner.run("weekly").ok  # real backup, real drill
    view = scheduler_state.scheduler_view(settings)
    assert view.last_drill["ok"] is True and "integrity ok" in view.last_drill["detail"]

    def tampered(settings_, archive: Path) -> DrillResult:
        data = bytearray(archive.read_bytes())
        data[len(data) // 2] ^= 0xFF
        archive.write_bytes(bytes(data))
        return restore_drill(settings_, archive)

    runner = BackupScheduler(settings, notifier=notes, drill=tampered)
    assert runner.run("weekly").ok
    view = scheduler_state.scheduler_view(settings)
    assert view.last_drill["ok"] is False and view.failures == 1
    assert len(notes.of("drill_failed")) == 1
    assert view.last_failure["drill"]["reason"] == view.last_drill["detail"]


def test_only_one_scheduler_at_a_time(settings_for, sample_db):
    settings = settings_for(sample_db)
    clock = Clock(settings.now())
    first = make(settings, clock, FakeBackups(clock))
    try:
        with pytest.raises(Exception, match=r"already running: backup scheduler \(pid \d+\)"):
            make(settings, clock, FakeBackups(clock))
    finally:
        first.stop()
    make(settings, clock, FakeBackups(clock)).stop()  # free again once stopped


def test_run_now_with_the_running_scheduler_is_retried_by_it(settings_for, sample_db):
    settings = settings_for(sample_db, SCHEDULER_RETRIES="2", SCHEDULER_RETRY_MINUTES="5")
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=settings.timezone))
    backups = FakeBackups(clock, failures=1)
    notes = Notes()
    runner = make(settings, clock, backups, notes)
    try:
        outcome = run_scheduled_backup(settings, "daily", scheduler=runner)  # the bot's button
        assert not outcome.ok and outcome.archive is None and outcome.reason == "disk on fire"
        assert "disk on fire" in str(outcome.error) and outcome.attempt == 1
        assert outcome.retry_at == clock.now + timedelta(minutes=5)
        assert runner.retries == {"daily": Retry(1, outcome.retry_at)}
        (failed,) = notes.of("backup_failed")
        assert "Retry 1 of 2 at" in failed
        clock.at(outcome.retry_at)
        assert runner.tick(clock.now) == ["daily"]
        assert runner.retries == {}
        assert scheduler_state.scheduler_view(settings, clock.now).successes == 1
    finally:
        runner.stop()


def test_a_one_off_run_returns_its_outcome_and_is_not_retried(settings_for, sample_db):
    settings = settings_for(sample_db)
    notes = Notes()
    made = run_scheduled_backup(settings, "weekly", notifier=notes)
    view = scheduler_state.scheduler_view(settings)
    assert made.ok and made.archive is not None and made.archive.is_file()
    assert made.error is None and made.reason == "" and made.retry_at is None
    assert view.last_success["weekly"]["archive"] == made.archive.name
    assert made.drill is not None and made.drill.ok and made.drill_summary == view.last_drill
    corrupt(sample_db)
    failed = run_scheduled_backup(settings, "daily", notifier=notes)
    assert not failed.ok and isinstance(failed.error, IntegrityFailure)
    assert failed.retry_at is None and failed.drill is None
    assert notes.of("backup_failed") == [f"The daily backup failed: {failed.reason.rstrip('.')}."]
    view = scheduler_state.scheduler_view(settings)
    assert view.failures == 1 and view.last_failure["daily"]["reason"] == failed.reason
    assert view.last_failure["daily"]["attempt"] == 1
