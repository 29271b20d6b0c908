"""Unit tests of the scheduler's decisions (src/services/schedule_times.py): what falls due
at `now`, when a failure is retried, when a backup is late. Each is a plain function of the
moment it is given: no thread, no timer, no files."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from src.services.schedule_times import (
    Retry,
    is_stale,
    local_moment,
    next_due,
    overdue,
    plan_beat,
    retry_at,
    stale_after,
    to_announce,
)

JAKARTA = ZoneInfo("Asia/Jakarta")
NEW_YORK = ZoneInfo("America/New_York")
FRIDAY = datetime(2026, 11, 27, 10, 0, tzinfo=JAKARTA)
DAILY = datetime(2026, 11, 28, 3, 0, tzinfo=JAKARTA)  # Saturday 03:00
WEEKLY = datetime(2026, 11, 29, 2, 0, tzinfo=JAKARTA)  # Sunday 02:00


@pytest.fixture
def settings(settings_for, tmp_path):
    return settings_for(
        tmp_path / "bot.db",
        BACKUP_TIMEZONE="Asia/Jakarta",
        SCHEDULER_RETRIES="3",
        SCHEDULER_RETRY_MINUTES="5",
        STALE_GRACE_HOURS="2",
    )


def plan(settings, now, **kw):
    return plan_beat(settings, now, {"daily": DAILY, "weekly": WEEKLY}, kw.pop("retries", {}), **kw)


def test_nothing_is_due_a_second_before_the_run_and_the_plan_stays(settings):
    beat = plan(settings, DAILY - timedelta(seconds=1))
    assert beat.run == [] and beat.skipped == []
    assert beat.next_runs == {"daily": DAILY, "weekly": WEEKLY}


def test_a_run_falls_due_at_its_moment_and_the_next_one_is_a_day_later(settings):
    beat = plan(settings, DAILY)
    assert beat.run == ["daily"]
    assert beat.next_runs == {"daily": DAILY + timedelta(days=1), "weekly": WEEKLY}
    late = plan(settings, WEEKLY + timedelta(minutes=1))  # both fell due while asleep
    assert late.run == ["daily", "weekly"]
    assert late.next_runs == {
        "daily": datetime(2026, 11, 29, 3, 0, tzinfo=JAKARTA),
        "weekly": WEEKLY + timedelta(days=7),
    }


def test_a_paused_beat_skips_runs_retries_and_catch_up_but_makes_requests(settings):
    retries = {"weekly": Retry(1, DAILY)}
    beat = plan(
        settings, DAILY, retries=retries, pending=["weekly"], requested=["daily"], paused=True
    )
    assert beat.skipped == ["daily"] and beat.run == ["daily"]
    assert beat.next_runs["daily"] == DAILY + timedelta(days=1)  # planned on, not piled up
    assert plan(settings, DAILY, retries=retries, paused=True).run == []


def test_retries_catch_up_and_requests_run_in_order_once_each(settings):
    retries = {"weekly": Retry(2, FRIDAY), "daily": Retry(1, DAILY + timedelta(minutes=5))}
    beat = plan(settings, DAILY, retries=retries, pending=["weekly", "daily"], requested=["daily"])
    assert beat.run == ["daily", "weekly"]
    assert plan(settings, FRIDAY, retries=retries).run == ["weekly"]
    assert plan(settings, FRIDAY - timedelta(seconds=1), retries=retries).run == []


def test_the_driver_wakes_at_the_earliest_run_or_retry():
    runs = {"daily": DAILY, "weekly": WEEKLY}
    assert next_due(runs, {}) == DAILY
    assert next_due(runs, {"weekly": Retry(1, FRIDAY)}) == FRIDAY
    assert next_due({}, {}) is None


def test_retries_back_off_doubling_and_stop_after_the_last(settings):
    failed = DAILY
    waits = [retry_at(settings, attempt, failed) for attempt in (1, 2, 3, 4)]
    assert waits == [
        failed + timedelta(minutes=5),
        failed + timedelta(minutes=10),
        failed + timedelta(minutes=20),
        None,
    ]


def test_no_retries_when_scheduler_retries_is_zero(settings_for, tmp_path):
    settings = settings_for(tmp_path / "bot.db", SCHEDULER_RETRIES="0")
    assert retry_at(settings, 1, DAILY) is None


def test_the_catch_up_makes_a_backup_older_than_its_period_or_missing():
    assert overdue("daily", None) and overdue("weekly", None)
    assert not overdue("daily", timedelta(hours=24))
    assert overdue("daily", timedelta(hours=24, seconds=1))
    assert not overdue("weekly", timedelta(days=6, hours=23))
    assert overdue("weekly", timedelta(days=7, minutes=1))


def test_a_backup_is_late_after_its_period_and_the_grace(settings):
    assert stale_after(settings, "daily") == timedelta(hours=26)
    assert stale_after(settings, "weekly") == timedelta(days=7, hours=2)
    assert is_stale(settings, "daily", None)
    assert not is_stale(settings, "daily", timedelta(hours=26))
    assert is_stale(settings, "daily", timedelta(hours=26, seconds=1))
    assert not is_stale(settings, "weekly", timedelta(days=7, hours=1))


def test_an_incident_is_announced_once_and_anew_after_it_ended():
    assert to_announce({"daily": "a.zip"}, {}) == ["daily"]
    assert to_announce({"daily": "a.zip"}, {"daily": "a.zip"}) == []  # already said
    assert to_announce({"daily": "b.zip"}, {"daily": "a.zip"}) == ["daily"]  # a new one
    assert to_announce({}, {"daily": "a.zip"}) == []  # over: nothing to say
    assert to_announce({"usb": "none", "cloud": "none"}, {"usb": "none"}) == ["cloud"]


def test_local_moments_across_daylight_saving_changes():
    # 02:30 does not exist on 14 March 2027 in New York: just after the gap
    spring = local_moment(date(2027, 3, 14), time(2, 30), NEW_YORK)
    assert (spring.hour, spring.minute, spring.utcoffset()) == (3, 30, timedelta(hours=-4))
    # 01:30 is shown twice on 7 November 2027: the first showing (still EDT)
    autumn = local_moment(date(2027, 11, 7), time(1, 30), NEW_YORK)
    assert (autumn.hour, autumn.utcoffset()) == (1, timedelta(hours=-4))
